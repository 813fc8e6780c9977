import CarbonRecovery
import CompressNIO
import NIOCore

/// gzip over a stream of chunks, for objects too large to hold (a base backup's tar): feed
/// chunks to ``compress(_:)`` as they arrive and append ``finish()``'s bytes last. The output is
/// one gzip member, what ``Gzip/decompress(_:limit:)`` and `gunzip` read.
///
/// Not thread-safe: one stream, one caller at a time.
package final class GzipStream {
    private let compressor: ZlibCompressor
    private var finished = false

    /// Starts a stream.
    ///
    /// - Throws: ``RecoveryError/Code/internalError`` when zlib cannot start one (no memory).
    package init() throws {
        do {
            compressor = try ZlibCompressor(algorithm: .gzip)
        } catch {
            throw RecoveryError(.internalError, "zlib could not start a gzip stream: \(error)")
        }
    }

    /// Compresses the next chunk; returns what zlib has ready (often nothing: it keeps up to a
    /// window of input before writing).
    package func compress(_ bytes: [UInt8]) throws -> [UInt8] {
        precondition(!finished, "compress after finish")
        guard !bytes.isEmpty else { return [] }
        var input = ByteBuffer(bytes: bytes)
        var output: [UInt8] = []
        while input.readableBytes > 0 {
            // deflateBound of the input: with this much room, one call takes all of it.
            var room = ByteBufferAllocator().buffer(capacity: max(compressor.maxSize(from: input), 64))
            do {
                try compressor.deflate(from: &input, to: &room, flush: .no)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                // Out of room: what was written is kept and the rest goes round again.
            } catch {
                throw RecoveryError(.internalError, "zlib failed compressing: \(error)")
            }
            output.append(contentsOf: room.readableBytesView)
        }
        return output
    }

    /// Ends the stream: the rest of the compressed data and gzip's trailer (CRC-32 and size).
    package func finish() throws -> [UInt8] {
        precondition(!finished, "finish twice")
        finished = true
        var input = ByteBufferAllocator().buffer(capacity: 64)
        var output: [UInt8] = []
        while true {
            var room = ByteBufferAllocator().buffer(capacity: 256 << 10)
            do {
                try compressor.deflate(from: &input, to: &room, flush: .finish)
                output.append(contentsOf: room.readableBytesView)
                return output
            } catch let error as CompressNIOError where error == .bufferOverflow {
                output.append(contentsOf: room.readableBytesView)
            } catch {
                throw RecoveryError(.internalError, "zlib failed finishing a gzip stream: \(error)")
            }
        }
    }
}
