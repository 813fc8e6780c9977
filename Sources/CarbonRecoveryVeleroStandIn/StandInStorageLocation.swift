import CarbonRecovery
import CarbonRecoveryVelero
import Foundation

/// A `BackupStorageLocation` as the stand-in reads it at the start of each operation, with
/// the contents of its credentials secret — what a ``VeleroStandIn/StorageResolver`` turns
/// into a `StorageBackend`. Read again for every operation, as Velero does, so a changed
/// location or rotated secret takes effect on the next backup or restore.
public struct StandInStorageLocation: Sendable, Hashable {
    /// The location's name (`default`).
    public var name: String
    /// `spec.objectStorage.bucket`.
    public var bucket: String
    /// `spec.objectStorage.prefix`, with a trailing `/` when not empty.
    public var prefix: String
    /// `spec.accessMode` is `ReadOnly`: no backup is written to it, deleted from it or
    /// garbage-collected (restores still write their logs and results, as Velero's do).
    public var isReadOnly: Bool
    /// `spec.config` (`region`, `s3Url`, `s3ForcePathStyle`, …).
    public var config: [String: String]
    /// The value of the credentials secret's key (an AWS credentials file); `nil` when the
    /// location names none and the default secret does not exist either.
    public var credential: [UInt8]?
    /// Where ``credential`` came from, `namespace/secret` (never its value).
    public var credentialSource: String?
    /// `status.phase` as last written (`Available`, `Unavailable`), when any.
    public var phase: String?
    /// The CA bundle (PEM) to trust for the storage's TLS: from the secret
    /// `spec.objectStorage.caCertRef` names, else the deprecated `caCert`; `nil` when neither.
    public var caCertificates: [UInt8]?

    /// Creates a location.
    public init(
        name: String, bucket: String, prefix: String = "", isReadOnly: Bool = false, config: [String: String] = [:],
        credential: [UInt8]? = nil, credentialSource: String? = nil, phase: String? = nil
    ) {
        self.name = name
        self.bucket = bucket
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.isReadOnly = isReadOnly
        self.config = config
        self.credential = credential
        self.credentialSource = credentialSource
        self.phase = phase
    }

    /// Reads a `BackupStorageLocation` object; the credential is filled in separately.
    ///
    /// - Throws: `RecoveryError.Code.invalidObject` when it has no name or bucket.
    public init(_ object: KubernetesObject) throws {
        guard let name = object.name, let bucket = object.spec?[path: ["objectStorage", "bucket"]]?.stringValue, !bucket.isEmpty else {
            throw RecoveryError(.invalidObject, "a BackupStorageLocation without a name or spec.objectStorage.bucket", target: object.name)
        }
        self.init(
            name: name, bucket: bucket, prefix: object.spec?[path: ["objectStorage", "prefix"]]?.stringValue ?? "",
            isReadOnly: object.spec?["accessMode"]?.stringValue == "ReadOnly",
            config: object.spec?["config"]?.objectValue?.compactMapValues(\.stringValue) ?? [:],
            phase: object.status?["phase"]?.stringValue)
        if let encoded = object.spec?[path: ["objectStorage", "caCert"]]?.stringValue, !encoded.isEmpty {
            guard let bundle = Data(base64Encoded: encoded) else {
                throw RecoveryError(.invalidObject, "location \(name): spec.objectStorage.caCert is not base64", target: name)
            }
            caCertificates = Array(bundle)
        }
    }

    /// The server-side encryption its `config` asks for (Velero's AWS plugin's keys).
    ///
    /// - Throws: `RecoveryError.Code.invalidInput` for settings the plugin would refuse.
    public var encryption: StorageEncryptionSetting {
        get throws { try VeleroLocationEncryption.setting(config: config) }
    }
}
