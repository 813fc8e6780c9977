// RFC 9162 hashing, proofs and their verification against a reference written straight from the
// RFC's recursive definitions (MTH, PATH, PROOF/SUBPROOF), for every size and index up to 70;
// and verification that never accepts a proof it was not given: every byte, index and size
// changed is refused.
import Crypto
import Foundation
import Testing

@testable import CarbonRecoveryAudit

@Suite("Merkle tree (RFC 9162)")
struct MerkleTreeTests {
    // MARK: The RFC's definitions, literally

    static func mth(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        if leaves.isEmpty { return Array(SHA256.hash(data: [UInt8]())) }
        if leaves.count == 1 { return Array(SHA256.hash(data: [0x00] + leaves.first!)) }
        var k = 1
        while k * 2 < leaves.count { k *= 2 }
        let start = leaves.startIndex
        return Array(SHA256.hash(data: [0x01] + mth(leaves[start..<start + k]) + mth(leaves[(start + k)...])))
    }

    static func path(_ m: Int, _ leaves: ArraySlice<[UInt8]>) -> [[UInt8]] {
        if leaves.count == 1 { return [] }
        var k = 1
        while k * 2 < leaves.count { k *= 2 }
        let start = leaves.startIndex
        if m < k { return path(m, leaves[start..<start + k]) + [mth(leaves[(start + k)...])] }
        return path(m - k, leaves[(start + k)...]) + [mth(leaves[start..<start + k])]
    }

    static func subproof(_ m: Int, _ leaves: ArraySlice<[UInt8]>, _ b: Bool) -> [[UInt8]] {
        if m == leaves.count { return b ? [] : [mth(leaves)] }
        var k = 1
        while k * 2 < leaves.count { k *= 2 }
        let start = leaves.startIndex
        if m <= k { return subproof(m, leaves[start..<start + k], b) + [mth(leaves[(start + k)...])] }
        return subproof(m - k, leaves[(start + k)...], false) + [mth(leaves[start..<start + k])]
    }

    /// Leaf data: distinct, of different lengths.
    static let data: [[UInt8]] = (0..<70).map { Array("entry \($0) ".utf8) + Array(repeating: UInt8($0), count: $0 % 7) }

    /// Every complete subtree of `leaves`, as the trail stores them.
    static func nodes(_ leaves: [[UInt8]]) -> [String: [UInt8]] {
        var frontier = MerkleFrontier()
        var stored: [String: [UInt8]] = [:]
        for (position, leaf) in leaves.enumerated() {
            // The leaf, then the subtree of 2, 4, … leaves that it closes.
            let completed = frontier.append(leafHash: MerkleTree.leafHash(leaf))
            for level in 0..<(completed.count / 32) {
                stored["\(level)/\((position + 1) >> level - 1)"] = Array(completed[(level * 32)..<((level + 1) * 32)])
            }
        }
        return stored
    }

    /// A lookup that fails the test when asked for a subtree that is not complete in a tree of `size`.
    static func lookup(_ stored: [String: [UInt8]], size: Int64) -> (Int, Int64) throws -> [UInt8] {
        { level, index in
            #expect((index + 1) << level <= size, "asked for level \(level) index \(index), not complete in a tree of \(size)")
            guard let hash = stored["\(level)/\(index)"] else { throw CancellationError() }
            return hash
        }
    }

    @Test("the frontier's root and the stored nodes give RFC 9162's MTH for every size up to 70")
    func roots() throws {
        let stored = Self.nodes(Self.data)
        var frontier = MerkleFrontier()
        #expect(frontier.rootHash == Self.mth([]))
        for size in 1...Self.data.count {
            _ = frontier.append(leafHash: MerkleTree.leafHash(Self.data[size - 1]))
            let expected = Self.mth(Self.data[0..<size])
            #expect(frontier.rootHash == expected, "size \(size)")
            #expect(try MerkleTree.rootHash(size: Int64(size), node: Self.lookup(stored, size: Int64(size))) == expected, "size \(size)")
            // A frontier read back from the stored nodes is the one that was carried along.
            #expect(try MerkleFrontier(size: Int64(size), node: Self.lookup(stored, size: Int64(size))) == frontier)
        }
        // The well-known empty-tree hash.
        #expect(MerkleTree.emptyTreeHash == Array(Data(base64Encoded: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")!))
    }

    @Test("inclusion proofs are RFC 9162's PATH and verify; every change to them is refused")
    func inclusion() throws {
        let stored = Self.nodes(Self.data)
        for size in 1...Self.data.count {
            let root = Self.mth(Self.data[0..<size])
            for index in 0..<size {
                let proof = try MerkleTree.inclusionProof(index: Int64(index), size: Int64(size), node: Self.lookup(stored, size: Int64(size)))
                #expect(proof == Self.path(index, Self.data[0..<size]), "size \(size) index \(index)")
                let leaf = MerkleTree.leafHash(Self.data[index])
                #expect(MerkleTree.verifyInclusion(leafHash: leaf, index: Int64(index), size: Int64(size), path: proof, root: root))
                // Another index, size, leaf, root, or path is refused.
                for other in [index - 1, index + 1, index ^ 1, size] where other != index {
                    #expect(!MerkleTree.verifyInclusion(leafHash: leaf, index: Int64(other), size: Int64(size), path: proof, root: root), "index \(other) of \(size)")
                }
                for otherSize in [size - 1, size + 1, size * 2] where otherSize != size && otherSize > index {
                    // A different size can share a path shape only when the proof still reaches the
                    // same root, which a different tree's root never is.
                    let otherRoot = otherSize <= Self.data.count ? Self.mth(Self.data[0..<otherSize]) : root
                    let accepted = MerkleTree.verifyInclusion(leafHash: leaf, index: Int64(index), size: Int64(otherSize), path: proof, root: otherRoot)
                    #expect(!accepted || Self.path(index, Self.data[0..<min(otherSize, Self.data.count)]) == proof, "size \(otherSize) for \(size)")
                }
                #expect(!MerkleTree.verifyInclusion(leafHash: MerkleTree.leafHash(Self.data[(index + 1) % Self.data.count]), index: Int64(index), size: Int64(size), path: proof, root: root) || size == 1 && Self.data.count == 1)
                #expect(!MerkleTree.verifyInclusion(leafHash: leaf, index: Int64(index), size: Int64(size), path: proof + [root], root: root))
                if !proof.isEmpty {
                    #expect(!MerkleTree.verifyInclusion(leafHash: leaf, index: Int64(index), size: Int64(size), path: Array(proof.dropLast()), root: root))
                    for position in proof.indices {
                        var flipped = proof
                        flipped[position][position % 32] ^= 0x01
                        #expect(!MerkleTree.verifyInclusion(leafHash: leaf, index: Int64(index), size: Int64(size), path: flipped, root: root))
                    }
                }
                var badRoot = root
                badRoot[0] ^= 0x80
                #expect(!MerkleTree.verifyInclusion(leafHash: leaf, index: Int64(index), size: Int64(size), path: proof, root: badRoot))
            }
        }
        // Out of range and malformed: refused, never a crash.
        let leaf = MerkleTree.leafHash(Self.data[0])
        #expect(!MerkleTree.verifyInclusion(leafHash: leaf, index: -1, size: 1, path: [], root: leaf))
        #expect(!MerkleTree.verifyInclusion(leafHash: leaf, index: 0, size: 0, path: [], root: leaf))
        #expect(!MerkleTree.verifyInclusion(leafHash: leaf, index: 0, size: Int64.min, path: [], root: leaf))
        #expect(!MerkleTree.verifyInclusion(leafHash: Array(leaf.prefix(31)), index: 0, size: 1, path: [], root: Array(leaf.prefix(31))))
        #expect(MerkleTree.verifyInclusion(leafHash: leaf, index: 0, size: 1, path: [], root: leaf))
    }

    @Test("consistency proofs are RFC 9162's PROOF and verify; every change to them is refused")
    func consistency() throws {
        let stored = Self.nodes(Self.data)
        for newSize in 1...Self.data.count {
            let newRoot = Self.mth(Self.data[0..<newSize])
            for oldSize in 1...newSize {
                let oldRoot = Self.mth(Self.data[0..<oldSize])
                let proof = try MerkleTree.consistencyProof(oldSize: Int64(oldSize), newSize: Int64(newSize), node: Self.lookup(stored, size: Int64(newSize)))
                #expect(proof == Self.subproof(oldSize, Self.data[0..<newSize], true), "\(oldSize) → \(newSize)")
                #expect(MerkleTree.verifyConsistency(oldSize: Int64(oldSize), newSize: Int64(newSize), oldRoot: oldRoot, newRoot: newRoot, proof: proof), "\(oldSize) → \(newSize)")
                // Swapped roots, another old size, a changed byte, a missing or extra hash: refused.
                if oldSize != newSize {
                    #expect(!MerkleTree.verifyConsistency(oldSize: Int64(oldSize), newSize: Int64(newSize), oldRoot: newRoot, newRoot: oldRoot, proof: proof))
                    #expect(!MerkleTree.verifyConsistency(oldSize: Int64(newSize), newSize: Int64(oldSize), oldRoot: newRoot, newRoot: oldRoot, proof: proof))
                }
                if oldSize > 1 {
                    let other = Self.mth(Self.data[0..<(oldSize - 1)])
                    #expect(!MerkleTree.verifyConsistency(oldSize: Int64(oldSize - 1), newSize: Int64(newSize), oldRoot: other, newRoot: newRoot, proof: proof))
                }
                for position in proof.indices {
                    var flipped = proof
                    flipped[position][31 - position % 32] ^= 0x04
                    #expect(!MerkleTree.verifyConsistency(oldSize: Int64(oldSize), newSize: Int64(newSize), oldRoot: oldRoot, newRoot: newRoot, proof: flipped))
                }
                #expect(!MerkleTree.verifyConsistency(oldSize: Int64(oldSize), newSize: Int64(newSize), oldRoot: oldRoot, newRoot: newRoot, proof: proof + [newRoot]))
                if !proof.isEmpty {
                    #expect(!MerkleTree.verifyConsistency(oldSize: Int64(oldSize), newSize: Int64(newSize), oldRoot: oldRoot, newRoot: newRoot, proof: Array(proof.dropFirst())))
                }
                // A different history with the same sizes: the old tree's last leaf changed.
                var forged = Array(Self.data[0..<newSize])
                forged[oldSize - 1] = Array("forged".utf8)
                let forgedOldRoot = Self.mth(forged[0..<oldSize])
                #expect(!MerkleTree.verifyConsistency(oldSize: Int64(oldSize), newSize: Int64(newSize), oldRoot: forgedOldRoot, newRoot: newRoot, proof: proof))
            }
        }
        // The empty tree is a prefix of everything, with no proof; sizes out of order are refused.
        let root = Self.mth(Self.data[0..<5])
        #expect(MerkleTree.verifyConsistency(oldSize: 0, newSize: 5, oldRoot: MerkleTree.emptyTreeHash, newRoot: root, proof: []))
        #expect(!MerkleTree.verifyConsistency(oldSize: 0, newSize: 5, oldRoot: MerkleTree.emptyTreeHash, newRoot: root, proof: [root]))
        #expect(!MerkleTree.verifyConsistency(oldSize: -1, newSize: 5, oldRoot: root, newRoot: root, proof: []))
        #expect(!MerkleTree.verifyConsistency(oldSize: 6, newSize: 5, oldRoot: root, newRoot: root, proof: [root]))
    }

    @Test("random proofs and bytes never verify, and never crash the verifier")
    func fuzz() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let size = Int64.random(in: -3...300, using: &generator)
            let index = Int64.random(in: -3...300, using: &generator)
            let count = Int.random(in: 0...12, using: &generator)
            let path = (0..<count).map { _ in (0..<(Bool.random() ? 32 : Int.random(in: 0...40))).map { _ in UInt8.random(in: 0...255) } }
            let leaf = (0..<32).map { _ in UInt8.random(in: 0...255) }
            let root = (0..<32).map { _ in UInt8.random(in: 0...255) }
            #expect(!MerkleTree.verifyInclusion(leafHash: leaf, index: index, size: size, path: path, root: root) || (size == 1 && index == 0 && path.isEmpty && leaf == root))
            #expect(!MerkleTree.verifyConsistency(oldSize: index, newSize: size, oldRoot: leaf, newRoot: root, proof: path) || leaf == root)
        }
    }
}
