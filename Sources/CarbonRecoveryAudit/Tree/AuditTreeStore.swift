import CarbonRecovery
import CarbonRecoverySQLite

/// Reads the stored Merkle tree of one connection. A complete subtree's hash lives in the row of
/// the entry whose leaf completed it: node (level, index) is entry `(index + 1) · 2^level`'s, at
/// bytes `level · 32 ..< (level + 1) · 32` of its `tree` column (for an entry from before the
/// tree, of its `audit_tree_before` row). So every node is one point read by primary key.
final class AuditTreeStore {
    private let node: SQLiteStatement
    private let entry: SQLiteStatement
    private let path: String

    /// Prepares its statements on `database` (a trail of schema 2 or later).
    init(_ database: SQLiteConnection, path: String) throws {
        self.path = path
        node = try database.prepare(AuditSchema.selectTreeHashes)
        entry = try database.prepare("SELECT hash FROM audit_entries WHERE seq = ?1")
    }

    /// The sequence number of the entry that completes node (`level`, `index`), or `nil` past
    /// any possible trail.
    static func sequence(level: Int, index: Int64) -> Int64? {
        guard level >= 0, level < 63, index >= 0, index < (Int64.max >> level) else { return nil }
        return (index + 1) << level
    }

    /// The stored hash of the complete subtree at `level`, `index`.
    ///
    /// - Throws: ``RecoveryError/Code/auditTampered`` when it is missing or its row's hashes are
    ///   too short (the tree was changed).
    func node(level: Int, index: Int64) throws -> MerkleTree.Hash {
        guard let sequence = Self.sequence(level: level, index: index) else {
            throw RecoveryError(.auditTampered, "the trail's Merkle tree has no node at level \(level), index \(index)", target: path)
        }
        node.bind(1, sequence)
        defer { node.reset() }
        guard try node.step(), let hashes = node.blob(0), hashes.count >= (level + 1) * 32 else {
            throw RecoveryError(
                .auditTampered,
                "the trail's Merkle tree has no valid node at level \(level), index \(index) (in entry \(sequence)'s tree hashes): the tree was changed",
                target: path)
        }
        return Array(hashes[(level * 32)..<((level + 1) * 32)])
    }

    /// The right edge of the tree of the first `size` leaves.
    func frontier(size: Int64) throws -> MerkleFrontier {
        try MerkleFrontier(size: size) { try node(level: $0, index: $1) }
    }

    /// The root of the tree of the first `size` leaves.
    func root(size: Int64) throws -> MerkleTree.Hash {
        try MerkleTree.rootHash(size: size) { try node(level: $0, index: $1) }
    }

    /// The stored (chain) hash of entry `sequence`.
    func entryHash(sequence: Int64) throws -> String {
        entry.bind(1, sequence)
        defer { entry.reset() }
        guard try entry.step(), let hash = entry.text(0) else {
            throw RecoveryError(.auditTampered, "entry \(sequence) is missing from the trail", target: path)
        }
        return hash
    }
}
