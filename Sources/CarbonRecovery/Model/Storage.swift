import Foundation

/// One object in a storage backend.
public struct StorageObject: Sendable, Hashable {
    /// The object's key.
    public var key: String
    /// Its size in bytes.
    public var size: Int64
    /// When it was last written, when the backend says.
    public var lastModified: Date?
    /// Its entity tag, when the backend gives one.
    public var etag: String?
    /// How the storage says it keeps the object encrypted, from a `head`: the value of
    /// `x-amz-server-side-encryption` (`AES256`, `aws:kms`), `SSE-C` for a customer key, or
    /// `nil` when it says nothing (listings never say). See ``StorageEncryption/reportedAs``.
    public var serverSideEncryption: String?

    /// Creates an object description.
    public init(key: String, size: Int64, lastModified: Date? = nil, etag: String? = nil, serverSideEncryption: String? = nil) {
        self.key = key
        self.size = size
        self.lastModified = lastModified
        self.etag = etag
        self.serverSideEncryption = serverSideEncryption
    }
}

/// How much lies under a prefix.
public struct StorageUsage: Sendable, Hashable {
    /// The prefix measured.
    public var prefix: String
    /// How many objects lie under it.
    public var objects: Int
    /// How many bytes they hold.
    public var bytes: Int64

    /// Creates a usage figure.
    public init(prefix: String, objects: Int, bytes: Int64) {
        self.prefix = prefix
        self.objects = objects
        self.bytes = bytes
    }
}

/// S3 object-lock retention of one object.
public struct ObjectRetention: Sendable, Hashable {
    /// S3 object-lock modes.
    public enum Mode: String, Sendable, Hashable {
        /// Users with a special permission may shorten or remove the retention.
        case governance = "GOVERNANCE"
        /// Nobody can shorten or remove the retention, nor delete the version, until it ends.
        case compliance = "COMPLIANCE"
    }
    /// The lock mode.
    public var mode: Mode
    /// Until when the object is locked.
    public var retainUntil: Date

    /// Creates a retention.
    public init(mode: Mode, retainUntil: Date) {
        self.mode = mode
        self.retainUntil = retainUntil
    }
}
