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
            #expect(RawSQL.scalar(path, "SELECT count(*) FROM audit_tree") == "\(Self.nodeCount(size))", "size \(size)")
        }
        #expect(RawSQL.scalar(path, "SELECT max(version) FROM schema_version") == "2")
        await trail.close()
    }

    @Test("a trail from before the tree: a reader verifies its chain without a root; the first writer adds the tree and changes no row")
    func migration() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        try await fill(path: path, pairs: 13)
        // Back to schema 1 exactly: its migration step is the one that still creates it.
        #expect(RawSQL.exec(path, "DROP TABLE audit_tree; ALTER TABLE audit_checkpoints DROP COLUMN root_hash; DELETE FROM schema_version WHERE version = 2") == nil)
        let before = RawSQL.scalar(path, "SELECT group_concat(seq || hash, ',') FROM audit_entries")

        let reader = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
        let old = try await reader.verify()
        #expect(old.isValid && old.entriesChecked == 26 && old.rootHash == nil, "\(old)")
        await reader.close()
        #expect(RawSQL.scalar(path, "SELECT max(version) FROM schema_version") == "1", "a reader changes nothing")

        let writer = try await SQLiteAuditTrail(path: path)
        #expect(RawSQL.scalar(path, "SELECT max(version) FROM schema_version") == "2")
        #expect(RawSQL.scalar(path, "SELECT count(*) FROM audit_tree") == "\(Self.nodeCount(26))")
        #expect(RawSQL.scalar(path, "SELECT group_concat(seq || hash, ',') FROM audit_entries") == before, "no entry was rewritten")
        let migrated = try await writer.verify()
        #expect(migrated.isValid && migrated.headHash == old.headHash)
        #expect(migrated.rootHash == (try await Self.referenceRoot(writer)))
        // And it goes on growing from there.
        try await fill(writer, pairs: 2, tag: "after")
        #expect(try await writer.verify().rootHash == (try await Self.referenceRoot(writer)))
        await writer.close()
    }

    @Test("a changed or missing node is a tree mismatch; an entry re-hashed with its chain, which the chain alone cannot see, is caught by its leaf", arguments: [
        ("UPDATE audit_tree SET hash = zeroblob(32) WHERE level = 1 AND idx = 2", nil as Int64?, "level-1 node 2 is not the hash of its two children"),
        ("DELETE FROM audit_tree WHERE level = 2 AND idx = 1", nil, "level-2 node 1 is missing"),
        ("UPDATE audit_tree SET hash = x'00' WHERE level = 1 AND idx = 0", nil, "level-1 node 0 is not the hash of its two children"),
        ("UPDATE audit_tree SET hash = zeroblob(32) WHERE level = 0 AND idx = 6", 7, "leaf 6 is not the hash of entry 7"),
        ("DELETE FROM audit_tree WHERE level = 0 AND idx = 9", 10, "leaf 9 is not the hash of entry 10"),
    ])
    func tampered(sql: String, sequence: Int64?, message: String) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        try await fill(path: path, pairs: 8)
        #expect(RawSQL.exec(path, RawSQL.dropTreeTriggers + sql) == nil)
        let trail = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
        let report = try await trail.verify()
        #expect(report.problem?.kind == .treeMismatch && report.problem?.sequence == sequence, "\(String(describing: report.problem))")
        #expect(report.problem?.message.contains(message) == true, "\(report.problem?.message ?? "")")
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
        #expect(RawSQL.exec(path, RawSQL.dropTreeTriggers + "DELETE FROM audit_tree WHERE level = 3") == nil)
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
