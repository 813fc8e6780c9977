import CarbonRecovery
import CarbonRecoveryVelero
import Foundation
import Testing

/// The preflight of a whole-cluster recovery: a clean case, then each refusal on its own, with the fix.
@Suite("Recovery preflight: each problem is one error with its fix; a clean backup and target pass")
struct RecoveryPreflightTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let v120 = KubernetesVersion(gitVersion: "v1.20.2", major: 1, minor: 20)

    func object(_ apiVersion: String, _ kind: String, _ namespace: String?, _ name: String, spec: JSONValue? = nil) -> KubernetesObject {
        var json: [String: JSONValue] = ["apiVersion": .string(apiVersion), "kind": .string(kind), "metadata": ["name": .string(name)]]
        if let namespace { json["metadata"]?["namespace"] = .string(namespace) }
        if let spec { json["spec"] = spec }
        return KubernetesObject(.object(json))
    }

    /// A platform backup: a namespace with a deployment, a claim on `fast-ssd`, a custom
    /// resource and its CRD, the storage class itself, and a Velero Backup object (not restorable).
    func backupObjects(crd: Bool = true, storageClass: Bool = true) -> [BackedUpObject] {
        var objects = [
            BackedUpObject(resource: "namespaces", object: object("v1", "Namespace", nil, "data-platform")),
            BackedUpObject(resource: "deployments.apps", object: object("apps/v1", "Deployment", "data-platform", "ingest-api")),
            BackedUpObject(resource: "persistentvolumeclaims", object: object("v1", "PersistentVolumeClaim", "data-platform", "cache", spec: ["storageClassName": "fast-ssd"])),
            BackedUpObject(resource: "pipelines.platform.example.com", object: object("platform.example.com/v1", "Pipeline", "data-platform", "ticks")),
            BackedUpObject(resource: "backups.velero.io", object: object("velero.io/v1", "Backup", "velero", "nightly")),
        ]
        if crd {
            objects.append(BackedUpObject(resource: "customresourcedefinitions.apiextensions.k8s.io", object: object(
                "apiextensions.k8s.io/v1", "CustomResourceDefinition", nil, "pipelines.platform.example.com",
                spec: ["group": "platform.example.com", "names": ["kind": "Pipeline", "plural": "pipelines"], "versions": [["name": "v1", "served": true]]])))
        }
        if storageClass { objects.append(BackedUpObject(resource: "storageclasses.storage.k8s.io", object: object("storage.k8s.io/v1", "StorageClass", nil, "fast-ssd"))) }
        return objects
    }

    func target(version: KubernetesVersion = v120) -> ClusterDiscovery {
        let kinds = [
            ResourceKind.namespace, .deployment, .configMap,
            ResourceKind(apiVersion: "v1", kind: "PersistentVolumeClaim", resource: "persistentvolumeclaims"),
            ResourceKind(apiVersion: "storage.k8s.io/v1", kind: "StorageClass", resource: "storageclasses.storage.k8s.io", isNamespaced: false),
            ResourceKind(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", resource: "customresourcedefinitions.apiextensions.k8s.io", isNamespaced: false),
            ResourceKind(apiVersion: "velero.io/v1", kind: "Backup", resource: "backups.velero.io"),
        ]
        return ClusterDiscovery(version: version, resources: kinds.map { .init(kind: $0, verbs: ["get", "list", "create"]) }, preferredVersions: [:])
    }

    func context(
        namespaces: Set<String> = ["default", "kube-system", "kube-public", "kube-node-lease", "velero"], classes: Set<String> = [],
        classMappings: [String: String] = [:], namespaceMappings: [String: String] = [:], readOnly: Bool? = true, maximumDataLoss: TimeInterval? = nil
    ) -> RecoveryPreflight.Context {
        let engine = VeleroBackupEngine(cluster: NeverCalledCluster())
        return RecoveryPreflight.Context(
            targetNamespaces: namespaces, targetStorageClasses: classes, installedNamespaces: ["default", "kube-system", "kube-public", "kube-node-lease", "velero"],
            namespaceMappings: namespaceMappings, storageClassMappings: classMappings, locationIsReadOnly: readOnly,
            maximumDataLoss: maximumDataLoss, now: Self.now, isRestorable: { engine.restores($0) })
    }

    func backup(phase: BackupPhase = .completed, source: KubernetesVersion? = v120, completedAgo: TimeInterval = 600) -> BackupStatus {
        BackupStatus(name: "platform-full", phase: phase, completionTimestamp: Self.now.addingTimeInterval(-completedAgo), sourceClusterVersion: source, includesClusterResources: true)
    }

    func errors(_ findings: [RecoveryPreflight.Finding]) -> [RecoveryPreflight.Finding] { findings.filter { $0.severity == .error } }

    @Test("a complete backup onto an empty cluster of the same version, location read-only: no finding at all")
    func clean() {
        let findings = RecoveryPreflight.check(backup: backup(), objects: backupObjects(), target: target(), context: context())
        #expect(findings.isEmpty, "\(findings)")
    }

    @Test("a custom resource whose CRD is neither served nor in the backup")
    func missingCRD() throws {
        let findings = errors(RecoveryPreflight.check(backup: backup(), objects: backupObjects(crd: false), target: target(), context: context()))
        let finding = try #require(findings.first)
        #expect(findings.count == 1 && finding.check == .apiVersions)
        #expect(finding.message.contains("platform.example.com/v1 Pipeline") && finding.message.contains("Pipeline data-platform/ticks"))
        #expect(finding.fix.contains("install the CRD"))
    }

    @Test("a claim's storage class missing from target and backup; a mapping to an existing class fixes it, one to a missing class does not")
    func missingStorageClass() throws {
        let findings = errors(RecoveryPreflight.check(backup: backup(), objects: backupObjects(storageClass: false), target: target(), context: context(classes: ["standard"])))
        let finding = try #require(findings.first)
        #expect(findings.count == 1 && finding.check == .storageClasses)
        #expect(finding.message.contains("fast-ssd") && finding.message.contains("PersistentVolumeClaim data-platform/cache"))
        #expect(finding.fix.contains("--storage-class-mappings fast-ssd:standard"))
        #expect(errors(RecoveryPreflight.check(backup: backup(), objects: backupObjects(storageClass: false), target: target(), context: context(classes: ["standard"], classMappings: ["fast-ssd": "standard"]))).isEmpty)
        let wrong = errors(RecoveryPreflight.check(backup: backup(), objects: backupObjects(storageClass: false), target: target(), context: context(classes: ["standard"], classMappings: ["fast-ssd": "premium"])))
        #expect(wrong.count == 1 && wrong[0].message.contains("premium (mapped from fast-ssd)"))
    }

    @Test("a namespace that exists on the target is occupied; mapping it elsewhere fixes it; the target's own namespaces are not")
    func occupiedNamespace() throws {
        let occupied: Set<String> = ["default", "kube-system", "velero", "data-platform"]
        let findings = errors(RecoveryPreflight.check(backup: backup(), objects: backupObjects(), target: target(), context: context(namespaces: occupied)))
        let finding = try #require(findings.first)
        #expect(findings.count == 1 && finding.check == .namespaces && finding.message.contains("namespace data-platform already exists"))
        #expect(finding.fix.contains("--namespace-mappings data-platform:data-platform-recovered"))
        #expect(errors(RecoveryPreflight.check(backup: backup(), objects: backupObjects(), target: target(), context: context(namespaces: occupied, namespaceMappings: ["data-platform": "dp-restored"]))).isEmpty)
    }

    @Test("a backup older than the accepted data loss; exactly at the limit passes")
    func tooOld() throws {
        let findings = errors(RecoveryPreflight.check(backup: backup(completedAgo: 7200), objects: backupObjects(), target: target(), context: context(maximumDataLoss: 3600)))
        #expect(findings.count == 1 && findings[0].check == .backup && findings[0].message.contains("2 h 0 min ago") && findings[0].message.contains("1 h 0 min"))
        #expect(errors(RecoveryPreflight.check(backup: backup(completedAgo: 3600), objects: backupObjects(), target: target(), context: context(maximumDataLoss: 3600))).isEmpty)
    }

    @Test("a backup taken on a newer Kubernetes than the target's; an older source passes; none recorded is a warning")
    func newerSource() throws {
        let newer = try KubernetesVersion(gitVersion: "v1.27.3", major: "1", minor: "27+")
        let findings = errors(RecoveryPreflight.check(backup: backup(source: newer), objects: backupObjects(), target: target(), context: context()))
        #expect(findings.count == 1 && findings[0].check == .kubernetesVersion && findings[0].message.contains("v1.27.3") && findings[0].message.contains("older"))
        let older = KubernetesVersion(gitVersion: "v1.19.0", major: 1, minor: 19)
        #expect(RecoveryPreflight.check(backup: backup(source: older), objects: backupObjects(), target: target(), context: context()).isEmpty)
        let unknown = RecoveryPreflight.check(backup: backup(source: nil), objects: backupObjects(), target: target(), context: context())
        #expect(unknown.count == 1 && unknown[0].severity == .warning)
    }

    @Test("a read-write location is an error with the patch that fixes it; an unknown one a warning")
    func readWriteLocation() {
        let findings = RecoveryPreflight.check(backup: backup(), objects: backupObjects(), target: target(), context: context(readOnly: false))
        #expect(findings.count == 1 && findings[0].severity == .error && findings[0].fix.contains("\"accessMode\":\"ReadOnly\""))
        let unknown = RecoveryPreflight.check(backup: backup(), objects: backupObjects(), target: target(), context: context(readOnly: nil))
        #expect(unknown.count == 1 && unknown[0].severity == .warning)
    }

    @Test("a backup that is not Completed is refused, errors before warnings")
    func notCompleted() {
        let findings = RecoveryPreflight.check(backup: backup(phase: .partiallyFailed, source: nil), objects: backupObjects(), target: target(), context: context())
        #expect(findings.map(\.severity) == [.error, .warning])
        #expect(findings[0].message.contains("PartiallyFailed"))
    }
}

/// A cluster no test here reaches: the engine is built only for its `restores(_:)` rule.
struct NeverCalledCluster: ClusterClient {
    func fail() -> RecoveryError { RecoveryError(.internalError, "the preflight must not touch the cluster") }
    func apply(_ object: KubernetesObject, fieldManager: String) async throws -> KubernetesObject { throw fail() }
    func get(_ reference: ObjectReference) async throws -> KubernetesObject? { throw fail() }
    func list(_ kind: ResourceKind, namespace: String?, labelSelector: LabelSelector?) async throws -> [KubernetesObject] { throw fail() }
    func delete(_ reference: ObjectReference, ignoreNotFound: Bool) async throws { throw fail() }
    func watch(_ kind: ResourceKind, namespace: String?, labelSelector: LabelSelector?) -> AsyncThrowingStream<WatchEvent, any Error> {
        AsyncThrowingStream { $0.finish(throwing: fail()) }
    }
    func identity() async throws -> ClusterIdentity { throw fail() }
}
