import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryMinIO
import Foundation

/// The policy's `audit.anchors` as an ``AuditAnchors`` over the S3 API (the MinIO backend).
enum AuditAnchorStorage {
    /// - Throws: ``RecoveryError/Code/invalidInput`` when the credentials cannot be found.
    static func anchors(_ policy: AuditAnchorPolicy, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AuditAnchors {
        let credentials: S3CredentialsSource
        switch policy.credentials {
        case .environment(let idName, let secretName):
            guard let id = environment[idName], !id.isEmpty, let secret = environment[secretName], !secret.isEmpty else {
                throw RecoveryError.invalidInput("audit.anchors.credentials: the environment variables \(idName) and \(secretName) are not both set")
            }
            credentials = .fixed(S3Credentials(accessKeyID: id, secretAccessKey: secret))
        case .file(let path, let profile):
            credentials = .file(path: path, profile: profile)
        case .secret:
            throw RecoveryError.invalidInput("audit.anchors.credentials: a Kubernetes secret is not read here; use environment or file")
        }
        let backend = try MinIOStorageBackend(configuration: .init(endpoint: policy.endpoint, bucket: policy.bucket, region: policy.region, credentials: credentials))
        return AuditAnchors(storage: backend, prefix: policy.prefix, retention: policy.retention)
    }
}
