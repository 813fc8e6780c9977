// Continuous WAL archiving (issue 16, part 2) on the sandbox's real PostgreSQL 15, whose
// archive_command is `carbon-recovery pg archive-wal %p %f`, into the real SigV4-checking S3
// server: every switched segment reaches the archive with its SHA-256 and an audit entry; an
// identical file archives again without a write, a different one under the same name is
// refused; a killed upload leaves nothing half-written.
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryCompression
import CarbonRecoveryMinIO
import CarbonRecoveryPostgres
import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import TestSupport

/// A policy on the sandbox's storage with one database entry (a YAML flow mapping) and the
/// automation cadences (another).
func databasePolicy(_ sandbox: Sandbox, database: String, automation: String) -> String {
    """
    storage:
      endpoint: \(sandbox.s3Endpoint)
      bucket: 254carbon-backups
      credentials: {file: {path: \(sandbox.credentialsFile)}}
    databases:
      - \(database)
    automation: \(automation)
    """
}

/// Waits (60 s at most) until the server's archiver has archived `segment` (it archives in
/// order); records an issue with pg_stat_archiver's row when it has not.
func waitUntilArchived(_ sandbox: Sandbox, _ segment: String) async throws {
    var status = ""
    for _ in 0..<600 {
        status = try await sandbox.psql("SELECT coalesce(last_archived_wal, ''), failed_count FROM pg_stat_archiver")
        if let archived = status.split(separator: "|").first, archived >= segment { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("\(segment) was not archived within 60 s; pg_stat_archiver: \(status)")
}

@Suite("PostgreSQL WAL archiving on the sandbox", .timeLimit(.minutes(12)))
struct PostgresWALArchiveTests {
    /// The CLI's environment for the sandbox's PostgreSQL archive, with an audit trail of the test's own.
    func cliEnvironment(_ sandbox: Sandbox, _ scratch: TemporaryDirectory) -> [String: String] {
        [
            "XDG_STATE_HOME": scratch.file("state"), "CARBON_RECOVERY_AUDIT_DB": scratch.file("audit.db"),
            "CARBON_RECOVERY_S3_ENDPOINT": sandbox.s3Endpoint, "CARBON_RECOVERY_S3_BUCKET": sandbox.postgresBucket,
            "AWS_SHARED_CREDENTIALS_FILE": sandbox.credentialsFile,
        ]
    }

    @Test("archive_command puts every switched segment into the archive, its SHA-256 in the key and in the archiver's audit trail")
    func continuousArchiving() async throws {
        let sandbox = try Sandbox.current()
        let table = "wal_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await sandbox.psql("CREATE TABLE \(table) (id bigserial PRIMARY KEY, payload text)")
        var switched: [String] = []
        for round in 0..<3 {
            _ = try await sandbox.psql("INSERT INTO \(table) (payload) SELECT md5(g::text || '\(round)') FROM generate_series(1, 5000) g")
            switched.append(try await sandbox.psql("SELECT pg_walfile_name(pg_switch_wal())"))
        }
        try await waitUntilArchived(sandbox, try #require(switched.last))

        let storage = try sandboxStorage(bucket: sandbox.postgresBucket)
        let archive = try WALArchive(storage: storage, stanza: "sandbox")
        let entries = try await archive.entries()
        for name in switched {
            let entry = try #require(entries.first { $0.file.name == name }, "\(name) is in the archive")
            #expect(entry.compression == .gzip && entry.key.hasPrefix("postgres/sandbox/wal/\(name.prefix(16))/"), "\(entry.key)")
            let stored = try #require(try await storage.get(entry.key))
            let segment = try Gzip.decompress(stored)
            #expect(segment.count == 16 << 20, "a whole 16 MiB segment")
            #expect(WALArchive.sha256(of: segment) == entry.sha256, "the key's checksum is the segment's")
        }

        // The archiver's own trail (beside the database) has each one, and verifies.
        let query = try await run(
            try executable("carbon-recovery"),
            ["audit", "query", "--audit-db", sandbox.postgresArchiveAuditDB, "--operation", "pg.archive-wal", "--limit", "10000", "--output", "json"])
        #expect(query.status == 0, "\(query.standardError)")
        let recorded = try JSONValue(parsing: Array(query.standardOutput.utf8))["entries"]?.arrayValue ?? []
        for name in switched {
            let outcome = try #require(recorded.first { $0["target"]?.stringValue == "postgres/sandbox/\(name)" && $0["kind"]?.stringValue == "outcome" }, "\(name) audited")
            #expect(outcome["outcome"]?.stringValue == "success", "\(outcome)")
            let parameters = try JSONValue(parsing: Array((outcome["parameters"]?.stringValue ?? "{}").utf8))
            #expect(parameters["sha256"]?.stringValue == entries.first { $0.file.name == name }?.sha256, "\(parameters)")
        }
        let verify = try await run(try executable("carbon-recovery"), ["audit", "verify", "--audit-db", sandbox.postgresArchiveAuditDB])
        #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
        // Reading the trail as another user left the archiver able to write it.
        let again = try await sandbox.psql("SELECT pg_walfile_name(pg_switch_wal())")
        _ = try await sandbox.psql("INSERT INTO \(table) (payload) VALUES ('after the read')")
        try await waitUntilArchived(sandbox, again)
    }

    @Test("pg status: the server's archive lag from the real archive; WAL not yet archived is counted and over --max-lag exits 1; the wrong stanza is named")
    func archiveLag() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let environment = cliEnvironment(sandbox, scratch).merging(["PGPASSFILE": sandbox.postgresPassFile]) { $1 }
        let server = ["--pg-port", sandbox.postgresPort, "--stanza", "sandbox"]
        func status(_ extra: [String] = []) async throws -> (status: Int32, json: JSONValue, error: String) {
            let result = try await run(try executable("carbon-recovery"), ["pg", "status", "--output", "json"] + server + extra, environment: environment)
            return (result.status, (try? JSONValue(parsing: Array(result.standardOutput.utf8))) ?? .null, result.standardError)
        }
        // Caught up: everything before the segment being written is archived (other tests write
        // and switch meanwhile, so switch, wait and measure until one measurement sees it).
        var caughtUp: (status: Int32, json: JSONValue, error: String) = (0, .null, "")
        var switched = ""
        for _ in 0..<5 {
            switched = try await sandbox.psql("SELECT pg_walfile_name(pg_switch_wal())")
            try await waitUntilArchived(sandbox, switched)
            caughtUp = try await status()
            if (caughtUp.json["unarchivedBytes"]?.integerValue ?? .max) < 16 << 20 { break }
        }
        #expect(caughtUp.status == 0, "\(caughtUp.json) \(caughtUp.error)")
        #expect((caughtUp.json["newestArchived"]?.stringValue ?? "") >= switched, "\(caughtUp.json)")
        #expect((caughtUp.json["unarchivedBytes"]?.integerValue ?? -1) >= 0 && (caughtUp.json["unarchivedBytes"]?.integerValue ?? .max) < 16 << 20, "\(caughtUp.json)")
        #expect(caughtUp.json["archiveMode"]?.stringValue == "on" && caughtUp.json["problems"]?.arrayValue == [], "\(caughtUp.json)")

        // Rows written after the last switch are not in the archive yet (another test may switch
        // meanwhile, so write and measure until the measurement sees them).
        let table = "lag_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await sandbox.psql("CREATE TABLE \(table) (id bigserial PRIMARY KEY, payload text)")
        var behind: (status: Int32, json: JSONValue, error: String) = (0, .null, "")
        for _ in 0..<5 {
            _ = try await sandbox.psql("INSERT INTO \(table) (payload) SELECT md5(g::text) FROM generate_series(1, 2000) g")
            behind = try await status(["--max-lag", "1ms"])
            if (behind.json["unarchivedBytes"]?.integerValue ?? 0) > 0 { break }
        }
        let unarchived = try #require(behind.json["unarchivedBytes"]?.integerValue)
        #expect(unarchived > 0, "\(behind.json)")
        let current = try LSN(parsing: try #require(behind.json["currentLSN"]?.stringValue))
        let newest = try WALFileName(try #require(behind.json["newestArchived"]?.stringValue))
        #expect(UInt64(unarchived) == current.value - (newest.segmentNumber(segmentSize: 16 << 20) + 1) * UInt64(16 << 20), "the bytes are exact: \(behind.json)")
        #expect(behind.status == 1 && (behind.json["problems"]?.arrayValue ?? []).contains { $0.stringValue?.contains("is over --max-lag 1ms") == true }, "\(behind.json)")

        // An archive_command writing elsewhere: this stanza has nothing of the server's.
        let elsewhere = try await run(
            try executable("carbon-recovery"), ["pg", "status", "--pg-port", sandbox.postgresPort, "--stanza", "nobody-\(table.suffix(8))"], environment: environment)
        #expect(elsewhere.status == 1, "\(elsewhere.standardOutput)")
        #expect(elsewhere.standardOutput.contains("PROBLEM: the archive holds no segment of timeline"), "\(elsewhere.standardOutput)")
        #expect(elsewhere.standardOutput.contains("but this archive does not hold it: archive_command writes somewhere else"), "\(elsewhere.standardOutput)")

        for bad in [["--max-lag", "0s"], ["--max-lag", "soon"], ["--compress", "zstd"]] {
            let refused = try await run(try executable("carbon-recovery"), ["pg", "status"] + server + bad, environment: environment)
            #expect(refused.status == 1 && refused.standardError.hasPrefix("error: ") && refused.standardOutput.isEmpty, "\(bad): \(refused.standardError)")
        }
        let wrongPassword = try await run(
            try executable("carbon-recovery"), ["pg", "status"] + server, environment: environment.merging(["PGPASSFILE": "/nonexistent"]) { $1 })
        #expect(wrongPassword.status == 1 && wrongPassword.standardError.contains("refused the login"), "\(wrongPassword.standardError)")
    }

    @Test("run checks the policy's database: the lag and gaps as metrics, a base backup on its cron, a PITR drill, audited")
    func runChecksDatabase() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let file = scratch.file("carbon-recovery.yaml")
        let drills = scratch.file("drills")   // the database's OS user must reach it
        try FileManager.default.createDirectory(atPath: drills, withIntermediateDirectories: true)
        chmod(scratch.path, 0o755)
        chmod(drills, 0o755)
        try (databasePolicy(
            sandbox,
            database: "{stanza: sandbox, port: \(sandbox.postgresPort), passwordFile: \(sandbox.postgresPassFile), bucket: \(sandbox.postgresBucket), rpo: 1h, rto: 1h, baseBackup: \"@every 30s\", runAs: postgres}",
            automation: #"{validate: "off", rpoCheck: "@every 3s", cleanup: "off"}"#
        ) + "\ndrills:\n  - {name: pitr, cron: \"@every 45s\", kind: pitr, database: sandbox, scratchDirectory: \(drills)}\n").write(toFile: file, atomically: true, encoding: .utf8)
        let environment = cliEnvironment(sandbox, scratch)
        let scheduler = try CLIProcess(["run", "--config", file, "--metrics-port", "0"], environment: environment)
        let url = String(try await scheduler.waitForLine(timeout: .seconds(60)) { $0.hasPrefix("metrics: ") }.dropFirst("metrics: ".count))
        let started = try await scheduler.waitForLine { $0.hasPrefix("scheduler started:") }
        #expect(started.contains("pg-check/sandbox (next") && started.contains("pg-base-backup/sandbox (next") && started.contains("drill/pitr (next"), "\(started)")
        let backedUp = try await scheduler.waitForLine(timeout: .seconds(180)) { $0.hasPrefix("ran pg-base-backup/sandbox") }
        #expect(backedUp.contains(#""stopLSN":"#), "\(backedUp)")
        // A check after the backup: a base backup exists, so the check passes (the lag is far under an hour).
        let mark = scheduler.output.utf8.count
        let checked = try await scheduler.waitForLine(timeout: .seconds(120)) { line in
            line.hasPrefix("ran pg-check/sandbox") && String(scheduler.output.utf8.dropFirst(mark)).map { $0.contains(line) } == true
        }
        #expect(checked.contains(#""lagSeconds":"#) && checked.contains(#""gaps":0"#), "\(scheduler.output)")
        let (data, _) = try await URLSession.shared.data(from: try #require(URL(string: url)))
        let exposition = String(decoding: data, as: UTF8.self)
        for series in [
            #"carbon_recovery_pg_archive_lag_seconds{stanza="sandbox"}"#, #"carbon_recovery_pg_archive_lag_bytes{stanza="sandbox"}"#,
            #"carbon_recovery_pg_archive_failures{stanza="sandbox"}"#, #"carbon_recovery_pg_wal_gaps{stanza="sandbox"} 0"#,
            #"carbon_recovery_pg_last_base_backup_timestamp_seconds{stanza="sandbox"}"#,
        ] {
            #expect(exposition.contains(series), "\(series) in \(exposition)")
        }
        // The PITR drill (a run before the first base backup may fail; the next one restores it).
        let drilled = try await scheduler.waitForLine(timeout: .seconds(300)) { $0.hasPrefix("ran drill/pitr") }
        #expect(drilled.contains(#""passed":true"#) && drilled.contains(#""recoveryTimeSeconds":"#), "\(drilled)")
        #expect(try await scheduler.terminate(timeout: .seconds(330)) == 0, "\(scheduler.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: drills).isEmpty, "the drill's scratch instance is removed")
        let query = try await run(try executable("carbon-recovery"), ["audit", "query", "--operation", "pg.base-backup", "--output", "json"], environment: environment)
        let outcomes = (try JSONValue(parsing: Array(query.standardOutput.utf8))["entries"]?.arrayValue ?? []).filter { $0["kind"]?.stringValue == "outcome" }
        #expect(outcomes.contains { $0["outcome"]?.stringValue == "success" && $0["target"]?.stringValue == "postgres/sandbox" }, "\(query.standardOutput)")
        let drillQuery = try await run(try executable("carbon-recovery"), ["audit", "query", "--operation", "drill.run", "--kind", "outcome", "--output", "json"], environment: environment)
        let drillOutcomes = try JSONValue(parsing: Array(drillQuery.standardOutput.utf8))["entries"]?.arrayValue ?? []
        #expect(drillOutcomes.contains { $0["outcome"]?.stringValue == "success" && $0["target"]?.stringValue == "drill/pitr" }, "\(drillQuery.standardOutput)")
    }

    @Test("the same file archived again writes nothing; other contents under that name are refused with nothing written; --compress none stores it as is")
    func idempotentAndConflicts() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let stanza = "test-\(UUID().uuidString.prefix(8).lowercased())"
        let name = "000000010000000000000042"
        var random = SplitMix(state: 42)
        var contents = (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        try Data(contents).write(to: URL(fileURLWithPath: scratch.file(name)))
        let environment = cliEnvironment(sandbox, scratch)
        let arguments = ["pg", "archive-wal", "--stanza", stanza, "--compress", "none", scratch.file(name), name]

        let first = try await run(try executable("carbon-recovery"), arguments, environment: environment)
        #expect(first.status == 0 && first.standardOutput.contains("archived \(name)"), "\(first.standardOutput)\(first.standardError)")
        let storage = try sandboxStorage(bucket: sandbox.postgresBucket)
        let archive = try WALArchive(storage: storage, stanza: stanza, compression: .none)
        let stored = try await archive.entries()
        #expect(stored.count == 1 && stored.first?.compression == WALArchive.Compression.none && stored.first?.sha256 == WALArchive.sha256(of: contents), "\(stored)")
        #expect(try await storage.get(try #require(stored.first).key) == contents, "stored as PostgreSQL wrote it")

        let second = try await run(try executable("carbon-recovery"), arguments, environment: environment)
        #expect(second.status == 0 && second.standardOutput.contains("already archived with the same contents"), "\(second.standardOutput)\(second.standardError)")

        contents[1000] ^= 0xFF
        try Data(contents).write(to: URL(fileURLWithPath: scratch.file(name)))
        let conflict = try await run(try executable("carbon-recovery"), arguments, environment: environment)
        #expect(conflict.status != 0 && conflict.standardError.contains("already archived with different contents"), "\(conflict.standardOutput)\(conflict.standardError)")
        #expect(try await archive.entries() == stored, "nothing written")

        // Bad input: a name PostgreSQL never writes, a path that is not the name's, a missing file.
        for bad in [
            ["pg", "archive-wal", "--stanza", stanza, scratch.file(name), "pg_wal/\(name)"],
            ["pg", "archive-wal", "--stanza", stanza, scratch.file("other"), name],
            ["pg", "archive-wal", "--stanza", stanza, scratch.file("000000010000000000000043"), "000000010000000000000043"],
            ["pg", "archive-wal", "--stanza", "Not_A_Label", scratch.file(name), name],
            ["pg", "archive-wal", "--stanza", stanza, "--compress", "zstd", scratch.file(name), name],
        ] {
            let refused = try await run(try executable("carbon-recovery"), bad, environment: environment)
            #expect(refused.status != 0 && refused.standardError.hasPrefix("error: "), "\(bad): \(refused.standardOutput)\(refused.standardError)")
        }
        #expect(try await archive.entries() == stored, "nothing written by refused calls")

        // The trail has the two successes and the refused conflict, with the checksums.
        let query = try await run(try executable("carbon-recovery"), ["audit", "query", "--operation", "pg.archive-wal", "--output", "json"], environment: environment)
        let outcomes = (try JSONValue(parsing: Array(query.standardOutput.utf8))["entries"]?.arrayValue ?? []).filter { $0["kind"]?.stringValue == "outcome" }
        #expect(outcomes.map { $0["outcome"]?.stringValue ?? "" } == ["success", "success", "failure"], "\(query.standardOutput)")
    }

    @Test("an archiver killed mid-upload leaves no partial object; PostgreSQL's retry archives the file whole")
    func killedMidUpload() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let stanza = "kill-\(UUID().uuidString.prefix(8).lowercased())"
        let name = "000000010000000000000007"
        var random = SplitMix(state: 7)
        let contents = (0..<(48 << 20)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        try Data(contents).write(to: URL(fileURLWithPath: scratch.file(name)))
        let environment = cliEnvironment(sandbox, scratch)
        let arguments = ["pg", "archive-wal", "--stanza", stanza, "--compress", "none", scratch.file(name), name]
        let storage = try sandboxStorage(bucket: sandbox.postgresBucket)
        let archive = try WALArchive(storage: storage, stanza: stanza, compression: .none)

        for delay in [150, 400, 900] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try executable("carbon-recovery"))
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            try await Task.sleep(for: .milliseconds(delay))
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
            for entry in try await archive.entries() {
                let object = try #require(try await storage.get(entry.key))
                #expect(object.count == contents.count && WALArchive.sha256(of: object) == entry.sha256, "an object in the archive is whole (killed after \(delay) ms)")
            }
        }
        let retry = try await run(try executable("carbon-recovery"), arguments, environment: environment)
        #expect(retry.status == 0, "\(retry.standardOutput)\(retry.standardError)")
        let entries = try await archive.entries()
        #expect(entries.count == 1 && entries.first?.sha256 == WALArchive.sha256(of: contents), "\(entries)")
        #expect(try await storage.get(try #require(entries.first).key) == contents)
    }
}
