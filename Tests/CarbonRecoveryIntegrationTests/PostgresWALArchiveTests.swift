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
import Testing
import TestSupport

func sha256Hex(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
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

@Suite("PostgreSQL WAL archiving on the sandbox", .timeLimit(.minutes(8)))
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
            #expect(sha256Hex(segment) == entry.sha256, "the key's checksum is the segment's")
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
        #expect(stored.count == 1 && stored.first?.compression == WALArchive.Compression.none && stored.first?.sha256 == sha256Hex(contents), "\(stored)")
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
                #expect(object.count == contents.count && sha256Hex(object) == entry.sha256, "an object in the archive is whole (killed after \(delay) ms)")
            }
        }
        let retry = try await run(try executable("carbon-recovery"), arguments, environment: environment)
        #expect(retry.status == 0, "\(retry.standardOutput)\(retry.standardError)")
        let entries = try await archive.entries()
        #expect(entries.count == 1 && entries.first?.sha256 == sha256Hex(contents), "\(entries)")
        #expect(try await storage.get(try #require(entries.first).key) == contents)
    }
}
