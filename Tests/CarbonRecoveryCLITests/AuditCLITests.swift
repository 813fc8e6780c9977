import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import TestSupport
import Testing

/// The real `carbon-recovery` binary against real trail files.
@Suite("carbon-recovery audit")
struct AuditCLITests {
    let directory: TemporaryDirectory
    let database: String
    let cli: String

    init() async throws {
        directory = try TemporaryDirectory()
        database = directory.file("audit.db")
        cli = try executable("carbon-recovery")
        let trail = try await SQLiteAuditTrail(path: database)
        let actor = AuditActor(user: "alice", cluster: "admin@sandbox")
        var records: [AuditRecord] = []
        for index in 0..<30 {
            let operation = index % 3 == 0 ? "restore.create" : "backup.create"
            let id = "op-\(index)"
            records.append(.attempt(operation: operation, target: "backup/daily-\(index)", parameters: ["ttl": "720h0m0s"], actor: actor, correlationID: id))
            records.append(.outcome(index % 4 == 0 ? .failure : .success, operation: operation, target: "backup/daily-\(index)",
                                    error: index % 4 == 0 ? "finished PartiallyFailed" : nil, durationMilliseconds: 100, actor: actor, correlationID: id))
        }
        _ = try await trail.record(contentsOf: records)
        await trail.close()   // the file is quiet from here on: the tests compare its bytes
    }

    func carbon(_ arguments: [String]) async throws -> ProcessResult {
        try await run(cli, arguments, environment: ["HOME": directory.path, "XDG_STATE_HOME": directory.file("state")])
    }

    /// Runs SQL on the trail file the way someone with access to it would (Python's sqlite3, not
    /// our code): the triggers are dropped by the statements themselves where needed.
    func tamper(_ statements: String) async throws {
        let script = "import sqlite3, sys\ndb = sqlite3.connect(sys.argv[1])\ndb.executescript(sys.argv[2])\ndb.commit()\n"
        let edited = try await run("/usr/bin/env", ["python3", "-c", script, database, statements])
        #expect(edited.status == 0, "\(edited.standardError)")
    }

    /// Bytes of the database and its WAL, to prove a command changed nothing.
    func snapshot() throws -> [Data] {
        try ["", "-wal"].map { suffix in
            FileManager.default.fileExists(atPath: database + suffix) ? try Data(contentsOf: URL(fileURLWithPath: database + suffix)) : Data()
        }
    }

    @Test("verify passes an untouched trail")
    func verifyOK() async throws {
        let result = try await carbon(["audit", "verify", "--audit-db", database])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.hasPrefix("OK: 60 entries, head 60 "))
    }

    @Test("verify fails a trail edited with raw SQL (triggers dropped) and names the first bad entry")
    func verifyTampered() async throws {
        try await tamper("DROP TRIGGER audit_entries_no_update; UPDATE audit_entries SET actor = 'mallory' WHERE seq = 17;")
        let result = try await carbon(["audit", "verify", "--audit-db", database])
        #expect(result.status == 1)
        #expect(result.standardOutput.hasPrefix("FAILED: entry 17: hash-mismatch:"))
        #expect(result.standardOutput.contains("verified 16 entries before it"))
        let json = try await carbon(["audit", "verify", "--audit-db", database, "--output", "json"])
        #expect(json.status == 1)
        let report = try JSONValue(parsing: Array(json.standardOutput.utf8))
        #expect(report["valid"] == false)
        #expect(report[path: ["problem", "sequence"]] == 17)
        #expect(report[path: ["problem", "kind"]] == "hash-mismatch")
    }

    @Test("verify --config tells the policy's notifiers once that the trail failed verification")
    func verifyTamperedNotifies() async throws {
        try await tamper("DROP TRIGGER audit_entries_no_update; UPDATE audit_entries SET target = 'backup/forged' WHERE seq = 5;")
        let directory = try TemporaryDirectory()
        let secret = "hmac-\(UUID().uuidString)"
        let receiver = try await WebhookReceiver(directory: directory, secret: secret)
        defer { receiver.stop() }
        let policy = directory.file("policy.yaml")
        try """
            storage:
              endpoint: http://127.0.0.1:9
              bucket: b
              credentials: {environment: {accessKeyID: A, secretAccessKey: B}}
            notifiers:
              - {name: ops-webhook, type: webhook, settings: {url: env:TEST_WEBHOOK_URL, secret: env:TEST_WEBHOOK_SECRET}}
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        let environment = ["TEST_WEBHOOK_URL": receiver.url, "TEST_WEBHOOK_SECRET": secret, "CARBON_RECOVERY_OUTBOX_DB": directory.file("outbox.db")]
        for _ in 0..<2 {
            let result = try await run(try executable("carbon-recovery"), ["audit", "verify", "--audit-db", database, "--config", policy], environment: environment)
            #expect(result.status == 1 && result.standardOutput.hasPrefix("FAILED: entry 5: hash-mismatch:"), "\(result.standardOutput)")
        }
        let stats = try await receiver.stats()
        #expect(stats["accepted"] == 1 && stats["kinds"]?["audit-verification-failed"] == 1, "the same failure found twice is one event: \(stats)")
        #expect(stats["bodies"]?.arrayValue?.first?["summary"]?.stringValue?.contains("failed verification after 4 entries") == true, "\(stats)")
    }

    @Test("query filters and pages, as a table and as JSON")
    func query() async throws {
        let table = try await carbon(["audit", "query", "--audit-db", database, "--operation", "restore.create", "--outcome", "failure"])
        #expect(table.status == 0, "\(table.standardError)")
        let lines = table.standardOutput.split(separator: "\n")
        #expect(lines.first?.hasPrefix("SEQ  TIME") == true)
        #expect(lines.count == 1 + 3)   // restore.create at 0, 12, 24 failed
        let page1 = try await carbon(["audit", "query", "--audit-db", database, "--limit", "25", "--output", "json"])
        let first = try JSONValue(parsing: Array(page1.standardOutput.utf8))
        #expect(first["entries"]?.arrayValue?.count == 25)
        #expect(first["next"] == 25)
        let page3 = try await carbon(["audit", "query", "--audit-db", database, "--limit", "25", "--after", "50", "--output", "json"])
        let third = try JSONValue(parsing: Array(page3.standardOutput.utf8))
        #expect(third["entries"]?.arrayValue?.compactMap { $0["seq"]?.integerValue } == Array(51...60))
        #expect(third.objectValue?["next"] == .null)
    }

    @Test("bad input is a clear error on stderr, a non-zero exit, and changes nothing", arguments: [
        (["--limit", "0"], "limit 0 is out of range"),
        (["--outcome", "bogus"], "--outcome 'bogus' is not one of: success, failure, abandoned"),
        (["--kind", "both"], "--kind 'both' is not one of: attempt, outcome"),
        (["--from", "yesterday"], "--from 'yesterday' is not an RFC 3339 time"),
        (["--since=-5m"], "--since '-5m' must be a positive duration"),
        (["--from", "2026-11-25T00:00:00Z", "--to", "2026-11-24T00:00:00Z"], "time range is empty"),
    ])
    func badInput(arguments: [String], message: String) async throws {
        let before = try snapshot()
        let result = try await carbon(["audit", "query", "--audit-db", database] + arguments)
        #expect(result.status != 0)
        #expect(result.standardError.contains(message), "\(result.standardError)")
        #expect(result.standardOutput.isEmpty)
        #expect(try snapshot() == before)
    }

    @Test("a missing trail is a clear error and is not created", arguments: [
        ["audit", "verify"], ["audit", "query"], ["audit", "stats"], ["audit", "export"], ["audit", "checkpoint"],
    ])
    func missingTrail(command: [String]) async throws {
        let path = directory.file("nope/audit.db")
        let result = try await carbon(command + ["--audit-db", path])
        #expect(result.status == 1)
        #expect(result.standardError.contains("there is no audit trail at \(path)"))
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: directory.file("nope")))
        #expect(!FileManager.default.fileExists(atPath: directory.file("state/carbon-recovery/audit-signing.key")))
    }

    @Test("export writes JSON Lines that Python re-verifies, and CSV")
    func export() async throws {
        let jsonl = directory.file("export.jsonl")
        let result = try await carbon(["audit", "export", "--audit-db", database, "--format", "jsonl", "--file", jsonl])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardError.contains("exported 60 entries"))
        let script = """
            import hashlib, json, sys
            prev = "0" * 64
            lines = open(sys.argv[1], encoding="utf-8").readlines()
            header = json.loads(lines[0])
            assert "seq" not in header and header["type"] == "carbon-recovery.audit-export" and header["v"] == 1
            assert header["origin"] == "carbon-recovery.audit/" + header["trail_id"]
            print(header["origin"])
            for line in lines[1:]:
                e = json.loads(line); h = e.pop("hash")
                assert e["prev_hash"] == prev
                assert hashlib.sha256(json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest() == h
                prev = h
            print(prev)
            """
        let exported = try Data(contentsOf: URL(fileURLWithPath: jsonl))
        let again = try await carbon(["audit", "export", "--audit-db", database, "--format", "csv", "--file", jsonl])
        #expect(again.status == 1)
        #expect(again.standardError.contains("the export file exists already"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: jsonl)) == exported)
        let verified = try await run("/usr/bin/env", ["python3", "-c", script, jsonl])
        let head = try await carbon(["audit", "verify", "--audit-db", database, "--output", "json"])
        let report = try JSONValue(parsing: Array(head.standardOutput.utf8))
        #expect(verified.status == 0, "\(verified.standardError)")
        #expect(verified.standardOutput == (report["origin"]?.stringValue ?? "?") + "\n" + (report["headHash"]?.stringValue ?? "?") + "\n")

        let csv = try await carbon(["audit", "export", "--audit-db", database, "--format", "csv", "--outcome", "failure"])
        let rows = csv.standardOutput.split(separator: "\r\n")
        #expect(rows.first == Substring(AuditField.allCases.map(\.rawValue).joined(separator: ",")))
        #expect(rows.count == 1 + 8)
    }

    @Test("export of a trail with a stored member that is not valid UTF-8 fails, names the entry, and leaves no file")
    func exportRefusesInvalidUTF8() async throws {
        try await tamper("DROP TRIGGER audit_entries_no_update; UPDATE audit_entries SET target = CAST(X'6261636bC0AF' AS TEXT) WHERE seq = 41;")
        for format in ["jsonl", "csv"] {
            let file = directory.file("export.\(format)")
            let result = try await carbon(["audit", "export", "--audit-db", database, "--format", format, "--file", file])
            #expect(result.status == 1)
            #expect(result.standardError.contains("entry 41: target is not valid UTF-8"), "\(result.standardError)")
            #expect(!FileManager.default.fileExists(atPath: file))
        }
        let verify = try await carbon(["audit", "verify", "--audit-db", database])
        #expect(verify.status == 1)
        #expect(verify.standardOutput.contains("41") && verify.standardOutput.contains("target is not valid UTF-8"), "\(verify.standardOutput)")
    }

    @Test("keygen writes a 0600 key and its public half where every command looks, never over one, never beside the trail")
    func keygen() async throws {
        // The default place is the config folder, not the state folder that holds the default trail.
        let environment = ["HOME": directory.path, "XDG_STATE_HOME": directory.file("state"), "XDG_CONFIG_HOME": directory.file("config")]
        let created = try await run(cli, ["audit", "keygen", "--output", "json"], environment: environment)
        #expect(created.status == 0, "\(created.standardError)")
        let key = directory.file("config") + "/carbon-recovery/audit-signing.key"
        #expect(try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int == 0o600)
        let output = try JSONValue(parsing: Array(created.standardOutput.utf8))
        #expect(output["signingKey"]?.stringValue == key)
        let publicKey = try String(contentsOfFile: key + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(output["publicKey"]?.stringValue == publicKey)
        #expect(try AuditSigningKey(contentsOf: URL(fileURLWithPath: key)).verifierKey.text == publicKey)
        // `audit checkpoint` signs with that key (found, not created anew) …
        let checkpoint = try await run(cli, ["audit", "checkpoint", "--audit-db", database, "--output", "json"], environment: environment)
        #expect(checkpoint.status == 0, "\(checkpoint.standardError)")
        #expect(try JSONValue(parsing: Array(checkpoint.standardOutput.utf8))["publicKey"]?.stringValue == publicKey)
        // … and a second keygen changes nothing.
        let before = try Data(contentsOf: URL(fileURLWithPath: key))
        let again = try await run(cli, ["audit", "keygen"], environment: environment)
        #expect(again.status == 1 && again.standardError.contains("exists already"), "\(again.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: key)) == before)
        // Beside the trail, or with a name a signature line cannot carry: refused, nothing written.
        let beside = try await run(cli, ["audit", "keygen", "--audit-db", database, "--signing-key", directory.file("audit.key")], environment: environment)
        #expect(beside.status == 1 && beside.standardError.contains("in the audit trail's folder"), "\(beside.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("audit.key")))
        let keys = try TemporaryDirectory()
        let badName = try await run(cli, ["audit", "keygen", "--signing-key", keys.file("k"), "--name", "two words"], environment: environment)
        #expect(badName.status == 1, "\(badName.standardError)")
        #expect(badName.standardError.contains("name"), "\(badName.standardError)")
        #expect(!FileManager.default.fileExists(atPath: keys.file("k")))
        // A key named explicitly must exist: a writing command does not run unsigned by mistake,
        // and records nothing.
        let untouched = try snapshot()
        let missing = try await run(
            cli, ["backup", "create", "unsigned", "--audit-db", database, "--signing-key", directory.file("nope.key"), "--s3-endpoint", "http://127.0.0.1:9"],
            environment: environment.merging(["AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"]) { $1 })
        #expect(missing.status == 1 && missing.standardError.contains("does not exist"), "\(missing.standardError)")
        #expect(try snapshot() == untouched)
    }

    @Test("doctor warns when the signing key is missing, beside the trail or readable by others, and passes a key kept right", arguments: [
        ("missing", "warn", "no signing key"), ("beside", "warn", "in the audit trail's folder"), ("readable", "warn", "has mode 640"), ("right", "pass", "mode 0600"),
    ])
    func doctorSigningKey(situation: String, status: String, detail: String) async throws {
        let keys = try TemporaryDirectory()
        let key = situation == "beside" ? directory.file("audit-signing.key") : keys.file("audit-signing.key")
        if situation != "missing" { try AuditSigningKey.generate().write(to: URL(fileURLWithPath: key)) }
        if situation == "readable" { chmod(key, 0o640) }
        // No cluster and no storage here (both on a closed port): their checks fail, the local one is still made.
        try """
            apiVersion: v1
            kind: Config
            clusters: [{name: none, cluster: {server: "https://127.0.0.1:9"}}]
            users: [{name: none, user: {}}]
            contexts: [{name: none, context: {cluster: none, user: none}}]
            current-context: none
            """.write(toFile: directory.file("no-kubeconfig"), atomically: true, encoding: .utf8)
        let result = try await run(
            cli, ["doctor", "--output", "json", "--audit-db", database, "--signing-key", key, "--kubeconfig", directory.file("no-kubeconfig"), "--s3-endpoint", "http://127.0.0.1:9"],
            environment: ["HOME": directory.path, "XDG_STATE_HOME": directory.file("state"), "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"])
        let checks = try JSONValue(parsing: Array(result.standardOutput.utf8)).arrayValue ?? []
        let check = checks.first { $0["id"] == "audit-signing-key" }
        #expect(check?["status"]?.stringValue == status, "\(result.standardOutput)\(result.standardError)")
        #expect(check?["detail"]?.stringValue?.contains(detail) == true, "\(String(describing: check))")
        #expect(!result.standardOutput.contains("PRIVATE+KEY"), "the key itself is never printed")
    }

    @Test("stats counts by operation and outcome")
    func stats() async throws {
        let result = try await carbon(["audit", "stats", "--audit-db", database, "--output", "json"])
        let stats = try JSONValue(parsing: Array(result.standardOutput.utf8))
        #expect(stats["total"] == 60)
        let rows = stats["rows"]?.arrayValue ?? []
        let failures = rows.first { $0["operation"] == "backup.create" && $0["outcome"] == "failure" }
        #expect(failures?["count"] == 5)   // failed: every 4th (0…28); of those, 0, 12 and 24 are restores
    }

    @Test("checkpoint, then verify against it; a cut-off tail is caught")
    func checkpoints() async throws {
        let keys = try TemporaryDirectory()  // never in the trail's folder
        let key = keys.file("audit-signing.key")
        let note = directory.file("checkpoint.note")
        let publicKey = directory.file("audit.pub")
        let made = try await carbon(["audit", "checkpoint", "--audit-db", database, "--signing-key", key, "--file", note, "--public-key-file", publicKey])
        #expect(made.status == 0, "\(made.standardError)")
        #expect(made.standardError.contains("created signing key \(key)"))
        #expect(made.standardOutput.split(separator: "\n")[1] == "60")
        #expect((try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int) == 0o600)
        let good = try await carbon(["audit", "verify", "--audit-db", database, "--checkpoint", note, "--public-key", publicKey])
        #expect(good.status == 0, "\(good.standardOutput)\(good.standardError)")

        try await tamper("DROP TRIGGER audit_entries_no_delete; DROP TRIGGER audit_checkpoints_no_delete; DELETE FROM audit_entries WHERE seq > 50; DELETE FROM audit_checkpoints;")
        let chainOnly = try await carbon(["audit", "verify", "--audit-db", database])
        #expect(chainOnly.status == 0)   // the chain alone cannot see a cut tail…
        let bad = try await carbon(["audit", "verify", "--audit-db", database, "--checkpoint", note, "--public-key", publicKey])
        #expect(bad.status == 1)   // …the checkpoint can
        #expect(bad.standardOutput.hasPrefix("FAILED: entry 51: truncated:"))

        let missingKey = try await carbon(["audit", "verify", "--audit-db", database, "--checkpoint", note])
        #expect(missingKey.status != 0)
        #expect(missingKey.standardError.contains("--checkpoint needs --public-key"))
    }

    @Test("after a key rotation, verify --public-key fails on the old key's checkpoint until --previous-public-key names it")
    func keyRotation() async throws {
        let keys = try TemporaryDirectory()  // never in the trail's folder
        let oldKey = keys.file("old.key")
        let newKey = keys.file("new.key")
        let oldPublic = directory.file("old.pub")
        let newPublic = directory.file("new.pub")
        for (key, publicKey) in [(oldKey, oldPublic), (newKey, newPublic)] {
            let made = try await carbon(["audit", "checkpoint", "--audit-db", database, "--signing-key", key, "--public-key-file", publicKey])
            #expect(made.status == 0, "\(made.standardError)")
            // More entries, so the next key's checkpoint is at another size.
            let appended = try await run(try executable("carbon-bench"), ["append", "--db", database, "--count", "2", "--tag", "rotation"])
            #expect(appended.status == 0, "\(appended.standardError)")
        }
        let strict = try await carbon(["audit", "verify", "--audit-db", database, "--public-key", newPublic])
        #expect(strict.status == 1)
        #expect(strict.standardOutput.contains("bad-signature") && strict.standardOutput.contains("no signature by key"), "\(strict.standardOutput)")
        let rotated = try await carbon(["audit", "verify", "--audit-db", database, "--public-key", newPublic, "--previous-public-key", oldPublic])
        #expect(rotated.status == 0, "\(rotated.standardOutput)\(rotated.standardError)")
        #expect(rotated.standardOutput.contains("2 checkpoints matched"))
        let alone = try await carbon(["audit", "verify", "--audit-db", database, "--previous-public-key", oldPublic])
        #expect(alone.status != 0)
        #expect(alone.standardError.contains("--previous-public-key needs --public-key"))
    }

    @Test("rotate-key records the rotation signed by both keys: verify with either public key accepts both keys' checkpoints")
    func rotateKey() async throws {
        let keys = try TemporaryDirectory()
        let (old, new) = (keys.file("old.key"), keys.file("new.key"))
        #expect(try await carbon(["audit", "keygen", "--signing-key", old, "--name", "old-key"]).status == 0)
        #expect(try await carbon(["audit", "checkpoint", "--audit-db", database, "--signing-key", old]).status == 0)  // at 60, by old
        // Bad input first: a missing new key, or the key in use; nothing is written.
        let untouched = try snapshot()
        let missing = try await carbon(["audit", "rotate-key", "--audit-db", database, "--signing-key", old, "--new-signing-key", new])
        #expect(missing.status == 1 && missing.standardError.contains("does not exist"), "\(missing.standardError)")
        let same = try await carbon(["audit", "rotate-key", "--audit-db", database, "--signing-key", old, "--new-signing-key", old])
        #expect(same.status == 1 && same.standardError.contains("is the key in use"), "\(same.standardError)")
        #expect(try snapshot() == untouched)

        #expect(try await carbon(["audit", "keygen", "--signing-key", new, "--name", "new-key"]).status == 0)
        let rotated = try await carbon(["audit", "rotate-key", "--audit-db", database, "--signing-key", old, "--new-signing-key", new, "--output", "json"])
        #expect(rotated.status == 0, "\(rotated.standardError)")
        let rotation = try JSONValue(parsing: Array(rotated.standardOutput.utf8))
        #expect(rotation["size"] == 62)
        #expect(rotation["note"]?.stringValue?.contains("— old-key ") == true && rotation["note"]?.stringValue?.contains("— new-key ") == true)
        #expect(try await carbon(["audit", "checkpoint", "--audit-db", database, "--signing-key", new]).status == 0)  // at 62 exists; refreshed head
        for publicKey in [new + ".pub", old + ".pub"] {
            let verified = try await carbon(["audit", "verify", "--audit-db", database, "--public-key", publicKey])
            #expect(verified.status == 0, "\(publicKey): \(verified.standardOutput)\(verified.standardError)")
            #expect(verified.standardOutput.contains("2 checkpoints matched"), "\(verified.standardOutput)")
        }
        let entries = try await carbon(["audit", "query", "--audit-db", database, "--operation", "audit.rotate-key", "--output", "json"])
        #expect(try JSONValue(parsing: Array(entries.standardOutput.utf8))["entries"]?.arrayValue?.count == 2)
    }

    @Test("a trail left by the benchmark verifies and answers queries")
    func benchmarkTrail() async throws {
        let bench = try executable("carbon-bench")
        let kept = directory.file("bench.db")
        let result = try await run(bench, ["audit", "--entries", "5000", "--single", "40", "--batch", "500", "--keep", kept, "--dir", directory.file("scratch")])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("kept the trail at \(kept) (5000 entries)"))
        let verified = try await carbon(["audit", "verify", "--audit-db", kept])
        #expect(verified.standardOutput.hasPrefix("OK: 5000 entries"))
        let failures = try await carbon(["audit", "query", "--audit-db", kept, "--outcome", "failure", "--newest-first", "--limit", "10", "--output", "json"])
        #expect(try JSONValue(parsing: Array(failures.standardOutput.utf8))["entries"]?.arrayValue?.count == 10)
        let again = try await run(bench, ["audit", "--entries", "10", "--single", "4", "--keep", kept])
        #expect(again.status != 0)
        #expect(again.standardError.contains("exists already"))
    }

    @Test("prove an entry and a later trail's consistency; verify-proof checks them with the public key alone; a tampered proof fails; bad input is a clear error")
    func proofs() async throws {
        let keys = try TemporaryDirectory()
        let key = keys.file("audit-signing.key")
        let publicKey = directory.file("audit.pub")
        let older = directory.file("q3.note")
        let made = try await carbon(["audit", "checkpoint", "--audit-db", database, "--signing-key", key, "--file", older, "--public-key-file", publicKey])
        #expect(made.status == 0, "\(made.standardError)")
        let before = try snapshot()

        let proved = try await carbon(["audit", "prove", "--audit-db", database, "--entry", "17", "--file", directory.file("e17.proof")])
        #expect(proved.status == 0, "\(proved.standardError)")
        #expect(try snapshot() == before, "proving reads only")
        let checked = try await carbon(["audit", "verify-proof", directory.file("e17.proof"), "--public-key", publicKey])
        #expect(checked.status == 0, "\(checked.standardOutput)\(checked.standardError)")
        #expect(checked.standardOutput.hasPrefix("OK: entry 17 is in the trail carbon-recovery.audit/"), "\(checked.standardOutput)")
        #expect(checked.standardOutput.contains(#""seq":17"#))
        // To standard output, the same bytes.
        let printed = try await carbon(["audit", "prove", "--audit-db", database, "--entry", "17"])
        #expect(printed.standardOutput == (try String(contentsOfFile: directory.file("e17.proof"), encoding: .utf8)))

        // One byte of the entry's line changed: FAILED, exit 1.
        let text = try String(contentsOfFile: directory.file("e17.proof"), encoding: .utf8)
        try text.replacingOccurrences(of: "\"actor\":\"alice\"", with: "\"actor\":\"alicf\"").write(toFile: directory.file("bad.proof"), atomically: true, encoding: .utf8)
        let tampered = try await carbon(["audit", "verify-proof", directory.file("bad.proof"), "--public-key", publicKey])
        #expect(tampered.status == 1 && tampered.standardOutput.hasPrefix("FAILED: the audit path does not lead"), "\(tampered.standardOutput)")

        // The trail grows; the newer checkpoint extends the older one.
        let trail = try await SQLiteAuditTrail(path: database)
        _ = try await trail.record(contentsOf: [
            .attempt(operation: "backup.create", target: "backup/later", parameters: [:], actor: AuditActor(user: "bob", cluster: nil), correlationID: "later"),
            .outcome(.success, operation: "backup.create", target: "backup/later", error: nil, durationMilliseconds: 5, actor: AuditActor(user: "bob", cluster: nil), correlationID: "later"),
        ])
        await trail.close()
        let newer = try await carbon(["audit", "checkpoint", "--audit-db", database, "--signing-key", key])
        #expect(newer.status == 0, "\(newer.standardError)")
        let consistent = try await carbon(["audit", "consistency", "--audit-db", database, "--from", older, "--to", "62", "--file", directory.file("c.proof")])
        #expect(consistent.status == 0, "\(consistent.standardError)")
        let extends = try await carbon(["audit", "verify-proof", directory.file("c.proof"), "--public-key", publicKey, "--output", "json"])
        #expect(extends.status == 0, "\(extends.standardOutput)\(extends.standardError)")
        let json = try JSONValue(parsing: Array(extends.standardOutput.utf8))
        #expect(json["valid"] == true && json["olderSize"] == 60 && json["size"] == 62)

        // Bad input: nothing written, a clear message.
        for (arguments, message) in [
            (["audit", "prove", "--audit-db", database, "--entry", "0"], "--entry must be 1 or more"),
            (["audit", "prove", "--audit-db", database, "--entry", "63"], "no stored checkpoint holds entry 63"),
            (["audit", "prove", "--audit-db", database, "--entry", "61", "--checkpoint", older], "cannot hold entry 61"),
            (["audit", "consistency", "--audit-db", database, "--from", "62", "--to", older], "must not be newer"),
            (["audit", "consistency", "--audit-db", database, "--from", "7", "--to", "62"], "no stored checkpoint of 7 entries"),
            (["audit", "verify-proof", directory.file("nope.proof"), "--public-key", publicKey], "cannot read the proof"),
            (["audit", "verify-proof", older, "--public-key", publicKey], "not a CarbonRecovery audit proof"),
            (["audit", "prove", "--audit-db", database, "--entry", "17", "--file", directory.file("e17.proof")], "exists"),
        ] as [([String], String)] {
            let refused = try await carbon(arguments)
            #expect(refused.status == 1 && refused.standardError.contains(message), "\(arguments): \(refused.standardError)")
        }
    }
}
