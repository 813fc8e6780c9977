import Foundation

/// One object in a storage backend.
public struct StorageObject: Sendable, Hashable {
    public var key: String
    public var size: Int64
    public var lastModified: Date?
    public var etag: String?

    public init(key: String, size: Int64, lastModified: Date? = nil, etag: String? = nil) {
        self.key = key
        self.size = size
        self.lastModified = lastModified
        self.etag = etag
    }
}

/// How much lies under a prefix.
public struct StorageUsage: Sendable, Hashable {
    public var prefix: String
    public var objects: Int
    public var bytes: Int64

    public init(prefix: String, objects: Int, bytes: Int64) {
        self.prefix = prefix
        self.objects = objects
        self.bytes = bytes
    }
}

/// S3 object-lock retention of one object.
public struct ObjectRetention: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable {
        case governance = "GOVERNANCE", compliance = "COMPLIANCE"
    }
    public var mode: Mode
    public var retainUntil: Date

    public init(mode: Mode, retainUntil: Date) {
        self.mode = mode
        self.retainUntil = retainUntil
    }
}
