import CarbonRecovery
import Foundation

/// Builds Velero's `velero.io/v1` objects from the SDK's value types, and reads their status
/// back — the whole mapping between CarbonRecovery and Velero's API in one place.
///
/// Field names and phases follow Velero v1.18 (`../shared/reference/VELERO-CONTRACT.md`); the
/// objects built here are validated by the API server against Velero's real CRDs in the tests.
///
/// ```swift
/// let backup = VeleroObjects.backup(BackupRequest(name: "smoke-1", includedNamespaces: ["data-platform"], ttl: .hours(24)))
/// _ = try await cluster.apply(backup, fieldManager: "carbon-recovery")
/// ```
public enum VeleroObjects {
    /// Velero's namespace unless told otherwise.
    public static let defaultNamespace = "velero"
    /// The label Velero puts on a schedule's backups.
    public static let scheduleNameLabel = "velero.io/schedule-name"
    /// The label Velero uses to tie objects (restores, delete requests) to a backup.
    public static let backupNameLabel = "velero.io/backup-name"

    // MARK: Building

    /// A `Backup` object for a request (not validated here: call `request.validate()` first).
    public static func backup(_ request: BackupRequest, namespace: String = defaultNamespace) -> KubernetesObject {
        KubernetesObject(kind: .veleroBackup, namespace: namespace, name: request.name, labels: request.labels, body: ["spec": backupSpec(request)])
    }

    /// The `spec` of a `Backup` (also a `Schedule`'s template).
    package static func backupSpec(_ request: BackupRequest) -> JSONValue {
        var spec: [String: JSONValue] = [:]
        if !request.includedNamespaces.isEmpty { spec["includedNamespaces"] = strings(request.includedNamespaces) }
        if !request.excludedNamespaces.isEmpty { spec["excludedNamespaces"] = strings(request.excludedNamespaces) }
        if !request.includedResources.isEmpty { spec["includedResources"] = strings(request.includedResources) }
        if !request.excludedResources.isEmpty { spec["excludedResources"] = strings(request.excludedResources) }
        if let include = request.includeClusterResources { spec["includeClusterResources"] = .bool(include) }
        if let selector = request.labelSelector { spec["labelSelector"] = labelSelector(selector) }
        if let ttl = request.ttl { spec["ttl"] = .string(ttl.description) }
        if let location = request.storageLocation { spec["storageLocation"] = .string(location) }
        if let snapshot = request.volumes.snapshotVolumes { spec["snapshotVolumes"] = .bool(snapshot) }
        if let fsBackup = request.volumes.defaultVolumesToFsBackup { spec["defaultVolumesToFsBackup"] = .bool(fsBackup) }
        if !request.volumes.snapshotLocations.isEmpty { spec["volumeSnapshotLocations"] = strings(request.volumes.snapshotLocations) }
        if !request.hooks.isEmpty { spec["hooks"] = ["resources": .array(request.hooks.map(hookSpec))] }
        return .object(spec)
    }

    /// One `spec.hooks.resources[]` entry (Velero's `BackupResourceHookSpec`), applied to pods.
    package static func hookSpec(_ hook: BackupHook) -> JSONValue {
        func exec(_ exec: BackupHook.Exec) -> JSONValue {
            var json: [String: JSONValue] = ["command": strings(exec.command)]
            if let container = exec.container { json["container"] = .string(container) }
            if let onError = exec.onError { json["onError"] = .string(onError.rawValue) }
            if let timeout = exec.timeout { json["timeout"] = .string(timeout.description) }
            return ["exec": .object(json)]
        }
        var json: [String: JSONValue] = ["name": .string(hook.name), "includedResources": ["pods"]]
        if !hook.includedNamespaces.isEmpty { json["includedNamespaces"] = strings(hook.includedNamespaces) }
        if let selector = hook.labelSelector { json["labelSelector"] = labelSelector(selector) }
        if !hook.pre.isEmpty { json["pre"] = .array(hook.pre.map(exec)) }
        if !hook.post.isEmpty { json["post"] = .array(hook.post.map(exec)) }
        return .object(json)
    }

    /// A `Restore` object for a request.
    public static func restore(_ request: RestoreRequest, namespace: String = defaultNamespace) -> KubernetesObject {
        var spec: [String: JSONValue] = [:]
        switch request.source {
        case .backup(let name): spec["backupName"] = .string(name)
        case .schedule(let name): spec["scheduleName"] = .string(name)
        }
        if !request.includedNamespaces.isEmpty { spec["includedNamespaces"] = strings(request.includedNamespaces) }
        if !request.excludedNamespaces.isEmpty { spec["excludedNamespaces"] = strings(request.excludedNamespaces) }
        if !request.includedResources.isEmpty { spec["includedResources"] = strings(request.includedResources) }
        if !request.excludedResources.isEmpty { spec["excludedResources"] = strings(request.excludedResources) }
        if !request.namespaceMappings.isEmpty { spec["namespaceMapping"] = .object(request.namespaceMappings.mapValues { .string($0) }) }
        if let selector = request.labelSelector { spec["labelSelector"] = labelSelector(selector) }
        spec["existingResourcePolicy"] = .string(request.existingResourcePolicy.rawValue)
        if let restorePVs = request.restorePVs { spec["restorePVs"] = .bool(restorePVs) }
        if let include = request.includeClusterResources { spec["includeClusterResources"] = .bool(include) }
        var labels: [String: String] = [:]
        if case .backup(let name) = request.source, KubernetesName.isLabel(name) { labels[backupNameLabel] = name }
        return KubernetesObject(kind: .veleroRestore, namespace: namespace, name: request.name, labels: labels, body: ["spec": .object(spec)])
    }

    /// A `DeleteBackupRequest` for a backup: how Velero deletes a backup *and its data*.
    public static func deleteBackupRequest(backupName: String, requestName: String, namespace: String = defaultNamespace) -> KubernetesObject {
        var labels: [String: String] = [:]
        if KubernetesName.isLabel(backupName) { labels[backupNameLabel] = backupName }
        return KubernetesObject(
            kind: .veleroDeleteBackupRequest, namespace: namespace, name: requestName, labels: labels,
            body: ["spec": ["backupName": .string(backupName)]])
    }

    /// A `Schedule` object for a policy.
    public static func schedule(_ policy: SchedulePolicy, namespace: String = defaultNamespace) -> KubernetesObject {
        var spec: [String: JSONValue] = [
            "schedule": .string(policy.cron.description),
            "template": backupSpec(policy.template),
            "paused": .bool(policy.paused),
        ]
        if let skip = policy.skipImmediately { spec["skipImmediately"] = .bool(skip) }
        if let owner = policy.useOwnerReferencesInBackup { spec["useOwnerReferencesInBackup"] = .bool(owner) }
        return KubernetesObject(kind: .veleroSchedule, namespace: namespace, name: policy.name, labels: policy.template.labels, body: ["spec": .object(spec)])
    }

    /// A `BackupStorageLocation` for a MinIO bucket.
    public static func backupStorageLocation(_ location: VeleroStorageLocation, namespace: String = defaultNamespace) -> KubernetesObject {
        var objectStorage: [String: JSONValue] = ["bucket": .string(location.bucket)]
        if let prefix = location.prefix, !prefix.isEmpty { objectStorage["prefix"] = .string(prefix) }
        var config: [String: JSONValue] = ["region": .string(location.region), "s3ForcePathStyle": "true", "s3Url": .string(location.s3URL)]
        if location.insecureSkipTLSVerify { config["insecureSkipTLSVerify"] = "true" }
        for (key, value) in VeleroLocationEncryption.config(location.encryption) { config[key] = .string(value) }
        if let secret = location.caCertSecretName { objectStorage["caCertRef"] = ["name": .string(secret), "key": .string(location.caCertSecretKey)] }
        let spec: JSONValue = [
            "provider": "aws",
            "objectStorage": .object(objectStorage),
            "config": .object(config),
            "credential": ["name": .string(location.credentialSecretName), "key": .string(location.credentialSecretKey)],
            "default": .bool(location.isDefault),
            "accessMode": .string(location.readOnly ? "ReadOnly" : "ReadWrite"),
        ]
        return KubernetesObject(kind: .veleroBackupStorageLocation, namespace: namespace, name: location.name, body: ["spec": spec])
    }

    /// Kubernetes' JSON form of a selector (`matchLabels` and `matchExpressions`).
    package static func labelSelector(_ selector: LabelSelector) -> JSONValue {
        var json: [String: JSONValue] = [:]
        let matchLabels = selector.matchLabels
        if !matchLabels.isEmpty { json["matchLabels"] = .object(matchLabels.mapValues { .string($0) }) }
        let expressions = selector.matchExpressions
        if !expressions.isEmpty {
            json["matchExpressions"] = .array(expressions.map { expression in
                var item: [String: JSONValue] = ["key": .string(expression.key), "operator": .string(expression.operator)]
                if !expression.values.isEmpty { item["values"] = strings(expression.values) }
                return .object(item)
            })
        }
        return .object(json)
    }

    /// A selector from Kubernetes' JSON form: the inverse of ``labelSelector(_:)``.
    ///
    /// - Throws: `RecoveryError` (`invalidObject`) for an operator Kubernetes does not define.
    package static func labelSelector(from json: JSONValue) throws -> LabelSelector {
        var requirements: [LabelSelector.Requirement] = []
        for (key, value) in (json["matchLabels"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            requirements.append(.init(key: key, op: .equals, values: [value.stringValue ?? ""]))
        }
        for expression in json["matchExpressions"]?.arrayValue ?? [] {
            let key = expression["key"]?.stringValue ?? ""
            let values = expression["values"]?.arrayValue?.compactMap(\.stringValue) ?? []
            switch expression["operator"]?.stringValue {
            case "In": requirements.append(.init(key: key, op: .in, values: values))
            case "NotIn": requirements.append(.init(key: key, op: .notIn, values: values))
            case "Exists": requirements.append(.init(key: key, op: .exists))
            case "DoesNotExist": requirements.append(.init(key: key, op: .doesNotExist))
            default: throw RecoveryError(.invalidObject, "unknown label selector operator \(expression["operator"]?.stringValue ?? "none")")
            }
        }
        return LabelSelector(requirements: requirements)
    }

    private static func strings(_ values: [String]) -> JSONValue { .array(values.map { .string($0) }) }

    // MARK: Reading

    /// A `Backup` object's status. An object Velero has not touched yet is `New`.
    ///
    /// - Throws: `RecoveryError` (`invalidObject`) when the object is not a named `Backup`.
    public static func backupStatus(_ object: KubernetesObject) throws -> BackupStatus {
        guard object.kind == "Backup", let name = object.name else {
            throw RecoveryError(.invalidObject, "not a Velero Backup: \(object.kind ?? "no kind") \(object.name ?? "without a name")")
        }
        let status = object.status
        return BackupStatus(
            name: name,
            phase: BackupPhase(rawValue: status?["phase"]?.stringValue ?? "New"),
            progress: progress(status?["progress"], doneKey: "itemsBackedUp"),
            errors: Int(status?["errors"]?.integerValue ?? 0),
            warnings: Int(status?["warnings"]?.integerValue ?? 0),
            validationErrors: status?["validationErrors"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            failureReason: status?["failureReason"]?.stringValue,
            startTimestamp: status?["startTimestamp"]?.stringValue.flatMap(RFC3339.parse),
            completionTimestamp: status?["completionTimestamp"]?.stringValue.flatMap(RFC3339.parse),
            expiration: status?["expiration"]?.stringValue.flatMap(RFC3339.parse),
            scheduleName: object.labels[scheduleNameLabel],
            namespaces: fullNamespaces(object.spec),
            sourceClusterVersion: VeleroRestoreRules.sourceClusterVersion(of: object),
            includesClusterResources: includesClusterResources(object.spec),
            storageLocation: object.spec?["storageLocation"]?.stringValue ?? object.labels["velero.io/storage-location"],
            includesEveryNamespace: includesEveryNamespace(object.spec),
            excludedNamespaces: object.spec?["excludedNamespaces"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }

    /// No included namespaces (or `*`), and nothing filtering objects.
    static func includesEveryNamespace(_ spec: JSONValue?) -> Bool {
        guard spec?["labelSelector"] == nil, spec?["orLabelSelectors"] == nil,
            (spec?["includedResources"]?.arrayValue ?? []).allSatisfy({ $0.stringValue == "*" }),
            (spec?["excludedResources"]?.arrayValue ?? []).isEmpty
        else { return false }
        let included = spec?["includedNamespaces"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return included.isEmpty || included == ["*"]
    }

    /// Velero's rule for cluster-scoped resources in a backup: `includeClusterResources: true`,
    /// or unset with every namespace included; never with `false` or a cluster-scoped resource excluded by `*`.
    static func includesClusterResources(_ spec: JSONValue?) -> Bool {
        if let explicit = spec?["includeClusterResources"]?.boolValue { return explicit }
        let included = spec?["includedNamespaces"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let excluded = spec?["excludedNamespaces"]?.arrayValue ?? []
        return (included.isEmpty || included == ["*"]) && excluded.isEmpty
    }

    /// A backup spec's included namespaces that are names, when nothing filters their objects.
    static func fullNamespaces(_ spec: JSONValue?) -> [String] {
        guard spec?["labelSelector"] == nil, spec?["orLabelSelectors"] == nil,
            (spec?["includedResources"]?.arrayValue ?? []).allSatisfy({ $0.stringValue == "*" })
        else { return [] }
        let excluded = Set(spec?["excludedNamespaces"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        return (spec?["includedNamespaces"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            .filter { !$0.contains("*") && !$0.contains("?") && !excluded.contains($0) }
    }

    /// A `Restore` object's status. An object Velero has not touched yet is `New`.
    ///
    /// - Throws: `RecoveryError` (`invalidObject`) when the object is not a named `Restore`.
    public static func restoreStatus(_ object: KubernetesObject) throws -> RestoreStatus {
        guard object.kind == "Restore", let name = object.name else {
            throw RecoveryError(.invalidObject, "not a Velero Restore: \(object.kind ?? "no kind") \(object.name ?? "without a name")")
        }
        let status = object.status
        return RestoreStatus(
            name: name,
            phase: RestorePhase(rawValue: status?["phase"]?.stringValue ?? "New"),
            backupName: object.spec?["backupName"]?.stringValue,
            progress: progress(status?["progress"], doneKey: "itemsRestored"),
            errors: Int(status?["errors"]?.integerValue ?? 0),
            warnings: Int(status?["warnings"]?.integerValue ?? 0),
            validationErrors: status?["validationErrors"]?.arrayValue?.compactMap(\.stringValue) ?? [],
            failureReason: status?["failureReason"]?.stringValue,
            startTimestamp: status?["startTimestamp"]?.stringValue.flatMap(RFC3339.parse),
            completionTimestamp: status?["completionTimestamp"]?.stringValue.flatMap(RFC3339.parse))
    }

    private static func progress(_ json: JSONValue?, doneKey: String) -> OperationProgress? {
        guard let json, let total = json["totalItems"]?.integerValue else { return nil }
        return OperationProgress(itemsDone: Int(json[doneKey]?.integerValue ?? 0), totalItems: Int(total))
    }
}

/// A MinIO bucket as a Velero `BackupStorageLocation` (provider `aws`, path-style).
public struct VeleroStorageLocation: Sendable, Hashable {
    /// The location's name (`default` is what backups use unless told otherwise).
    public var name: String
    /// The bucket.
    public var bucket: String
    /// A prefix inside the bucket; Velero allows only its own folders below it.
    public var prefix: String?
    /// The signing region (`minio` or `us-east-1` for MinIO).
    public var region: String
    /// MinIO's endpoint, e.g. `https://minio.storage.svc:9000`.
    public var s3URL: String
    /// The secret holding the AWS-style credentials file, and its key.
    public var credentialSecretName: String
    public var credentialSecretKey: String
    /// Whether this is the default location.
    public var isDefault: Bool
    /// Whether Velero may only read (restores) from it.
    public var readOnly: Bool
    /// Skip TLS verification (only for a test MinIO with a self-signed certificate).
    public var insecureSkipTLSVerify: Bool
    /// Server-side encryption, written into the location's `config` as Velero's AWS plugin reads it.
    public var encryption: StorageEncryptionSetting
    /// The secret (in Velero's namespace) and key holding the storage's CA bundle (PEM), written
    /// as `spec.objectStorage.caCertRef` (Velero 1.18; `caCert` inline is deprecated).
    public var caCertSecretName: String?
    public var caCertSecretKey: String

    /// Creates a location; the credentials are the conventional `cloud-credentials`/`cloud`.
    public init(
        name: String = "default", bucket: String, prefix: String? = nil, region: String = "minio", s3URL: String,
        credentialSecretName: String = "cloud-credentials", credentialSecretKey: String = "cloud", isDefault: Bool = true,
        readOnly: Bool = false, insecureSkipTLSVerify: Bool = false, encryption: StorageEncryptionSetting = .none,
        caCertSecretName: String? = nil, caCertSecretKey: String = "ca.crt"
    ) {
        self.name = name
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.s3URL = s3URL
        self.credentialSecretName = credentialSecretName
        self.credentialSecretKey = credentialSecretKey
        self.isDefault = isDefault
        self.readOnly = readOnly
        self.insecureSkipTLSVerify = insecureSkipTLSVerify
        self.encryption = encryption
        self.caCertSecretName = caCertSecretName
        self.caCertSecretKey = caCertSecretKey
    }
}
