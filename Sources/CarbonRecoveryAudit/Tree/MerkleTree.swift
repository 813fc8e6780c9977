import CarbonRecovery
import Crypto

/// RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing, proofs and their verification,
/// over leaves numbered from 0.
///
/// - Leaf hash: SHA-256(0x00 ‖ data). Node hash: SHA-256(0x01 ‖ left ‖ right).
/// - The tree of `n` leaves splits at `k`, the largest power of two smaller than `n`: its hash is
///   the node hash of the tree of leaves `0..<k` and of the tree of leaves `k..<n` (§2.1.1).
/// - A *complete* subtree is the tree of `2^level` leaves starting at `index · 2^level`: the
///   hashes stored for a trail are exactly these, so every other hash a proof needs is made from
///   at most `log2(n)` of them.
///
/// Proof generation takes a `node` lookup (level, index → the complete subtree's hash) and asks
/// it only for subtrees that are complete in the tree being proved. Verification needs nothing
/// but the proof: it is what a reviewer runs without the database.
public enum MerkleTree {
    /// A 32-byte SHA-256 hash.
    public typealias Hash = [UInt8]

    /// SHA-256(0x00 ‖ data): the hash of one leaf.
    public static func leafHash<Bytes: Sequence>(_ data: Bytes) -> Hash where Bytes.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: Array(data))
        return hash(hasher.finalize())
    }

    /// Writes the leaf data of an audit entry into `leaf` (emptied first): 0x00, then the
    /// entry's canonical line, given as its encoding without the `hash` member (`unhashed`, what
    /// the chain hash covers) with `,"hash":"<hash>"` spliced in at `hashSlot`. One encoding
    /// serves the chain and the tree, and the leaf is hashed in one call (each `update` of a
    /// hasher has a cost of its own).
    static func writeEntryLeaf(unhashed: UnsafeRawBufferPointer, hashSlot: Int, hash: UnsafeRawBufferPointer, into leaf: inout ByteBuffer) {
        leaf.count = 0
        withUnsafeBytes(of: leafPrefix) { leaf.append($0.assumingMemoryBound(to: UInt8.self)) }
        leaf.append(UnsafeRawBufferPointer(rebasing: unhashed[..<hashSlot]).assumingMemoryBound(to: UInt8.self))
        leaf.append(hashMemberPrefix)
        leaf.append(hash.assumingMemoryBound(to: UInt8.self))
        withUnsafeBytes(of: UInt8(ascii: "\"")) { leaf.append($0.assumingMemoryBound(to: UInt8.self)) }
        leaf.append(UnsafeRawBufferPointer(rebasing: unhashed[hashSlot...]).assumingMemoryBound(to: UInt8.self))
    }

    /// RFC 9162's leaf prefix.
    private static let leafPrefix: UInt8 = 0x00
    /// `,"hash":"`: the hash member's start in a canonical line.
    private static let hashMemberPrefix = AuditCanonicalEncoding.prefixesWithHash[AuditCanonicalEncoding.fieldsInOrder.firstIndex(of: .hash)!] + [UInt8(ascii: "\"")]

    /// SHA-256(0x01 ‖ left ‖ right): the hash of an interior node.
    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        var hasher = SHA256()
        withUnsafeBytes(of: nodePrefix) { hasher.update(bufferPointer: $0) }
        left.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        right.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return hash(hasher.finalize())
    }

    /// RFC 9162's interior-node prefix.
    private static let nodePrefix: UInt8 = 0x01

    /// A digest's bytes as a ``Hash``, copied at once (`Array(digest)` iterates byte by byte).
    @inline(__always)
    static func hash(_ digest: SHA256Digest) -> Hash {
        digest.withUnsafeBytes { Array($0) }
    }

    /// SHA-256 of nothing: the hash of the empty tree.
    public static let emptyTreeHash: Hash = Array(SHA256.hash(data: [UInt8]()))

    /// The largest power of two smaller than `n` (`n` ≥ 2).
    static func split(_ n: Int64) -> Int64 {
        precondition(n >= 2)
        return Int64(1) << (63 - (n - 1).leadingZeroBitCount)
    }

    /// Where a subtree of `count` leaves starting at `start` is one stored complete subtree: its
    /// level and index; `nil` when it is not.
    static func completeNode(start: Int64, count: Int64) -> (level: Int, index: Int64)? {
        guard count > 0, count & (count - 1) == 0, start % count == 0 else { return nil }
        let level = count.trailingZeroBitCount
        return (level, start >> level)
    }

    // MARK: Hashes from stored complete subtrees

    /// The hash of the leaves `start..<end`, made from complete subtrees (`start` is aligned as
    /// RFC 9162's splits leave it: a multiple of the largest power of two below the range's size).
    ///
    /// - Throws: What `node` throws.
    static func rangeHash(start: Int64, end: Int64, node: (Int, Int64) throws -> Hash) rethrows -> Hash {
        let count = end - start
        if count == 0 { return emptyTreeHash }
        if let complete = completeNode(start: start, count: count) { return try node(complete.level, complete.index) }
        let k = split(count)
        // The right part is hashed first: its pieces are the smaller ones.
        let right = try rangeHash(start: start + k, end: end, node: node)
        return nodeHash(try node(k.trailingZeroBitCount, start >> k.trailingZeroBitCount), right)
    }

    /// The root hash of the tree of the first `size` leaves.
    public static func rootHash(size: Int64, node: (Int, Int64) throws -> Hash) rethrows -> Hash {
        try rangeHash(start: 0, end: size, node: node)
    }

    /// RFC 9162's inclusion proof of leaf `index` in the tree of `size` leaves: the audit path,
    /// from the leaf's sibling up to the root's other child.
    ///
    /// - Precondition: `0 <= index < size`.
    public static func inclusionProof(index: Int64, size: Int64, node: (Int, Int64) throws -> Hash) rethrows -> [Hash] {
        precondition(index >= 0 && index < size)
        var path: [Hash] = []
        // Walk down from the root, collecting the other side at each split; the path is read leaf first.
        var start: Int64 = 0, end = size
        while end - start > 1 {
            let k = split(end - start)
            if index < start + k {
                path.append(try rangeHash(start: start + k, end: end, node: node))
                end = start + k
            } else {
                path.append(try rangeHash(start: start, end: start + k, node: node))
                start += k
            }
        }
        return path.reversed()
    }

    /// RFC 9162's consistency proof that the tree of `newSize` leaves extends the tree of
    /// `oldSize` leaves (§2.1.4.1, SUBPROOF).
    ///
    /// - Precondition: `0 < oldSize <= newSize`. (An empty tree is consistent with every tree and
    ///   needs no proof; equal sizes give an empty proof.)
    public static func consistencyProof(oldSize: Int64, newSize: Int64, node: (Int, Int64) throws -> Hash) rethrows -> [Hash] {
        precondition(oldSize > 0 && oldSize <= newSize)
        var proof: [Hash] = []
        var m = oldSize
        var start: Int64 = 0, end = newSize
        var whole = true   // b in SUBPROOF: whether the subtree is the old tree itself, so its hash is known to the verifier
        while m != end - start {
            let k = split(end - start)
            if m <= k {
                proof.append(try rangeHash(start: start + k, end: end, node: node))
                end = start + k
            } else {
                proof.append(try rangeHash(start: start, end: start + k, node: node))
                start += k
                m -= k
                whole = false
            }
        }
        if !whole { proof.append(try rangeHash(start: start, end: end, node: node)) }
        return proof.reversed()
    }

    // MARK: Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)

    /// Whether `path` proves that `leafHash` is leaf `index` of the tree of `size` leaves whose
    /// root is `root`.
    public static func verifyInclusion(leafHash: Hash, index: Int64, size: Int64, path: [Hash], root: Hash) -> Bool {
        guard index >= 0, index < size, leafHash.count == 32, root.count == 32, path.allSatisfy({ $0.count == 32 }) else { return false }
        var fn = UInt64(index), sn = UInt64(size - 1)
        var r = leafHash
        for p in path {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1; sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// Whether `proof` proves that the tree of `newSize` leaves with root `newRoot` extends the
    /// tree of `oldSize` leaves with root `oldRoot`.
    public static func verifyConsistency(oldSize: Int64, newSize: Int64, oldRoot: Hash, newRoot: Hash, proof: [Hash]) -> Bool {
        guard oldSize >= 0, oldSize <= newSize, oldRoot.count == 32, newRoot.count == 32, proof.allSatisfy({ $0.count == 32 }) else { return false }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        // The empty tree is a prefix of every tree: nothing to prove, and nothing may be offered.
        if oldSize == 0 { return proof.isEmpty && oldRoot == emptyTreeHash }
        guard !proof.isEmpty else { return false }
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        var fn = UInt64(oldSize - 1), sn = UInt64(newSize - 1)
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var fr = path[0], sr = path[0]
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 { fn >>= 1; sn >>= 1 }
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1; sn >>= 1
        }
        return sn == 0 && fr == oldRoot && sr == newRoot
    }
}
