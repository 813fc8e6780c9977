import CarbonRecovery
import CarbonRecoveryTestKit
import CarbonRecoveryVelero
import Foundation
import Testing

/// The end of a whole-cluster recovery: each expected object against the target, and the
/// request's own checks — each bad field refused before anything is recorded.
@Suite("Recovery verification and requests")
struct RecoveryVerificationTests {
    func object(_ kind: String, _ namespace: String?, _ name: String, spec: JSONValue = [:], uid: String = "u1") -> KubernetesObject {
        var json: [String: JSONValue] = [
            "apiVersion": "v1", "kind": .string(kind), "metadata": ["name": .string(name), "uid": .string(uid), "resourceVersion": "7"], "spec": spec,
        ]
        if let namespace { json["metadata"]?["namespace"] = .string(namespace) }
        return KubernetesObject(.object(json))
    }

    let engine = VeleroBackupEngine(cluster: NeverCalledCluster())

    @Test("equal after the engine's normalization matches; missing, different and pre-existing are told apart")
    func compare() {
        let same = BackedUpObject(resource: "configmaps", object: object("ConfigMap", "a", "same", spec: ["x": 1]))
        let changed = BackedUpObject(resource: "configmaps", object: object("ConfigMap", "a", "changed", spec: ["x": 1, "y": ["z": 1]]))
        let gone = BackedUpObject(resource: "configmaps", object: object("ConfigMap", "a", "gone"))
        let kept = BackedUpObject(resource: "configmaps", object: object("ConfigMap", "default", "kept", spec: ["x": 1]))
        let found: [String: [String: KubernetesObject]] = [
            "configmaps": [
                "a/same": object("ConfigMap", "a", "same", spec: ["x": 1], uid: "other"),   // a new uid: reset by the restore
                "a/changed": object("ConfigMap", "a", "changed", spec: ["x": 1, "y": ["z": 2]]),
                "default/kept": object("ConfigMap", "default", "kept", spec: ["x": 2]),
            ],
        ]
        let result = RecoveryVerification.compare(
            expected: [same, changed, gone, kept], found: found, preExisting: ["configmaps|default/kept"],
            comparable: { engine.comparableForm(of: $0, resource: $1) })
        #expect(result.expected == 4 && result.matched == 1)
        #expect(result.missing.map(\.name) == ["gone"])
        #expect(result.different.map(\.description) == ["ConfigMap a/changed (spec.y.z)"])
        #expect(result.keptAsFound.map(\.name) == ["kept"])
        #expect(!result.passed)
        // A resource the target does not serve: all its objects missing.
        let unserved = RecoveryVerification.compare(expected: [same], found: [:], preExisting: [], comparable: { object, _ in object })
        #expect(unserved.missing.count == 1 && unserved.matched == 0)
    }

    @Test("the first differing field is named, arrays by index, keys in byte order")
    func firstDifference() {
        #expect(RecoveryVerification.firstDifference(["a": 1], ["a": 1]) == nil)
        #expect(RecoveryVerification.firstDifference(["a": 1, "b": 2], ["a": 1, "b": 3]) == "b")
        #expect(RecoveryVerification.firstDifference(["a": [1, 2]], ["a": [1, 3]]) == "a[1]")
        #expect(RecoveryVerification.firstDifference(["a": [1]], ["a": [1, 2]]) == "a[1]")
        #expect(RecoveryVerification.firstDifference(["B": 1, "a": 1], ["a": 1]) == "B")
        #expect(RecoveryVerification.firstDifference(1, "1") == "(object)")
    }

    @Test("the expected form follows the namespace and storage class mappings")
    func expectedForm() {
        let claim = BackedUpObject(resource: "persistentvolumeclaims", object: object("PersistentVolumeClaim", "a", "c", spec: ["storageClassName": "fast-ssd"]))
        let mapped = RecoveryVerification.expectedForm(of: claim, namespaceMappings: ["a": "b"], storageClassMappings: ["fast-ssd": "standard"])
        #expect(mapped.object.namespace == "b" && mapped.object.spec?["storageClassName"] == "standard")
        let namespace = BackedUpObject(resource: "namespaces", object: object("Namespace", nil, "a"))
        #expect(RecoveryVerification.expectedForm(of: namespace, namespaceMappings: ["a": "b"], storageClassMappings: [:]).object.name == "b")
        var set = object("StatefulSet", "a", "db", spec: ["volumeClaimTemplates": [["spec": ["storageClassName": "fast-ssd"]], ["spec": ["storageClassName": "other"]]]])
        RecoveryVerification.renamingStorageClasses(&set, resource: "statefulsets.apps", mappings: ["fast-ssd": "standard"])
        #expect(set.json[path: ["spec", "volumeClaimTemplates"]] == [["spec": ["storageClassName": "standard"]], ["spec": ["storageClassName": "other"]]])
        var configMap = object("ConfigMap", "a", "x", spec: ["storageClassName": "fast-ssd"])
        RecoveryVerification.renamingStorageClasses(&configMap, resource: "configmaps", mappings: ["fast-ssd": "standard"])
        #expect(configMap.spec?["storageClassName"] == "fast-ssd", "only claims, volumes and stateful sets")
    }

    @Test("a bad request is refused before anything is recorded", arguments: [
        ClusterRecoveryRequest(name: "Bad_Name"),
        ClusterRecoveryRequest(name: String(repeating: "a", count: 51)),
        ClusterRecoveryRequest(name: "r", namespaces: ["Not A Namespace"]),
        ClusterRecoveryRequest(name: "r", clusterSchedule: "weekly full"),
        ClusterRecoveryRequest(name: "r", maximumDataLoss: .seconds(-1)),
        ClusterRecoveryRequest(name: "r", recoveryTimeObjective: .zero),
        ClusterRecoveryRequest(name: "r", namespaceMappings: ["a": "c", "b": "c"]),
        ClusterRecoveryRequest(name: "r", storageClassMappings: ["fast ssd": "standard"]),
        ClusterRecoveryRequest(name: "r", objectives: [RecoveryObjective(namespaceClass: "c", namespaces: ["a"], rto: .seconds(0), rpo: .hours(1))]),
    ])
    func badRequest(request: ClusterRecoveryRequest) async throws {
        let trail = InMemoryAuditTrail()
        let coordinator = RecoveryCoordinator(engine: InMemoryBackupEngine(), storage: InMemoryStorageBackend(), audit: trail, cluster: InMemoryClusterClient())
        let error = await #expect(throws: RecoveryError.self) { try await coordinator.recoverCluster(request) }
        #expect(error?.code == .invalidInput)
        #expect(await trail.allEntries.isEmpty)
    }

    @Test("without a cluster client, or with an engine that cannot read its backups, it says so")
    func unsupported() async throws {
        let trail = InMemoryAuditTrail()
        let noCluster = RecoveryCoordinator(engine: InMemoryBackupEngine(), storage: InMemoryStorageBackend(), audit: trail)
        let error = await #expect(throws: RecoveryError.self) { try await noCluster.recoverCluster(ClusterRecoveryRequest(name: "r")) }
        #expect(error?.code == .unsupported && error?.message.contains("ClusterClient") == true)
        #expect(await trail.allEntries.isEmpty)
        // An engine without backupObjects: the attempt and a failure are recorded, nothing else happens.
        let engine = InMemoryBackupEngine()
        _ = try await engine.startBackup(BackupRequest(name: "full", includeClusterResources: true))
        let coordinator = RecoveryCoordinator(engine: engine, storage: InMemoryStorageBackend(), audit: trail, cluster: InMemoryClusterClient())
        let unreadable = await #expect(throws: RecoveryError.self) {
            try await coordinator.recoverCluster(ClusterRecoveryRequest(name: "r", clusterBackup: "full", planOnly: true))
        }
        #expect(unreadable?.code == .unsupported)
        let outcomes = await trail.allEntries.filter { $0.kind == .outcome && $0.operation == "cluster.recover" }
        #expect(outcomes.map(\.outcome) == [.failure])
    }
}
