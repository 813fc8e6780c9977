import CarbonRecovery
import Foundation

/// What a whole-cluster recovery asks of Velero beyond backups and restores: which objects its
/// restore brings back and in what form, whether a location is read-only, and its
/// `change-storage-class` restore item action.
extension VeleroBackupEngine {
    /// The name of the ConfigMap that configures Velero's `change-storage-class` restore item
    /// action (Velero's docs: "Changing PV/PVC Storage Classes").
    public static let storageClassMappingsConfigMap = "change-storage-class-config"
    /// The label that tells Velero which restore item action a plugin ConfigMap configures.
    public static let changeStorageClassLabel = "velero.io/change-storage-class"

    /// Velero's rules: not a kind it never restores, and not a completed pod or job, a mirror
    /// pod or an API service the aggregator manages (``VeleroRestoreRules/skipReason(_:resource:)``).
    public func restores(_ object: BackedUpObject) -> Bool {
        restores(object.item) && !VeleroRestoreRules.nonRestorableResources.contains(object.resource)
            && VeleroRestoreRules.skipReason(object.object, resource: object.resource) == nil
    }

    /// ``VeleroRestoreRules/normalizedForComparison(_:resource:)``.
    public func comparableForm(of object: KubernetesObject, resource: String) -> KubernetesObject {
        VeleroRestoreRules.normalizedForComparison(object, resource: resource)
    }

    /// Whether the `BackupStorageLocation` of this name has `accessMode: ReadOnly`; `nil` when it does not exist.
    public func storageLocationIsReadOnly(named name: String) async throws -> Bool? {
        try KubernetesName.validateSubdomain(name, what: "storage location name")
        guard let location = try await cluster.get(try ObjectReference(kind: .veleroBackupStorageLocation, namespace: configuration.namespace, name: name)) else {
            return nil
        }
        return location.spec?["accessMode"]?.stringValue == "ReadOnly"
    }

    /// Writes the `change-storage-class-config` ConfigMap in Velero's namespace (labelled
    /// `velero.io/plugin-config` and `velero.io/change-storage-class: RestoreItemAction`), or
    /// deletes it for an empty map.
    public func setStorageClassMappings(_ mappings: [String: String]) async throws {
        for (from, to) in mappings.sorted(by: { $0.key < $1.key }) {
            try KubernetesName.validateSubdomain(from, what: "storage class mapping source")
            try KubernetesName.validateSubdomain(to, what: "storage class mapping target")
        }
        let reference = try ObjectReference(kind: .configMap, namespace: configuration.namespace, name: Self.storageClassMappingsConfigMap)
        guard !mappings.isEmpty else {
            try await cluster.delete(reference, ignoreNotFound: true)
            return
        }
        let object = KubernetesObject(
            kind: .configMap, namespace: configuration.namespace, name: Self.storageClassMappingsConfigMap,
            labels: ["velero.io/plugin-config": "", Self.changeStorageClassLabel: "RestoreItemAction"],
            body: ["data": .object(mappings.mapValues { .string($0) })])
        _ = try await cluster.forceApply(object, fieldManager: configuration.fieldManager)
    }
}
