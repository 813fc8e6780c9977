// The guide's third disaster, on real parts: a first cluster with the platform (workloads, a
// CRD with custom resources, cluster roles, storage and priority classes, pods) is backed up
// by the stand-in, then lost — its API server and etcd stopped and etcd's data deleted —
// while its storage stays. A second, empty cluster with its own stand-in finds the backups
// through backup sync (its location is read-only), refuses to write to them, and restores
// the platform; every object of the first cluster comes back equal after the normalization
// Velero's restore applies. It runs in a sandbox of its own, since it destroys a cluster.
import CarbonRecovery
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryVelero
import CarbonRecoveryVeleroStandIn
import Foundation
import Testing
import TestSupport

@Suite("Full cluster loss: the platform rebuilt on a second cluster from the first one's backups", .serialized, .timeLimit(.minutes(15)))
struct FullClusterLossTests {
    func client(_ environment: [String: String]) throws -> KubectlClusterClient {
        try KubectlClusterClient(configuration: .init(
            kubeconfig: environment["CARBON_RECOVERY_KUBECONFIG"], cacheDirectory: environment["CARBON_RECOVERY_KUBECTL_CACHE_DIR"], requestTimeout: .seconds(30)))
    }

    func storage(_ environment: [String: String]) throws -> MinIOStorageBackend {
        try MinIOStorageBackend(configuration: .init(
            endpoint: try #require(environment["CARBON_RECOVERY_S3_ENDPOINT"]), bucket: try #require(environment["CARBON_RECOVERY_S3_BUCKET"]),
            credentials: .file(path: try #require(environment["AWS_SHARED_CREDENTIALS_FILE"]))))
    }

    /// Every object a restore could bring back, normalized, by `resource|namespace/name`.
    func export(_ cluster: KubectlClusterClient) async throws -> [String: KubernetesObject] {
        var objects: [String: KubernetesObject] = [:]
        for kind in try await cluster.discover().preferredListable where !VeleroRestoreRules.nonRestorableResources.contains(kind.resource) {
            for object in try await cluster.list(kind, namespace: nil, labelSelector: nil) where VeleroRestoreRules.skipReason(object, resource: kind.resource) == nil {
                objects["\(kind.resource)|\(object.namespace ?? "")/\(object.name ?? "")"] = VeleroRestoreRules.normalizedForComparison(object, resource: kind.resource)
            }
        }
        return objects
    }

    func create(_ cluster: KubectlClusterClient, _ kind: ResourceKind, _ name: String, spec: JSONValue) async throws {
        var object = KubernetesObject(kind: kind, namespace: "velero", name: name)
        object.json["spec"] = spec
        _ = try await cluster.create(object, fieldManager: "carbon-recovery-tests")
    }

    func phase(_ cluster: KubectlClusterClient, _ kind: ResourceKind, _ name: String, in phases: Set<String>, within timeout: Duration = .seconds(90)) async throws -> KubernetesObject {
        try await eventually(within: timeout, "\(kind.kind) \(name) reaching \(phases.sorted())") {
            let object = try await cluster.get(try ObjectReference(kind: kind, namespace: "velero", name: name))
            return phases.contains(object?.status?["phase"]?.stringValue ?? "") ? object : nil
        }
    }

    func tarballPaths(_ storage: MinIOStorageBackend, _ backup: String) async throws -> (version: String, paths: Set<String>) {
        let bytes = try #require(try await storage.get("backups/\(backup)/\(backup).tar.gz"))
        let entries = try Tar.read(try Gzip.decompress(bytes))
        let version = String(decoding: try #require(entries.first { $0.path == "metadata/version" }).data, as: UTF8.self)
        return (version, Set(entries.map(\.path)))
    }

    @Test("back up, lose the first cluster, keep its storage; the second cluster syncs, refuses to write, restores, and every object matches")
    func rebuild() async throws {
        let sandbox = try await PrivateSandbox()
        let first = try await sandbox.environment()
        let source = try client(first)
        let storage = try storage(first)
        let sourceVersion = try await source.discover().version

        // A full backup (every namespace, cluster resources by default) and a namespace backup.
        try await create(source, .veleroBackup, "platform-full", spec: [:])
        try await create(source, .veleroBackup, "data-platform-only", spec: ["includedNamespaces": ["data-platform"]])
        let full = try await phase(source, .veleroBackup, "platform-full", in: ["Completed", "PartiallyFailed", "Failed", "FailedValidation"])
        #expect(full.status?["phase"]?.stringValue == "Completed")
        #expect(VeleroRestoreRules.sourceClusterVersion(of: full) == sourceVersion)
        #expect(full.labels["velero.io/storage-location"] == "default")
        _ = try await phase(source, .veleroBackup, "data-platform-only", in: ["Completed"])

        let (version, paths) = try await tarballPaths(storage, "platform-full")
        #expect(version == "1.1.0\n", "Velero's BackupFormatVersion")
        for expected in [
            "resources/pods/namespaces/data-platform/postgresql-0.json",
            "resources/pods/v1-preferredversion/namespaces/data-platform/postgresql-0.json",
            "resources/pipelines.platform.254carbon.dev/namespaces/data-platform/market-ticks.json",
            "resources/customresourcedefinitions.apiextensions.k8s.io/cluster/pipelines.platform.254carbon.dev.json",
            "resources/clusterroles.rbac.authorization.k8s.io/cluster/254carbon-platform-reader.json",
            "resources/storageclasses.storage.k8s.io/cluster/fast-ssd.json",
            "resources/priorityclasses.scheduling.k8s.io/cluster/platform-critical.json",
            "resources/namespaces/cluster/data-platform.json",
        ] {
            #expect(paths.contains(expected), "\(expected) in the full backup")
        }
        // Only some namespaces, includeClusterResources unset: namespaced objects, their
        // namespaces and the CRDs of their custom resources — no other cluster-scoped object.
        let (_, partial) = try await tarballPaths(storage, "data-platform-only")
        #expect(partial.contains("resources/customresourcedefinitions.apiextensions.k8s.io/cluster/pipelines.platform.254carbon.dev.json"))
        #expect(partial.contains("resources/pipelines.platform.254carbon.dev/namespaces/data-platform/market-ticks.json"))
        #expect(!partial.contains { $0.hasPrefix("resources/clusterroles.") || $0.hasPrefix("resources/storageclasses.") })
        #expect(!partial.contains { $0.contains("/namespaces/monitoring/") })

        let before = try await export(source)
        #expect(before.keys.contains("pipelines.platform.254carbon.dev|data-platform/weather-feeds"))

        // One that expires a minute from now, just before the loss: the new cluster must not collect it.
        try await create(source, .veleroBackup, "short-lived", spec: ["includedNamespaces": ["registry"], "ttl": "1m0s"])
        _ = try await phase(source, .veleroBackup, "short-lived", in: ["Completed"])

        // The first cluster is lost; its storage is kept.
        try await sandbox.script("down", "--keep-storage")
        await #expect(throws: RecoveryError.self) { _ = try await source.list(.namespace, namespace: nil, labelSelector: nil) }
        let storedKeys = try await storage.usage(prefix: "backups/").objects
        #expect(storedKeys >= 16)

        // The second cluster: empty but for Velero, which finds the backups by itself.
        try await sandbox.script("up", "--recovery-cluster", timeout: .seconds(180))
        let second = try await sandbox.environment(recoveryCluster: true)
        let target = try client(second)
        let untouched = Set(try await export(target).keys)
        #expect(!untouched.contains { $0.hasPrefix("namespaces|/data-platform") }, "nothing of the platform on the new cluster")
        let synced = try await phase(target, .veleroBackup, "platform-full", in: ["Completed"], within: .seconds(30))
        #expect(VeleroRestoreRules.sourceClusterVersion(of: synced) == sourceVersion)
        #expect(synced.labels["velero.io/storage-location"] == "default")
        let location = try #require(try await target.get(try ObjectReference(kind: .veleroBackupStorageLocation, namespace: "velero", name: "default")))
        #expect(location.spec?["accessMode"]?.stringValue == "ReadOnly")

        // A read-only location is never written to or deleted from.
        try await create(target, .veleroBackup, "written-by-mistake", spec: [:])
        let refused = try await phase(target, .veleroBackup, "written-by-mistake", in: ["FailedValidation", "Completed"])
        #expect(refused.status?["phase"]?.stringValue == "FailedValidation")
        #expect(refused.status?["validationErrors"]?.arrayValue?.first?.stringValue?.contains("read-only mode") == true)
        try await create(target, .veleroDeleteBackupRequest, "delete-by-mistake", spec: ["backupName": "platform-full"])
        let deletion = try await phase(target, .veleroDeleteBackupRequest, "delete-by-mistake", in: ["Processed"])
        #expect(deletion.status?["errors"]?.arrayValue?.first?.stringValue?.contains("read-only mode") == true)
        #expect(try await storage.usage(prefix: "backups/").objects == storedKeys, "nothing written or deleted under backups/")
        #expect(try await target.get(try ObjectReference(kind: .veleroBackup, namespace: "velero", name: "platform-full")) != nil)
        // Expired, on a read-only location: labelled instead of collected, its data kept.
        let expired = try await eventually(within: .seconds(150), "the expired backup labelled velero.io/gc-failure") {
            let backup = try await target.get(try ObjectReference(kind: .veleroBackup, namespace: "velero", name: "short-lived"))
            return backup?.labels["velero.io/gc-failure"] == "BSLReadOnly" ? backup : nil
        }
        #expect(expired.status?["phase"]?.stringValue == "Completed")
        #expect(try await target.list(.veleroDeleteBackupRequest, namespace: "velero", labelSelector: nil).allSatisfy { $0.spec?["backupName"]?.stringValue != "short-lived" })
        #expect(try await storage.head("backups/short-lived/velero-backup.json") != nil)
        #expect(try await storage.usage(prefix: "backups/").objects == storedKeys)

        // The restore: everything, in Velero's order, CRDs first.
        try await create(target, .veleroRestore, "rebuild", spec: ["backupName": "platform-full"])
        let restore = try await phase(target, .veleroRestore, "rebuild", in: ["Completed", "PartiallyFailed", "Failed", "FailedValidation"], within: .seconds(300))
        #expect(restore.status?["phase"]?.stringValue == "Completed", "\(restore.status ?? .null)")
        let milliseconds = restore.json[path: ["metadata", "annotations", VeleroStandIn.restoreMillisecondsAnnotation]]?.stringValue.flatMap(Int.init)
        #expect((milliseconds ?? 0) > 0)

        let after = try await export(target)
        var missing: [String] = [], different: [String] = []
        for (key, object) in before {
            guard let restored = after[key] else {
                missing.append(key)
                continue
            }
            // What the new cluster had before the restore (its own control plane's objects,
            // Velero's installation) stays as it was, as Velero leaves existing objects.
            if !untouched.contains(key) && restored != object { different.append(key) }
        }
        #expect(missing.isEmpty, "not restored: \(missing.sorted())")
        #expect(different.isEmpty, "restored but different: \(different.sorted())")
        #expect(before.count > 150, "the comparison covered \(before.count) objects")
        try await sandbox.script("down")
    }
}
