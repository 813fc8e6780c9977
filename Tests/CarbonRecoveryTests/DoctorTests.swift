import CarbonRecovery
import CarbonRecoveryTestKit
import CarbonRecoveryVelero
import Testing

@Suite("RecoveryDoctor logic")
struct DoctorTests {
    let crd = ResourceKind(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", resource: "customresourcedefinitions.apiextensions.k8s.io", isNamespaced: false)

    func installedCluster(bslPhase: String) async throws -> InMemoryClusterClient {
        let cluster = InMemoryClusterClient()
        for name in ["default", "velero"] { _ = try await cluster.apply(KubernetesObject(kind: .namespace, namespace: nil, name: name), fieldManager: "t") }
        for name in VeleroBackupEngine.requiredCRDs { _ = try await cluster.apply(KubernetesObject(kind: crd, namespace: nil, name: name), fieldManager: "t") }
        _ = try await cluster.apply(KubernetesObject(kind: .deployment, namespace: "velero", name: "velero", body: [
            "spec": ["replicas": 1, "template": ["spec": ["containers": [["name": "velero", "image": "velero/velero:v1.18.1"]]]]],
            "status": ["readyReplicas": 1],
        ]), fieldManager: "t")
        _ = try await cluster.apply(KubernetesObject(kind: .veleroBackupStorageLocation, namespace: "velero", name: "default", body: [
            "spec": [
                "objectStorage": ["bucket": "254carbon-backups"],
                "config": ["s3Url": "https://minio.storage.svc:9000", "serverSideEncryption": "AES256"],
            ],
            "status": ["phase": .string(bslPhase), "lastValidationTime": "2026-11-25T06:00:00Z"],
        ]), fieldManager: "t")
        return cluster
    }

    func doctor(_ cluster: InMemoryClusterClient, _ storage: InMemoryStorageBackend) -> RecoveryDoctor {
        RecoveryDoctor(cluster: cluster, storage: storage, providers: [VeleroBackupEngine(cluster: cluster)])
    }

    @Test("an installed Velero with an available location passes every check")
    func allPass() async throws {
        let checks = await doctor(try await installedCluster(bslPhase: "Available"), InMemoryStorageBackend()).run()
        #expect(checks.map(\.id) == ["cluster.reachable", "velero.namespace", "velero.crds", "velero.deployment", "velero.storage-locations", "velero.storage-encryption", "storage.access"])
        #expect(checks.allSatisfy { $0.status == .pass }, "\(checks.filter { $0.status != .pass }.map(\.detail))")
        #expect(checks.first { $0.id == "velero.storage-locations" }?.detail.contains("254carbon-backups: Available") == true)
    }

    @Test("storage encryption: plain HTTP, skipped verification and no SSE warn, each named; settings the AWS plugin refuses fail")
    func storageEncryption() async throws {
        let cluster = try await installedCluster(bslPhase: "Available")
        let cases: [([String: JSONValue], DoctorCheck.Status, [String])] = [
            (["s3Url": "http://minio:9000"], .warn, ["default reaches http://minio:9000 over plain HTTP", "default asks for no server-side encryption"]),
            (["s3Url": "https://minio:9000", "insecureSkipTLSVerify": "true", "kmsKeyId": "alias/k"], .warn, ["default skips certificate verification"]),
            (["s3Url": "https://minio:9000", "customerKeyEncryptionFile": "/keys/sse-c", "kmsKeyId": "alias/k"], .fail, ["cannot be combined"]),
            (["s3Url": "https://minio:9000", "serverSideEncryption": "AES128"], .fail, ["neither AES256 (SSE-S3) nor aws:kms"]),
            (["s3Url": "https://minio:9000", "customerKeyEncryptionFile": "/keys/sse-c"], .pass, ["default: TLS, SSE-C (key file /keys/sse-c)"]),
        ]
        for (config, status, phrases) in cases {
            _ = try await cluster.apply(KubernetesObject(kind: .veleroBackupStorageLocation, namespace: "velero", name: "default", body: [
                "spec": ["objectStorage": ["bucket": "254carbon-backups"], "config": .object(config)], "status": ["phase": "Available"],
            ]), fieldManager: "t")
            let check = try #require(await doctor(cluster, InMemoryStorageBackend()).run().first { $0.id == "velero.storage-encryption" })
            #expect(check.status == status, "\(config): \(check.detail)")
            for phrase in phrases { #expect(check.detail.contains(phrase), "\(check.detail)") }
            #expect((check.fix != nil) == (status != .pass))
        }
    }

    @Test("an unavailable location and unreachable storage fail with a fix each")
    func failures() async throws {
        let storage = InMemoryStorageBackend()
        await storage.setUnreachable(true)
        let checks = await doctor(try await installedCluster(bslPhase: "Unavailable"), storage).run()
        let failed = checks.filter { $0.status == .fail }
        #expect(failed.map(\.id) == ["velero.storage-locations", "storage.access"])
        #expect(failed.allSatisfy { $0.fix != nil })
    }

    @Test("an empty cluster fails the Velero checks and names what is missing")
    func emptyCluster() async throws {
        let cluster = InMemoryClusterClient()
        _ = try await cluster.apply(KubernetesObject(kind: .namespace, namespace: nil, name: "default"), fieldManager: "t")
        let checks = await doctor(cluster, InMemoryStorageBackend()).run()
        #expect(checks.filter { $0.status == .fail }.map(\.id) == ["velero.namespace", "velero.crds", "velero.deployment", "velero.storage-locations"])
        #expect(checks.first { $0.id == "velero.crds" }?.detail.contains("backups.velero.io") == true)
    }

    @Test("an unreachable cluster skips every provider's checks without running them; no provider, no engine checks")
    func unreachableSkipsProviders() async throws {
        struct Unreachable: ClusterClient {
            func apply(_ object: KubernetesObject, fieldManager: String) async throws -> KubernetesObject { throw RecoveryError(.unreachable, "down") }
            func get(_ reference: ObjectReference) async throws -> KubernetesObject? { throw RecoveryError(.unreachable, "down") }
            func list(_ kind: ResourceKind, namespace: String?, labelSelector: LabelSelector?) async throws -> [KubernetesObject] { throw RecoveryError(.unreachable, "down") }
            func delete(_ reference: ObjectReference, ignoreNotFound: Bool) async throws { throw RecoveryError(.unreachable, "down") }
            func watch(_ kind: ResourceKind, namespace: String?, labelSelector: LabelSelector?) -> AsyncThrowingStream<WatchEvent, any Error> {
                AsyncThrowingStream { $0.finish(throwing: RecoveryError(.unreachable, "down")) }
            }
            func identity() async throws -> ClusterIdentity { throw RecoveryError(.unreachable, "connection refused") }
        }
        struct Counting: DoctorCheckProvider {
            let runs = Counter()
            let doctorCheckTitles = [(id: "team.quota", title: "Quota left")]
            func doctorChecks() async -> [DoctorCheck] {
                await runs.increment()
                return [DoctorCheck(id: "team.quota", title: "Quota left", status: .pass, detail: "ok")]
            }
        }
        actor Counter {
            var value = 0
            func increment() { value += 1 }
        }
        let provider = Counting()
        let checks = await RecoveryDoctor(cluster: Unreachable(), storage: InMemoryStorageBackend(), providers: [VeleroBackupEngine(cluster: Unreachable()), provider]).run()
        #expect(checks.first?.status == .fail)
        #expect(checks.filter { $0.status == .skip }.map(\.id) == ["velero.namespace", "velero.crds", "velero.deployment", "velero.storage-locations", "velero.storage-encryption", "team.quota"])
        #expect(await provider.runs.value == 0)
        let bare = await RecoveryDoctor(cluster: try await installedCluster(bslPhase: "Available"), storage: InMemoryStorageBackend()).run()
        #expect(bare.map(\.id) == ["cluster.reachable", "storage.access"])
    }
}
