import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import TestSupport
import Testing

/// `carbon-recovery report` on a real trail file: the page and the JSON, and bad input refused
/// with nothing written.
@Suite("carbon-recovery report")
struct ReportCLITests {
    let directory: TemporaryDirectory
    let database: String
    let policy: String
    let cli: String

    init() async throws {
        directory = try TemporaryDirectory()
        database = directory.file("audit.db")
        policy = directory.file("policy.yaml")
        cli = try executable("carbon-recovery")
        try """
            storage: {endpoint: https://minio.storage.svc:9000, bucket: 254carbon-backups, credentials: {secret: {namespace: velero, name: c, key: cloud}}}
            objectives:
              - {class: critical, namespaces: [payments], rto: 1h0m0s, rpo: 24h0m0s}
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        let trail = try await SQLiteAuditTrail(path: database)
        let actor = AuditActor(user: "alice")
        var records: [AuditRecord] = []
        for index in 0..<4 {
            let id = "drill-\(index)"
            records.append(.attempt(operation: "drill.run", target: "drill/weekly", parameters: ["kind": "restore-test"], actor: actor, correlationID: id))
            records.append(.outcome(
                .success, operation: "drill.run", target: "drill/weekly",
                parameters: ["restore": .string("r-\(index)"), "recoveryTimeSeconds": .string("\(100 + index).000"), "namespaceMappings": ["payments": "payments-t"]],
                durationMilliseconds: 100, actor: actor, correlationID: id))
            records.append(.outcome(.success, operation: "rpo.check", target: "objectives", parameters: ["ages": ["payments": "3600"]], durationMilliseconds: 5, actor: actor, correlationID: "check-\(index)"))
        }
        _ = try await trail.record(contentsOf: records)
        await trail.close()
    }

    func carbon(_ arguments: [String]) async throws -> ProcessResult {
        try await run(cli, ["report", "--config", policy, "--audit-db", database, "--no-cluster"] + arguments, environment: ["HOME": directory.path, "XDG_STATE_HOME": directory.file("state")])
    }

    @Test("the page is written where --out says, the JSON holds the same drills; the trail is unchanged")
    func pageAndJSON() async throws {
        let before = try Data(contentsOf: URL(fileURLWithPath: database))
        let page = directory.file("evidence.html")
        let written = try await carbon(["--out", page])
        #expect(written.status == 0, "\(written.standardError)")
        #expect(written.standardOutput.contains("wrote \(page): 1 objective(s): 1 met, 0 not met, 0 not shown; 4 drill(s); audit trail valid"), "\(written.standardOutput)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.hasPrefix("<!doctype html>") && html.contains("<svg") && html.contains(#"data-figure="drill-count">4<"#))
        let json = try await carbon(["--output", "json"])
        #expect(json.status == 0, "\(json.standardError)")
        let report = try JSONValue(parsing: Array(json.standardOutput.utf8))
        let seconds = report["drills"]?.arrayValue?.compactMap { drill -> Double? in
            switch drill["recoverySeconds"] {
            case .integer(let value)?: Double(value)
            case .double(let value)?: value
            default: nil
            }
        }
        #expect(seconds == [100, 101, 102, 103])
        #expect(report["objectives"]?.arrayValue?.first?["verdict"]?["met"] == .bool(true))
        #expect(report["notes"]?.arrayValue?.count == 1, "--no-cluster is said")
        #expect(try Data(contentsOf: URL(fileURLWithPath: database)) == before, "read-only")
    }

    @Test("bad input is a clear error and writes nothing", arguments: [
        (["--from", "2026-12-05T00:00:00Z", "--to", "2026-12-01T00:00:00Z"], "the range is empty"),
        (["--from", "2026-12-01T00:00:00Z", "--since", "24h"], "either --from or --since"),
        (["--since=-5h"], "positive duration"),
        (["--since", "0s"], "positive duration"),
        (["--from", "yesterday"], "not an RFC 3339 time"),
    ])
    func badInput(arguments: [String], message: String) async throws {
        let page = directory.file("never.html")
        let result = try await carbon(arguments + ["--out", page])
        #expect(result.status == 1 && result.standardError.contains(message), "\(result.standardError)")
        #expect(!FileManager.default.fileExists(atPath: page))
    }

    @Test("a missing trail or policy is named; nothing written")
    func missing() async throws {
        let page = directory.file("never.html")
        let noTrail = try await run(cli, ["report", "--config", policy, "--audit-db", directory.file("none.db"), "--no-cluster", "--out", page])
        #expect(noTrail.status == 1 && noTrail.standardError.contains("none.db"), "\(noTrail.standardError)")
        let noPolicy = try await run(cli, ["report", "--config", directory.file("none.yaml"), "--audit-db", database, "--no-cluster", "--out", page])
        #expect(noPolicy.status == 1 && noPolicy.standardError.contains("none.yaml"), "\(noPolicy.standardError)")
        #expect(!FileManager.default.fileExists(atPath: page))
    }

    @Test("the report names the signed checkpoint it was made from, and audit verify accepts the note copied out of it; a rewritten trail fails and exits 1")
    func checkpoint() async throws {
        let keys = try TemporaryDirectory()
        let key = keys.file("audit-signing.key"), publicKey = directory.file("audit.pub")
        let environment = ["HOME": directory.path, "XDG_STATE_HOME": directory.file("state")]
        let made = try await run(cli, ["audit", "checkpoint", "--audit-db", database, "--signing-key", key, "--public-key-file", publicKey], environment: environment)
        #expect(made.status == 0, "\(made.standardError)")
        let json = try await carbon(["--output", "json"])
        #expect(json.status == 0, "\(json.standardError)")
        let report = try JSONValue(parsing: Array(json.standardOutput.utf8))
        let note = try #require(report["trail"]?["checkpoint"]?["note"]?.stringValue)
        #expect(report["trail"]?["checkpoint"]?["size"]?.integerValue == 12 && report["trail"]?["headSequence"]?.integerValue == 12)
        let file = directory.file("from-report.note")
        try note.write(toFile: file, atomically: true, encoding: .utf8)
        let verified = try await run(cli, ["audit", "verify", "--audit-db", database, "--checkpoint", file, "--public-key", publicKey], environment: environment)
        #expect(verified.status == 0, "\(verified.standardOutput)\(verified.standardError)")
        let page = directory.file("evidence.html")
        #expect(try await carbon(["--out", page]).status == 0)
        let html = try String(contentsOfFile: page, encoding: .utf8)
        #expect(html.contains(#"data-figure="checkpoint-size">12<"#) && html.contains(HTMLEscaped(note.split(separator: "\n").first.map(String.init) ?? "")))

        // Rewrite an entry's details behind the trail's back: the report says so and exits 1.
        let script = "import sqlite3, sys\ndb = sqlite3.connect(sys.argv[1])\ndb.executescript(sys.argv[2])\ndb.commit()\n"
        let sqlite = try await run("/usr/bin/env", ["python3", "-c", script, database,
            "DROP TRIGGER audit_entries_no_update; UPDATE audit_entries SET parameters = replace(parameters, '101.000', '9.000') WHERE seq = 5;"])
        #expect(sqlite.status == 0, "\(sqlite.standardError)")
        let forged = try await carbon(["--out", page])
        #expect(forged.status == 1 && forged.standardOutput.contains("FAILED verification"), "\(forged.standardOutput)\(forged.standardError)")
        #expect(try String(contentsOfFile: page, encoding: .utf8).contains(#"data-figure="trail-valid">FAILED<"#))
    }
}

/// `&`, `<` and `>` as the page writes them (a signed note's first line has no quotes).
private func HTMLEscaped(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
}
