// The Merkle tree kept in the SQLite trail: maintained as entries are appended (its root is
// RFC 9162's over the export lines, computed here by the reference in MerkleTreeTests), added to
// a trail from before it without changing a row, and checked by `verify()`.
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import TestSupport
import Testing

@Suite("SQLite audit trail: the Merkle tree")
struct SQLiteAuditTreeTests {
    /// The root RFC 9162 gives the trail's export lines.
    static func referenceRoot(_ trail: SQLiteAuditTrail) async throws -> String {
        let lines = try await trail.entries(matching: AuditQuery(limit: 10_000)).entries.map { Array($0.jsonLine.utf8) }
        return MerkleTreeTests.mth(lines[...]).map { String(format: "%02x", $0) }.joined()
    }

    /// How many complete subtrees a tree of `size` leaves has.
    static func nodeCount(_ size: Int) -> Int {
        var count = 0, level = 0
        while size >> level > 0 { count += size >> level; level += 1 }
        return count
    }

    @Test("appends keep the tree: at every size its root is RFC 9162's over the export lines, and every complete subtree is stored once")
    func maintained() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        var size = 0
        // Single appends and batches, so that subtrees complete inside and across transactions.
        for batch in [1, 1, 2, 3, 8, 1, 21, 5] {
            try await fill(trail, pairs: batch, tag: "s\(size)")
            size += 2 * batch
            let report = try await trail.verify()
            #expect(report.isValid, "\(String(describing: report.problem))")
            #expect(report.rootHash == (try await Self.referenceRoot(trail)), "size \(size)")
            #expect(RawSQL.scalar(path, "SELECT sum(length(tree)) / 32 FROM audit_entries") == "\(Self.nodeCount(size))", "size \(size)")
        }
        #expect(RawSQL.scalar(path, "SELECT max(version) FROM schema_version") == "3")
        await trail.close()
    }

    @Test("a trail from before the tree: a reader verifies its chain without a root; the first writer adds the tree and changes no row")
    func migration() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        try await fill(path: path, pairs: 13)
        #expect(RawSQL.exec(path, RawSQL.backToSchema1) == nil)
        let before = RawSQL.scalar(path, "SELECT group_concat(seq || hash, ',') FROM audit_entries")

        let reader = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
        let old = try await reader.verify()
        #expect(old.isValid && old.entriesChecked == 26 && old.rootHash == nil, "\(old)")
        await reader.close()
        #expect(RawSQL.scalar(path, "SELECT max(version) FROM schema_version") == "1", "a reader changes nothing")

        let writer = try await SQLiteAuditTrail(path: path)
        #expect(RawSQL.scalar(path, "SELECT max(version) FROM schema_version") == "3")
        #expect(RawSQL.scalar(path, "SELECT sum(length(hashes)) / 32 FROM audit_tree_before") == "\(Self.nodeCount(26))")
        #expect(RawSQL.scalar(path, "SELECT count(*) FROM audit_entries WHERE tree IS NOT NULL") == "0")
        #expect(RawSQL.scalar(path, "SELECT group_concat(seq || hash, ',') FROM audit_entries") == before, "no entry was rewritten")
        let migrated = try await writer.verify()
        #expect(migrated.isValid && migrated.headHash == old.headHash)
        #expect(migrated.rootHash == (try await Self.referenceRoot(writer)))
        // And it goes on growing from there.
        try await fill(writer, pairs: 2, tag: "after")
        #expect(try await writer.verify().rootHash == (try await Self.referenceRoot(writer)))
        #expect(RawSQL.scalar(path, "SELECT count(*) FROM audit_entries WHERE tree IS NOT NULL") == "4")
        // A row of the older entries' hashes is as append-only as the entries.
        #expect(RawSQL.exec(path, "UPDATE audit_tree_before SET hashes = zeroblob(32) WHERE seq = 3")?.contains("append-only") == true)
        #expect(RawSQL.exec(path, "DELETE FROM audit_tree_before WHERE seq = 3")?.contains("append-only") == true)
        await writer.close()
    }

    @Test("changed, missing, short, long or mistyped tree hashes are a tree mismatch at their entry", arguments: [
        ("UPDATE audit_entries SET tree = substr(tree, 1, 32) || zeroblob(32) WHERE seq = 6", 6 as Int64),   // its level-1 node
        ("UPDATE audit_entries SET tree = NULL WHERE seq = 8", 8),
        ("UPDATE audit_entries SET tree = x'00' WHERE seq = 2", 2),
        ("UPDATE audit_entries SET tree = zeroblob(32) WHERE seq = 7", 7),   // its leaf
        ("UPDATE audit_entries SET tree = tree || zeroblob(32) WHERE seq = 10", 10),
        ("UPDATE audit_entries SET tree = substr(tree, 1, 64) WHERE seq = 16", 16),   // its level-2…4 nodes gone
        ("UPDATE audit_entries SET tree = CAST(tree AS TEXT) WHERE seq = 3", 3),
        ("INSERT INTO audit_tree_before VALUES (5, zeroblob(32)); UPDATE audit_entries SET tree = NULL WHERE seq = 5", 5),
    ])
    func tampered(sql: String, sequence: Int64) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        try await fill(path: path, pairs: 8)
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + sql) == nil)
        let trail = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
        let report = try await trail.verify()
        #expect(report.problem?.kind == .treeMismatch && report.problem?.sequence == sequence, "\(String(describing: report.problem))")
        #expect(report.problem?.message.contains("tree hashes stored with entry \(sequence)") == true, "\(report.problem?.message ?? "")")
        #expect(report.rootHash == nil)
        await trail.close()
    }

    @Test("an in-domain edit of the last entry re-hashed (the chain's documented limit) no longer verifies: its leaf is not its hash")
    func rehashedLastEntry() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 3)
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "UPDATE audit_entries SET error = 'edited' WHERE seq = 6") == nil)
        let rehashed = try await run(try python3(), ["-c", SQLiteAuditTrailTests.rehash, path, "6"])
        #expect(rehashed.status == 0, "\(rehashed.standardError)")
        let report = try await trail.verify()
        #expect(report.problem?.kind == .treeMismatch && report.problem?.sequence == 6, "\(String(describing: report.problem))")
        await trail.close()
    }

    @Test("a writer refuses to append over a tree whose right edge is gone, and appends nothing")
    func brokenFrontier() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        try await fill(path: path, pairs: 4)   // 8 leaves: the right edge is the level-3 node 0
        #expect(RawSQL.exec(path, RawSQL.dropTriggers + "UPDATE audit_entries SET tree = substr(tree, 1, 96) WHERE seq = 8") == nil)
        let trail = try await SQLiteAuditTrail(path: path)
        do {
            try await fill(trail, pairs: 1, tag: "refused")
            Issue.record("appended over a tree without its right edge")
        } catch let error as RecoveryError {
            #expect(error.code == .auditTampered && error.message.contains("no valid node at level 3, index 0"), "\(error)")
        }
        #expect(RawSQL.scalar(path, "SELECT count(*) FROM audit_entries") == "8")
        await trail.close()
    }
}
