import CSQLite
import CarbonRecovery
import CarbonRecoverySQLite

/// Reads the stored Merkle tree of one connection. A complete subtree's hash lives in the row of
/// the entry whose leaf completed it: node (level, index) is entry `(index + 1) · 2^level`'s, at
/// bytes `level · 32 ..< (level + 1) · 32` of its `tree` column (for an entry from before the
/// tree, of its `audit_tree_before` row). So every node is one point read by primary key.
final class AuditTreeStore {
    private let node: SQLiteStatement
    private let nodeBefore: SQLiteStatement
    private let entry: SQLiteStatement
    private let path: String
    /// Reads one whole entry by `seq` (``AuditSchema/entryColumns``), for inclusion proofs.
    let entryRow: SQLiteStatement

    /// Prepares its statements on `database` (a trail of schema 2 or later).
    init(_ database: SQLiteConnection, path: String) throws {
        self.path = path
        node = try database.prepare("SELECT tree FROM audit_entries WHERE seq = ?1")
        nodeBefore = try database.prepare("SELECT hashes FROM audit_tree_before WHERE seq = ?1")
        entry = try database.prepare("SELECT hash FROM audit_entries WHERE seq = ?1")
        entryRow = try database.prepare("SELECT \(AuditSchema.entryColumns) FROM audit_entries WHERE seq = ?1")
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
        // In the entry's row; for an entry from before the tree (its `tree` NULL), in audit_tree_before.
        guard let hash = try hash(level: level, sequence: sequence, from: node) ?? hash(level: level, sequence: sequence, from: nodeBefore) else {
            throw missing(level, index, sequence)
        }
        return hash
    }

    /// The 32 bytes at `level` of the hashes `statement` reads for `sequence`; `nil` when there
    /// is no row or its hashes are NULL.
    private func hash(level: Int, sequence: Int64, from statement: SQLiteStatement) throws -> MerkleTree.Hash? {
        statement.bind(1, sequence)
        defer { statement.reset() }
        guard try statement.step(), sqlite3_column_type(statement.handle, 0) != SQLITE_NULL else { return nil }
        guard Int(sqlite3_column_bytes(statement.handle, 0)) >= (level + 1) * 32, let bytes = sqlite3_column_blob(statement.handle, 0) else {
            throw missing(level, sequence >> level - 1, sequence)
        }
        return Array(UnsafeRawBufferPointer(start: bytes + level * 32, count: 32))
    }

    private func missing(_ level: Int, _ index: Int64, _ sequence: Int64) -> RecoveryError {
        RecoveryError(
            .auditTampered,
            "the trail's Merkle tree has no valid node at level \(level), index \(index) (in entry \(sequence)'s tree hashes): the tree was changed",
            target: path)
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
