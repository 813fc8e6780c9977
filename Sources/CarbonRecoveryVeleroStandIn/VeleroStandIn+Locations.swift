import CarbonRecovery
import CarbonRecoveryVelero
import Foundation

/// Storage locations as Velero reads them: the `BackupStorageLocation` object and its
/// credentials secret, fetched again for each operation.
extension VeleroStandIn {
    /// A location by name, or `nil` when no such `BackupStorageLocation` exists.
    func location(named name: String) async throws -> StandInStorageLocation? {
        guard let object = try await cluster.get(try ObjectReference(kind: .veleroBackupStorageLocation, namespace: namespace, name: name)) else { return nil }
        return try await withCredential(try StandInStorageLocation(object), object)
    }

    /// The location a backup goes to: the one it names, else the one marked `spec.default`,
    /// else ``defaultLocationName``. The error is Velero's validation message.
    func location(forBackupSpec spec: JSONValue) async throws -> StandInStorageLocation {
        if let named = spec["storageLocation"]?.stringValue, !named.isEmpty {
            guard let location = try await location(named: named) else {
                throw RecoveryError(.notFound, "an existing backup storage location was not specified at backup creation time and the default \(named) was not found", target: named)
            }
            return location
        }
        let all = try await cluster.list(.veleroBackupStorageLocation, namespace: namespace, labelSelector: nil)
        if let marked = all.first(where: { $0.spec?["default"]?.boolValue == true }) ?? all.first(where: { $0.name == Self.defaultLocationName }) {
            return try await withCredential(try StandInStorageLocation(marked), marked)
        }
        throw RecoveryError(.notFound, "an existing backup storage location was not specified at backup creation time and the default \(Self.defaultLocationName) was not found", target: Self.defaultLocationName)
    }

    /// Every location, with its credentials.
    func allLocations() async throws -> [StandInStorageLocation] {
        var locations: [StandInStorageLocation] = []
        for object in try await cluster.list(.veleroBackupStorageLocation, namespace: namespace, labelSelector: nil) {
            do {
                locations.append(try await withCredential(try StandInStorageLocation(object), object))
            } catch {
                logger.warning("storage location skipped", metadata: ["location": "\(object.name ?? "?")", "error": "\(error)"])
            }
        }
        return locations
    }

    /// The location a stored backup belongs to: `spec.storageLocation`, else the
    /// `velero.io/storage-location` label, else the default.
    func location(ofBackup backup: KubernetesObject) async throws -> StandInStorageLocation? {
        let name = backup.spec?["storageLocation"]?.stringValue ?? backup.labels[Self.storageLocationLabel] ?? Self.defaultLocationName
        return try await location(named: name)
    }

    /// The label Velero puts on a backup with its location's name.
    static let storageLocationLabel = "velero.io/storage-location"

    /// Fills in the credential: the secret and key the location names, else the default secret;
    /// and the CA bundle from the secret `spec.objectStorage.caCertRef` names, when it names one.
    private func withCredential(_ location: StandInStorageLocation, _ object: KubernetesObject) async throws -> StandInStorageLocation {
        var location = location
        if let reference = object.spec?[path: ["objectStorage", "caCertRef"]], let secretName = reference["name"]?.stringValue, let key = reference["key"]?.stringValue {
            let source = "\(namespace)/\(secretName)[\(key)]"
            guard let secret = try await cluster.get(try ObjectReference(kind: .secret, namespace: namespace, name: secretName)),
                  let encoded = secret.json[path: ["data", key]]?.stringValue, let bundle = Data(base64Encoded: encoded) else {
                throw RecoveryError(.notFound, "the CA bundle \(source) that location \(location.name) names does not exist", target: location.name)
            }
            location.caCertificates = Array(bundle)
        }
        let named = object.spec?["credential"]
        let secretName = named?["name"]?.stringValue ?? Self.defaultCredential.secret
        let key = named?["key"]?.stringValue ?? Self.defaultCredential.key
        let source = "\(namespace)/\(secretName)"
        guard let secret = try await cluster.get(try ObjectReference(kind: .secret, namespace: namespace, name: secretName)) else {
            if named != nil { throw RecoveryError(.notFound, "the credentials secret \(source) that location \(location.name) names does not exist", target: location.name) }
            return location   // no secret at all: the resolver decides (anonymous storage, say)
        }
        guard let encoded = secret.json[path: ["data", key]]?.stringValue, let value = Data(base64Encoded: encoded) else {
            throw RecoveryError(.invalidObject, "the credentials secret \(source) has no key \(key)", target: location.name)
        }
        location.credential = Array(value)
        location.credentialSource = "\(source)[\(key)]"
        return location
    }
}
