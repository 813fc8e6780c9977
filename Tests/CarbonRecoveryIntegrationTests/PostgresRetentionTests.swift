// Retention of base backups and WAL (issue 16, part 3) on the sandbox's real S3 server, in a
// stanza of the test's own: an archive with two timelines, a partial segment, a backup label,
// a history file and unfinished backups. Nothing a kept backup needs is deleted, on either
// timeline; `pg cleanup` plans, dry-runs, deletes and is audited; bad input changes nothing.
import CarbonRecovery
import CarbonRecoveryPostgres
import Foundation
import Testing
import TestSupport

@Suite("PostgreSQL retention on the sandbox's S3 server", .timeLimit(.minutes(5)))
struct PostgresRetentionTests {
    static let segmentSize = 16 << 20

    /// The archive: timeline 1 segments 1–12, timeline 2 (forked at 8) segments 8–15, its history
    /// file, a partial segment and a backup label; base backups A (TL 1, segment 3), B (TL 1,
    /// segment 6), C (TL 2, segment 10); an unfinished backup older than all and one newer.
    func makeArchive(_ sandbox: Sandbox, stanza: String) async throws -> WALArchive {
        let archive = try WALArchive(storage: try sandboxStorage(bucket: sandbox.postgresBucket), stanza: stanza, compression: .none)
        var names: [String] = (1...12).map { WALFileName.segment(timeline: 1, number: UInt64($0), segmentSize: Self.segmentSize) }
        names += (8...15).map { WALFileName.segment(timeline: 2, number: UInt64($0), segmentSize: Self.segmentSize) }
        names += ["00000002.history", "000000010000000000000008.partial", "000000010000000000000003.00000028.backup"]
        for name in names { _ = try await archive.archive(Array(name.utf8), name: try WALFileName(name)) }
        // (The content of each file is its name: small, and distinct.)
        let recovery = PointInTimeRecovery(archive: archive, tools: PostgresTools())
        for (id, timeline, segment) in [("20261201T010000000Z", UInt32(1), UInt64(3)), ("20261202T010000000Z", 1, 6), ("20261203T010000000Z", 2, 10)] {
            let start = LSN(segment * UInt64(Self.segmentSize) + 0x28)
            let stop = LSN(segment * UInt64(Self.segmentSize) + 0x100)
            let day: String = "2026-12-0" + String(id.dropFirst(7).prefix(1)) + "T01:00:00Z"
            let time = try #require(RFC3339.parse(day))
            let backup = BaseBackup(
                id: id, key: recovery.baseRoot + id + "/base.tar", sha256: WALArchive.sha256(of: Array(id.utf8)), bytes: id.utf8.count,
                storedBytes: id.utf8.count, compression: .none, timeline: timeline, startLSN: start, stopLSN: stop,
                startSegment: start.segment(timeline: timeline, segmentSize: Self.segmentSize), stopSegment: stop.segment(timeline: timeline, segmentSize: Self.segmentSize),
                walSegmentSize: Self.segmentSize, startTime: time, stopTime: time, files: 1, serverVersion: 150_000)
            try await archive.storage.put(backup.key, data: Array(id.utf8))
            try await archive.storage.put(recovery.baseRoot + id + "/manifest.json", data: Array(backup.json.canonicalString.utf8))
        }
        for id in ["20000101T000000000Z", "29990101T000000000Z"] {
            try await archive.storage.put(recovery.baseRoot + id + "/base.tar", data: [1, 2, 3])
        }
        return archive
    }

    func keys(_ archive: WALArchive) async throws -> [String] {
        var keys: [String] = []
        for try await object in archive.storage.list(prefix: "postgres/\(archive.stanza)/") { keys.append(object.key) }
        return keys.sorted()
    }

    func names(_ archive: WALArchive) async throws -> Set<String> { Set(try await archive.entries().map(\.file.name)) }

    @Test("pg cleanup keeps the newest backups and all WAL from their earliest start, on every timeline; dry-run and bad input change nothing; audited")
    func cleanup() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let stanza = "ret-\(UUID().uuidString.prefix(8).lowercased())"
        let archive = try await makeArchive(sandbox, stanza: stanza)
        let before = try await keys(archive)
        let environment = [
            "XDG_STATE_HOME": scratch.file("state"), "CARBON_RECOVERY_AUDIT_DB": scratch.file("audit.db"), "CARBON_RECOVERY_S3_ENDPOINT": sandbox.s3Endpoint,
            "CARBON_RECOVERY_S3_BUCKET": sandbox.postgresBucket, "AWS_SHARED_CREDENTIALS_FILE": sandbox.credentialsFile,
        ]
        let cli = try executable("carbon-recovery")

        for bad in [["--keep", "0"], ["--keep", "-1"], ["--keep", "two"], [], ["--keep", "1", "--stanza", "Not_A_Label"]] {
            let refused = try await run(cli, ["pg", "cleanup", "--stanza", stanza] + bad, environment: environment)
            #expect(refused.status != 0 && !refused.standardError.isEmpty, "\(bad): \(refused.standardOutput)")
        }
        let dry = try await run(cli, ["pg", "cleanup", "--stanza", stanza, "--keep", "2", "--dry-run", "--output", "json"], environment: environment)
        #expect(dry.status == 0, "\(dry.standardError)")
        let plan = try JSONValue(parsing: Array(dry.standardOutput.utf8))
        #expect(plan["expired"] == ["20261201T010000000Z"] && plan["unfinished"] == ["20000101T000000000Z"], "\(plan)")
        #expect(plan["walDeleted"]?.integerValue == 6 && plan["firstNeededSegment"]?.stringValue == "000000010000000000000006", "\(plan)")
        #expect(try await keys(archive) == before, "bad input and a dry run change nothing")

        let applied = try await run(cli, ["pg", "cleanup", "--stanza", stanza, "--keep", "2"], environment: environment)
        #expect(applied.status == 0, "\(applied.standardError)")
        #expect(applied.standardOutput.contains("kept 2 base backup(s), WAL from 000000010000000000000006; deleted 1 base backup(s), 1 unfinished, 6 WAL file(s)"), "\(applied.standardOutput)")
        let remaining = try await names(archive)
        let timeline1 = (6...12).map { WALFileName.segment(timeline: 1, number: UInt64($0), segmentSize: Self.segmentSize) }
        let timeline2 = (8...15).map { WALFileName.segment(timeline: 2, number: UInt64($0), segmentSize: Self.segmentSize) }
        #expect(remaining == Set(timeline1 + timeline2 + ["00000002.history", "000000010000000000000008.partial"]), "\(remaining.sorted())")
        let left = try await keys(archive).filter { $0.contains("/base/") }
        #expect(left == [
            "postgres/\(stanza)/base/20261202T010000000Z/base.tar", "postgres/\(stanza)/base/20261202T010000000Z/manifest.json",
            "postgres/\(stanza)/base/20261203T010000000Z/base.tar", "postgres/\(stanza)/base/20261203T010000000Z/manifest.json",
            "postgres/\(stanza)/base/29990101T000000000Z/base.tar",
        ], "a newer unfinished backup may be in progress and stays: \(left)")

        // The window starts at the oldest kept backup, with no gap.
        let list = try await run(cli, ["pg", "list", "--stanza", stanza, "--output", "json"], environment: environment)
        let window = try JSONValue(parsing: Array(list.standardOutput.utf8))
        #expect(window["gaps"] == [] && window["backups"]?.arrayValue?.count == 2, "\(window)")

        let query = try await run(cli, ["audit", "query", "--operation", "pg.cleanup", "--output", "json"], environment: environment)
        let outcomes = (try JSONValue(parsing: Array(query.standardOutput.utf8))["entries"]?.arrayValue ?? []).filter { $0["kind"]?.stringValue == "outcome" }
        #expect(outcomes.count == 1 && outcomes.first?["outcome"]?.stringValue == "success" && outcomes.first?["target"]?.stringValue == "postgres/\(stanza)", "\(query.standardOutput)")

        // Keeping only the newest (timeline 2, from segment 10): both branches before 10 go, the history stays.
        let recovery = PointInTimeRecovery(archive: archive, tools: PostgresTools())
        let last = try await recovery.planRetention(keep: 1)
        #expect(last.expired.map(\.id) == ["20261202T010000000Z"] && last.firstNeededSegment == "00000002000000000000000A")
        try await recovery.applyRetention(last)
        let final = try await names(archive)
        #expect(final == Set(timeline1.suffix(3) + timeline2.suffix(6) + ["00000002.history"]), "\(final.sorted())")
        let again = try await recovery.planRetention(keep: 1)
        #expect(again.expired.isEmpty && again.wal.isEmpty && again.unfinished.isEmpty, "a second run finds nothing to do")
    }

    @Test("run applies a database's keepBaseBackups on automation.cleanup, audited as pg.cleanup")
    func scheduled() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let stanza = "ret-\(UUID().uuidString.prefix(8).lowercased())"
        let archive = try await makeArchive(sandbox, stanza: stanza)
        let file = scratch.file("carbon-recovery.yaml")
        try databasePolicy(
            sandbox, database: "{stanza: \(stanza), bucket: \(sandbox.postgresBucket), compression: none, rpo: 1h, rto: 1h, keepBaseBackups: 1}",
            automation: #"{validate: "off", rpoCheck: "off", cleanup: "@every 2s"}"#
        ).write(toFile: file, atomically: true, encoding: .utf8)
        let environment = [
            "XDG_STATE_HOME": scratch.file("state"), "CARBON_RECOVERY_AUDIT_DB": scratch.file("audit.db"), "CARBON_RECOVERY_S3_ENDPOINT": sandbox.s3Endpoint,
            "AWS_SHARED_CREDENTIALS_FILE": sandbox.credentialsFile,
        ]
        // automation.cleanup also runs the Velero cleanup: point it at a namespace with no backups,
        // so that it never touches the backups other tests running meanwhile rely on.
        let scheduler = try CLIProcess(["run", "--config", file, "--velero-namespace", "velero-none-\(stanza.suffix(8))"], environment: environment)
        let ran = try await scheduler.waitForLine(timeout: .seconds(120)) { $0.hasPrefix("ran pg-cleanup/\(stanza)") }
        #expect(ran.contains(#""expired":["20261201T010000000Z","20261202T010000000Z"]"#), "\(ran)")
        #expect(try await scheduler.terminate(timeout: .seconds(60)) == 0, "\(scheduler.output)")
        let remaining = try await names(archive)
        #expect(remaining.count == 3 + 6 + 1, "timeline 1 from 10, timeline 2 from 10, the history: \(remaining.sorted())")
        let query = try await run(try executable("carbon-recovery"), ["audit", "query", "--operation", "pg.cleanup", "--output", "json"], environment: environment)
        let outcomes = (try JSONValue(parsing: Array(query.standardOutput.utf8))["entries"]?.arrayValue ?? []).filter { $0["kind"]?.stringValue == "outcome" }
        #expect(outcomes.count == 1 && outcomes.first?["outcome"]?.stringValue == "success", "later runs find nothing to delete and record nothing: \(query.standardOutput)")
    }

    @Test("an archive without a base backup deletes nothing, however much WAL it holds")
    func noBaseBackup() async throws {
        let sandbox = try Sandbox.current()
        let archive = try WALArchive(
            storage: try sandboxStorage(bucket: sandbox.postgresBucket), stanza: "ret-\(UUID().uuidString.prefix(8).lowercased())", compression: .none)
        for number in 1...3 {
            let name = WALFileName.segment(timeline: 1, number: UInt64(number), segmentSize: Self.segmentSize)
            _ = try await archive.archive(Array(name.utf8), name: try WALFileName(name))
        }
        let recovery = PointInTimeRecovery(archive: archive, tools: PostgresTools())
        let plan = try await recovery.planRetention(keep: 1)
        #expect(plan.kept.isEmpty && plan.wal.isEmpty && plan.firstNeededSegment == nil)
        await #expect(throws: RecoveryError.self) { try await recovery.planRetention(keep: 0) }
    }
}
