import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryTestKit
import Crypto
import Foundation
import TestSupport
import Testing

@Suite("SQLite audit trail")
struct SQLiteAuditTrailTests {
    @Test("passes the audit trail conformance suite")
    func conformance() async throws {
        let directory = try TemporaryDirectory()
        try await AuditTrailConformance.run(try await SQLiteAuditTrail(path: directory.file("audit.db")))
    }

    @Test("creates a private WAL database with a schema version")
    func fileProperties() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("state/nested/audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 3)
        for file in [path, path + "-wal", path + "-shm"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(file)")
        }
        let folder = try FileManager.default.attributesOfItem(atPath: directory.file("state"))
        #expect((folder[.posixPermissions] as? Int) == 0o700)
        #expect(RawSQL.scalar(path, "PRAGMA journal_mode") == "wal")
        #expect(RawSQL.scalar(path, "SELECT max(version) FROM schema_version") == "3")
        #expect(RawSQL.scalar(path, "SELECT count(*) FROM audit_entries") == "6")
    }

    @Test("triggers reject UPDATE and DELETE on a non-empty trail", arguments: [
        "UPDATE audit_entries SET outcome = 'success' WHERE seq = 2",
        "DELETE FROM audit_entries WHERE seq = 3",
        "DELETE FROM audit_entries",
        "UPDATE audit_checkpoints SET head_hash = 'x'",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_meta SET value = 'other' WHERE key = 'trail_id'",
    ])
    func triggers(sql: String) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path, configuration: .init(signingKey: .generate()))
        try await fill(trail, pairs: 5)
        _ = try await trail.checkpoint()
        let before = try await trail.verify()
        let error = RawSQL.exec(path, sql)
        #expect(error?.contains("append-only") == true, "\(String(describing: error))")
        let after = try await trail.verify()
        #expect(after == before)
        #expect(after.isValid)
    }

    @Test("a changed field is named as a hash mismatch at its entry")
    func changedField() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 25)
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "UPDATE audit_entries SET outcome = 'success', error = NULL WHERE seq = 20") == nil)
        let report = try await trail.verify()
        #expect(report.problem?.kind == .hashMismatch)
        #expect(report.problem?.sequence == 20)
        #expect(report.entriesChecked == 19)
    }

    @Test("a changed field with a recomputed hash, and its leaf recomputed too, is caught by the next entry's link")
    func changedFieldWithRecomputedHash() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 10)
        var entry = try await trail.entries(matching: AuditQuery(afterSequence: 6, limit: 1)).entries[0]
        entry.actor = "mallory"
        entry.hash = SHA256.hash(data: entry.canonicalBytes(includingHash: false)).map { String(format: "%02x", $0) }.joined()
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "UPDATE audit_entries SET actor = 'mallory', hash = '\(entry.hash)' WHERE seq = 7") == nil)
        // Without its leaf the tree names entry 7 itself (SQLiteAuditTreeTests); with it, the chain's link does.
        #expect(try await trail.verify().problem?.kind == .treeMismatch)
        let leaf = MerkleTree.leafHash(Array(entry.jsonLine.utf8)).map { String(format: "%02x", $0) }.joined()
        // Entry 7 (leaf 6) completes no subtree: its tree hashes are its leaf alone.
        #expect(RawSQL.exec(path, "UPDATE audit_entries SET tree = x'\(leaf)' WHERE seq = 7") == nil)
        let report = try await trail.verify()
        #expect(report.problem?.kind == .brokenLink)
        #expect(report.problem?.sequence == 8)
        #expect(report.problem?.message.contains("entry 7") == true)
    }

    @Test("a deleted row is a sequence gap")
    func deletedRow() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 10)
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "DELETE FROM audit_entries WHERE seq = 12") == nil)
        let report = try await trail.verify()
        #expect(report.problem?.kind == .sequenceGap)
        #expect(report.problem?.sequence == 13)
        #expect(report.problem?.message.contains("entries 12…12 are missing") == true)
    }

    @Test("a row inserted below seq 1 fails verification, even against a signed external checkpoint", arguments: [0, -5])
    func rowOutsideChain(sequence: Int) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let key = AuditSigningKey.generate()
        let trail = try await SQLiteAuditTrail(path: path, configuration: .init(signingKey: key))
        try await fill(trail, pairs: 5)
        let checkpoint = try await trail.checkpoint()
        // INSERT is what the triggers allow: a copy of entry 1 outside the chain.
        #expect(RawSQL.exec(path, """
            CREATE TEMP TABLE copy AS SELECT * FROM audit_entries WHERE seq = 1;
            UPDATE copy SET seq = \(sequence), actor = 'mallory';
            INSERT INTO audit_entries SELECT * FROM copy;
            """) == nil)
        #expect(try await trail.entries(matching: AuditQuery(actor: "mallory")).entries.count == 1, "queries show the row")
        for report in [try await trail.verify(), try await trail.verify(checkpointNote: checkpoint.note, key: key.verifierKey)] {
            #expect(report.problem?.kind == .rowOutsideChain)
            #expect(report.problem?.sequence == Int64(sequence))
            #expect(!report.isValid)
        }
    }

    @Test("a value outside its member's domain fails as malformed even when re-hashed", arguments: [
        ("v = 2", "v is 2"), ("v = 0", "v is 0"), ("v = 3", "v is 3"), ("duration_ms = -1", "negative duration"),
        ("outcome = 'denied'", "outcome 'denied' is in entry format 2, but v is 1"),
        ("outcome = 'maybe'", "outcome 'maybe'"), ("outcome = NULL", "has no outcome"), ("time = '2026-12-03 10:00:00'", "not UTC"),
        ("kind = 'attempt'", "an attempt has the outcome"),
    ])
    func outOfDomain(change: String, message: String) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 3)
        // The last entry (an outcome), changed and its hash recomputed by the spec's rules, so
        // that the chain itself holds: only the member's domain is wrong.
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "UPDATE audit_entries SET \(change) WHERE seq = 6") == nil)
        let rehashed = try await run(try python3(), ["-c", Self.rehash, path, "6"])
        #expect(rehashed.status == 0, "\(rehashed.standardError)")
        let report = try await trail.verify()
        #expect(report.problem?.kind == .malformed, "\(String(describing: report.problem))")
        #expect(report.problem?.sequence == 6)
        #expect(report.problem?.message.contains(message) == true, "\(report.problem?.message ?? "")")
    }

    @Test("a refused call's outcome is format 2 and verifies; denied with v 1, or v 2 on another outcome, is malformed even when re-hashed")
    func deniedOutcome() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 1)
        let audit = OperationAudit(audit: trail, actor: AuditActor(user: "ops", cluster: "viewer@sandbox"))
        await #expect(throws: RecoveryError.self) {
            try await audit.perform("backup.create", target: "velero/backup/x", parameters: [:]) { _, _ -> (Void, JSONValue) in
                throw RecoveryError(.forbidden, "no").denied(AccessDenial(source: .kubernetes, status: 403, isUnauthenticated: false, identity: "bob", refused: "create backups.velero.io in namespace velero"))
            }
        }
        let denied = try await trail.entries(matching: AuditQuery(outcome: .denied)).entries
        #expect(denied.map(\.sequence) == [4] && denied.first?.version == 2)
        #expect(try await trail.verify().isValid)
        await trail.close()
        for (change, message) in [("v = 1", "outcome 'denied' is in entry format 2, but v is 1"), ("outcome = 'failure'", "v is 2, which only an outcome 'denied' has")] {
            let copy = directory.file("copy-\(change.prefix(1)).db")
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            #expect(RawSQL.exec(copy, RawSQL.dropTriggers + "UPDATE audit_entries SET \(change) WHERE seq = 4") == nil)
            let rehashed = try await run(try python3(), ["-c", Self.rehash, copy, "4"])
            #expect(rehashed.status == 0, "\(rehashed.standardError)")
            let report = try await SQLiteAuditTrail(path: copy, configuration: .init(readOnly: true)).verify()
            #expect(report.problem?.kind == .malformed && report.problem?.sequence == 4, "\(String(describing: report.problem))")
            #expect(report.problem?.message.contains(message) == true, "\(report.problem?.message ?? "")")
        }
    }

    @Test("the re-hash tool above follows the spec: an in-domain edit of the last entry, re-hashed, verifies when read without the tree (the chain's documented limit)")
    func rehashControl() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 3)
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "UPDATE audit_entries SET error = 'edited \u{301}, \"quoted\"' WHERE seq = 6") == nil)
        #expect(try await trail.verify().problem?.kind == .hashMismatch)
        let rehashed = try await run(try python3(), ["-c", Self.rehash, path, "6"])
        #expect(rehashed.status == 0, "\(rehashed.standardError)")
        // The tree sees it (SQLiteAuditTreeTests); a trail without its tree, read as schema 1, does not.
        #expect(try await trail.verify().problem?.kind == .treeMismatch)
        await trail.close()
        #expect(RawSQL.exec(path, RawSQL.backToSchema1) == nil)
        let reader = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
        #expect(try await reader.verify().isValid)
        await reader.close()
    }

    @Test("a member stored with the wrong SQLite type is malformed")
    func wrongType() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 2)
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "UPDATE audit_entries SET actor = CAST('alice' AS BLOB) WHERE seq = 3") == nil)
        let report = try await trail.verify()
        #expect(report.problem?.kind == .malformed)
        #expect(report.problem?.sequence == 3)
        #expect(report.problem?.message.contains("actor is not a string") == true)
    }

    @Test("a member that is not valid UTF-8 is malformed, and queries and exports refuse it instead of repairing it", arguments: [
        ("actor", "616C69C3"),          // a lead byte with no continuation
        ("target", "ED A080"),          // an encoded surrogate (U+D800)
        ("parameters", "C0AF"),         // an overlong '/'
        ("error", "F4908080"),          // above U+10FFFF
        ("session", "80"),              // a lone continuation byte
    ])
    func invalidUTF8(member: String, hex: String) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 2)
        let bytes = hex.replacingOccurrences(of: " ", with: "")
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "UPDATE audit_entries SET \(member) = CAST(X'\(bytes)' AS TEXT) WHERE seq = 4") == nil)
        #expect(RawSQL.scalar(path, "SELECT typeof(\(member)) FROM audit_entries WHERE seq = 4") == "text")
        let report = try await trail.verify()
        #expect(report.problem?.kind == .malformed, "\(String(describing: report.problem))")
        #expect(report.problem?.sequence == 4)
        #expect(report.problem?.message == "\(member) is not valid UTF-8")
        let error = await #expect(throws: RecoveryError.self) { _ = try await trail.entries(matching: AuditQuery(limit: 10)) }
        #expect(error?.code == .auditTampered)
        #expect(error?.message.contains("entry 4: \(member) is not valid UTF-8") == true, "\(error?.message ?? "")")
        var lines: [String] = []
        await #expect(throws: RecoveryError.self) { try await trail.export(.jsonl) { lines.append($0) } }
        #expect(lines.count <= 3, "entries after the bad one were exported")
    }

    @Test("valid multi-byte UTF-8 is in the domain: the same edit with well-formed bytes is only a hash mismatch")
    func validUTF8IsNotMalformed() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 2)
        // "alicé€😀": two-, three- and four-byte sequences at their boundaries.
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "UPDATE audit_entries SET actor = CAST(X'616C6963C3A9E282ACF09F9880' AS TEXT) WHERE seq = 4") == nil)
        let report = try await trail.verify()
        #expect(report.problem?.kind == .hashMismatch, "\(String(describing: report.problem))")
        #expect(try await trail.entries(matching: AuditQuery(limit: 10)).entries[3].actor == "alicé€😀")
    }

    /// Recomputes one row's hash with `docs/audit-trail.md`'s rules (Python's json.dumps with
    /// sorted keys and no spaces), whatever its values: an attacker's tool.
    static let rehash = """
        import hashlib, json, sqlite3, sys
        db = sqlite3.connect(sys.argv[1]); seq = int(sys.argv[2])
        db.row_factory = sqlite3.Row
        row = dict(db.execute("SELECT * FROM audit_entries WHERE seq = ?", (seq,)).fetchone())
        row.pop("hash"); row.pop("tree", None)
        digest = hashlib.sha256(json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()
        db.execute("UPDATE audit_entries SET hash = ? WHERE seq = ?", (digest, seq)); db.commit()
        """

    @Test("a gap is named the same way whether or not the trail is large enough to be checked in several ranges")
    func gapNamingIndependentOfSize() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path, configuration: .init(checkpointInterval: nil, durability: .normal))
        let actor = AuditActor(user: "alice")
        // 100,002 entries: past the size where verification splits the trail (eight ranges of
        // about 12,500: the second starts at entry 12,501, the fourth at 37,501, the seventh at 75,001).
        for batch in 0..<10 {
            let records = (0..<10_000).map { index in
                AuditRecord.attempt(operation: "backup.create", target: "backup/\(batch)-\(index)", parameters: [:], actor: actor, correlationID: "\(batch)-\(index)")
            }
            _ = try await trail.record(contentsOf: records)
        }
        _ = try await trail.record(contentsOf: [
            .attempt(operation: "backup.create", target: "backup/last", parameters: [:], actor: actor, correlationID: "last-1"),
            .attempt(operation: "backup.create", target: "backup/last", parameters: [:], actor: actor, correlationID: "last-2"),
        ])
        await trail.close()
        // Two entries removed at the end of a range, across a boundary, at the start of one: a
        // small trail names the entry after the gap, and so must every split.
        for (first, second) in [(12_499, 12_500), (37_500, 37_501), (50_000, 50_001), (75_001, 75_002), (99_999, 100_000)] as [(Int64, Int64)] {
            let copy = directory.file("gap-\(first).db")
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            #expect(RawSQL.exec(copy, RawSQL.dropTriggers + "DELETE FROM audit_entries WHERE seq IN (\(first), \(second))") == nil)
            let report = try await SQLiteAuditTrail(path: copy, configuration: .init(readOnly: true)).verify()
            #expect(report.problem?.kind == .sequenceGap)
            #expect(report.problem?.sequence == second + 1)
            #expect(report.problem?.message == "expected entry \(first) next but found \(second + 1): entries \(first)…\(second) are missing")
        }
    }

    @Test("two swapped rows are detected at the first of them")
    func swappedRows() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 10)
        let swap = RawSQL.dropTriggers + """
            UPDATE audit_entries SET seq = -1 WHERE seq = 5;
            UPDATE audit_entries SET seq = 5 WHERE seq = 6;
            UPDATE audit_entries SET seq = 6 WHERE seq = -1;
            """
        #expect(RawSQL.exec(path, swap) == nil)
        let report = try await trail.verify()
        #expect(report.problem?.sequence == 5)
        #expect(report.problem?.kind == .brokenLink)
    }

    @Test("a cut-off tail is detected by the stored checkpoint and by an external one")
    func truncatedTail() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let key = AuditSigningKey.generate()
        let trail = try await SQLiteAuditTrail(path: path, configuration: .init(signingKey: key))
        try await fill(trail, pairs: 20)
        let checkpoint = try await trail.checkpoint()
        #expect(checkpoint.size == 40)
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "DELETE FROM audit_entries WHERE seq > 30") == nil)
        let stored = try await trail.verify()
        #expect(stored.problem?.kind == .truncated)
        #expect(stored.problem?.sequence == 31)

        // The attacker also removes the stored checkpoints: the chain alone now looks fine…
        #expect(RawSQL.exec(path, "DELETE FROM audit_checkpoints") == nil)
        #expect(try await trail.verify().isValid)
        // …but the checkpoint kept elsewhere still tells.
        let external = try await trail.verify(checkpointNote: checkpoint.note, key: key.verifierKey)
        #expect(external.problem?.kind == .truncated)
        #expect(external.problem?.message.contains("40 entries") == true)
    }

    @Test("a whole rebuilt file with a consistent chain is detected via the checkpoint")
    func rebuiltFile() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let key = AuditSigningKey.generate()
        let original = try await SQLiteAuditTrail(path: path, configuration: .init(signingKey: key))
        try await fill(original, pairs: 20)
        let checkpoint = try await original.checkpoint()

        // Rebuild: keep the trail id, drop everything from entry 11 on, write a different history of the same length.
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "DELETE FROM audit_entries WHERE seq > 10; DELETE FROM audit_checkpoints; DELETE FROM audit_sessions") == nil)
        let forged = try await SQLiteAuditTrail(path: path)
        try await fill(forged, pairs: 15, tag: "forged")
        #expect(try await forged.verify().isValid)
        #expect(try await forged.verify().entriesChecked == 40)

        let report = try await forged.verify(checkpointNote: checkpoint.note, key: key.verifierKey)
        #expect(report.problem?.kind == .checkpointMismatch)
        #expect(report.problem?.sequence == 40)

        // A brand-new file with the same number of entries is another trail altogether.
        let otherPath = directory.file("other.db")
        let other = try await SQLiteAuditTrail(path: otherPath)
        try await fill(other, pairs: 20)
        let otherReport = try await other.verify(checkpointNote: checkpoint.note, key: key.verifierKey)
        #expect(otherReport.problem?.kind == .checkpointMismatch)
        #expect(otherReport.problem?.message.contains("another trail") == true)
    }

    @Test("an edited or foreign checkpoint fails its signature")
    func checkpointSignature() async throws {
        let directory = try TemporaryDirectory()
        let key = AuditSigningKey.generate()
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"), configuration: .init(signingKey: key))
        try await fill(trail, pairs: 5)
        let checkpoint = try await trail.checkpoint()
        let edited = checkpoint.note.replacingOccurrences(of: "\n10\n", with: "\n8\n")
        #expect(edited != checkpoint.note)
        #expect(try await trail.verify(checkpointNote: edited, key: key.verifierKey).problem?.kind == .badSignature)
        let stranger = AuditSigningKey.generate()
        #expect(try await trail.verify(checkpointNote: checkpoint.note, key: stranger.verifierKey).problem?.kind == .badSignature)
        #expect(try await trail.verify(checkpointNote: checkpoint.note, key: key.verifierKey).isValid)
        await #expect(throws: RecoveryError.self) { try await trail.verify(checkpointNote: "not a note", key: key.verifierKey) }
    }

    @Test("with a public key every stored checkpoint must be signed by it, or by a previous key named explicitly; an altered one fails either way")
    func storedCheckpointKeys() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let old = AuditSigningKey.generate(name: "old-key")
        let current = AuditSigningKey.generate(name: "current-key")
        try await fill(path: path, configuration: .init(signingKey: old), pairs: 5)
        let signer = try await SQLiteAuditTrail(path: path, configuration: .init(signingKey: old))
        _ = try await signer.checkpoint()
        await signer.close()
        let trail = try await SQLiteAuditTrail(path: path, configuration: .init(signingKey: current))
        try await fill(trail, pairs: 5, tag: "later")
        _ = try await trail.checkpoint()
        // Strict by default: the checkpoint at 10 carries no signature by the current key.
        let strict = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true, verifierKey: current.verifierKey))
        let unsigned = try await strict.verify()
        #expect(unsigned.problem?.kind == .badSignature)
        #expect(unsigned.problem?.sequence == 10)
        #expect(unsigned.problem?.message.contains("no signature by key 'current-key'") == true, "\(unsigned.problem?.message ?? "")")
        // Rotation, said out loud: the reviewer names the old key too.
        let reader = try await SQLiteAuditTrail(
            path: path, configuration: .init(readOnly: true, verifierKey: current.verifierKey, previousVerifierKeys: [old.verifierKey]))
        let report = try await reader.verify()
        #expect(report.isValid, "\(String(describing: report.problem))")
        #expect(report.checkpointsChecked == 2)

        // Change the stored root column of our own checkpoint: its note no longer matches it.
        let storedRoot = try #require(RawSQL.scalar(path, "SELECT root_hash FROM audit_checkpoints WHERE size = 20"))
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "UPDATE audit_checkpoints SET root_hash = '\(String(repeating: "a", count: 64))' WHERE size = 20") == nil)
        let altered = try await reader.verify()
        #expect(altered.problem?.kind == .badSignature)
        #expect(altered.problem?.sequence == 20)
        #expect(RawSQL.exec(path, "UPDATE audit_checkpoints SET root_hash = '\(storedRoot)' WHERE size = 20") == nil)
        #expect(try await reader.verify().isValid)

        // A stored note that is not a signed note at all is not vouched for either.
        #expect(RawSQL.exec(path, "UPDATE audit_checkpoints SET note = 'hello' WHERE size = 10") == nil)
        let garbled = try await reader.verify()
        #expect(garbled.problem?.kind == .badSignature)
        #expect(garbled.problem?.sequence == 10)
        #expect(try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true)).verify().isValid, "without a key, signatures are not checked")
    }

    @Test("a key rotation recorded in the trail and signed by both keys carries trust across it, in both directions, and nothing else")
    func keyRotation() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let old = AuditSigningKey.generate(name: "old-key")
        let new = AuditSigningKey.generate(name: "new-key")
        let before = try await SQLiteAuditTrail(path: path, configuration: .init(checkpointInterval: 4, signingKey: old))
        try await fill(before, pairs: 5)  // checkpoints at 4 and 8, by the old key
        let rotation = try await before.rotateSigningKey(to: new, actor: AuditActor(user: "alice"))
        #expect(rotation.size == 12)
        #expect(rotation.note.components(separatedBy: "\n— ").count == 3, "two signature lines: \(rotation.note)")
        await before.close()
        let after = try await SQLiteAuditTrail(path: path, configuration: .init(checkpointInterval: 4, signingKey: new))
        try await fill(after, pairs: 4, tag: "later")  // checkpoints at 16 and 20, by the new key
        let rotated = try await after.entries(matching: AuditQuery(operation: SQLiteAuditTrail.keyRotationOperation, limit: 10)).entries
        #expect(rotated.map(\.kind) == [.attempt, .outcome])
        #expect(rotated[1].parameters == JSONValue.object(["from": .string(old.verifierKey.text), "to": .string(new.verifierKey.text)]).canonicalString)
        await after.close()

        func verify(_ key: AuditSigningKey, previous: [AuditSigningKey] = []) async throws -> AuditVerificationReport {
            let reader = try await SQLiteAuditTrail(
                path: path, configuration: .init(readOnly: true, verifierKey: key.verifierKey, previousVerifierKeys: previous.map(\.verifierKey)))
            defer { Task { await reader.close() } }
            return try await reader.verify()
        }
        // Either key vouches for the whole trail: 4, 8 (old), 12 (both), 16, 20 (new).
        for key in [new, old] {
            let report = try await verify(key)
            #expect(report.isValid, "\(key.name): \(String(describing: report.problem))")
            #expect(report.checkpointsChecked == 5)
        }
        // A key no rotation names vouches for nothing.
        let stranger = try await verify(AuditSigningKey.generate(name: "stranger"))
        #expect(stranger.problem?.kind == .badSignature && stranger.problem?.sequence == 4)

        // The old key, stolen after the rotation, signs a checkpoint past it: refused.
        let head = try #require(RawSQL.scalar(path, "SELECT hash FROM audit_entries WHERE seq = 18"))
        let forged = try AuditCheckpoint.sign(origin: "carbon-recovery.audit/\(before.trailID)", size: 18, headHash: head, key: old)
        #expect(RawSQL.exec(path, "INSERT INTO audit_checkpoints (size, head_hash, time, note) VALUES (18, '\(head)', '2026-12-03T00:00:00.000Z', '\(forged.note)')") == nil)
        let stolen = try await verify(new)
        #expect(stolen.problem?.kind == .badSignature, "\(String(describing: stolen.problem))")
        #expect(stolen.problem?.sequence == 18)
        #expect(stolen.problem?.message.contains("no signature by key 'new-key'") == true, "\(stolen.problem?.message ?? "")")
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "DELETE FROM audit_checkpoints WHERE size = 18") == nil)
        #expect(try await verify(new).isValid)

        // The rotation rewritten to name the attacker's key (re-hashed, so the chain alone holds up
        // to there): its checkpoint lacks that key's signature, found before any entry is read.
        let attacker = AuditSigningKey.generate(name: "new-key")
        let edited = JSONValue.object(["from": .string(old.verifierKey.text), "to": .string(attacker.verifierKey.text)]).canonicalString
        #expect(RawSQL.exec(path, "UPDATE audit_entries SET parameters = '\(edited)' WHERE seq = 12") == nil)
        #expect(try await run(try python3(), ["-c", Self.rehash, path, "12"]).status == 0)
        let rewritten = try await verify(attacker)
        #expect(rewritten.problem?.kind == .badSignature && rewritten.problem?.sequence == 12, "\(String(describing: rewritten.problem))")
        #expect(rewritten.problem?.message.contains("must carry both keys' signatures") == true, "\(rewritten.problem?.message ?? "")")
        // … and for the honest new key the chain of rotations no longer leads to it: strict rule, fails at the first old checkpoint.
        #expect(try await verify(new).problem?.kind == .badSignature)
    }

    @Test("a key rotation whose checkpoint is gone, or that does not start from the key in force, vouches for nothing")
    func keyRotationBroken() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let (first, second, third) = (AuditSigningKey.generate(name: "k1"), AuditSigningKey.generate(name: "k2"), AuditSigningKey.generate(name: "k3"))
        let trail = try await SQLiteAuditTrail(path: path, configuration: .init(checkpointInterval: nil, signingKey: first))
        try await fill(trail, pairs: 2)
        _ = try await trail.rotateSigningKey(to: second, actor: AuditActor(user: "alice"))  // entries 5, 6
        // A second rotation from k1 again (k1 is no longer in force): written with k1's handle.
        _ = try await trail.rotateSigningKey(to: third, actor: AuditActor(user: "alice"))  // entries 7, 8
        await trail.close()
        let reader = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true, verifierKey: second.verifierKey))
        let report = try await reader.verify()
        #expect(report.problem?.kind == .badSignature && report.problem?.sequence == 8, "\(String(describing: report.problem))")
        #expect(report.problem?.message.contains("but the key in force was 'k2'") == true, "\(report.problem?.message ?? "")")

        let other = directory.file("other.db")
        let honest = try await SQLiteAuditTrail(path: other, configuration: .init(checkpointInterval: nil, signingKey: first))
        try await fill(honest, pairs: 2)
        _ = try await honest.rotateSigningKey(to: second, actor: AuditActor(user: "alice"))
        await honest.close()
        #expect(RawSQL.exec(other, RawSQL.dropTriggers + "DELETE FROM audit_checkpoints WHERE size = 6") == nil)
        let gone = try await SQLiteAuditTrail(path: other, configuration: .init(readOnly: true, verifierKey: second.verifierKey)).verify()
        #expect(gone.problem?.kind == .badSignature && gone.problem?.sequence == 6, "\(String(describing: gone.problem))")
        #expect(gone.problem?.message.contains("has no checkpoint signed by both keys") == true)
        // Rotating to the key in use is refused, and writes nothing.
        let again = try await SQLiteAuditTrail(path: other, configuration: .init(checkpointInterval: nil, signingKey: second))
        await #expect(throws: RecoveryError.self) { _ = try await again.rotateSigningKey(to: second, actor: AuditActor(user: "alice")) }
        #expect(RawSQL.scalar(other, "SELECT count(*) FROM audit_entries") == "6")
    }

    @Test("checkpoints are signed every N entries and follow the C2SP note format")
    func automaticCheckpoints() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let key = AuditSigningKey.generate(name: "audit-test")
        let trail = try await SQLiteAuditTrail(path: path, configuration: .init(checkpointInterval: 10, signingKey: key))
        for index in 0..<25 {
            _ = try await trail.record(.attempt(operation: "backup.create", target: "backup/\(index)", actor: AuditActor(user: "u"), correlationID: "c\(index)"))
        }
        #expect(RawSQL.scalar(path, "SELECT group_concat(size) FROM (SELECT size FROM audit_checkpoints ORDER BY size)") == "10,20")
        let latest = try #require(try await trail.latestCheckpoint())
        let lines = latest.note.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[0] == Substring(trail.checkpointOrigin))
        #expect(lines[1] == "20")
        #expect(Data(base64Encoded: String(lines[2]))?.count == 32)
        #expect(lines[3] == "")
        #expect(lines[4].hasPrefix("— audit-test "))
        let report = try await trail.verify()
        #expect(report.isValid)
        #expect(report.checkpointsChecked == 2)
    }

    @Test("signing keys round-trip through their text form and reject garbage")
    func keys() throws {
        let key = AuditSigningKey.generate(name: "k1")
        let parsed = try AuditSigningKey(parsing: key.text)
        #expect(parsed.verifierKey == key.verifierKey)
        #expect(try AuditVerifierKey(parsing: key.verifierKey.text) == key.verifierKey)
        #expect(key.text.hasPrefix("PRIVATE+KEY+k1+\(key.verifierKey.keyID)+"))
        for bad in ["", "PRIVATE+KEY+k1+00000000+AAAA", key.verifierKey.text, "k1+deadbeef+" + String(repeating: "A", count: 44)] {
            #expect(throws: RecoveryError.self) { try AuditSigningKey(parsing: bad) }
        }
        #expect(throws: RecoveryError.self) { try AuditVerifierKey(parsing: key.text) }
        // Key data is base64, which may contain '+', the field separator: such keys must round-trip too.
        var plus = AuditSigningKey.generate(name: "k2")
        for _ in 0..<2000 where !(plus.text.split(separator: "+", maxSplits: 4).last?.contains("+") ?? false) { plus = .generate(name: "k2") }
        #expect(plus.text.split(separator: "+", maxSplits: 4).last?.contains("+") == true)
        #expect(try AuditSigningKey(parsing: plus.text).verifierKey == plus.verifierKey)
        let tamperedID = key.verifierKey.text.replacingOccurrences(of: key.verifierKey.keyID, with: "00000000")
        #expect(throws: RecoveryError.self) { try AuditVerifierKey(parsing: tamperedID) }
    }

    @Test("a key file is written 0600 and never overwritten")
    func keyFile() throws {
        let directory = try TemporaryDirectory()
        let url = URL(fileURLWithPath: directory.file("keys/signing.key"))
        let key = AuditSigningKey.generate()
        try key.write(to: url)
        #expect((try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int) == 0o600)
        #expect(try AuditSigningKey(contentsOf: url).verifierKey == key.verifierKey)
        let error = #expect(throws: RecoveryError.self) { try AuditSigningKey.generate().write(to: url) }
        #expect(error?.code == .conflict)
        #expect(try AuditSigningKey(contentsOf: url).verifierKey == key.verifierKey)
    }

    @Test("queries filter by time, actor, operation, target, outcome and page without gaps")
    func queries() async throws {
        let directory = try TemporaryDirectory()
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"))
        try await fill(trail, pairs: 30)
        _ = try await trail.record(.attempt(operation: "restore.create", target: "restore/r1", actor: AuditActor(user: "bob"), correlationID: "r1"))
        #expect(try await trail.entries(matching: AuditQuery(actor: "bob")).entries.map(\.sequence) == [61])
        #expect(try await trail.entries(matching: AuditQuery(operation: "restore.create")).entries.count == 1)
        #expect(try await trail.entries(matching: AuditQuery(target: "backup/b-3")).entries.map(\.kind) == [.attempt, .outcome])
        #expect(try await trail.entries(matching: AuditQuery(outcome: .failure, limit: 1000)).entries.count == 6)
        #expect(try await trail.entries(matching: AuditQuery(from: Date().addingTimeInterval(60))).entries.isEmpty)
        #expect(try await trail.entries(matching: AuditQuery(from: Date().addingTimeInterval(-60), to: Date().addingTimeInterval(60), limit: 1000)).entries.count == 61)
        var seen: [Int64] = []
        var query = AuditQuery(kind: .outcome, limit: 7)
        repeat {
            let page = try await trail.entries(matching: query)
            seen += page.entries.map(\.sequence)
            query.afterSequence = page.nextCursor
        } while query.afterSequence != nil
        #expect(seen == stride(from: 2, through: 60, by: 2).map { Int64($0) })
        let stats = try await trail.statistics(matching: AuditQuery())
        #expect(stats.totalEntries == 61)
        #expect(stats.rows.first { $0.operation == "backup.create" && $0.outcome == .failure }?.count == 6)
    }

    @Test("bad queries are clear errors", arguments: [
        AuditQuery(limit: 0), AuditQuery(limit: 10_001), AuditQuery(from: Date(), to: Date().addingTimeInterval(-1)),
    ])
    func badQueries(query: AuditQuery) async throws {
        let directory = try TemporaryDirectory()
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"))
        let error = await #expect(throws: RecoveryError.self) { try await trail.entries(matching: query) }
        #expect(error?.code == .invalidInput)
    }

    @Test("close() ends the session: its row and lock are gone, the file stays as it is, and the handle appends no more")
    func close() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        let actor = AuditActor(user: "u")
        _ = try await trail.record(.attempt(operation: "backup.create", target: "t", actor: actor, correlationID: "c"))
        _ = try await trail.record(.outcome(.success, operation: "backup.create", target: "t", durationMilliseconds: 1, actor: actor, correlationID: "c"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: path + "-sessions").count == 1)
        await trail.close()
        #expect(try FileManager.default.contentsOfDirectory(atPath: path + "-sessions").isEmpty)
        // The last connection closed: the WAL is checkpointed into the file, and nothing changes it later.
        func snapshot() throws -> [Data?] {
            try ["", "-wal", "-shm"].map { suffix in
                FileManager.default.fileExists(atPath: path + suffix) ? try Data(contentsOf: URL(fileURLWithPath: path + suffix)) : nil
            }
        }
        let bytes = try snapshot()
        #expect(bytes[1] == nil, "the WAL was not checkpointed: the connection is still open")
        try await Task.sleep(for: .milliseconds(100))
        #expect(try snapshot() == bytes)
        let error = await #expect(throws: RecoveryError.self) {
            _ = try await trail.record(.attempt(operation: "backup.create", target: "t", actor: actor, correlationID: "d"))
        }
        #expect(error?.code == .auditFailure && error?.message.contains("closed") == true)
        await trail.close()   // a second close does nothing
        let reader = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
        #expect(try await reader.verify().entriesChecked == 2)
    }

    @Test("entries are stamped with the injected clock")
    func injectedClock() async throws {
        let directory = try TemporaryDirectory()
        let fixed = Date(timeIntervalSince1970: 1_795_000_000.5)
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"), clock: SimulatedWallClock(start: fixed))
        let entry = try await trail.record(.attempt(operation: "backup.create", target: "t", actor: AuditActor(user: "u"), correlationID: "c"))
        #expect(entry.time == "2026-11-18T11:06:40.500Z")
        #expect(try await trail.entries(matching: AuditQuery(from: fixed, to: fixed.addingTimeInterval(1))).entries.count == 1)
    }

    @Test("a read-only open of a missing trail fails and creates nothing")
    func readOnlyMissing() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("missing.db")
        let error = await #expect(throws: RecoveryError.self) { try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true)) }
        #expect(error?.code == .notFound)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("a read-only trail refuses to append")
    func readOnlyAppend() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        try await fill(path: path, pairs: 1)
        let reader = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
        await #expect(throws: RecoveryError.self) {
            try await reader.record(.attempt(operation: "x.y", target: "t", actor: AuditActor(user: "u"), correlationID: "c"))
        }
        #expect(try await reader.verify().entriesChecked == 2)
    }

    @Test("a trail from a newer schema is refused, and a non-trail file too")
    func schemaChecks() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        try await fill(path: path, pairs: 1)
        #expect(RawSQL.exec(path, "INSERT INTO schema_version VALUES (99, 'future')") == nil)
        let error = await #expect(throws: RecoveryError.self) { try await SQLiteAuditTrail(path: path) }
        #expect(error?.message.contains("schema version 99") == true)

        let other = directory.file("other.db")
        try Data("not a database at all, just text".utf8).write(to: URL(fileURLWithPath: other))
        let notADatabase = await #expect(throws: RecoveryError.self) { try await SQLiteAuditTrail(path: other, configuration: .init(readOnly: true)) }
        #expect(notADatabase?.code == .auditFailure)
        #expect(try Data(contentsOf: URL(fileURLWithPath: other)) == Data("not a database at all, just text".utf8))
    }

    @Test("a rejected record changes nothing")
    func invalidRecord() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 2)
        let good = AuditRecord.attempt(operation: "backup.create", target: "t", actor: AuditActor(user: "u"), correlationID: "ok")
        let bad = AuditRecord.attempt(operation: "", target: "t", actor: AuditActor(user: "u"), correlationID: "bad")
        await #expect(throws: RecoveryError.self) { try await trail.record(contentsOf: [good, bad]) }
        #expect(RawSQL.scalar(path, "SELECT count(*) FROM audit_entries") == "4")
    }
}
