import CarbonRecovery
import CompressNIO
import NIOCore

/// gzip through zlib (CompressNIO): Velero's tarballs and result files, and compressed WAL in
/// the PostgreSQL archive.
package enum Gzip {
    package static func compress(_ bytes: [UInt8]) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: bytes)
        let compressed = try buffer.compress(with: .gzip())
        return Array(buffer: compressed)
    }

    /// Decompresses a gzip stream that must expand to at most `limit` bytes: what a stored
    /// object's size says (a base backup's manifest), or the largest a file of its kind can be
    /// (a WAL segment: 1 GiB), so that a crafted object cannot exhaust memory.
    ///
    /// - Throws: ``RecoveryError/Code/invalidObject`` for a stream that is not gzip, or that
    ///   expands beyond `limit`.
    package static func decompress(_ bytes: [UInt8], limit: Int = .max) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: bytes)
        do {
            let plain = try buffer.decompress(with: .gzip(), maxSize: limit)
            return Array(buffer: plain)
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw RecoveryError(.invalidObject, "the gzip stream expands beyond \(limit) bytes: refused")
        } catch {
            throw RecoveryError(.invalidObject, "not a gzip stream: \(error)")
        }
    }
}
