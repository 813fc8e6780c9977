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
    /// is set. After the slots, 65 bytes where a node's input is assembled (0x01, left, right),
    /// so that it is hashed in one call; its right half is the hash being carried up.
    private let slots: UnsafeMutableRawPointer

    private static let slotBytes = 63 * 32
    private var node: UnsafeMutableRawPointer { slots + Self.slotBytes }
    private var carry: UnsafeMutableRawPointer { slots + Self.slotBytes + 33 }

    /// Continues from `frontier` (the tree before the first leaf this checker sees).
    init(_ frontier: MerkleFrontier) {
        size = frontier.size
        slots = .allocate(byteCount: Self.slotBytes + 65, alignment: 16)
        slots.initializeMemory(as: UInt8.self, repeating: 0, count: Self.slotBytes + 65)
        slots.storeBytes(of: 0x01, toByteOffset: Self.slotBytes, as: UInt8.self)
        for level in 0..<63 {
            guard let hash = frontier.subtree(level: level) else { continue }
            hash.withUnsafeBytes { slots.advanced(by: level * 32).copyMemory(from: $0.baseAddress!, byteCount: 32) }
        }
    }

    deinit { slots.deallocate() }

    /// How many hashes the next leaf completes: its own and one per level it closes (the
    /// trailing one bits of `size`). A row must store exactly this many, back to back.
    var nextCompletedCount: Int { (~size).trailingZeroBitCount + 1 }

    /// Adds the leaf with hash `leafHash` and reports whether `stored` (`count` bytes) is
    /// exactly the hashes it completes: the leaf's, then one per level it closes. The tree grows
    /// either way; a caller stops at the first `false`.
    mutating func append(leafHash: SHA256Digest, stored: UnsafeRawPointer, count: Int) -> Bool {
        let closes = nextCompletedCount - 1
        var matches = count == (closes + 1) * 32
        Self.write(leafHash, to: carry)
        if matches { matches = memcmp(carry, stored, 32) == 0 }
        for level in 0..<closes {
            // 0x01 ‖ left ‖ right, the right (the carry) already in place.
            (node + 1).copyMemory(from: slots.advanced(by: level * 32), byteCount: 32)
            Self.write(SHA256.hash(data: UnsafeRawBufferPointer(start: node, count: 65)), to: carry)
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

}
