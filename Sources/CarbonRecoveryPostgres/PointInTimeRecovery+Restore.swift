import CarbonRecovery
import CarbonRecoveryCompression
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension PointInTimeRecovery {
    /// Where a restore stops.
    public enum Target: Sendable, Equatable, CustomStringConvertible {
        /// After the last transaction committed at or before this moment.
        case time(Date)
        /// At this WAL position.
        case lsn(LSN)
        /// At the end of the archive (refused when the archive has a gap after the base backup).
        case latest

        /// `time 2026-12-04T14:03:27.000Z`, `lsn 0/3000028`, `latest`.
        public var description: String {
            switch self {
            case .time(let date): "time \(RFC3339.format(date))"
            case .lsn(let lsn): "lsn \(lsn)"
            case .latest: "latest"
            }
        }
    }

    /// The base backup and the WAL a restore to a target uses.
    public struct RestorePlan: Sendable {
        /// The timeline replay follows (`recovery_target_timeline`), and it with its ancestors.
        public var timeline: UInt32
        public var lineage: Set<UInt32>
        /// The newest base backup complete before the target.
        public var backup: BaseBackup
        /// The archived files to replay: segments from the backup's start on its timeline and
        /// later ones, and every timeline history file.
        public var files: [WALArchive.Entry]
        /// The first segment missing after what the target surely needs, if any: replay stops
        /// there, and a target beyond it fails naming it.
        public var gap: String?
    }

    /// What a restore did.
    public struct RestoreReport: Sendable {
        /// The base backup restored.
        public var backup: BaseBackup
        /// The target.
        public var target: Target
        /// The archived files the restore planned to replay (each one fetched was checked against
        /// its SHA-256; those after the target are not fetched once the server is promoted).
        public var files: Int
        /// The new timeline after promotion.
        public var timeline: UInt32
        /// From the start of the restore to the promoted server.
        public var duration: Duration
        /// Of which: starting the server and replaying WAL until it was promoted.
        public var replay: Duration
    }

    /// Where and how to restore.
    public struct RestoreRequest: Sendable {
        /// Where to stop.
        public var target: Target
        /// The timeline to follow; `nil` for PostgreSQL's `latest` (the highest timeline whose
        /// history file is in the archive). Name one when a restored server archived a timeline
        /// of its own into the stanza and you want the original's.
        public var timeline: UInt32?
        /// The new data folder; it must not exist (its parent must, reachable by the server's user).
        public var dataDirectory: String
        /// The port the restored server listens on (127.0.0.1 only).
        public var port: Int
        /// Who connects to the restored server to watch it (its roles and passwords are the backup's).
        public var connection: PostgresTools.Connection
        /// The `restore_command` PostgreSQL runs, with `%f` and `%p`; it reads the prefetched,
        /// checked files from the spool folder (``spoolDirectory``).
        public var restoreCommand: String
        /// Leave the restored server running (default: stop it once promoted).
        public var keepRunning: Bool
        /// Keep the backup's WAL archiving (`archive_mode`, `archive_command`): the restored
        /// server archives its new timeline into the same stanza, so it can be restored from in
        /// turn. Default: archiving off, until you decide the restored server is the one.
        public var archive: Bool
        /// How long replay may take.
        public var timeout: Duration

        /// Creates a request.
        public init(
            target: Target, timeline: UInt32? = nil, dataDirectory: String, port: Int, connection: PostgresTools.Connection, restoreCommand: String,
            keepRunning: Bool = false, archive: Bool = false, timeout: Duration = .seconds(3600)
        ) {
            self.timeline = timeline
            self.archive = archive
            self.target = target
            self.dataDirectory = dataDirectory
            self.port = port
            self.connection = connection
            self.restoreCommand = restoreCommand
            self.keepRunning = keepRunning
            self.timeout = timeout
        }

        /// Where the checked WAL files wait for `restore_command`: beside the data folder.
        public var spoolDirectory: String { dataDirectory + ".wal-spool" }
    }

    /// Chooses the base backup and the WAL for a target, and checks the archive has no gap on
    /// the way.
    ///
    /// - Throws: ``RecoveryError/Code/notFound`` when no base backup is old enough, or naming the
    ///   first missing segment when the archive has a gap before the target (for `latest`,
    ///   anywhere after the backup: a restore never silently stops early).
    public func plan(_ target: Target, timeline requested: UInt32? = nil) async throws -> RestorePlan {
        let entries = try await archive.entries()
        let histories = entries.filter { $0.file.kind == .history }
        let timeline = requested ?? histories.map(\.file.timeline).max() ?? 1
        // Each ancestor timeline and the position where the lineage left it.
        var switchPoints: [UInt32: LSN] = [:]
        if let history = histories.first(where: { $0.file.timeline == timeline }) {
            switchPoints = Self.switchPoints(inHistory: try await archive.fetch(history))
        } else if timeline != 1 {
            throw RecoveryError(.notFound, "timeline \(timeline) has no history file in the archive of stanza '\(archive.stanza)'", target: String(timeline))
        }
        let lineage = Set(switchPoints.keys).union([timeline])
        // A backup on an ancestor counts only if it ended before the lineage left that timeline:
        // a later one belongs to another branch of history.
        let backups = try await baseBackups().filter { backup in
            backup.timeline == timeline || switchPoints[backup.timeline].map { backup.stopLSN <= $0 } == true
        }
        let candidates: [BaseBackup]
        switch target {
        case .time(let date): candidates = backups.filter { $0.stopTime <= date }
        case .lsn(let lsn): candidates = backups.filter { $0.stopLSN <= lsn }
        case .latest: candidates = backups
        }
        guard let backup = candidates.last else {
            throw RecoveryError(
                .notFound,
                backups.isEmpty
                    ? "there is no base backup of stanza '\(archive.stanza)' on timeline \(timeline): take one with `carbon-recovery pg base-backup`"
                    : "no base backup of stanza '\(archive.stanza)' was complete before \(target); the earliest restore point is \(RFC3339.format(backups[0].stopTime)) (lsn \(backups[0].stopLSN))",
                target: archive.stanza)
        }
        let size = backup.walSegmentSize
        let start = try WALFileName(backup.startSegment).segmentNumber(segmentSize: size)
        let stop = try WALFileName(backup.stopSegment).segmentNumber(segmentSize: size)
        let segments = entries.filter { $0.file.kind == .segment && lineage.contains($0.file.timeline) && $0.file.segmentNumber(segmentSize: size) >= start }
        var end = max(stop, segments.map { $0.file.segmentNumber(segmentSize: size) }.max() ?? stop)
        // How far the target can need WAL. A time: up to where a later base backup started after
        // it (the server's own clock, in its backup_label: WAL from there on was written after
        // the target), else the end. Storage times say when a segment was archived, not what it
        // holds — an archiver that lags makes them useless here.
        var required = end
        switch target {
        case .time(let date):
            if let later = backups.first(where: { $0.startTime > date.addingTimeInterval(1) }),
               let number = try? WALFileName(later.startSegment).segmentNumber(segmentSize: size), number >= stop {
                end = min(end, number)
            }
            required = stop
        case .lsn(let lsn):
            required = max(stop, lsn.value / UInt64(size))
            end = min(end, required)
        case .latest: break
        }
        let present = Set(segments.map { $0.file.segmentNumber(segmentSize: size) })
        var gap: String?
        if let missing = (start...end).first(where: { !present.contains($0) }) {
            let timeline = segments.filter { $0.file.segmentNumber(segmentSize: size) < missing }.map(\.file.timeline).max() ?? backup.timeline
            let name = WALFileName.segment(timeline: timeline, number: missing, segmentSize: size)
            // Before what the target surely needs (or anywhere for `latest`): refused now. Past
            // that, for a time: replay up to the gap; a target beyond it fails naming it.
            guard missing > required else {
                throw RecoveryError(
                    .notFound,
                    "WAL segment \(name) is missing from the archive of stanza '\(archive.stanza)': base backup \(backup.id) cannot be replayed to \(target) "
                        + "past it; restore to a time before it (`pg list` shows the window) or find the segment",
                    target: name)
            }
            gap = name
            end = missing - 1
        }
        let files = entries.filter { entry in
            entry.file.kind == .history
                || (entry.file.kind == .segment && lineage.contains(entry.file.timeline) && (start...end).contains(entry.file.segmentNumber(segmentSize: size)))
        }
        return RestorePlan(timeline: timeline, lineage: lineage, backup: backup, files: files, gap: gap)
    }

    /// Each ancestor timeline in a history file (`parent<TAB>switch-point<TAB>reason` lines)
    /// and the position where its child began.
    static func switchPoints(inHistory contents: [UInt8]) -> [UInt32: LSN] {
        var points: [UInt32: LSN] = [:]
        for line in String(decoding: contents, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 2, let parent = UInt32(fields[0]), let lsn = try? LSN(parsing: String(fields[1])) else { continue }
            points[parent] = lsn
        }
        return points
    }

    /// The timelines a history file names.
    static func ancestors(inHistory contents: [UInt8]) -> Set<UInt32> {
        Set(switchPoints(inHistory: contents).keys)
    }

    /// Restores into a new data folder and replays WAL to the target: the base backup's tar
    /// checked against its SHA-256 and every file against PostgreSQL's manifest
    /// (`pg_verifybackup`), the WAL fetched ahead and checked against the checksums in the
    /// archive, then the server started with `restore_command` and the target, promoted at
    /// the target, and (unless ``RestoreRequest/keepRunning``) stopped cleanly.
    ///
    /// - Throws: what ``plan(_:)`` throws; ``RecoveryError/Code/validationFailed`` for a file
    ///   that does not match its checksum or the manifest, or a replay that ends before the
    ///   target (with the server's own words); ``RecoveryError/Code/conflict`` when the data
    ///   folder exists; ``RecoveryError/Code/timeout``.
    public func restore(_ request: RestoreRequest, plan given: RestorePlan? = nil) async throws -> RestoreReport {
        let elapsed = clock.startStopwatch()
        guard !FileManager.default.fileExists(atPath: request.dataDirectory), !FileManager.default.fileExists(atPath: request.spoolDirectory) else {
            throw RecoveryError(.conflict, "\(request.dataDirectory) (or its .wal-spool) already exists: restore into a new folder", target: request.dataDirectory)
        }
        let plan: RestorePlan
        if let given { plan = given } else { plan = try await self.plan(request.target, timeline: request.timeline) }
        let backup = plan.backup

        // The WAL is fetched, checked and spooled while the base backup is restored and while
        // the server replays; restore_command waits for a planned file still on its way. A file
        // that fails its check makes every waiting restore_command fail fatally (the server
        // stops, nothing is promoted) and the restore is refused with nothing left behind.
        let order = Self.replayOrder(plan.files)
        let prefetch = Prefetch()
        var replayStopwatch = clock.startStopwatch()
        let timeline: UInt32
        do {
            let spool = try WALSpool(path: request.spoolDirectory, entries: order, owner: try serverAccount())
            defer { spool.close() }
            timeline = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await self.fetch(order, into: spool, recording: prefetch) }
                // Promoted, or failed: what is not fetched yet is not needed.
                defer { group.cancelAll() }
                do {
                    try await restoreBase(backup, request: request, timeline: plan.timeline)
                } catch {
                    throw RestorePhase.preparing(prefetch.error ?? error)
                }
                if let error = prefetch.error { throw RestorePhase.preparing(error) }
                replayStopwatch = clock.startStopwatch()
                do {
                    return try await replay(request, abort: { prefetch.error })
                } catch {
                    throw prefetch.error.map(RestorePhase.preparing) ?? RestorePhase.replaying(error)
                }
            }
        } catch RestorePhase.replaying(let error) {
            try? FileManager.default.removeItem(atPath: request.spoolDirectory)
            let recoveryError = error as? RecoveryError ?? RecoveryError(.internalError, "\(error)")
            let gap = plan.gap.map { "\nWAL segment \($0) is missing from the archive: nothing after it can be replayed." } ?? ""
            throw RecoveryError(
                recoveryError.code,
                recoveryError.message + gap + "\n(the data folder is left as it is, with the server's log carbon-recovery-restore.log; delete it before restoring again)",
                target: recoveryError.target)
        } catch {
            // Both folders are ours (neither existed): a refused restore leaves nothing behind.
            try? FileManager.default.removeItem(atPath: request.spoolDirectory)
            try? FileManager.default.removeItem(atPath: request.dataDirectory)
            if case RestorePhase.preparing(let cause) = error { throw cause }
            throw error
        }
        let replayDuration = replayStopwatch()
        try? FileManager.default.removeItem(atPath: request.spoolDirectory)
        return RestoreReport(backup: backup, target: request.target, files: plan.files.count, timeline: timeline, duration: elapsed(), replay: replayDuration)
    }

    /// Where a restore failed: before the server started (or a WAL file failed its check:
    /// nothing is kept), or while it replayed (the data folder and its log are kept to look at).
    private enum RestorePhase: Error {
        case preparing(any Error)
        case replaying(any Error)
    }

    /// The first error of a restore's WAL prefetch.
    final class Prefetch: Sendable {
        private let failure = Mutex<RecoveryError?>(nil)

        var error: RecoveryError? { failure.withLock { $0 } }

        func fail(_ error: RecoveryError) {
            failure.withLock { if $0 == nil { $0 = error } }
        }
    }

    /// History files first (PostgreSQL reads them before any segment), then segments in the
    /// order replay reads them: by position, then timeline.
    static func replayOrder(_ files: [WALArchive.Entry]) -> [WALArchive.Entry] {
        files.sorted { a, b in
            let aHistory = a.file.kind == .history, bHistory = b.file.kind == .history
            if aHistory != bHistory { return aHistory }
            let aPosition = a.file.name.dropFirst(8), bPosition = b.file.name.dropFirst(8)
            return aPosition == bPosition ? a.file.name < b.file.name : aPosition < bPosition
        }
    }

    /// Fetches each file (four at a time, in order), checks it and puts it in the spool; the
    /// first failure is recorded and releases the spool's lock, so that a restore_command
    /// waiting for a file fails fatally instead of waiting. Cancellation stops it quietly.
    func fetch(_ files: [WALArchive.Entry], into spool: WALSpool, recording prefetch: Prefetch) async {
        do {
            _ = try await mapConcurrently(files, limit: 4) { entry in
                let contents = try await archive.fetch(entry)
                try await Self.onDispatch { try spool.write(entry, contents: contents) }
            }
        } catch {
            if Task.isCancelled || error is CancellationError { return }
            prefetch.fail(error as? RecoveryError ?? RecoveryError(.storageFailure, "fetching WAL failed: \(error)"))
            spool.close()
        }
    }

    /// The server's user's ids, when PostgreSQL runs as another user.
    private func serverAccount() throws -> (uid: uid_t, gid: gid_t)? {
        guard let user = tools.runAs else { return nil }
        guard let account = getpwnam(user) else { throw RecoveryError(.invalidInput, "there is no user '\(user)' to run PostgreSQL as", target: user) }
        return (account.pointee.pw_uid, account.pointee.pw_gid)
    }

    /// Downloads the base backup, checks its SHA-256, extracts it into the new data folder and
    /// prepares it for recovery.
    private func restoreBase(_ backup: BaseBackup, request: RestoreRequest, timeline: UInt32) async throws {
        guard let stored = try await archive.storage.get(backup.key) else {
            throw RecoveryError(.notFound, "base backup \(backup.id) has a manifest but its tar \(backup.key) is gone", target: backup.key)
        }
        let tar = backup.compression == .gzip ? try Gzip.decompress(stored, limit: backup.bytes) : stored
        guard hexSHA256(tar) == backup.sha256 else {
            throw RecoveryError(.validationFailed, "base backup \(backup.id) does not match its SHA-256 (damaged or tampered): refused", target: backup.key)
        }
        let members = try BaseBackupTar.members(tar)
        try await BaseBackupTar.extract(tar, members: members, into: request.dataDirectory)
        try await prepare(request, timeline: timeline)
    }

    /// Checks the extracted files against PostgreSQL's manifest, writes the recovery settings,
    /// and hands the data folder to the server's user (the spool gives its files itself).
    private func prepare(_ request: RestoreRequest, timeline: UInt32) async throws {
        let verify = try await tools.run("pg_verifybackup", ["--no-parse-wal", "--quiet", request.dataDirectory])
        guard verify.status == 0 else {
            throw RecoveryError(
                .validationFailed, "the restored files do not match PostgreSQL's backup manifest: \(verify.error.trimmingCharacters(in: .whitespacesAndNewlines).prefix(2000))",
                target: request.dataDirectory)
        }
        let owner = try serverAccount()
        try await Self.onDispatch {
            let files = FileManager.default
            let target: String
            switch request.target {
            case .time(let date):
                target = "recovery_target_time = '\(Self.postgresTimestamp(date))'\nrecovery_target_inclusive = on\n"
            case .lsn(let lsn): target = "recovery_target_lsn = '\(lsn)'\nrecovery_target_inclusive = on\n"
            case .latest: target = ""
            }
            let settings = """

                # --- carbon-recovery pg restore ---
                restore_command = '\(request.restoreCommand.replacingOccurrences(of: "'", with: "''"))'
                \(target)recovery_target_timeline = '\(timeline)'
                recovery_target_action = 'promote'
                listen_addresses = '127.0.0.1'
                port = \(request.port)
                unix_socket_directories = ''
                \(request.archive ? "" : "archive_mode = off\n")
                """
            let auto = request.dataDirectory + "/postgresql.auto.conf"
            guard let handle = FileHandle(forWritingAtPath: auto) else { throw RecoveryError(.storageFailure, "could not open \(auto)", target: auto) }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(settings.utf8))
            try handle.close()
            guard files.createFile(atPath: request.dataDirectory + "/recovery.signal", contents: Data(), attributes: [.posixPermissions: 0o600]) else {
                throw RecoveryError(.storageFailure, "could not write recovery.signal", target: request.dataDirectory)
            }
            if let owner { try Self.chown(request.dataDirectory, uid: owner.uid, gid: owner.gid) }
        }
    }

    /// `2026-12-04 14:03:27.346000+00`: PostgreSQL's own timestamp form (it refuses RFC 3339's
    /// `T` and `Z` in `recovery_target_time`), to the microsecond PostgreSQL keeps, rounded —
    /// not truncated: `.346` held as `.345999…` in a `Date` stays `.346`.
    static func postgresTimestamp(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        var seconds = micros / 1_000_000, fraction = micros % 1_000_000
        if fraction < 0 { fraction += 1_000_000; seconds -= 1 }
        let whole = RFC3339.format(Date(timeIntervalSince1970: TimeInterval(seconds)))   // yyyy-MM-ddTHH:mm:ss.000Z
        let digits = String(fraction)
        return whole.prefix(10) + " " + whole.dropFirst(11).prefix(8) + "." + String(repeating: "0", count: 6 - digits.count) + digits + "+00"
    }

    /// Starts the server on the restored folder and waits until it is promoted; the new timeline.
    ///
    /// `abort` is asked at every poll: an error it returns stops the server at once (a WAL file
    /// failed its check) and is thrown.
    private func replay(_ request: RestoreRequest, abort: @Sendable () -> RecoveryError? = { nil }) async throws -> UInt32 {
        let log = request.dataDirectory + "/carbon-recovery-restore.log"
        // -w: until the server accepts connections (it does once consistent, while it replays);
        // a server that dies on the way makes pg_ctl fail here.
        let seconds = max(60, Int(request.timeout.components.seconds))
        let start = try await tools.run("pg_ctl", ["start", "-D", request.dataDirectory, "-l", log, "-w", "-t", String(seconds)], asServerUser: true)
        guard start.status == 0 else {
            throw RecoveryError(.internalError, "pg_ctl could not start the restored server: \(start.error)\(Self.tail(log))", target: request.dataDirectory)
        }
        let connection = request.connection.on(port: request.port)
        let deadline = ContinuousClock.now + request.timeout
        do {
            while true {
                if let error = abort() {
                    _ = try? await tools.run("pg_ctl", ["stop", "-D", request.dataDirectory, "-m", "immediate", "-w"], asServerUser: true)
                    throw error
                }
                if let rows = try? await tools.query("SELECT pg_is_in_recovery(), substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)", on: connection),
                   let row = rows.first, row.first == "f", row.count == 2, let timeline = UInt32(row[1], radix: 16) {
                    if !request.keepRunning { try await stop(request) }
                    return timeline
                }
                let status = try await tools.run("pg_ctl", ["status", "-D", request.dataDirectory], asServerUser: true)
                if status.status == 3 {
                    try await Task.sleep(for: .milliseconds(300))   // the log's last lines
                    throw RecoveryError(
                        .validationFailed, "the restored server stopped before it was promoted at \(request.target):\(Self.tail(log))", target: request.dataDirectory)
                }
                guard ContinuousClock.now < deadline else {
                    throw RecoveryError(.timeout, "replay did not reach \(request.target) within \(request.timeout)", target: request.dataDirectory)
                }
                try await Task.sleep(for: .milliseconds(200))
            }
        } catch {
            try? await stop(request)
            throw error
        }
    }

    /// Stops a restored server (fast shutdown) by the PID in its folder.
    func stop(_ request: RestoreRequest) async throws {
        _ = try await tools.run("pg_ctl", ["stop", "-D", request.dataDirectory, "-m", "fast", "-w"], asServerUser: true)
    }

    /// The last lines of the server's log, for an error.
    static func tail(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(8)
        return lines.isEmpty ? "" : "\n" + lines.joined(separator: "\n")
    }

    /// Gives a folder and everything in it to a user.
    static func chown(_ folder: String, uid: uid_t, gid: gid_t) throws {
        guard Glibc.chown(folder, uid, gid) == 0 else { throw RecoveryError(.storageFailure, "could not hand \(folder) to uid \(uid)", target: folder) }
        guard let walker = FileManager.default.enumerator(atPath: folder) else { return }
        while let relative = walker.nextObject() as? String {
            guard lchown(folder + "/" + relative, uid, gid) == 0 else {
                throw RecoveryError(.storageFailure, "could not hand \(folder)/\(relative) to uid \(uid)", target: folder)
            }
        }
    }

    /// Runs blocking file work on a Dispatch thread, off Swift's cooperative pool.
    static func onDispatch(_ work: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async {
                do {
                    try work()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}
