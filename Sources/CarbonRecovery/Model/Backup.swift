import Foundation

/// What to back up: the SDK's form of a Velero `Backup` spec.
///
/// ```swift
/// var request = BackupRequest(name: "smoke-20261125", includedNamespaces: ["data-platform"])
/// request.ttl = .hours(24)
/// try request.validate()
/// ```
public struct BackupRequest: Sendable, Hashable {
    /// The backup's name (a DNS-1123 subdomain).
    public var name: String
    /// Namespaces to include (names or globs such as `*`); empty means all.
    public var includedNamespaces: [String]
    /// Namespaces to leave out (names or globs).
    public var excludedNamespaces: [String]
    /// Resources to include (`deployments.apps`, `secrets`, `*`); empty means all.
    public var includedResources: [String]
    /// Resources to leave out.
    public var excludedResources: [String]
    /// Whether cluster-scoped resources are included; `nil` lets Velero decide.
    public var includeClusterResources: Bool?
    /// Only objects whose labels match.
    public var labelSelector: LabelSelector?
    /// How long Velero keeps the backup before garbage-collecting it (Velero's default: 720h).
    public var ttl: GoDuration?
    /// The `BackupStorageLocation` to write to; `nil` means the default location.
    public var storageLocation: String?
    /// How volumes are handled.
    public var volumes: VolumeOptions
    /// Labels put on the `Backup` object.
    public var labels: [String: String]
    /// Commands Velero runs in matching pods around their backup (a consistent database dump).
    public var hooks: [BackupHook]

    /// Creates a request; every field but the name has Velero's default.
    public init(
        name: String,
        includedNamespaces: [String] = [],
        excludedNamespaces: [String] = [],
        includedResources: [String] = [],
        excludedResources: [String] = [],
        includeClusterResources: Bool? = nil,
        labelSelector: LabelSelector? = nil,
        ttl: GoDuration? = nil,
        storageLocation: String? = nil,
        volumes: VolumeOptions = VolumeOptions(),
        labels: [String: String] = [:],
        hooks: [BackupHook] = []
    ) {
        self.name = name
        self.includedNamespaces = includedNamespaces
        self.excludedNamespaces = excludedNamespaces
        self.includedResources = includedResources
        self.excludedResources = excludedResources
        self.includeClusterResources = includeClusterResources
        self.labelSelector = labelSelector
        self.ttl = ttl
        self.storageLocation = storageLocation
        self.volumes = volumes
        self.labels = labels
        self.hooks = hooks
    }

    /// Checks every field and throws on the first one that Velero or Kubernetes would reject.
    ///
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` naming the field and value.
    public func validate() throws {
        try KubernetesName.validateSubdomain(name, what: "backup name")
        try ResourceFilter.validate(
            includedNamespaces: includedNamespaces, excludedNamespaces: excludedNamespaces,
            includedResources: includedResources, excludedResources: excludedResources)
        if let ttl, ttl.nanoseconds < 0 {
            throw RecoveryError.invalidInput("backup '\(name)' has a negative TTL '\(ttl)': use a positive duration such as 720h0m0s")
        }
        if let storageLocation { try KubernetesName.validateSubdomain(storageLocation, what: "storage location") }
        if let snapshotLocation = volumes.snapshotLocations.first(where: { !KubernetesName.isSubdomain($0) }) {
            throw RecoveryError.invalidInput("volume snapshot location '\(snapshotLocation)' is not a DNS-1123 subdomain")
        }
        for key in labels.keys { _ = try LabelSelector(matchLabels: [key: labels[key]!]) }
        for hook in hooks { try hook.validate() }
    }

    /// The parameters recorded in the audit trail for this request.
    var auditParameters: JSONValue {
        var parameters = ResourceFilter.auditParameters(
            includedNamespaces: includedNamespaces, excludedNamespaces: excludedNamespaces,
            includedResources: includedResources, excludedResources: excludedResources)
        if let includeClusterResources { parameters["includeClusterResources"] = .bool(includeClusterResources) }
        if let labelSelector { parameters["labelSelector"] = .string(labelSelector.description) }
        if let ttl { parameters["ttl"] = .string(ttl.description) }
        if let storageLocation { parameters["storageLocation"] = .string(storageLocation) }
        if let snapshot = volumes.snapshotVolumes { parameters["snapshotVolumes"] = .bool(snapshot) }
        if let fsBackup = volumes.defaultVolumesToFsBackup { parameters["defaultVolumesToFsBackup"] = .bool(fsBackup) }
        if !hooks.isEmpty { parameters["hooks"] = .array(hooks.map { .string($0.name) }) }
        return .object(parameters)
    }
}

/// How a backup treats persistent volumes.
public struct VolumeOptions: Sendable, Hashable {
    /// Take volume snapshots; `nil` lets Velero decide.
    public var snapshotVolumes: Bool?
    /// Back up every pod volume with file-system backup (kopia) unless opted out.
    public var defaultVolumesToFsBackup: Bool?
    /// `VolumeSnapshotLocation` names to use.
    public var snapshotLocations: [String]

    /// Creates volume options; `nil` leaves each choice to Velero.
    public init(snapshotVolumes: Bool? = nil, defaultVolumesToFsBackup: Bool? = nil, snapshotLocations: [String] = []) {
        self.snapshotVolumes = snapshotVolumes
        self.defaultVolumesToFsBackup = defaultVolumesToFsBackup
        self.snapshotLocations = snapshotLocations
    }
}

/// A Velero backup phase. Unknown phases from newer Velero versions are kept as they are.
public struct BackupPhase: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// Created, not yet processed by Velero.
    public static let new = BackupPhase(rawValue: "New")
    /// Waiting for a free worker.
    public static let queued = BackupPhase(rawValue: "Queued")
    /// About to start.
    public static let readyToStart = BackupPhase(rawValue: "ReadyToStart")
    /// Velero rejected the spec; see the validation errors.
    public static let failedValidation = BackupPhase(rawValue: "FailedValidation")
    /// Items are being backed up.
    public static let inProgress = BackupPhase(rawValue: "InProgress")
    /// Waiting for asynchronous plugin operations (e.g. snapshot uploads).
    public static let waitingForPluginOperations = BackupPhase(rawValue: "WaitingForPluginOperations")
    /// Waiting for plugin operations after some items failed.
    public static let waitingForPluginOperationsPartiallyFailed = BackupPhase(rawValue: "WaitingForPluginOperationsPartiallyFailed")
    /// Writing the final metadata.
    public static let finalizing = BackupPhase(rawValue: "Finalizing")
    /// Writing the final metadata after some items failed.
    public static let finalizingPartiallyFailed = BackupPhase(rawValue: "FinalizingPartiallyFailed")
    /// Finished without errors.
    public static let completed = BackupPhase(rawValue: "Completed")
    /// Finished, but some items failed.
    public static let partiallyFailed = BackupPhase(rawValue: "PartiallyFailed")
    /// Failed as a whole.
    public static let failed = BackupPhase(rawValue: "Failed")
    /// Being deleted (it stays here if deletion partly fails).
    public static let deleting = BackupPhase(rawValue: "Deleting")

    /// Every phase in Velero v1.18's contract.
    public static let allKnown: [BackupPhase] = [
        .new, .queued, .readyToStart, .failedValidation, .inProgress, .waitingForPluginOperations,
        .waitingForPluginOperationsPartiallyFailed, .finalizing, .finalizingPartiallyFailed, .completed,
        .partiallyFailed, .failed, .deleting,
    ]

    /// Whether Velero will not move the backup out of this phase by itself.
    public var isTerminal: Bool { [.completed, .partiallyFailed, .failed, .failedValidation].contains(self) }
    /// Whether the backup finished without any failure.
    public var isSuccess: Bool { self == .completed }
}

/// How far a backup or restore has got: items done out of items found so far.
public struct OperationProgress: Sendable, Hashable {
    /// Items processed so far.
    public var itemsDone: Int
    /// Items found so far (grows while a backup runs).
    public var totalItems: Int

    /// Creates a progress value.
    public init(itemsDone: Int, totalItems: Int) {
        self.itemsDone = itemsDone
        self.totalItems = totalItems
    }

    /// The fraction done, in 0…1, or `nil` while the total is unknown.
    public var fractionDone: Double? {
        totalItems > 0 ? min(1, Double(itemsDone) / Double(totalItems)) : nil
    }
}

/// What Velero reports about a backup.
public struct BackupStatus: Sendable, Hashable {
    /// The backup's name (a DNS-1123 subdomain).
    public var name: String
    /// The current phase.
    public var phase: BackupPhase
    /// Items done out of items found, when Velero reported them.
    public var progress: OperationProgress?
    /// Count of item errors (the items are in the backup's results file).
    public var errors: Int
    /// Count of item warnings.
    public var warnings: Int
    /// Why Velero rejected the spec, for `FailedValidation`.
    public var validationErrors: [String]
    /// Why the backup failed, when Velero says.
    public var failureReason: String?
    /// When Velero started it.
    public var startTimestamp: Date?
    /// When it reached a terminal phase.
    public var completionTimestamp: Date?
    /// When Velero will garbage-collect it (start plus TTL).
    public var expiration: Date?
    /// The schedule that created the backup (`velero.io/schedule-name`), if any.
    public var scheduleName: String?
    /// The namespaces the backup holds in full: its included namespaces that are names, not globs;
    /// empty when a label selector or resource filter makes it partial, or when it is not known.
    public var namespaces: [String]
    /// The Kubernetes version of the cluster the backup was taken on, when the engine
    /// recorded it (Velero: the `velero.io/source-cluster-k8s-*` annotations).
    public var sourceClusterVersion: KubernetesVersion?
    /// Whether the backup holds cluster-scoped resources beyond namespaces: Velero's
    /// `includeClusterResources: true`, or unset in a backup of every namespace.
    public var includesClusterResources: Bool
    /// The storage location the backup was written to, when known.
    public var storageLocation: String?
    /// Whether the backup holds every namespace but ``excludedNamespaces`` in full (no
    /// included namespaces, or `*`, and no label selector or resource filter).
    public var includesEveryNamespace: Bool
    /// The namespaces an every-namespace backup leaves out (exact names; globs are not expanded).
    public var excludedNamespaces: [String]

    /// Creates a status.
    public init(
        name: String, phase: BackupPhase, progress: OperationProgress? = nil, errors: Int = 0, warnings: Int = 0,
        validationErrors: [String] = [], failureReason: String? = nil, startTimestamp: Date? = nil,
        completionTimestamp: Date? = nil, expiration: Date? = nil, scheduleName: String? = nil, namespaces: [String] = [],
        sourceClusterVersion: KubernetesVersion? = nil, includesClusterResources: Bool = false, storageLocation: String? = nil,
        includesEveryNamespace: Bool = false, excludedNamespaces: [String] = []
    ) {
        self.includesEveryNamespace = includesEveryNamespace
        self.excludedNamespaces = excludedNamespaces
        self.sourceClusterVersion = sourceClusterVersion
        self.includesClusterResources = includesClusterResources
        self.storageLocation = storageLocation
        self.name = name
        self.phase = phase
        self.progress = progress
        self.errors = errors
        self.warnings = warnings
        self.validationErrors = validationErrors
        self.failureReason = failureReason
        self.startTimestamp = startTimestamp
        self.completionTimestamp = completionTimestamp
        self.expiration = expiration
        self.scheduleName = scheduleName
        self.namespaces = namespaces
    }

    /// Whether the backup holds `namespace` in full: named in ``namespaces``, or an
    /// every-namespace backup that does not exclude it.
    public func holds(namespace: String) -> Bool {
        namespaces.contains(namespace) || (includesEveryNamespace && !excludedNamespaces.contains(namespace))
    }

    /// Seconds from start to completion, when both are known.
    public var duration: TimeInterval? {
        guard let startTimestamp, let completionTimestamp else { return nil }
        return completionTimestamp.timeIntervalSince(startTimestamp)
    }
}
