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

    /// Compresses `bytes` on up to `parts` cores at once: each part becomes a gzip member of its
    /// own and the members are written one after the other (RFC 1952 §2.2), which `gunzip` and
    /// ``decompress(_:limit:)`` read as the whole. Inputs under 1 MiB are one member.
    package static func compress(_ bytes: [UInt8], parts: Int) async throws -> [UInt8] {
        let parts = max(1, min(parts, bytes.count / (512 << 10)))
        guard parts > 1 else { return try compress(bytes) }
        let size = (bytes.count + parts - 1) / parts
        return try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            for part in 0..<parts {
                let slice = Array(bytes[(part * size)..<min((part + 1) * size, bytes.count)])
                group.addTask { (part, try compress(slice)) }
            }
            var members = [[UInt8]](repeating: [], count: parts)
            for try await (part, member) in group { members[part] = member }
            return members.flatMap { $0 }
        }
    }

    /// Decompresses a gzip stream that must expand to at most `limit` bytes: what a stored
    /// object's size says (a base backup's manifest), or the largest a file of its kind can be
    /// (a WAL segment: 1 GiB), so that a crafted object cannot exhaust memory.
    ///
    /// - Throws: ``RecoveryError/Code/invalidObject`` for a stream that is not gzip, or that
    ///   expands beyond `limit`.
    ///
    /// A stream of several gzip members (RFC 1952 §2.2: what ``compress(_:parts:)`` writes, and
    /// what `gunzip` reads) decompresses to the members' contents one after the other.
    package static func decompress(_ bytes: [UInt8], limit: Int = .max) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: bytes)
        do {
            var plain: [UInt8] = []
            repeat {
                let before = buffer.readableBytes
                let member = try buffer.decompress(with: .gzip(), maxSize: limit - plain.count)
                plain.append(contentsOf: member.readableBytesView)
                // zlib's output buffers round up: the limit is checked here, exactly.
                guard plain.count <= limit else { throw CompressNIOError.bufferOverflow }
                // A member that consumed nothing would loop for ever: it is not gzip.
                guard buffer.readableBytes < before else { throw CompressNIOError.corruptData }
            } while buffer.readableBytes > 0
            return plain
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw RecoveryError(.invalidObject, "the gzip stream expands beyond \(limit) bytes: refused")
        } catch {
            throw RecoveryError(.invalidObject, "not a gzip stream: \(error)")
        }
    }
}
