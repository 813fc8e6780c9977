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

    package static func decompress(_ bytes: [UInt8]) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: bytes)
        do {
            let plain = try buffer.decompress(with: .gzip())
            return Array(buffer: plain)
        } catch {
            throw RecoveryError(.invalidObject, "not a gzip stream: \(error)")
        }
    }
}
