import CarbonRecovery
import Foundation
import Yams

/// The `storage` section: endpoint, bucket, credentials (a reference, never the keys),
/// server-side encryption and the storage's CA.
extension Reader {
    mutating func storage(_ node: Node) throws -> StoragePolicy {
        let fields = try mapping(
            node, "storage", allowed: ["endpoint", "bucket", "prefix", "region", "credentials", "encryption", "caFile"], required: ["endpoint", "bucket", "credentials"])
        let endpoint = try string(fields["endpoint"]!, "storage.endpoint")
        guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, url.user == nil, url.password == nil else {
            throw fail(fields["endpoint"], "storage.endpoint", "'\(AuditRedaction.redact(text: endpoint))' is not an http(s)://host:port URL without credentials")
        }
        let bucket = try string(fields["bucket"]!, "storage.bucket")
        try checked(fields["bucket"]!, "storage.bucket") { try KubernetesName.validateSubdomain(bucket, what: "bucket") }
        let reference = try credentials(fields["credentials"]!, "storage.credentials", allowSecret: true)
        var encryption = StorageEncryptionSetting.none
        if let node = fields["encryption"] {
            let settings = try mapping(node, "storage.encryption", allowed: ["type", "kmsKeyID", "customerKeyFile"], required: ["type"])
            let type = try string(settings["type"]!, "storage.encryption.type")
            let expected: Set<String>
            switch type {
            case "none": encryption = .none; expected = []
            case "SSE-S3": encryption = .s3Managed; expected = []
            case "SSE-KMS":
                guard let keyNode = settings["kmsKeyID"] else { throw fail(node, "storage.encryption.kmsKeyID", "SSE-KMS needs kmsKeyID: the key id, ARN or alias/<name>") }
                let keyID = try string(keyNode, "storage.encryption.kmsKeyID")
                try checked(keyNode, "storage.encryption.kmsKeyID") { try StorageEncryption.validateKMSKeyID(keyID) }
                encryption = .kms(keyID: keyID); expected = ["kmsKeyID"]
            case "SSE-C":
                guard let fileNode = settings["customerKeyFile"] else {
                    throw fail(node, "storage.encryption.customerKeyFile", "SSE-C needs customerKeyFile: the path of the file holding the 32-byte key (never the key itself)")
                }
                let path = try string(fileNode, "storage.encryption.customerKeyFile")
                guard path.hasPrefix("/") else { throw fail(fileNode, "storage.encryption.customerKeyFile", "'\(path)' must be an absolute path (it is read inside Velero's pod too)") }
                guard endpoint.lowercased().hasPrefix("https://") else {
                    throw fail(node, "storage.encryption.type", "SSE-C sends the key with every request: the storage endpoint must be https://, not \(endpoint)")
                }
                encryption = .customerKeyFile(path: path); expected = ["customerKeyFile"]
            default:
                throw fail(settings["type"], "storage.encryption.type", "'\(type)' is not one of none, SSE-S3, SSE-KMS, SSE-C")
            }
            if let extra = Set(settings.keys).subtracting(expected.union(["type"])).sorted().first {
                throw fail(settings[extra], "storage.encryption.\(extra)", "\(extra) does not go with \(type)")
            }
        }
        let caFile = try fields["caFile"].map { try string($0, "storage.caFile") }
        if let caFile, !caFile.hasPrefix("/") { throw fail(fields["caFile"], "storage.caFile", "'\(caFile)' must be an absolute path to a PEM file") }
        return StoragePolicy(
            endpoint: endpoint, bucket: bucket, prefix: try fields["prefix"].map { try string($0, "storage.prefix") } ?? "",
            region: try fields["region"].map { try string($0, "storage.region") } ?? "us-east-1", credentials: reference,
            encryption: encryption, caCertificateFile: caFile)
    }

    /// A credentials reference (`environment`, `file` or, where allowed, `secret`): never the keys.
    mutating func credentials(_ node: Node, _ path: String, allowSecret: Bool) throws -> CredentialsReference {
        let credentials = try mapping(node, path, allowed: allowSecret ? ["environment", "file", "secret"] : ["environment", "file"])
        guard credentials.count == 1, let (kind, value) = credentials.first else {
            throw fail(node, path, allowSecret ? "give exactly one of environment, file or secret (never the keys themselves)" : "give exactly one of environment or file (never the keys themselves)")
        }
        let reference: CredentialsReference
        switch kind {
        case "environment":
            let names = try mapping(value, path + ".environment", allowed: ["accessKeyID", "secretAccessKey"], required: ["accessKeyID", "secretAccessKey"])
            let id = try string(names["accessKeyID"]!, path + ".environment.accessKeyID")
            let secret = try string(names["secretAccessKey"]!, path + ".environment.secretAccessKey")
            for (name, node, field) in [(id, names["accessKeyID"]!, "accessKeyID"), (secret, names["secretAccessKey"]!, "secretAccessKey")]
            where name.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) == nil {
                throw fail(node, path + ".environment.\(field)", "name the environment variable that holds the key (e.g. VELERO_S3_ACCESS_KEY), not the key itself")
            }
            reference = .environment(accessKeyID: id, secretAccessKey: secret)
        case "file":
            let fileFields = try mapping(value, path + ".file", allowed: ["path", "profile"], required: ["path"])
            reference = .file(
                path: try string(fileFields["path"]!, path + ".file.path"),
                profile: try fileFields["profile"].map { try string($0, path + ".file.profile") } ?? "default")
        default:
            let secretFields = try mapping(value, path + ".secret", allowed: ["namespace", "name", "key"], required: ["name"])
            let name = try string(secretFields["name"]!, path + ".secret.name")
            try checked(secretFields["name"]!, path + ".secret.name") { try KubernetesName.validateSubdomain(name, what: "secret name") }
            reference = .secret(
                namespace: try secretFields["namespace"].map { try string($0, path + ".secret.namespace") } ?? "velero", name: name,
                key: try secretFields["key"].map { try string($0, path + ".secret.key") } ?? "cloud")
        }
        return reference
    }

}
