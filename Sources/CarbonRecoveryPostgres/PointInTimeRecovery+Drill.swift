import CarbonRecovery
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension PointInTimeRecovery {
    /// Where and against what a point-in-time recovery drill runs.
    public struct DrillRequest: Sendable {
        /// The production server: the drill writes its two marker rows there (in
        /// ``PostgresTools/Connection/database``), and reads its timeline and databases.
        public var connection: PostgresTools.Connection
        /// The folder the scratch instance's data folder is made in, and removed from; the
        /// server's OS user must reach it.
        public var scratchDirectory: String
        /// The scratch instance's port on 127.0.0.1; `nil` picks a free one. Its logins are the
        /// backup's: the password file must hold an entry for this port (or `*`).
        public var port: Int?
        /// The database's recovery time objective the restore is measured against.
        public var rto: Duration
        /// How long the marker's segment may take to reach the archive, and replay may take.
        public var timeout: Duration

        /// Creates a request.
        public init(connection: PostgresTools.Connection, scratchDirectory: String = NSTemporaryDirectory(), port: Int? = nil, rto: Duration, timeout: Duration = .seconds(3600)) {
            self.connection = connection
            self.scratchDirectory = scratchDirectory
            self.port = port
            self.rto = rto
            self.timeout = timeout
        }
    }

    /// What a point-in-time recovery drill found.
    public struct DrillReport: Sendable {
        /// The drill's marker id (`<id>-before`, `<id>-after` in `carbon_recovery.drill_markers`).
        public var marker: String
        /// The moment restored to: after the first marker's commit, before the second's.
        public var target: Date
        /// The restore (its ``RestoreReport/duration`` is the measured recovery time).
        public var restore: RestoreReport
        /// The objective it was measured against.
        public var rto: Duration
        /// The databases production had that the restored instance lacks.
        public var missingDatabases: [String]
        /// Each way the drill failed; empty when it passed.
        public var problems: [String]

        /// The recovery time: from the start of the restore to the promoted instance.
        public var recoveryTime: Duration { restore.duration }
        /// `true` when the restored data matched and the recovery time met the RTO.
        public var passed: Bool { problems.isEmpty }

        /// The figures the audit trail records: `marker`, `target`, `backup`, `files`, `timeline`,
        /// `recoveryTimeSeconds` and `replaySeconds` (text, 3 decimals, as other drills),
        /// `rtoSeconds`, `passed`, `problems`.
        public var json: JSONValue {
            .object([
                "marker": .string(marker), "target": .string(RFC3339.format(target)), "backup": .string(restore.backup.id),
                "files": .integer(Int64(restore.files)), "timeline": .integer(Int64(restore.timeline)),
                "recoveryTimeSeconds": .string(RestoreTestReport.seconds(restore.duration)), "replaySeconds": .string(RestoreTestReport.seconds(restore.replay)),
                "rtoSeconds": .string(RestoreTestReport.seconds(rto)), "passed": .bool(passed), "problems": .array(problems.map { .string($0) }),
                "missingDatabases": .array(missingDatabases.map { .string($0) }),
            ])
        }
    }

    /// A point-in-time recovery drill, non-destructive for production:
    ///
    /// 1. writes a marker row (`<id>-before`) into `carbon_recovery.drill_markers` on the
    ///    production server (creating the table the first time), notes a moment T just after
    ///    its commit on the server's clock, waits until the clock passes T and writes a second
    ///    (`<id>-after`);
    /// 2. waits until the WAL segment holding the second commit is in the archive (switching
    ///    segments);
    /// 3. restores to T (``restore(_:plan:)``: the newest base backup before T, every file
    ///    checked, WAL replayed, promoted) into a scratch instance on 127.0.0.1, following
    ///    production's current timeline, with archiving off;
    /// 4. compares: the first marker must be there and the second must not (replay stopped at
    ///    T, not before or after), and every database production has must exist;
    /// 5. stops the scratch instance and removes its folder, whatever happened; deletes
    ///    markers older than 30 days from production.
    ///
    /// - Returns: The report; a mismatch or a recovery time over the RTO is a problem in it,
    ///   not an error.
    /// - Throws: ``RecoveryError/Code/unsupported`` without ``restoreWALExecutable``;
    ///   ``RecoveryError/Code/invalidInput`` when production is a standby or refuses the marker
    ///   table; ``RecoveryError/Code/timeout`` when the marker's segment is not archived in
    ///   time; what the restore throws (the scratch folder removed, the server's log quoted).
    public func drill(_ request: DrillRequest) async throws -> DrillReport {
        guard let executable = restoreWALExecutable else {
            throw RecoveryError(.unsupported, "a drill restores by itself, and needs the carbon-recovery executable for restore_command (restoreWALExecutable)")
        }
        let production = request.connection
        let state = try await tools.query("SELECT pg_is_in_recovery(), substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)", on: production)
        // pg_current_wal_lsn() fails on a standby, so a standby throws above; this is the belt.
        guard let row = state.first, row.count == 2, row[0] == "f", let timeline = UInt32(row[1], radix: 16) else {
            throw RecoveryError(.invalidInput, "\(production.host):\(production.port) is a standby: drill its primary", target: "\(production.host):\(production.port)")
        }
        let marker = "pitr-" + Self.identifier(clock.now()).lowercased() + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        do {
            _ = try await tools.query(
                """
                CREATE SCHEMA IF NOT EXISTS carbon_recovery;
                CREATE TABLE IF NOT EXISTS carbon_recovery.drill_markers (
                    id text PRIMARY KEY, phase text NOT NULL, written_at timestamptz NOT NULL DEFAULT clock_timestamp());
                INSERT INTO carbon_recovery.drill_markers (id, phase) VALUES ('\(marker)-before', 'before');
                """, on: production)
        } catch let error as RecoveryError where error.code == .invalidInput {
            throw RecoveryError(
                .invalidInput,
                "the drill writes its marker rows to carbon_recovery.drill_markers in database '\(production.database)', and \(production.user) may not: "
                    + "\(error.message) (create the schema once as a superuser and GRANT USAGE, CREATE on it, or drill as a superuser)",
                target: "\(production.host):\(production.port)")
        }
        // T: the next whole millisecond after the first commit, on the server's clock (the one
        // commit timestamps come from).
        guard let text = try await tools.query(
            "SELECT to_char((date_trunc('milliseconds', clock_timestamp()) + interval '1 millisecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
            on: production).first?.first, let target = RFC3339.parse(text)
        else { throw RecoveryError(.internalError, "could not read the server's clock", target: "\(production.host):\(production.port)") }
        let deadline = ContinuousClock.now + .seconds(10)
        while try await tools.query("SELECT clock_timestamp() > '\(text)'::timestamptz", on: production).first?.first != "t" {
            guard ContinuousClock.now < deadline else { throw RecoveryError(.internalError, "the server's clock did not pass \(text)") }
            try await Task.sleep(for: .milliseconds(5))
        }
        _ = try await tools.query("INSERT INTO carbon_recovery.drill_markers (id, phase) VALUES ('\(marker)-after', 'after')", on: production)
        // Read after the commit (a separate session): the segment holding its last byte.
        guard let segment = try await tools.query("SELECT pg_walfile_name(pg_current_wal_lsn())", on: production).first?.first else {
            throw RecoveryError(.internalError, "could not read the server's WAL position")
        }
        let databases = Set(try await tools.query("SELECT datname FROM pg_database WHERE datallowconn", on: production).compactMap(\.first))
        var waiting = self
        waiting.archiveWait = request.timeout
        try await waiting.waitForArchived(segment, connection: production)

        let port = try request.port ?? Self.freePort()
        let data = request.scratchDirectory + (request.scratchDirectory.hasSuffix("/") ? "" : "/") + "carbon-recovery-drill-\(archive.stanza)-\(marker)"
        let copy = data + ".carbon-recovery"
        let restoreRequest = RestoreRequest(
            target: .time(target), timeline: timeline, dataDirectory: data, port: port, connection: PostgresTools.Connection(
                host: "127.0.0.1", port: port, user: production.user, database: production.database, passwordFile: production.passwordFile),
            restoreCommand: "", keepRunning: true, archive: false, timeout: request.timeout)
        let restored: RestoreReport
        var found: [String] = [], restoredDatabases: Set<String> = []
        do {
            let (command, _) = try await RestoreWALCommand.staged(executable, copyingTo: copy, tools: tools)
            var staged = restoreRequest
            staged.restoreCommand = command.command(spool: staged.spoolDirectory)
            restored = try await restore(staged)
            let scratch = staged.connection
            found = try await tools.query("SELECT phase FROM carbon_recovery.drill_markers WHERE id IN ('\(marker)-before', '\(marker)-after') ORDER BY 1", on: scratch)
                .compactMap(\.first)
            restoredDatabases = Set(try await tools.query("SELECT datname FROM pg_database", on: scratch).compactMap(\.first))
        } catch {
            await removeScratch(restoreRequest, copy: copy)
            guard let error = error as? RecoveryError else { throw error }
            let message = error.message.components(separatedBy: "\n(the data folder is left as it is").first ?? error.message
            throw RecoveryError(error.code, "pitr drill of '\(archive.stanza)' to \(RFC3339.format(target)): \(message)", target: error.target)
        }
        await removeScratch(restoreRequest, copy: copy)
        _ = try? await tools.query("DELETE FROM carbon_recovery.drill_markers WHERE written_at < clock_timestamp() - interval '30 days'", on: production)

        var problems: [String] = []
        if !found.contains("before") {
            problems.append("the marker committed before \(RFC3339.format(target)) is missing from the restored database: replay stopped early")
        }
        if found.contains("after") {
            problems.append("the marker committed after \(RFC3339.format(target)) is in the restored database: replay did not stop at the target")
        }
        let missing = databases.subtracting(restoredDatabases).sorted()
        if !missing.isEmpty { problems.append("database(s) \(missing.joined(separator: ", ")) of production are missing from the restored instance") }
        if restored.duration > request.rto {
            problems.append("the recovery took \(RestoreTestReport.seconds(restored.duration)) s, over the RTO of \(RestoreTestReport.seconds(request.rto)) s")
        }
        return DrillReport(marker: marker, target: target, restore: restored, rto: request.rto, missingDatabases: missing, problems: problems)
    }

    /// Stops the scratch instance (if it runs) and removes its folders.
    private func removeScratch(_ request: RestoreRequest, copy: String) async {
        if FileManager.default.fileExists(atPath: request.dataDirectory + "/postmaster.pid") { try? await stop(request) }
        try? await Self.onDispatch {
            for path in [request.dataDirectory, request.spoolDirectory, copy] where FileManager.default.fileExists(atPath: path) {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }

    /// A TCP port on 127.0.0.1 nothing listens on now, outside the ephemeral range (see ``LoopbackPort``).
    static func freePort() throws -> Int { try LoopbackPort.unused() }
}
