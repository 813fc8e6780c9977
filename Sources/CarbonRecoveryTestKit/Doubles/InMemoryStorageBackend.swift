import CarbonRecovery
import Foundation

/// A ``StorageBackend`` in memory, with object lock and switches for failures.
public actor InMemoryStorageBackend: StorageBackend {
    private var objects: [String: (data: [UInt8], modified: Date)] = [:]
    private var retentions: [String: ObjectRetention] = [:]
    private var unreachable = false
    private var pageSize: Int
    private let clock: any WallClock

    /// Creates an empty bucket.
    ///
    /// - Parameters:
    ///   - pageSize: How many keys one internal "page" of a listing holds (to exercise paging).
    ///   - clock: The time stamped on objects and compared with retention dates.
    public init(pageSize: Int = 1000, clock: any WallClock = SystemWallClock()) {
        self.pageSize = max(1, pageSize)
        self.clock = clock
    }

    /// Makes every call fail with ``RecoveryError/Code/unreachable`` until set back.
    public func setUnreachable(_ value: Bool) { unreachable = value }

    /// Every key, sorted.
    public var keys: [String] { objects.keys.sorted() }

    public func checkAccess() async throws { try checkReachable() }

    public nonisolated func list(prefix: String) -> AsyncThrowingStream<StorageObject, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    var after: String? = nil
                    while true {
                        let page = try await self.page(prefix: prefix, after: after)
                        for object in page { continuation.yield(object) }
                        guard let last = page.last, page.count == (await self.pageSize) else { break }
                        after = last.key
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func page(prefix: String, after: String?) throws -> [StorageObject] {
        try checkReachable()
        try Task.checkCancellation()
        return objects.keys.filter { key in key.hasPrefix(prefix) && (after.map { key > $0 } ?? true) }
            .sorted().prefix(pageSize)
            .map { StorageObject(key: $0, size: Int64(objects[$0]!.data.count), lastModified: objects[$0]!.modified) }
    }

    public func head(_ key: String) async throws -> StorageObject? {
        try checkReachable()
        return objects[key].map { StorageObject(key: key, size: Int64($0.data.count), lastModified: $0.modified) }
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        try checkReachable()
        return objects[key]?.data
    }

    public func put(_ key: String, data: [UInt8]) async throws {
        try checkReachable()
        try checkKey(key)
        if let retention = retentions[key], retention.retainUntil > clock.now() {
            throw RecoveryError(.forbidden, "object '\(key)' is locked until \(RFC3339.format(retention.retainUntil))", target: key)
        }
        objects[key] = (data, clock.now())
    }

    public func delete(_ key: String) async throws {
        try checkReachable()
        if let retention = retentions[key], retention.retainUntil > clock.now() {
            throw RecoveryError(.forbidden, "object '\(key)' is locked until \(RFC3339.format(retention.retainUntil))", target: key)
        }
        objects[key] = nil
    }

    public func retention(of key: String) async throws -> ObjectRetention? {
        try checkReachable()
        guard objects[key] != nil else { throw RecoveryError(.notFound, "object '\(key)' does not exist", target: key) }
        return retentions[key]
    }

    public func setRetention(_ retention: ObjectRetention, for key: String) async throws {
        try checkReachable()
        guard objects[key] != nil else { throw RecoveryError(.notFound, "object '\(key)' does not exist", target: key) }
        if let existing = retentions[key], existing.mode == .compliance, retention.retainUntil < existing.retainUntil {
            throw RecoveryError(.forbidden, "a COMPLIANCE retention cannot be shortened", target: key)
        }
        retentions[key] = retention
    }

    private func checkReachable() throws {
        if unreachable { throw RecoveryError(.unreachable, "the in-memory storage backend is set unreachable") }
    }

    private func checkKey(_ key: String) throws {
        guard !key.isEmpty, key.utf8.count <= 1024 else {
            throw RecoveryError.invalidInput("storage key must have 1 to 1024 bytes", target: key)
        }
    }
}
