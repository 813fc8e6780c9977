import Foundation

/// The server-side encryption a policy or a storage location asks for, in its written form:
/// the SSE-C key is named by its *file*, never held. ``storageEncryption(readKey:)`` reads the
/// key and gives the ``StorageEncryption`` a storage backend sends.
public enum StorageEncryptionSetting: Sendable, Hashable, CustomStringConvertible {
    /// Nothing asked for.
    case none
    /// SSE-S3 (`AES256`).
    case s3Managed
    /// SSE-KMS with this key (an id, ARN or alias).
    case kms(keyID: String)
    /// SSE-C with the 32-byte key in this file.
    case customerKeyFile(path: String)

    /// What the storage reports for an object written this way (``StorageEncryption/reportedAs``).
    public var reportedAs: String? {
        switch self {
        case .none: nil
        case .s3Managed: StorageEncryption.s3Managed.reportedAs
        case .kms(let keyID): StorageEncryption.kms(keyID: keyID).reportedAs
        case .customerKeyFile: "SSE-C"
        }
    }

    /// What a storage backend sends: the customer key read from its file by `readKey`
    /// (``StorageEncryption/CustomerKey/init(contentsOfFile:)`` by default).
    ///
    /// - Throws: what `readKey` throws (``RecoveryError/Code/invalidInput`` for a file that
    ///   cannot be read or does not hold 32 bytes).
    public func storageEncryption(
        readKey: (String) throws -> StorageEncryption.CustomerKey = { try StorageEncryption.CustomerKey(contentsOfFile: $0) }
    ) throws -> StorageEncryption {
        switch self {
        case .none: .none
        case .s3Managed: .s3Managed
        case .kms(let keyID): .kms(keyID: keyID)
        case .customerKeyFile(let path): .customerKey(try readKey(path))
        }
    }

    /// `none`, `SSE-S3`, `SSE-KMS (key <id>)` or `SSE-C (key file <path>)`.
    public var description: String {
        switch self {
        case .none: "none"
        case .s3Managed: "SSE-S3"
        case .kms(let keyID): "SSE-KMS (key \(keyID))"
        case .customerKeyFile(let path): "SSE-C (key file \(path))"
        }
    }
}
