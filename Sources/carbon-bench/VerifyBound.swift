import CSQLite
import Crypto
import Dispatch
import Foundation
import Synchronization

/// The bound full verification is measured against (issue 18): SQLite stepping the same rows and
/// SHA-256 over the same bytes, spread over all cores at once, with nothing else.
///
/// Each core takes an equal range of `seq` and, per row: steps it (every column, the tree hashes
/// included); hashes its members' bytes plus `overhead` more (the canonical encoding's names,
/// quotes and braces, measured by the caller), as the chain's hash does; hashes the same again
/// with the 64-byte hash and a leading 0x00, as the Merkle leaf does; and hashes 65 bytes per
/// subtree the entry completes (`seq`'s trailing zero bits), as the interior nodes do. Nothing
/// is compared or encoded: this is the work verification cannot avoid.
enum VerifyBound {
    /// Entries per second over the trail at `path` (entries 1…`entries`), and an XOR of digest
    /// bytes for the caller to print (so that the hashing is observable and cannot be left out).
    static func entriesPerSecond(path: String, entries: Int64, overhead: Int, cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> (rate: Double, sink: UInt8) {
        let parts = Int64(max(1, cores))
        let tally = Tally()
        let finished = DispatchGroup()
        let start = DispatchTime.now().uptimeNanoseconds
        // One thread of its own per core, all started before any is waited for: with
        // DispatchQueue.concurrentPerform and one iteration per core, the calling thread sometimes
        // ran every part itself (the pool had no other thread to give), and the bound was halved.
        for part in 0..<parts {
            finished.enter()
            Thread {
                let low = entries * part / parts + 1
                let high = entries * (part + 1) / parts
                let (count, hashed) = scan(path: path, low: low, high: high, overhead: overhead)
                tally.checked.add(count, ordering: .relaxed)
                // Stored where the optimizer must keep it: the hashing cannot be left out.
                tally.sink.bitwiseXor(hashed, ordering: .relaxed)
                finished.leave()
            }.start()
        }
        finished.wait()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (Double(tally.checked.load(ordering: .relaxed)) / seconds, tally.sink.load(ordering: .relaxed))
    }

    /// What the threads add up.
    private final class Tally: Sendable {
        let checked = Atomic<Int64>(0)
        let sink = Atomic<UInt8>(0)
    }

    private static func scan(path: String, low: Int64, high: Int64, overhead: Int) -> (Int64, UInt8) {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY, nil) == SQLITE_OK, let handle else { return (0, 0) }
        defer { sqlite3_close_v2(handle) }
        var statement: OpaquePointer?
        sqlite3_prepare_v2(handle, "SELECT seq, v, time, kind, actor, cluster, operation, target, parameters, outcome, error, duration_ms, correlation_id, session, prev_hash, hash, tree FROM audit_entries WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq", -1, &statement, nil)
        guard let statement else { return (0, 0) }
        defer { sqlite3_finalize(statement) }
        sqlite3_bind_int64(statement, 1, low)
        sqlite3_bind_int64(statement, 2, high)
        var buffer = [UInt8]()
        buffer.reserveCapacity(4096)
        let padding = [UInt8](repeating: 0x22, count: overhead)
        let node = [UInt8](repeating: 0x01, count: 65)
        var count: Int64 = 0
        var sink: UInt8 = 0
        while sqlite3_step(statement) == SQLITE_ROW {
            buffer.removeAll(keepingCapacity: true)
            buffer.append(0x00)
            for column in Int32(0)..<15 {
                if let text = sqlite3_column_text(statement, column) {
                    buffer.append(contentsOf: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, column))))
                }
            }
            buffer.append(contentsOf: padding)
            _ = sqlite3_column_blob(statement, 16)
            // The chain's hash: the members without the hash.
            sink ^= buffer.withUnsafeBufferPointer { SHA256.hash(data: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer($0)[1...])).withUnsafeBytes { $0[0] } }
            // The leaf: 0x00, the same members and the hash.
            if let hash = sqlite3_column_text(statement, 15) {
                buffer.append(contentsOf: UnsafeBufferPointer(start: hash, count: Int(sqlite3_column_bytes(statement, 15))))
            }
            sink ^= SHA256.hash(data: buffer).withUnsafeBytes { $0[0] }
            // The subtrees this entry completes.
            for _ in 0..<sqlite3_column_int64(statement, 0).trailingZeroBitCount {
                sink ^= SHA256.hash(data: node).withUnsafeBytes { $0[0] }
            }
            count += 1
        }
        return (count, sink)
    }
}
