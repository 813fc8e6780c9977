// The cluster client and storage backend of a sandbox's `env` (a PrivateSandbox's, or the
// recovery cluster's), shared by the tests that start a sandbox of their own.
import CarbonRecovery
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import Testing

/// The suites that start a sandbox of their own (an etcd, API servers, S3 servers and a
/// stand-in each, beside the shared one), one at a time: three at once overload two cores
/// until kubectl calls time out.
@Suite("Tests with a sandbox of their own, one at a time", .serialized)
enum PrivateSandboxTests {}

/// A kubectl client for the kubeconfig and cache an environment names (`kubeconfig` overrides).
func client(_ environment: [String: String], kubeconfig: String? = nil) throws -> KubectlClusterClient {
    try KubectlClusterClient(configuration: .init(
        kubeconfig: kubeconfig ?? environment["CARBON_RECOVERY_KUBECONFIG"], cacheDirectory: environment["CARBON_RECOVERY_KUBECTL_CACHE_DIR"],
        requestTimeout: testKubectlTimeout))
}

/// The S3 backend an environment names, signing with its credentials file (read per request).
func storage(_ environment: [String: String]) throws -> MinIOStorageBackend {
    try MinIOStorageBackend(configuration: .init(
        endpoint: try #require(environment["CARBON_RECOVERY_S3_ENDPOINT"]), bucket: try #require(environment["CARBON_RECOVERY_S3_BUCKET"]),
        credentials: .file(path: try #require(environment["AWS_SHARED_CREDENTIALS_FILE"]))))
}
