/// Object storage holding the backups: MinIO (S3 API) by default.
///
/// ## Implementation requirements
/// - Every method is safe to call concurrently.
/// - ``checkAccess()`` proves the credentials and the bucket work (for example HeadBucket), and
///   throws ``RecoveryError/Code/unauthorized`` for bad credentials, ``RecoveryError/Code/notFound``
///   for a missing bucket and ``RecoveryError/Code/unreachable`` when the endpoint is down.
/// - ``list(prefix:)`` yields every object under the prefix exactly once, in key order,
///   fetching pages lazily; cancelling the consumer stops the fetching.
/// - ``head(_:)`` and ``get(_:)`` return `nil` for a missing key; ``delete(_:)`` of a missing key succeeds.
/// - ``put(_:data:)`` is atomic: readers see the old object or the new one. So is
///   ``upload(_:from:)``; its default collects the chunks and calls ``put(_:data:)``, so only a
///   backend that can stream (S3 multipart) needs its own.
/// - Object lock is optional: the default ``retention(of:)`` and ``setRetention(_:for:)`` throw
///   ``RecoveryError/Code/unsupported``.
/// - Credentials never appear in an error, a log line or a description.
public protocol StorageBackend: Sendable {
    /// Checks that the endpoint answers, the credentials are accepted and the bucket exists.
    func checkAccess() async throws
    /// Every object whose key starts with `prefix`, in key order.
    func list(prefix: String) -> AsyncThrowingStream<StorageObject, any Error>
    /// The object's metadata, or `nil` when it does not exist.
    func head(_ key: String) async throws -> StorageObject?
    /// The object's bytes, or `nil` when it does not exist.
    func get(_ key: String) async throws -> [UInt8]?
    /// Writes an object.
    func put(_ key: String, data: [UInt8]) async throws
    /// Writes an object from a stream of chunks, for objects too large to hold (a database's
    /// base backup). Atomic as ``put(_:data:)`` is; on failure nothing is left under `key`.
    ///
    /// The default collects the chunks and calls ``put(_:data:)``: a backend that can stream
    /// (S3's multipart upload) implements it with bounded memory.
    func upload<Chunks: AsyncSequence>(_ key: String, from chunks: Chunks) async throws where Chunks.Element == [UInt8]
    /// Deletes an object; deleting a missing one succeeds.
    func delete(_ key: String) async throws
    /// Objects and bytes under a prefix.
    func usage(prefix: String) async throws -> StorageUsage
    /// The object-lock retention of an object, or `nil` when it has none.
    func retention(of key: String) async throws -> ObjectRetention?
    /// Sets the object-lock retention of an object.
    func setRetention(_ retention: ObjectRetention, for key: String) async throws
}

extension StorageBackend {
    /// Collects the chunks, then ``put(_:data:)``.
    public func upload<Chunks: AsyncSequence>(_ key: String, from chunks: Chunks) async throws where Chunks.Element == [UInt8] {
        var data: [UInt8] = []
        for try await chunk in chunks { data.append(contentsOf: chunk) }
        try await put(key, data: data)
    }

    /// Sums ``list(prefix:)``.
    public func usage(prefix: String) async throws -> StorageUsage {
        var objects = 0
        var bytes: Int64 = 0
        for try await object in list(prefix: prefix) {
            objects += 1
            bytes += object.size
        }
        return StorageUsage(prefix: prefix, objects: objects, bytes: bytes)
    }

    /// Throws ``RecoveryError/Code/unsupported``: object lock is optional.
    public func retention(of key: String) async throws -> ObjectRetention? {
        throw RecoveryError(.unsupported, "this storage backend does not support object lock", target: key)
    }

    /// Throws ``RecoveryError/Code/unsupported``: object lock is optional.
    public func setRetention(_ retention: ObjectRetention, for key: String) async throws {
        throw RecoveryError(.unsupported, "this storage backend does not support object lock", target: key)
    }
}
