import CarbonRecovery
import CarbonRecoveryCompression
import Crypto

/// `pg_basebackup`'s tar on its way to storage, chunk by chunk: hashed (SHA-256 of the tar as
/// PostgreSQL wrote it), read (``BaseBackupTar/Scanner``: every header checked, `backup_label`
/// and `backup_manifest` kept) and compressed when the archive compresses. Memory stays at a
/// chunk plus what the storage holds for one part, whatever the database's size.
///
/// Iterating it is what moves the data; read ``summary`` once the storage has taken the last
/// chunk.
struct BaseBackupStream<Base: AsyncSequence>: AsyncSequence where Base.Element == [UInt8] {
    typealias Element = [UInt8]

    /// What the stream saw; shared by the sequence and its iterator.
    final class Digest {
        fileprivate(set) var scanner = BaseBackupTar.Scanner(capture: ["backup_label", "backup_manifest"], captureLimit: 256 << 20)
        fileprivate(set) var bytes = 0
        fileprivate(set) var storedBytes = 0
        fileprivate(set) var sha256 = ""
        fileprivate var hasher = SHA256()
        fileprivate let gzip: GzipStream?

        init(compression: WALArchive.Compression) throws {
            gzip = compression == .gzip ? try GzipStream() : nil
        }

        /// The bytes to store for `chunk`.
        fileprivate func take(_ chunk: [UInt8]) throws -> [UInt8] {
            hasher.update(data: chunk)
            bytes += chunk.count
            try scanner.feed(chunk)
            let stored = try gzip?.compress(chunk) ?? chunk
            storedBytes += stored.count
            return stored
        }

        /// The last bytes to store, once the tar has ended where a tar may end.
        fileprivate func finish() throws -> [UInt8] {
            try scanner.finish()
            sha256 = hex(hasher.finalize())
            let tail = try gzip?.finish() ?? []
            storedBytes += tail.count
            return tail
        }
    }

    /// What a finished stream saw, to carry out of the closure that ran the program.
    struct Summary: Sendable {
        var sha256: String
        var bytes: Int
        var storedBytes: Int
        /// The members the stream kept (`backup_label`, `backup_manifest`), by path.
        var captured: [String: [UInt8]]
    }

    let base: Base
    let digest: Digest

    /// What the stream saw; complete once the storage has taken the last chunk.
    var summary: Summary {
        Summary(sha256: digest.sha256, bytes: digest.bytes, storedBytes: digest.storedBytes, captured: digest.scanner.captured)
    }

    /// Wraps `base`, compressing as `compression` says.
    init(_ base: Base, compression: WALArchive.Compression) throws {
        self.base = base
        self.digest = try Digest(compression: compression)
    }

    func makeAsyncIterator() -> Iterator { Iterator(base: base.makeAsyncIterator(), digest: digest) }

    struct Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let digest: Digest
        var done = false

        mutating func next() async throws -> [UInt8]? {
            while !done {
                if let chunk = try await base.next() {
                    let stored = try digest.take(chunk)
                    if !stored.isEmpty { return stored }
                } else {
                    done = true
                    let tail = try digest.finish()
                    return tail.isEmpty ? nil : tail
                }
            }
            return nil
        }
    }
}
