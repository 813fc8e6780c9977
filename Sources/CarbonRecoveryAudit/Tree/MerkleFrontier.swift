/// The right edge of a Merkle tree: the complete subtrees its leaves fall into, one per set bit
/// of its size (a tree of 11 = 8 + 2 + 1 leaves has three). It is all an appender needs to add a
/// leaf, and all a root needs.
struct MerkleFrontier: Sendable, Equatable {
    /// How many leaves the tree has.
    private(set) var size: Int64 = 0
    /// The complete subtrees' hashes, by level (present where that bit of `size` is set).
    private var hashes: [MerkleTree.Hash?] = Array(repeating: nil, count: 64)

    /// An empty tree.
    init() {}

    /// The frontier of a tree of `size` leaves, its subtrees read through `node` (level, index).
    init(size: Int64, node: (Int, Int64) throws -> MerkleTree.Hash) rethrows {
        precondition(size >= 0)
        self.size = size
        var start: Int64 = 0
        for level in stride(from: 62, through: 0, by: -1) where size & (Int64(1) << level) != 0 {
            hashes[level] = try node(level, start >> level)
            start += Int64(1) << level
        }
    }

    /// The complete subtree at `level`, if bit `level` of ``size`` is set.
    func subtree(level: Int) -> MerkleTree.Hash? { hashes[level] }

    /// Adds the next leaf. Returns the hashes that became complete, back to back (32 bytes
    /// each): the leaf's first and then one per level it closes (level 1, 2, …), which is what
    /// the entry's row stores.
    mutating func append(leafHash: MerkleTree.Hash) -> [UInt8] {
        var completed = leafHash
        completed.reserveCapacity(32 * ((~size).trailingZeroBitCount + 1))
        var level = 0, current = leafHash
        while let left = hashes[level] {
            hashes[level] = nil
            current = MerkleTree.nodeHash(left, current)
            level += 1
            completed.append(contentsOf: current)
        }
        hashes[level] = current
        size += 1
        return completed
    }

    /// The tree's root hash (RFC 9162's MTH): the subtrees folded from the smallest up.
    var rootHash: MerkleTree.Hash {
        var root: MerkleTree.Hash?
        for case let hash? in hashes {
            root = root.map { MerkleTree.nodeHash(hash, $0) } ?? hash
        }
        return root ?? MerkleTree.emptyTreeHash
    }
}
