import Foundation

/// What to restore: the SDK's form of a Velero `Restore` spec.
///
/// ```swift
/// // The guide's non-destructive restore test: everything into a scratch namespace.
/// let request = RestoreRequest(
///     name: "restore-test-1",
///     source: .backup("daily-20261125020000"),
///     includedNamespaces: ["data-platform"],
///     namespaceMappings: ["data-platform": "data-platform-restore-test"])
/// ```
public struct RestoreRequest: Sendable, Hashable {
    /// Where the restore reads from.
    public enum Source: Sendable, Hashable, CustomStringConvertible {
        /// A named backup.
        case backup(String)
        /// The latest completed backup of a schedule.
        case schedule(String)

        public var description: String {
            switch self {
            case .backup(let name): "backup '\(name)'"
            case .schedule(let name): "schedule '\(name)'"
            }
        }
    }

    /// The restore's name (a DNS-1123 subdomain).
    public var name: String
    /// The backup, or the schedule whose latest completed backup, to restore from.
    public var source: Source
    /// Namespaces to restore (names or globs); empty means all in the backup.
    public var includedNamespaces: [String]
    /// Namespaces to leave out.
    public var excludedNamespaces: [String]
    /// Resources to restore; empty means all.
    public var includedResources: [String]
    /// Resources to leave out.
    public var excludedResources: [String]
    /// Old namespace → new namespace; how a restore avoids touching production.
    public var namespaceMappings: [String: String]
    /// Only objects whose labels match.
    public var labelSelector: LabelSelector?
    /// What happens to objects that already exist.
    public var existingResourcePolicy: ExistingResourcePolicy
    /// Whether persistent volumes are restored; `nil` lets Velero decide.
    public var restorePVs: Bool?
    /// Whether cluster-scoped resources are restored: `nil` (Velero's default) restores them
    /// only when every namespace is included; `true` restores those the resource filters
    /// select; `false` none (namespaces the restored objects need are still created).
    public var includeClusterResources: Bool?

    /// Creates a request; every field but name and source has Velero's default.
    public init(
        name: String, source: Source, includedNamespaces: [String] = [], excludedNamespaces: [String] = [],
        includedResources: [String] = [], excludedResources: [String] = [], namespaceMappings: [String: String] = [:],
        labelSelector: LabelSelector? = nil, existingResourcePolicy: ExistingResourcePolicy = .none, restorePVs: Bool? = nil,
        includeClusterResources: Bool? = nil
    ) {
        self.name = name
        self.source = source
        self.includedNamespaces = includedNamespaces
        self.excludedNamespaces = excludedNamespaces
        self.includedResources = includedResources
        self.excludedResources = excludedResources
        self.namespaceMappings = namespaceMappings
        self.labelSelector = labelSelector
        self.existingResourcePolicy = existingResourcePolicy
        self.restorePVs = restorePVs
        self.includeClusterResources = includeClusterResources
    }

    /// Checks every field and throws on the first one that Velero or Kubernetes would reject.
    ///
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput``.
    public func validate() throws {
        try KubernetesName.validateSubdomain(name, what: "restore name")
        switch source {
        case .backup(let backup): try KubernetesName.validateSubdomain(backup, what: "backup name")
        case .schedule(let schedule): try KubernetesName.validateSubdomain(schedule, what: "schedule name")
        }
        try ResourceFilter.validate(
            includedNamespaces: includedNamespaces, excludedNamespaces: excludedNamespaces,
            includedResources: includedResources, excludedResources: excludedResources)
        for (from, to) in namespaceMappings.sorted(by: { $0.key < $1.key }) {
            try KubernetesName.validateLabel(from, what: "namespace mapping source")
            try KubernetesName.validateLabel(to, what: "namespace mapping target")
        }
        let targets = namespaceMappings.values
        if Set(targets).count != targets.count {
            throw RecoveryError.invalidInput("namespace mappings send two namespaces to the same target: give each its own")
        }
    }

    /// The parameters recorded in the audit trail for this request.
    var auditParameters: JSONValue {
        var parameters = ResourceFilter.auditParameters(
            includedNamespaces: includedNamespaces, excludedNamespaces: excludedNamespaces,
            includedResources: includedResources, excludedResources: excludedResources)
        parameters.merge([
            "namespaceMappings": .object(namespaceMappings.mapValues { .string($0) }),
            "existingResourcePolicy": .string(existingResourcePolicy.rawValue),
        ]) { _, new in new }
        switch source {
        case .backup(let backup): parameters["backupName"] = .string(backup)
        case .schedule(let schedule): parameters["scheduleName"] = .string(schedule)
        }
        if let labelSelector { parameters["labelSelector"] = .string(labelSelector.description) }
        if let restorePVs { parameters["restorePVs"] = .bool(restorePVs) }
        if let includeClusterResources { parameters["includeClusterResources"] = .bool(includeClusterResources) }
        return .object(parameters)
    }
}

/// Velero's `existingResourcePolicy`: leave existing objects alone, or update them.
public enum ExistingResourcePolicy: String, Sendable, Hashable, CaseIterable {
    /// Leave objects that already exist unchanged (Velero's default).
    case none
    /// Update objects that already exist.
    case update
}

/// A Velero restore phase. Unknown phases from newer Velero versions are kept as they are.
public struct RestorePhase: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// Created, not yet processed by Velero.
    public static let new = RestorePhase(rawValue: "New")
    /// Velero rejected the spec; see the validation errors.
    public static let failedValidation = RestorePhase(rawValue: "FailedValidation")
    /// Items are being restored.
    public static let inProgress = RestorePhase(rawValue: "InProgress")
    /// Waiting for asynchronous plugin operations.
    public static let waitingForPluginOperations = RestorePhase(rawValue: "WaitingForPluginOperations")
    /// Waiting for plugin operations after some items failed.
    public static let waitingForPluginOperationsPartiallyFailed = RestorePhase(rawValue: "WaitingForPluginOperationsPartiallyFailed")
    /// Finishing up.
    public static let finalizing = RestorePhase(rawValue: "Finalizing")
    /// Finishing up after some items failed.
    public static let finalizingPartiallyFailed = RestorePhase(rawValue: "FinalizingPartiallyFailed")
    /// Finished without errors.
    public static let completed = RestorePhase(rawValue: "Completed")
    /// Finished, but some items failed.
    public static let partiallyFailed = RestorePhase(rawValue: "PartiallyFailed")
    /// Failed as a whole.
    public static let failed = RestorePhase(rawValue: "Failed")

    /// Every phase in Velero v1.18's contract.
    public static let allKnown: [RestorePhase] = [
        .new, .failedValidation, .inProgress, .waitingForPluginOperations, .waitingForPluginOperationsPartiallyFailed,
        .finalizing, .finalizingPartiallyFailed, .completed, .partiallyFailed, .failed,
    ]

    /// Whether Velero will not move the restore out of this phase by itself.
    public var isTerminal: Bool { [.completed, .partiallyFailed, .failed, .failedValidation].contains(self) }
    /// Whether the restore finished without any failure.
    public var isSuccess: Bool { self == .completed }
}

/// What Velero reports about a restore.
public struct RestoreStatus: Sendable, Hashable {
    /// The restore's name.
    public var name: String
    /// The current phase.
    public var phase: RestorePhase
    /// The backup the restore read (resolved from a schedule when the request named one).
    public var backupName: String?
    /// Items restored out of items found.
    public var progress: OperationProgress?
    /// Count of item errors.
    public var errors: Int
    /// Count of item warnings.
    public var warnings: Int
    /// Why Velero rejected the spec, for `FailedValidation`.
    public var validationErrors: [String]
    /// Why the restore failed, when Velero says.
    public var failureReason: String?
    /// When Velero started it.
    public var startTimestamp: Date?
    /// When it reached a terminal phase.
    public var completionTimestamp: Date?

    /// Creates a status.
    public init(
        name: String, phase: RestorePhase, backupName: String? = nil, progress: OperationProgress? = nil, errors: Int = 0,
        warnings: Int = 0, validationErrors: [String] = [], failureReason: String? = nil, startTimestamp: Date? = nil,
        completionTimestamp: Date? = nil
    ) {
        self.name = name
        self.phase = phase
        self.backupName = backupName
        self.progress = progress
        self.errors = errors
        self.warnings = warnings
        self.validationErrors = validationErrors
        self.failureReason = failureReason
        self.startTimestamp = startTimestamp
        self.completionTimestamp = completionTimestamp
    }

    /// Seconds from start to completion, when both are known: the measured recovery time.
    public var duration: TimeInterval? {
        guard let startTimestamp, let completionTimestamp else { return nil }
        return completionTimestamp.timeIntervalSince(startTimestamp)
    }
}
