/// The right edge of a Merkle tree: the complete subtrees its leaves fall into, one per set bit
/// of its size (a tree of 11 = 8 + 2 + 1 leaves has three). It is all an appender needs to add a
/// leaf, and all a root needs.
struct MerkleFrontier: Sendable, Equatable {
    /// How many leaves the tree has.
    private(set) var size: Int64 = 0
    /// The complete subtrees' hashes, by level (a level is present when its bit of `size` is set).
    private var hashes: [Int: MerkleTree.Hash] = [:]

    /// An empty tree.
    init() {}

    /// The frontier of a tree of `size` leaves, its subtrees read through `node` (level, index).
    init(size: Int64, node: (Int, Int64) throws -> MerkleTree.Hash) rethrows {
        self.size = size
        var start: Int64 = 0
        for level in stride(from: 62, through: 0, by: -1) where size & (Int64(1) << level) != 0 {
            hashes[level] = try node(level, start >> level)
            start += Int64(1) << level
        }
    }

    /// Adds the next leaf; returns the nodes that became complete, the leaf first: each as its
    /// level, index and hash, to store.
    mutating func append(leafHash: MerkleTree.Hash) -> [(level: Int, index: Int64, hash: MerkleTree.Hash)] {
        var completed = [(level: 0, index: size, hash: leafHash)]
        var level = 0, index = size, current = leafHash
        while let left = hashes.removeValue(forKey: level) {
            current = MerkleTree.nodeHash(left, current)
            level += 1
            index >>= 1
            completed.append((level, index, current))
        }
        hashes[level] = current
        size += 1
        return completed
    }

    /// The tree's root hash (RFC 9162's MTH): the subtrees folded from the smallest up.
    var rootHash: MerkleTree.Hash {
        var root: MerkleTree.Hash?
        for level in hashes.keys.sorted() {
            root = root.map { MerkleTree.nodeHash(hashes[level]!, $0) } ?? hashes[level]
        }
        return root ?? MerkleTree.emptyTreeHash
    }
}
