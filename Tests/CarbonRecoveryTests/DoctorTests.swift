import CarbonRecovery
import CarbonRecoveryTestKit
import Testing

@Suite("RecoveryDoctor logic")
struct DoctorTests {
    let crd = ResourceKind(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", resource: "customresourcedefinitions.apiextensions.k8s.io", isNamespaced: false)

    func installedCluster(bslPhase: String) async throws -> InMemoryClusterClient {
        let cluster = InMemoryClusterClient()
        for name in ["default", "velero"] { _ = try await cluster.apply(KubernetesObject(kind: .namespace, namespace: nil, name: name), fieldManager: "t") }
        for name in RecoveryDoctor.requiredCRDs { _ = try await cluster.apply(KubernetesObject(kind: crd, namespace: nil, name: name), fieldManager: "t") }
        _ = try await cluster.apply(KubernetesObject(kind: .deployment, namespace: "velero", name: "velero", body: [
            "spec": ["replicas": 1, "template": ["spec": ["containers": [["name": "velero", "image": "velero/velero:v1.18.1"]]]]],
            "status": ["readyReplicas": 1],
        ]), fieldManager: "t")
        _ = try await cluster.apply(KubernetesObject(kind: .veleroBackupStorageLocation, namespace: "velero", name: "default", body: [
            "spec": ["objectStorage": ["bucket": "254carbon-backups"]], "status": ["phase": .string(bslPhase), "lastValidationTime": "2026-11-25T06:00:00Z"],
        ]), fieldManager: "t")
        return cluster
    }

    @Test("an installed Velero with an available location passes every check")
    func allPass() async throws {
        let checks = await RecoveryDoctor(cluster: try await installedCluster(bslPhase: "Available"), storage: InMemoryStorageBackend()).run()
        #expect(checks.map(\.id) == ["cluster.reachable", "velero.namespace", "velero.crds", "velero.deployment", "velero.storage-locations", "storage.access"])
        #expect(checks.allSatisfy { $0.status == .pass }, "\(checks.filter { $0.status != .pass }.map(\.detail))")
        #expect(checks.first { $0.id == "velero.storage-locations" }?.detail.contains("254carbon-backups: Available") == true)
    }

    @Test("an unavailable location and unreachable storage fail with a fix each")
    func failures() async throws {
        let storage = InMemoryStorageBackend()
        await storage.setUnreachable(true)
        let checks = await RecoveryDoctor(cluster: try await installedCluster(bslPhase: "Unavailable"), storage: storage).run()
        let failed = checks.filter { $0.status == .fail }
        #expect(failed.map(\.id) == ["velero.storage-locations", "storage.access"])
        #expect(failed.allSatisfy { $0.fix != nil })
    }

    @Test("an empty cluster fails the Velero checks and names what is missing")
    func emptyCluster() async throws {
        let cluster = InMemoryClusterClient()
        _ = try await cluster.apply(KubernetesObject(kind: .namespace, namespace: nil, name: "default"), fieldManager: "t")
        let checks = await RecoveryDoctor(cluster: cluster, storage: InMemoryStorageBackend()).run()
        #expect(checks.filter { $0.status == .fail }.map(\.id) == ["velero.namespace", "velero.crds", "velero.deployment", "velero.storage-locations"])
        #expect(checks.first { $0.id == "velero.crds" }?.detail.contains("backups.velero.io") == true)
    }
}
