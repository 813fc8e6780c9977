import CarbonRecovery
import Crypto
import Foundation

/// The verifier's side of ``MerkleFrontier``: the same right edge, kept as 32-byte slots in one
/// buffer, which checks each new leaf's completed hashes against the bytes stored with its row
/// where they lie (SQLite's column memory) instead of returning them as arrays. A row costs
/// SHA-256 and `memcmp`, no allocation.
struct StoredTreeChecker: ~Copyable {
    /// How many leaves the tree has.
    private(set) var size: Int64
    /// Slot `level` (0…62) holds the complete subtree at that level when bit `level` of `size`
    /// is set; slot 63 is the hash being carried up.
    private let slots: UnsafeMutableRawPointer

    private static let slotCount = 64
    private static let carry = 63

    /// Continues from `frontier` (the tree before the first leaf this checker sees).
    init(_ frontier: MerkleFrontier) {
        size = frontier.size
        slots = .allocate(byteCount: Self.slotCount * 32, alignment: 16)
        slots.initializeMemory(as: UInt8.self, repeating: 0, count: Self.slotCount * 32)
        for level in 0..<Self.carry {
            guard let hash = frontier.subtree(level: level) else { continue }
            hash.withUnsafeBytes { slots.advanced(by: level * 32).copyMemory(from: $0.baseAddress!, byteCount: 32) }
        }
    }

    deinit { slots.deallocate() }

    /// How many hashes the next leaf completes: its own and one per level it closes (the
    /// trailing one bits of `size`). A row must store exactly this many, back to back.
    var nextCompletedCount: Int { (~size).trailingZeroBitCount + 1 }

    /// Adds the leaf whose data the caller hashed into `leaf` (0x00 already fed) and reports
    /// whether `stored` (`count` bytes) is exactly the hashes it completes: the leaf's, then one
    /// per level it closes. The tree grows either way; a caller stops at the first `false`.
    mutating func append(leaf: consuming SHA256, stored: UnsafeRawPointer, count: Int) -> Bool {
        let closes = nextCompletedCount - 1
        var matches = count == (closes + 1) * 32
        let carry = slots.advanced(by: Self.carry * 32)
        Self.write(leaf.finalize(), to: carry)
        if matches { matches = memcmp(carry, stored, 32) == 0 }
        for level in 0..<closes {
            var node = SHA256()
            withUnsafeBytes(of: Self.nodePrefix) { node.update(bufferPointer: $0) }
            node.update(bufferPointer: UnsafeRawBufferPointer(start: slots.advanced(by: level * 32), count: 32))
            node.update(bufferPointer: UnsafeRawBufferPointer(start: carry, count: 32))
            Self.write(node.finalize(), to: carry)
            if matches { matches = memcmp(carry, stored.advanced(by: (level + 1) * 32), 32) == 0 }
        }
        slots.advanced(by: closes * 32).copyMemory(from: carry, byteCount: 32)
        size += 1
        return matches
    }

    @inline(__always)
    private static func write(_ digest: SHA256Digest, to destination: UnsafeMutableRawPointer) {
        digest.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: 32) }
    }

    /// RFC 9162's interior-node prefix, 0x01.
    private static let nodePrefix: UInt8 = 0x01
}
