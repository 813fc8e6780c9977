// pg-check lists a whole WAL archive at most every 15 minutes: the window read is kept and
// handed out until it is that old, and a base backup's fresh window replaces it.
@testable import CarbonRecoveryPostgres
@testable import CarbonRecoveryScheduler
import Foundation
import Synchronization
import Testing

@Suite("The restore window pg-check reuses")
struct DatabaseWindowsTests {
    func restoreWindow(segments: Int) -> PointInTimeRecovery.RestoreWindow {
        PointInTimeRecovery.RestoreWindow(backups: [], segments: segments, earliest: nil, latest: nil, latestSegment: nil, gaps: [])
    }

    @Test("read once, reused for 15 minutes of fire times, read again after; per stanza; a stored window replaces it; a failed read keeps nothing")
    func reuse() async throws {
        let windows = DatabaseWindows()
        let reads = Mutex(0)
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        func check(_ stanza: String, at seconds: TimeInterval) async throws -> (Int, Date) {
            let (window, readAt) = try await windows.window(of: stanza, now: start + seconds) {
                reads.withLock { $0 += 1 }
                return restoreWindow(segments: reads.withLock { $0 })
            }
            return (window.segments, readAt)
        }
        #expect(try await check("main", at: 0) == (1, start))
        #expect(try await check("main", at: 60) == (1, start), "a minute later: the same listing")
        #expect(try await check("main", at: 899) == (1, start))
        #expect(try await check("other", at: 899) == (2, start + 899), "each stanza has its own")
        #expect(try await check("main", at: 900) == (3, start + 900), "15 minutes on: listed again")
        windows.store(restoreWindow(segments: 42), of: "main", readAt: start + 1_000)
        #expect(try await check("main", at: 1_001) == (42, start + 1_000), "a base backup's window replaces it")
        #expect(try await check("main", at: 500) == (4, start + 500), "a fire time before the stored read (a clock set back) lists again")
        await #expect(throws: CancellationError.self) {
            _ = try await windows.window(of: "failing", now: start) { throw CancellationError() }
        }
        #expect(try await check("failing", at: 1) == (5, start + 1), "a failed read keeps nothing")
    }
}
