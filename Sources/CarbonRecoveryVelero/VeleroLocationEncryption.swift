import CarbonRecovery

/// A storage location's encryption settings as Velero's AWS plugin reads them from the
/// location's `config`: `serverSideEncryption` (`AES256` or `aws:kms`), `kmsKeyId`, and
/// `customerKeyEncryptionFile` (a path, inside Velero's pod, to the 32-byte SSE-C key).
/// `deploy` writes them from the policy; the stand-in, `backup validate` and `doctor` read them back.
public enum VeleroLocationEncryption {
    /// The config keys of Velero's AWS plugin.
    public static let serverSideEncryptionKey = "serverSideEncryption"
    public static let kmsKeyIDKey = "kmsKeyId"
    public static let customerKeyFileKey = "customerKeyEncryptionFile"

    /// Reads a location's `config`.
    ///
    /// - Throws: ``CarbonRecovery/RecoveryError/Code/invalidInput`` for an algorithm other than
    ///   `AES256` or `aws:kms`, `aws:kms` without `kmsKeyId`, a customer key together with
    ///   KMS or SSE-S3 (the plugin refuses the mix), a malformed key id or an empty path.
    public static func setting(config: [String: String]) throws -> StorageEncryptionSetting {
        let algorithm = config[serverSideEncryptionKey].flatMap { $0.isEmpty ? nil : $0 }
        let keyID = config[kmsKeyIDKey].flatMap { $0.isEmpty ? nil : $0 }
        if let keyFile = config[customerKeyFileKey] {
            guard !keyFile.isEmpty, !keyFile.contains("\0") else { throw RecoveryError.invalidInput("\(customerKeyFileKey) must be a path to the 32-byte SSE-C key") }
            guard keyID == nil, algorithm == nil else {
                throw RecoveryError.invalidInput("\(customerKeyFileKey) (SSE-C) cannot be combined with \(kmsKeyIDKey) or \(serverSideEncryptionKey): choose one kind of encryption")
            }
            return .customerKeyFile(path: keyFile)
        }
        switch (algorithm, keyID) {
        case (nil, nil): return .none
        case ("AES256", nil): return .s3Managed
        case (nil, let id?), ("aws:kms", let id?):
            try StorageEncryption.validateKMSKeyID(id)
            return .kms(keyID: id)
        case ("aws:kms", nil): throw RecoveryError.invalidInput("\(serverSideEncryptionKey): aws:kms needs \(kmsKeyIDKey), the key to encrypt with")
        case ("AES256", _?): throw RecoveryError.invalidInput("\(kmsKeyIDKey) goes with \(serverSideEncryptionKey): aws:kms, not AES256")
        case (let other?, _): throw RecoveryError.invalidInput("\(serverSideEncryptionKey) \(String(reflecting: other)) is neither AES256 (SSE-S3) nor aws:kms (SSE-KMS)")
        }
    }

    /// The location `config` entries that ask for `setting` (none for ``CarbonRecovery/StorageEncryptionSetting/none``).
    public static func config(_ setting: StorageEncryptionSetting) -> [String: String] {
        switch setting {
        case .none: [:]
        case .s3Managed: [serverSideEncryptionKey: "AES256"]
        case .kms(let keyID): [serverSideEncryptionKey: "aws:kms", kmsKeyIDKey: keyID]
        case .customerKeyFile(let path): [customerKeyFileKey: path]
        }
    }
}
