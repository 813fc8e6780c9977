// Point-in-time recovery (issue 16, parts 3–4, 6) on the sandbox's real PostgreSQL 15 and the real
// S3 server: a writer commits rows continuously, a moment T is noted, the data is "corrupted"
// (every row updated, a table dropped), and `pg restore --to-time T` brings back exactly the rows
// committed at or before T. A missing segment stops a restore naming it; a tampered segment or
// base backup is refused by checksum, before anything is written.
import CarbonRecovery
import CarbonRecoveryCompression
import CarbonRecoveryMinIO
import CarbonRecoveryPostgres
import Foundation
import Testing
import TestSupport

@Suite("PostgreSQL point-in-time recovery on the sandbox", .timeLimit(.minutes(10)))
struct PostgresPointInTimeRecoveryTests {
    /// The CLI's environment for the sandbox's PostgreSQL and its archive, with a trail of the test's own.
    func cli(_ sandbox: Sandbox, _ scratch: TemporaryDirectory) -> [String: String] {
        [
            "XDG_STATE_HOME": scratch.file("state"), "CARBON_RECOVERY_AUDIT_DB": scratch.file("audit.db"),
            "CARBON_RECOVERY_S3_ENDPOINT": sandbox.s3Endpoint, "CARBON_RECOVERY_S3_BUCKET": sandbox.postgresBucket,
            "AWS_SHARED_CREDENTIALS_FILE": sandbox.credentialsFile, "PGPASSFILE": sandbox.postgresPassFile, "PGPORT": sandbox.postgresPort,
        ]
    }

    /// A folder the database's user can reach (the scratch folder is ours, 0700).
    func restoreParent(_ scratch: TemporaryDirectory) throws -> String {
        let parent = scratch.file("restore")
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        chmod(scratch.path, 0o755)
        chmod(parent, 0o755)
        return parent
    }

    func stopServer(_ dataDirectory: String) async {
        _ = try? await run("/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--reset-env", "--",
            "/usr/lib/postgresql/15/bin/pg_ctl", "stop", "-D", dataDirectory, "-m", "fast", "-w"])
    }

    /// Switches the server's segment and waits until it is archived.
    func switchAndWaitArchived(_ sandbox: Sandbox) async throws {
        try await waitUntilArchived(sandbox, try await sandbox.psql("SELECT pg_walfile_name(pg_switch_wal())"))
    }

    @Test("rows committed continuously, a moment T, then every row updated and a table dropped: restore to T has exactly the rows committed at or before T")
    func restoreBeforeCorruption() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let environment = cli(sandbox, scratch)
        let table = "pitr_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await sandbox.psql("CREATE TABLE \(table) (id int PRIMARY KEY, payload text); CREATE TABLE \(table)_keep (id int); INSERT INTO \(table)_keep VALUES (1)")
        let backup = try await run(try executable("carbon-recovery"), ["pg", "base-backup", "--stanza", "sandbox", "--output", "json"], environment: environment)
        #expect(backup.status == 0, "\(backup.standardOutput)\(backup.standardError)")

        // The writer: one row per transaction, a few milliseconds apart, each commit's time kept by PostgreSQL.
        _ = try await sandbox.psql("""
            DO $$ BEGIN FOR i IN 1..400 LOOP
              INSERT INTO \(table) VALUES (i, 'row ' || i); COMMIT; PERFORM pg_sleep(0.004);
              IF i % 100 = 0 THEN PERFORM pg_switch_wal(); END IF;
            END LOOP; END $$
            """)
        let commits = try await sandbox.psql(
            "SELECT id, to_char(pg_xact_commit_timestamp(xmin) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM \(table) ORDER BY id")
        let times = try commits.split(separator: "\n").map { line -> (Int, Date) in
            let parts = line.split(separator: "|")
            return (try #require(Int(parts[0])), try #require(RFC3339.parse(String(parts[1]))))
        }
        #expect(times.count == 400)
        // T: the 237th commit's time to the millisecond (what --to-time carries).
        let target = try #require(RFC3339.parse(RFC3339.format(times[236].1)))
        let expected = times.filter { $0.1 <= target }.map(\.0)
        #expect(expected.count >= 200 && expected.count < 400, "T falls inside the writes: \(expected.count)")

        // The corruption, then its WAL into the archive.
        _ = try await sandbox.psql("UPDATE \(table) SET payload = 'corrupted'; DROP TABLE \(table)_keep")
        try await switchAndWaitArchived(sandbox)

        let data = try restoreParent(scratch) + "/data"
        let port = String(try LoopbackPort.unused())
        let restore = try await run(
            try executable("carbon-recovery"),
            ["pg", "restore", "--stanza", "sandbox", "--timeline", "1", "--to-time", RFC3339.format(target), "--data-dir", data, "--port", port, "--run-as", "postgres", "--keep-running"],
            environment: environment, timeout: .seconds(300))
        #expect(restore.status == 0, "\(restore.standardOutput)\(restore.standardError)")
        defer { Task { await stopServer(data) } }
        var restored = sandbox
        restored.postgresPort = port
        let rows = try await restored.psql("SELECT id FROM \(table) ORDER BY id").split(separator: "\n").compactMap { Int($0) }
        #expect(rows == expected, "exactly the rows committed at or before T: \(rows.count) vs \(expected.count)")
        #expect(try await restored.psql("SELECT count(*) FROM \(table) WHERE payload = 'corrupted'") == "0")
        #expect(try await restored.psql("SELECT count(*) FROM \(table)_keep") == "1", "the dropped table is back")
        #expect(try await restored.psql("SELECT pg_is_in_recovery()") == "f", "promoted")
        await stopServer(data)

        // Audited, with the recovery time.
        let query = try await run(try executable("carbon-recovery"), ["audit", "query", "--operation", "pg.restore", "--kind", "outcome", "--output", "json"], environment: environment)
        let outcome = try #require(try JSONValue(parsing: Array(query.standardOutput.utf8))["entries"]?.arrayValue?.first)
        #expect(outcome["outcome"]?.stringValue == "success", "\(outcome)")
        let parameters = try JSONValue(parsing: Array((outcome["parameters"]?.stringValue ?? "{}").utf8))
        #expect(parameters["milliseconds"]?.integerValue.map { $0 > 0 } == true && parameters["timeline"]?.integerValue.map { $0 >= 2 } == true, "\(parameters)")
    }

    @Test("a restore onto a new timeline archives it; a base backup taken there restores again, to a moment on that timeline")
    func secondRestoreFromNewTimeline() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let environment = cli(sandbox, scratch)
        let table = "tl_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await sandbox.psql("CREATE TABLE \(table) (id int, phase text); INSERT INTO \(table) SELECT g, 'first' FROM generate_series(1, 50) g")
        #expect(try await run(try executable("carbon-recovery"), ["pg", "base-backup", "--stanza", "sandbox"], environment: environment).status == 0)
        try await switchAndWaitArchived(sandbox)
        let parent = try restoreParent(scratch)

        // First restore: to the end, archiving its new timeline into the same stanza.
        let first = parent + "/first"
        let firstPort = String(try LoopbackPort.unused())
        let restored = try await run(
            try executable("carbon-recovery"),
            ["pg", "restore", "--stanza", "sandbox", "--timeline", "1", "--latest", "--archive", "--data-dir", first, "--port", firstPort, "--run-as", "postgres", "--keep-running", "--output", "json"],
            environment: environment, timeout: .seconds(300))
        #expect(restored.status == 0, "\(restored.standardOutput)\(restored.standardError)")
        defer { Task { await stopServer(first) } }
        let timeline = try #require(try JSONValue(parsing: Array(restored.standardOutput.utf8))["timeline"]?.integerValue)
        #expect(timeline >= 2)
        var server = sandbox
        server.postgresPort = firstPort
        #expect(try await server.psql("SELECT count(*) FROM \(table)") == "50")
        _ = try await server.psql("INSERT INTO \(table) SELECT g, 'second' FROM generate_series(51, 80) g")
        #expect(try await run(try executable("carbon-recovery"), ["pg", "base-backup", "--stanza", "sandbox", "--pg-port", firstPort], environment: environment).status == 0)
        _ = try await server.psql("INSERT INTO \(table) SELECT g, 'third' FROM generate_series(81, 90) g")
        let target = try #require(RFC3339.parse(try await server.psql(
            "SELECT to_char(pg_xact_commit_timestamp(xmin) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM \(table) WHERE id = 90")))
        try await Task.sleep(for: .milliseconds(20))
        _ = try await server.psql("DELETE FROM \(table)")
        try await switchAndWaitArchived(server)
        let history = try await WALArchive(storage: try sandboxStorage(bucket: sandbox.postgresBucket), stanza: "sandbox").entries()
            .filter { $0.file.kind == .history }.map(\.file.timeline)
        #expect(history.contains(UInt32(timeline)), "the new timeline's history file is archived: \(history)")

        // Second restore: from the base backup on the new timeline, to a moment on it.
        let second = parent + "/second restore; echo x"   // restore_command quotes it for the shell
        let secondPort = String(try LoopbackPort.unused())
        let again = try await run(
            try executable("carbon-recovery"),
            ["pg", "restore", "--stanza", "sandbox", "--timeline", String(timeline), "--to-time", RFC3339.format(target.addingTimeInterval(0.001)), "--data-dir", second, "--port", secondPort,
             "--run-as", "postgres", "--keep-running", "--output", "json"],
            environment: environment, timeout: .seconds(300))
        #expect(again.status == 0, "\(again.standardOutput)\(again.standardError)")
        defer { Task { await stopServer(second) } }
        #expect(try JSONValue(parsing: Array(again.standardOutput.utf8))["timeline"]?.integerValue.map { $0 > timeline } == true, "\(again.standardOutput)")
        var secondServer = sandbox
        secondServer.postgresPort = secondPort
        #expect(try await secondServer.psql("SELECT phase, count(*) FROM \(table) GROUP BY phase ORDER BY phase") == "first|50\nsecond|30\nthird|10")
        await stopServer(second)
        await stopServer(first)
    }

    /// Copies stanza `sandbox`'s newest base backup and the WAL after it into a stanza of the
    /// test's own, changing one file on the way (or leaving it out).
    func copyArchive(_ sandbox: Sandbox, to stanza: String, change: (String, inout [UInt8]?) -> Void) async throws -> BaseBackup {
        let storage = try sandboxStorage(bucket: sandbox.postgresBucket)
        let source = PointInTimeRecovery(archive: try WALArchive(storage: storage, stanza: "sandbox"), tools: PostgresTools())
        let backup = try #require(try await source.baseBackups().last { $0.timeline == 1 }, "the sandbox server's own timeline")
        let start = try WALFileName(backup.startSegment)
        for try await object in storage.list(prefix: "postgres/sandbox/") {
            let wal = object.key.contains("/wal/") ? WALArchive.entry(forKey: object.key) : nil
            if let wal, wal.file.kind != .segment || wal.file.timeline != 1 || wal.file < start { continue }
            guard object.key.contains("/base/\(backup.id)/") || wal != nil else { continue }
            var bytes = try await storage.get(object.key)
            let key = object.key.replacingOccurrences(of: "postgres/sandbox/", with: "postgres/\(stanza)/")
            if key.hasSuffix("/manifest.json"), let text = bytes {
                bytes = Array(String(decoding: text, as: UTF8.self).replacingOccurrences(of: "postgres/sandbox/", with: "postgres/\(stanza)/").utf8)
            }
            change(key, &bytes)
            if let bytes { try await storage.put(key, data: bytes) }
        }
        return backup
    }

    @Test("a missing WAL segment stops --latest naming it; a tampered segment or base backup is refused by checksum; nothing is written")
    func gapsAndTampering() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let environment = cli(sandbox, scratch)
        let table = "gap_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await sandbox.psql("CREATE TABLE \(table) (id int)")
        let backup = try await run(try executable("carbon-recovery"), ["pg", "base-backup", "--stanza", "sandbox"], environment: environment)
        #expect(backup.status == 0, "\(backup.standardOutput)\(backup.standardError)")
        for round in 0..<3 {
            _ = try await sandbox.psql("INSERT INTO \(table) SELECT generate_series(1, 1000) + \(round * 1000)")
            try await switchAndWaitArchived(sandbox)
        }
        let parent = try restoreParent(scratch)

        // A gap: the second segment after the backup's start is left out.
        let gapStanza = "gap-\(UUID().uuidString.prefix(6).lowercased())"
        _ = try await copyArchive(sandbox, to: gapStanza) { _, _ in }
        let storage = try sandboxStorage(bucket: sandbox.postgresBucket)
        let gapArchive = try WALArchive(storage: storage, stanza: gapStanza)
        let segments = try await gapArchive.entries().filter { $0.file.kind == .segment }
        #expect(segments.count >= 3, "\(segments.map(\.file.name))")
        let dropped = segments[1]
        let missing = dropped.file.name
        try await storage.delete(dropped.key)
        let gap = try await run(
            try executable("carbon-recovery"),
            ["pg", "restore", "--stanza", gapStanza, "--latest", "--data-dir", parent + "/gap", "--port", "45001", "--run-as", "postgres"], environment: environment)
        #expect(gap.status != 0 && gap.standardError.contains("WAL segment \(missing) is missing"), "\(gap.standardOutput)\(gap.standardError)")
        #expect(!FileManager.default.fileExists(atPath: parent + "/gap"), "nothing written")
        // `pg list` shows the gap, and a window that ends before it.
        let list = try await run(try executable("carbon-recovery"), ["pg", "list", "--stanza", gapStanza, "--output", "json"], environment: environment)
        let window = try JSONValue(parsing: Array(list.standardOutput.utf8))
        #expect(window["gaps"] == [["first": .string(missing), "last": .string(missing), "segments": 1]], "\(list.standardOutput)\(list.standardError)")
        if let latest = window["latestSegment"]?.stringValue { #expect(latest < missing, "\(list.standardOutput)") }
        let listed = try await run(try executable("carbon-recovery"), ["pg", "list", "--stanza", gapStanza], environment: environment)
        #expect(listed.standardOutput.contains("gap: \(missing) (1 segment missing)"), "\(listed.standardOutput)")

        // A tampered segment: same key, other contents.
        let segmentStanza = "tseg-\(UUID().uuidString.prefix(6).lowercased())"
        var tampered = ""
        _ = try await copyArchive(sandbox, to: segmentStanza) { key, bytes in
            guard tampered.isEmpty, let entry = WALArchive.entry(forKey: key), entry.file.kind == .segment, var plain = bytes.flatMap({ try? Gzip.decompress($0) }) else { return }
            plain[plain.count / 2] ^= 0x01
            bytes = try? Gzip.compress(plain)
            tampered = entry.file.name
        }
        let segmentRefused = try await run(
            try executable("carbon-recovery"),
            ["pg", "restore", "--stanza", segmentStanza, "--latest", "--data-dir", parent + "/tseg", "--port", "45002", "--run-as", "postgres"], environment: environment)
        #expect(segmentRefused.status != 0 && segmentRefused.standardError.contains("\(tampered) in the archive does not match its SHA-256"),
            "\(segmentRefused.standardOutput)\(segmentRefused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: parent + "/tseg"), "nothing written")

        // A tampered base backup.
        let baseStanza = "tbase-\(UUID().uuidString.prefix(6).lowercased())"
        _ = try await copyArchive(sandbox, to: baseStanza) { key, bytes in
            guard key.hasSuffix("/base.tar.gz"), var plain = bytes.flatMap({ try? Gzip.decompress($0) }) else { return }
            plain[plain.count / 3] ^= 0x01
            bytes = try? Gzip.compress(plain)
        }
        let baseRefused = try await run(
            try executable("carbon-recovery"),
            ["pg", "restore", "--stanza", baseStanza, "--latest", "--data-dir", parent + "/tbase", "--port", "45003", "--run-as", "postgres"], environment: environment)
        #expect(baseRefused.status != 0 && baseRefused.standardError.contains("does not match its SHA-256 (damaged or tampered): refused"),
            "\(baseRefused.standardOutput)\(baseRefused.standardError)")
        #expect(!FileManager.default.fileExists(atPath: parent + "/tbase"), "nothing written")
    }

    @Test("bad input to pg restore and pg base-backup is a clear error with nothing written")
    func badInput() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let environment = cli(sandbox, scratch)
        let parent = try restoreParent(scratch)
        try FileManager.default.createDirectory(atPath: parent + "/exists", withIntermediateDirectories: true)
        let cases: [([String], String)] = [
            (["pg", "restore", "--stanza", "sandbox", "--latest", "--to-time", "2026-12-04T00:00:00Z", "--data-dir", parent + "/a", "--port", "45010", "--run-as", "postgres"], "exactly one of"),
            (["pg", "restore", "--stanza", "sandbox", "--to-time", "yesterday", "--data-dir", parent + "/a", "--port", "45010", "--run-as", "postgres"], "not an RFC 3339 time"),
            (["pg", "restore", "--stanza", "sandbox", "--to-lsn", "0/ZZ", "--data-dir", parent + "/a", "--port", "45010", "--run-as", "postgres"], "not a WAL position"),
            (["pg", "restore", "--stanza", "sandbox", "--latest", "--data-dir", parent + "/a", "--port", "45010"], "refuses to run as root"),
            (["pg", "restore", "--stanza", "sandbox", "--latest", "--data-dir", parent + "/exists", "--port", "45010", "--run-as", "postgres"], "already exists"),
            (["pg", "restore", "--stanza", "sandbox", "--to-time", "2000-01-01T00:00:00Z", "--data-dir", parent + "/a", "--port", "45010", "--run-as", "postgres"], "no base backup of stanza 'sandbox'"),   // none yet, or none before 2000
            (["pg", "restore", "--stanza", "nothing-here", "--latest", "--data-dir", parent + "/a", "--port", "45010", "--run-as", "postgres"], "there is no base backup of stanza 'nothing-here'"),
            (["pg", "base-backup", "--stanza", "sandbox", "--pg-port", "1"], "could not be reached"),
            (["pg", "drill", "--stanza", "sandbox", "--run-as", "postgres", "--rto", "soon"], "soon"),
            (["pg", "drill", "--stanza", "sandbox", "--run-as", "postgres", "--rto", "0s"], "--rto 0s must be positive"),
            (["pg", "drill", "--stanza", "sandbox", "--run-as", "postgres", "--port", "0"], "--port 0 is not a port"),
            (["pg", "drill", "--stanza", "sandbox", "--run-as", "postgres", "--scratch-dir", parent + "/a"], "is not a folder"),
            (["pg", "drill", "--stanza", "sandbox"], "refuses to run as root"),
            (["pg", "drill", "--stanza", "sandbox", "--run-as", "postgres", "--pg-port", "1"], "could not be reached"),
        ]
        for (arguments, message) in cases {
            let result = try await run(try executable("carbon-recovery"), arguments, environment: environment)
            #expect(result.status != 0 && result.standardError.contains(message), "\(arguments): \(result.standardOutput)\(result.standardError)")
        }
        #expect(!FileManager.default.fileExists(atPath: parent + "/a"), "nothing written")
        let query = try await run(try executable("carbon-recovery"), ["audit", "query", "--operation", "pg.drill", "--kind", "outcome", "--output", "json"], environment: environment)
        let outcomes = try JSONValue(parsing: Array(query.standardOutput.utf8))["entries"]?.arrayValue ?? []
        #expect(outcomes.count == 1 && outcomes.first?["outcome"]?.stringValue == "failure", "only the unreachable server got as far as the trail: \(query.standardOutput)")
    }

    @Test("pg drill: markers before and after a moment, a restore to it into a scratch instance, compared and measured; over the RTO it fails, audited, scratch removed")
    func drill() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let environment = cli(sandbox, scratch)
        let parent = try restoreParent(scratch)
        #expect(try await run(try executable("carbon-recovery"), ["pg", "base-backup", "--stanza", "sandbox"], environment: environment).status == 0)

        // An RTO no restore meets: the data matches, so the RTO is the drill's only problem.
        let drill = try await run(
            try executable("carbon-recovery"), ["pg", "drill", "--stanza", "sandbox", "--run-as", "postgres", "--scratch-dir", parent, "--rto", "1ms", "--output", "json"],
            environment: environment, timeout: .seconds(300))
        #expect(drill.status == 1, "\(drill.standardOutput)\(drill.standardError)")
        let report = try JSONValue(parsing: Array(drill.standardOutput.utf8))
        let problems = report["problems"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(problems.count == 1 && problems.first?.contains("over the RTO of 0.001 s") == true, "\(report)")
        #expect(report["passed"] == .bool(false) && report["timeline"]?.integerValue.map { $0 >= 2 } == true, "\(report)")
        let seconds = try #require(Double(report["recoveryTimeSeconds"]?.stringValue ?? ""))
        #expect(seconds > 0 && seconds < 300)

        // The markers in production: one each side of the target, written by the server's clock.
        let marker = try #require(report["marker"]?.stringValue)
        let target = try #require(RFC3339.parse(report["target"]?.stringValue ?? ""))
        let rows = try await sandbox.psql(
            "SELECT phase, to_char(written_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM carbon_recovery.drill_markers WHERE id LIKE '\(marker)-%' ORDER BY 1")
        let written = rows.split(separator: "\n").map { $0.split(separator: "|").map(String.init) }
        #expect(written.map { $0[0] } == ["after", "before"], "\(rows)")
        if written.count == 2, let after = RFC3339.parse(written[0][1]), let before = RFC3339.parse(written[1][1]) {
            #expect(before < target && target < after, "\(before) < \(target) < \(after)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent).isEmpty, "the scratch instance's folders are removed")

        // Audited as a failure, with the figures.
        let query = try await run(try executable("carbon-recovery"), ["audit", "query", "--operation", "pg.drill", "--kind", "outcome", "--output", "json"], environment: environment)
        let outcome = try #require(try JSONValue(parsing: Array(query.standardOutput.utf8))["entries"]?.arrayValue?.first)
        #expect(outcome["outcome"]?.stringValue == "failure" && outcome["target"]?.stringValue == "postgres/sandbox", "\(outcome)")
        #expect(outcome["error"]?.stringValue?.contains("over the RTO") == true, "\(outcome)")
        let details = try JSONValue(parsing: Array((outcome["parameters"]?.stringValue ?? "{}").utf8))
        #expect(details["marker"]?.stringValue == marker && details["recoveryTimeSeconds"]?.stringValue == report["recoveryTimeSeconds"]?.stringValue, "\(details)")
    }
}
