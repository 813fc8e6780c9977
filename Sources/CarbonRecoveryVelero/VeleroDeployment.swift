import CarbonRecovery
import Foundation

/// What the guide's `deploy-velero-backup.sh` does, as an idempotent reconcile: Velero's
/// namespace, the credentials secret, the MinIO `BackupStorageLocation`, the policy's
/// `Schedule`s and, when the policy has an `access` section, the service accounts, roles and
/// bindings of ``VeleroAccessRoles`` — planned first (create, update, unchanged, delete-orphaned), then applied.
/// Its schedules are the ones `VeleroScheduler` writes; use that alone to manage only schedules.
///
/// ```swift
/// let deployment = VeleroDeployment(cluster: cluster)
/// let plan = try await deployment.plan(policy)            // show it
/// try await deployment.apply(plan) { change in print(change) }
/// try await deployment.waitUntilReady(plan, timeout: .seconds(120))
/// ```
///
/// Everything it manages carries `app.kubernetes.io/managed-by: carbon-recovery`; a managed
/// `Schedule` the policy no longer names is deleted. Changes use server-side apply with
/// `--force-conflicts`: the policy is the authority over the fields it sets. Secret contents
/// never appear in a plan, a description or an error.
public struct VeleroDeployment: Sendable {
    /// The label on everything a deployment manages.
    public static let managedByLabel = "app.kubernetes.io/managed-by"
    /// Its value.
    public static let managedByValue = "carbon-recovery"

    /// One planned change.
    public struct Change: Sendable, Hashable, CustomStringConvertible {
        /// What happens to the object.
        public enum Action: String, Sendable, Hashable {
            case create, update, unchanged
            case deleteOrphaned = "delete-orphaned"
            /// Not applied: the object's namespace does not exist yet (a backup hook's role on
            /// a new cluster); the difference says so.
            case skipped
        }

        /// What happens.
        public var action: Action
        /// The object as it should be (for a deletion: as it is).
        public var object: KubernetesObject
        /// The fields that differ, for an update (names only: a secret's values are never shown).
        public var differences: [String]

        /// `create Schedule velero/daily-backup`, `update BackupStorageLocation velero/default (spec.config)`.
        public var description: String {
            "\(action.rawValue) \(object.kind ?? "?") \(object.namespace.map { "\($0)/" } ?? "")\(object.name ?? "?")"
                + (differences.isEmpty ? "" : " (\(differences.joined(separator: ", ")))")
        }
    }

    /// The cluster.
    public let cluster: any ClusterClient
    /// Velero's namespace.
    public let namespace: String
    /// The field manager of the applies.
    public let fieldManager: String

    /// Creates a deployment for Velero in `namespace`.
    public init(cluster: any ClusterClient, namespace: String = VeleroObjects.defaultNamespace, fieldManager: String = "carbon-recovery") {
        self.cluster = cluster
        self.namespace = namespace
        self.fieldManager = fieldManager
    }

    // MARK: Plan

    /// The objects the policy asks for, compared with the cluster.
    ///
    /// - Parameters:
    ///   - policy: The policy.
    ///   - environment: Where `environment` credentials are read (the guide: `VELERO_S3_ACCESS_KEY`, `VELERO_S3_SECRET_KEY`).
    /// - Throws: `RecoveryError.Code.invalidInput` when a credentials variable or file is missing
    ///   (named, never shown), or a referenced secret does not exist; what the cluster threw.
    public func plan(_ policy: RecoveryPolicy, environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> [Change] {
        try KubernetesName.validateLabel(namespace, what: "Velero namespace")
        let managed = [Self.managedByLabel: Self.managedByValue]
        var desired: [KubernetesObject] = [KubernetesObject(kind: .namespace, namespace: nil, name: namespace, labels: managed)]
        var location = VeleroStorageLocation(
            bucket: policy.storage.bucket, prefix: policy.storage.prefix.isEmpty ? nil : policy.storage.prefix, region: policy.storage.region,
            s3URL: policy.storage.endpoint)
        switch policy.storage.credentials {
        case .environment(let idVariable, let secretVariable):
            guard let id = environment[idVariable], !id.isEmpty, let secret = environment[secretVariable], !secret.isEmpty else {
                let missing = [idVariable, secretVariable].filter { (environment[$0] ?? "").isEmpty }
                throw RecoveryError.invalidInput("set \(missing.joined(separator: " and ")) to MinIO's keys: the policy takes the credentials from the environment")
            }
            desired.append(Self.credentialsSecret(namespace: namespace, name: location.credentialSecretName, key: location.credentialSecretKey, id: id, secret: secret))
        case .file(let path, let profile):
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw RecoveryError.invalidInput("the credentials file \(path) does not exist or cannot be read")
            }
            let text = String(decoding: contents, as: UTF8.self)
            guard text.contains("[\(profile)]") else { throw RecoveryError.invalidInput("the credentials file \(path) has no [\(profile)] profile") }
            desired.append(Self.secret(namespace: namespace, name: location.credentialSecretName, key: location.credentialSecretKey, contents: text))
        case .secret(let secretNamespace, let name, let key):
            guard secretNamespace == namespace else {
                throw RecoveryError.invalidInput("the credentials secret must be in Velero's namespace \(namespace), not \(secretNamespace)")
            }
            guard let existing = try await cluster.get(try ObjectReference(kind: .secret, namespace: secretNamespace, name: name)) else {
                throw RecoveryError.invalidInput("the credentials secret \(secretNamespace)/\(name) does not exist; create it (key \(key)) or use environment credentials")
            }
            guard existing.json[path: ["data", key]] != nil else {
                throw RecoveryError.invalidInput("the credentials secret \(secretNamespace)/\(name) has no key \(key)")
            }
            location.credentialSecretName = name
            location.credentialSecretKey = key
        }
        location.encryption = policy.storage.encryption
        if let caFile = policy.storage.caCertificateFile {
            guard let contents = FileManager.default.contents(atPath: caFile),
                  String(decoding: contents, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
                throw RecoveryError.invalidInput("the storage CA file \(caFile) does not exist, cannot be read or holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
            }
            location.caCertSecretName = Self.caSecretName
            desired.append(Self.secret(namespace: namespace, name: Self.caSecretName, key: location.caCertSecretKey, contents: String(decoding: contents, as: UTF8.self)))
        }
        var bsl = VeleroObjects.backupStorageLocation(location, namespace: namespace)
        bsl.json["metadata"]?["labels"] = .object(managed.mapValues { .string($0) })
        desired.append(bsl)
        for entry in policy.schedules {
            var schedule = entry.schedule
            schedule.template.ttl = entry.effectiveTTL
            desired.append(VeleroScheduler.object(for: schedule, namespace: namespace))
        }
        if policy.access != nil {
            desired += VeleroAccessRoles(policy: policy, namespace: namespace, storageSecret: location.credentialSecretName).objects()
        }

        var changes: [Change] = []
        var namespaceExists: [String: Bool] = [namespace: true]
        for object in desired {
            // A hook's role lives in the workload's namespace: not there yet (a new cluster
            // before its restore), it waits — creating the namespace would occupy it.
            if let objectNamespace = object.namespace {
                if namespaceExists[objectNamespace] == nil {
                    namespaceExists[objectNamespace] = try await cluster.get(try ObjectReference(kind: .namespace, namespace: nil, name: objectNamespace)) != nil
                }
                if namespaceExists[objectNamespace] == false {
                    changes.append(Change(action: .skipped, object: object, differences: ["namespace \(objectNamespace) does not exist yet; deploy again once it does"]))
                    continue
                }
            }
            let reference = try ObjectReference(kind: Self.kind(of: object), namespace: object.namespace, name: object.name ?? "")
            guard let live = try await cluster.get(reference) else {
                changes.append(Change(action: .create, object: object, differences: []))
                continue
            }
            let differences = Self.differences(desired: object.json, live: live.json, path: "")
            changes.append(Change(action: differences.isEmpty ? .unchanged : .update, object: object, differences: differences))
        }
        let wanted = Set(policy.schedules.map(\.schedule.name))
        for orphan in try await VeleroScheduler.orphanedSchedules(keeping: wanted, namespace: namespace, cluster: cluster) {
            changes.append(Change(action: .deleteOrphaned, object: orphan, differences: []))
        }
        return changes
    }

    // MARK: Apply

    /// Applies one planned change (an `unchanged` one does nothing): server-side apply with
    /// `--force-conflicts`, or the deletion of an orphaned schedule.
    ///
    /// Wrap each call in `RecoveryCoordinator.perform(_:target:parameters:_:)` to audit
    /// it, as the CLI's `deploy` does.
    public func apply(_ change: Change) async throws {
        switch change.action {
        case .unchanged, .skipped:
            return
        case .create, .update:
            _ = try await cluster.forceApply(change.object, fieldManager: fieldManager)
        case .deleteOrphaned:
            try await cluster.delete(try ObjectReference(kind: .veleroSchedule, namespace: namespace, name: change.object.name ?? ""), ignoreNotFound: true)
        }
    }

    /// Waits (by watching) until the storage location is `Available` and every schedule `Enabled`.
    ///
    /// - Throws: `RecoveryError.Code.timeout` naming what is not ready and its last phase and message.
    public func waitUntilReady(_ plan: [Change], timeout: Duration) async throws {
        var pending: [(ObjectReference, String)] = []
        for change in plan where change.action != .deleteOrphaned {
            switch change.object.kind {
            case "BackupStorageLocation": pending.append((try ObjectReference(kind: .veleroBackupStorageLocation, namespace: namespace, name: change.object.name ?? ""), "Available"))
            case "Schedule": pending.append((try ObjectReference(kind: .veleroSchedule, namespace: namespace, name: change.object.name ?? ""), "Enabled"))
            default: continue
            }
        }
        for (reference, wanted) in pending {
            let cluster = self.cluster
            do {
                try await withTimeLimit(timeout) {
                    guard let current = try await cluster.get(reference) else {
                        throw RecoveryError(.notFound, "\(reference) does not exist", target: reference.description)
                    }
                    if current.status?["phase"]?.stringValue == wanted { return }
                    for try await event in cluster.watch(reference, after: current) where event.object.status?["phase"]?.stringValue == wanted { return }
                    throw RecoveryError(.unreachable, "the watch on \(reference) ended", target: reference.description)
                }
            } catch is TimeLimitExceeded {
                let status = try await cluster.get(reference)?.status
                let phase = status?["phase"]?.stringValue ?? "no phase yet"
                let message = status?["message"]?.stringValue ?? status?["validationErrors"]?.arrayValue?.compactMap(\.stringValue).joined(separator: "; ")
                throw RecoveryError(
                    .timeout, "\(reference.kind.kind) \(reference.name) is \(phase), not \(wanted), after \(timeout)" + (message.map { ": \($0)" } ?? "")
                        + "; is Velero running (carbon-recovery doctor)?", target: reference.description)
            }
        }
    }

    // MARK: Helpers

    static func kind(of object: KubernetesObject) -> ResourceKind {
        switch object.kind {
        case "Namespace": .namespace
        case "Secret": .secret
        case "BackupStorageLocation": .veleroBackupStorageLocation
        case "ServiceAccount": .serviceAccount
        case "Role": .role
        case "RoleBinding": .roleBinding
        case "ClusterRole": .clusterRole
        case "ClusterRoleBinding": .clusterRoleBinding
        default: .veleroSchedule
        }
    }

    /// The secret `deploy` writes the policy's `storage.caFile` into, named by the location's `caCertRef`.
    public static let caSecretName = "carbon-recovery-storage-ca"

    static func credentialsSecret(namespace: String, name: String, key: String, id: String, secret: String) -> KubernetesObject {
        Self.secret(namespace: namespace, name: name, key: key, contents: "[default]\naws_access_key_id=\(id)\naws_secret_access_key=\(secret)\n")
    }

    static func secret(namespace: String, name: String, key: String, contents: String) -> KubernetesObject {
        KubernetesObject(
            kind: .secret, namespace: namespace, name: name, labels: [managedByLabel: managedByValue],
            body: ["type": "Opaque", "data": [key: .string(Data(contents.utf8).base64EncodedString())]])
    }

    /// The paths where `desired` says something `live` does not (live may have more).
    static func differences(desired: JSONValue, live: JSONValue?, path: String) -> [String] {
        switch desired {
        case .object(let members):
            guard case .object? = live else { return [path.isEmpty ? "(object)" : path] }
            return members.keys.sorted().flatMap { key -> [String] in
                if path.isEmpty, ["apiVersion", "kind"].contains(key) { return [] }
                return differences(desired: members[key]!, live: live?[key], path: path.isEmpty ? key : "\(path).\(key)")
            }
        default:
            return desired == live ? [] : [path]
        }
    }
}
