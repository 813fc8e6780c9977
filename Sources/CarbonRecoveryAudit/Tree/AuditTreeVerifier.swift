import CarbonRecovery
import CarbonRecoverySQLite
import Crypto

/// Checks the stored Merkle tree's interior: every node the first `size` leaves complete is
/// there and is the hash of its two children. (The leaves themselves are checked against their
/// entries by ``AuditChainVerifier``'s scan.) Reads each level once, in index order, on its own
/// read-only connection.
enum AuditTreeVerifier {
    /// The first problem in the interior nodes of the tree of `size` leaves, if any.
    static func verifyInteriorNodes(path: String, size: Int64) throws -> AuditProblem? {
        let database = try SQLiteConnection(path: path, readOnly: true)
        let children = try database.prepare("SELECT idx, hash FROM audit_tree WHERE level = ?1 AND idx < ?2 ORDER BY idx")
        let parents = try database.prepare("SELECT idx, hash FROM audit_tree WHERE level = ?1 AND idx < ?2 ORDER BY idx")
        var level = 1
        while size >> level > 0 {
            let count = size >> level
            children.bind(1, Int64(level - 1))
            children.bind(2, count * 2)
            parents.bind(1, Int64(level))
            parents.bind(2, count)
            defer { children.reset(); parents.reset() }
            for index in 0..<count {
                guard let left = try child(children, 2 * index), let right = try child(children, 2 * index + 1) else {
                    return problem(level - 1, (2 * index)..<(2 * index + 2), "is missing or is not a 32-byte hash")
                }
                guard try parents.step(), parents.int64(0) == index, let stored = parents.blob(1) else {
                    return problem(level, index..<(index + 1), "is missing")
                }
                guard stored == MerkleTree.nodeHash(left, right) else {
                    return problem(level, index..<(index + 1), "is not the hash of its two children")
                }
            }
            level += 1
        }
        return nil
    }

    /// Roots of the tree at any size, from the stored nodes (after they were verified), and the
    /// chain's hash at an entry, on one read-only connection.
    final class Roots {
        private let database: SQLiteConnection
        private let node: SQLiteStatement
        private let entry: SQLiteStatement
        private let path: String

        init(path: String) throws {
            self.path = path
            database = try SQLiteConnection(path: path, readOnly: true)
            node = try database.prepare(AuditSchema.selectNode)
            entry = try database.prepare("SELECT hash FROM audit_entries WHERE seq = ?1")
        }

        /// The root of the tree of the first `size` leaves.
        func root(size: Int64) throws -> MerkleTree.Hash {
            try MerkleTree.rootHash(size: size) { level, index in
                node.bind(1, Int64(level))
                node.bind(2, index)
                defer { node.reset() }
                guard try node.step(), let hash = node.blob(0), hash.count == 32 else {
                    throw RecoveryError(.auditTampered, "the trail's Merkle tree has no valid node at level \(level), index \(index)", target: path)
                }
                return hash
            }
        }

        /// The stored hash of entry `sequence`.
        func entryHash(sequence: Int64) throws -> String {
            entry.bind(1, sequence)
            defer { entry.reset() }
            guard try entry.step(), let hash = entry.text(0) else {
                throw RecoveryError(.auditTampered, "entry \(sequence) is missing from the trail", target: path)
            }
            return hash
        }
    }

    /// The next row of `statement` if it is node `index` with a 32-byte hash.
    private static func child(_ statement: SQLiteStatement, _ index: Int64) throws -> MerkleTree.Hash? {
        guard try statement.step(), statement.int64(0) == index, let hash = statement.blob(1), hash.count == 32 else { return nil }
        return hash
    }

    private static func problem(_ level: Int, _ indices: Range<Int64>, _ what: String) -> AuditProblem {
        let nodes = indices.count == 1 ? "node \(indices.lowerBound)" : "nodes \(indices.lowerBound)…\(indices.upperBound - 1)"
        return AuditProblem(
            kind: .treeMismatch, sequence: nil,
            message: "the Merkle tree's level-\(level) \(nodes) \(what): the tree table was changed")
    }
}
