import Foundation

/// Server-side encryption of what is written to the backup storage: the three kinds S3 (and
/// MinIO) offer, and the ones Velero's AWS plugin takes in a location's `config`
/// (`serverSideEncryption`, `kmsKeyId`, `customerKeyEncryptionFile`).
///
/// The storage encrypts, not the client: with ``s3Managed`` and ``kms(keyID:)`` the server
/// holds the keys; with ``customerKey(_:)`` (SSE-C) the client sends its key with every write
/// and every read of an object, the server encrypts with it and keeps only a salted digest —
/// lose the key and the backups are gone. S3 refuses SSE-C over plain HTTP.
public enum StorageEncryption: Sendable, Hashable, CustomStringConvertible {
    /// No encryption asked for (the bucket's default, if it has one, still applies).
    case none
    /// SSE-S3: `x-amz-server-side-encryption: AES256`, keys managed by the storage.
    case s3Managed
    /// SSE-KMS: `x-amz-server-side-encryption: aws:kms` with this key (an id, ARN or alias).
    case kms(keyID: String)
    /// SSE-C: the customer's 256-bit key on every PUT, GET and HEAD of an object.
    case customerKey(CustomerKey)

    /// What the storage reports for an object written this way: the value of
    /// `x-amz-server-side-encryption`, or `SSE-C` for a customer key; `nil` for ``none``.
    public var reportedAs: String? {
        switch self {
        case .none: nil
        case .s3Managed: "AES256"
        case .kms: "aws:kms"
        case .customerKey: "SSE-C"
        }
    }

    /// `none`, `SSE-S3`, `SSE-KMS (key <id>)` or `SSE-C (customer key)` — never the key.
    public var description: String {
        switch self {
        case .none: "none"
        case .s3Managed: "SSE-S3"
        case .kms(let keyID): "SSE-KMS (key \(keyID))"
        case .customerKey: "SSE-C (customer key)"
        }
    }

    /// Checks a KMS key id: not empty, printable, no spaces, at most 2,048 bytes (AWS's limit for an ARN).
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` naming what is wrong.
    public static func validateKMSKeyID(_ keyID: String) throws {
        guard !keyID.isEmpty, keyID.utf8.count <= 2_048, keyID.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw RecoveryError.invalidInput("a KMS key id must be 1 to 2048 printable characters without spaces (an id, an ARN or alias/<name>)")
        }
    }

    /// An SSE-C key: exactly 32 bytes, kept out of every description.
    public struct CustomerKey: Sendable, Hashable, CustomStringConvertible {
        /// The key itself. Never print it.
        public let bytes: [UInt8]

        /// A key from its 32 bytes.
        ///
        /// - Throws: ``RecoveryError/Code/invalidInput`` when it is not 32 bytes long.
        public init(bytes: [UInt8]) throws {
            guard bytes.count == 32 else {
                throw RecoveryError.invalidInput("an SSE-C key must be exactly 32 bytes (AES-256); this one has \(bytes.count)")
            }
            self.bytes = bytes
        }

        /// The key in a file, as Velero's `customerKeyEncryptionFile` holds it: the 32 bytes
        /// themselves (a trailing line break is not part of the key and is refused with the
        /// rest: a file of 33 bytes is an error, not a guess).
        ///
        /// - Throws: ``RecoveryError/Code/invalidInput`` when the file cannot be read or does not hold 32 bytes.
        public init(contentsOfFile path: String) throws {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RecoveryError.invalidInput("the SSE-C key file \(path) cannot be read", target: path)
            }
            do {
                try self.init(bytes: Array(data))
            } catch let error as RecoveryError {
                throw RecoveryError.invalidInput("the SSE-C key file \(path): \(error.message)", target: path)
            }
        }

        /// The key, base64: the value of `x-amz-server-side-encryption-customer-key`.
        public var base64: String { Data(bytes).base64EncodedString() }
        /// `SSE-C key (32 bytes)`: never the key.
        public var description: String { "SSE-C key (32 bytes)" }
    }
}
