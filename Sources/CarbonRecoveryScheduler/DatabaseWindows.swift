import CarbonRecoveryPostgres
import Foundation
import Synchronization

/// The last restore window read for each of the policy's databases, so that `pg-check` lists a
/// whole WAL archive at most every ``maximumAge`` seconds rather than on every run: the lag
/// (one small listing) is checked every run, the gaps and base backups from a listing at most
/// that old. A base backup, which changes the window, stores the one it read.
final class DatabaseWindows: Sendable {
    /// How old a window may be before the archive is listed again (15 minutes, as the bucket's usage).
    let maximumAge: TimeInterval
    private let windows = Mutex<[String: (readAt: Date, window: PointInTimeRecovery.RestoreWindow)]>([:])

    init(maximumAge: TimeInterval = 900) {
        self.maximumAge = maximumAge
    }

    /// The window of `stanza` read at most ``maximumAge`` before `now`, else a new one from
    /// `read` (stored); with when it was read.
    func window(
        of stanza: String, now: Date, read: () async throws -> PointInTimeRecovery.RestoreWindow
    ) async throws -> (window: PointInTimeRecovery.RestoreWindow, readAt: Date) {
        let cached = windows.withLock { $0[stanza] }
        if let cached, now.timeIntervalSince(cached.readAt) < maximumAge, now >= cached.readAt { return (cached.window, cached.readAt) }
        let window = try await read()
        store(window, of: stanza, readAt: now)
        return (window, now)
    }

    /// Keeps a window just read (after a base backup).
    func store(_ window: PointInTimeRecovery.RestoreWindow, of stanza: String, readAt: Date) {
        windows.withLock { $0[stanza] = (readAt, window) }
    }
}
