import CSQLite
import CarbonRecovery
import CarbonRecoverySQLite
import Foundation

/// The Merkle tree over the entries (RFC 9162): leaf `i` is entry `i + 1`'s canonical line (its
/// export record, hash included). Each entry's row stores the hashes its leaf completes (see
/// ``AuditTreeStore``), written by the same insert as the entry.
extension SQLiteAuditTrail {
    /// The tree's right edge as of this transaction, read once per transaction (another process
    /// may have appended since the last one) and then carried along.
    func frontier() throws -> MerkleFrontier {
        if let cached = writer.cachedFrontier { return cached }
        let (size, hash) = try head()
        // The right edge this handle committed last is still the tree's when nobody appended since:
        // the head is the one it left. That saves a read per set bit of the size on every append.
        if let committed = writer.committedFrontier, committed.size == size, committed.headHash == hash {
            writer.cachedFrontier = committed.frontier
            return committed.frontier
        }
        let frontier = try writer.tree(path: path).frontier(size: size)
        writer.cachedFrontier = frontier
        return frontier
    }

    /// The tree hashes `entry` completes, for its row: its leaf, then each subtree it closes.
    /// `frontier` is the tree before the entry and becomes the tree with it.
    static func treeHashes(_ entry: AuditEntry, frontier: inout MerkleFrontier, path: String) throws -> [UInt8] {
        try treeHashes(leafHash: MerkleTree.leafHash(entry.canonicalBytes(includingHash: true)), sequence: entry.sequence, frontier: &frontier, path: path)
    }

    /// The same for the leaf hash of entry `sequence`, computed by the caller.
    static func treeHashes(leafHash: MerkleTree.Hash, sequence: Int64, frontier: inout MerkleFrontier, path: String) throws -> [UInt8] {
        guard frontier.size == sequence - 1 else {
            throw RecoveryError(
                .auditFailure, "the trail's Merkle tree has \(frontier.size) leaves but entry \(sequence) is next: the tree was changed",
                target: path)
        }
        return frontier.append(leafHash: leafHash)
    }

    /// Builds the tree over every entry of a trail from before the tree (schema 1 → 2): rows of
    /// `audit_tree_before` are added, none is changed.
    static func buildTree(_ database: SQLiteConnection, path: String) throws {
        let entries = try database.prepare("SELECT \(AuditSchema.entryColumns) FROM audit_entries ORDER BY seq")
        defer { entries.reset() }
        let insert = try database.prepare(AuditSchema.insertTreeBefore)
        var frontier = MerkleFrontier()
        while try entries.step() {
            let entry = try entry(from: entries)
            guard entry.sequence == frontier.size + 1 else {
                throw RecoveryError(
                    .auditTampered,
                    "cannot add the Merkle tree: entry \(frontier.size + 1) is missing (the next row is \(entry.sequence)); run `audit verify` and keep this file as evidence",
                    target: path)
            }
            insert.bind(1, entry.sequence)
            insert.bind(2, bytes: try treeHashes(entry, frontier: &frontier, path: path))
            try insert.run()
        }
    }
}

/// The Merkle tree of a trail's first `size` entries: what a checkpoint signs and a proof is
/// checked against.
public struct AuditTreeHead: Sendable, Hashable {
    /// How many entries (leaves) the tree has.
    public var size: Int64
    /// Its RFC 9162 root hash (32 bytes; SHA-256 of nothing for the empty tree).
    public var rootHash: [UInt8]

    /// Creates a tree head.
    public init(size: Int64, rootHash: [UInt8]) {
        self.size = size
        self.rootHash = rootHash
    }
}

/// Proofs from the stored tree: each reads O(log n) rows (and one entry), never the whole trail.
extension SQLiteAuditTrail {
    /// The tree of the first `size` entries (`nil`: all of them, as the trail stands now).
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when `size` is negative or past the head;
    ///   ``RecoveryError/Code/auditFailure`` for a trail from before the tree (opened read-only);
    ///   ``RecoveryError/Code/auditTampered`` when a node it needs is missing.
    public func treeHead(size: Int64? = nil) async throws -> AuditTreeHead {
        try await readTree { trail, database, head in
            let size = size ?? head
            try trail.checkSize(size, head: head, what: "tree size")
            return AuditTreeHead(size: size, rootHash: try trail.writer.tree(path: trail.path).root(size: size))
        }
    }

    /// RFC 9162's inclusion proof of entry `sequence` (leaf `sequence - 1`) in the tree of the
    /// first `size` entries, with the entry itself.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` unless `1 <= sequence <= size <= head`; the
    ///   errors of ``treeHead(size:)``.
    public func inclusionProof(sequence: Int64, size: Int64) async throws -> (entry: AuditEntry, path: [[UInt8]]) {
        try await readTree { trail, database, head in
            try trail.checkSize(size, head: head, what: "tree size")
            guard sequence >= 1, sequence <= size else {
                throw RecoveryError.invalidInput("entry \(sequence) is not in a tree of \(size) entries (entries are numbered from 1)")
            }
            let tree = try trail.writer.tree(path: trail.path)
            let read = tree.entryRow
            read.bind(1, sequence)
            defer { read.reset() }
            guard try read.step() else {
                throw RecoveryError(.auditTampered, "entry \(sequence) is missing from the trail", target: trail.path)
            }
            let entry = try Self.entry(from: read)
            let path = try MerkleTree.inclusionProof(index: sequence - 1, size: size) { try tree.node(level: $0, index: $1) }
            return (entry, path)
        }
    }

    /// RFC 9162's consistency proof that the tree of the first `newSize` entries extends the
    /// tree of the first `oldSize`.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` unless `1 <= oldSize <= newSize <= head`;
    ///   the errors of ``treeHead(size:)``.
    public func consistencyProof(from oldSize: Int64, to newSize: Int64) async throws -> [[UInt8]] {
        try await readTree { trail, database, head in
            try trail.checkSize(newSize, head: head, what: "newer tree size")
            guard oldSize >= 1, oldSize <= newSize else {
                throw RecoveryError.invalidInput("the older tree size must be 1 to \(newSize) (the newer one), not \(oldSize)")
            }
            let tree = try trail.writer.tree(path: trail.path)
            return try MerkleTree.consistencyProof(oldSize: oldSize, newSize: newSize) { try tree.node(level: $0, index: $1) }
        }
    }

    /// Runs `body` in a read transaction with the head as of its start.
    private func readTree<T: Sendable>(_ body: @escaping @Sendable (SQLiteAuditTrail, SQLiteConnection, Int64) throws -> T) async throws -> T {
        try await database.run { [self] database in
            do {
                return try database.readTransaction {
                    guard writer.hasTree else {
                        throw RecoveryError(
                            .auditFailure, "the audit trail has no Merkle tree yet (a trail from before it): open it for writing once to add it", target: path)
                    }
                    let headStatement = writer.headStatement
                    defer { headStatement.reset() }
                    let head = try headStatement.step() ? headStatement.int64(0) : 0
                    headStatement.reset()
                    return try body(self, database, head)
                }
            } catch let error as SQLiteError {
                throw Self.wrap(error, "cannot read the audit trail's Merkle tree", path: path)
            }
        }
    }

    private func checkSize(_ size: Int64, head: Int64, what: String) throws {
        guard size >= 0, size <= head else {
            throw RecoveryError.invalidInput("the \(what) \(size) is not between 0 and the trail's \(head) entries")
        }
    }
}
