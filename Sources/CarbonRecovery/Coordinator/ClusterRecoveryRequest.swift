import Foundation

/// What to rebuild on a new cluster after the old one is lost (the guide's third disaster).
///
/// The coordinator picks the recovery points, checks them against the target
/// (``RecoveryPreflight``), restores the cluster resources and then each namespace class,
/// critical first, and verifies every restored object against its backup.
///
/// ```swift
/// var request = ClusterRecoveryRequest(name: "rebuild-1", objectives: policy.objectives)
/// request.clusterSchedule = "weekly-full-backup"
/// request.maximumDataLoss = .seconds(24 * 3600)
/// let report = try await coordinator.recoverCluster(request)
/// print(report.totalTime, report.verification.passed)
/// ```
public struct ClusterRecoveryRequest: Sendable, Hashable {
    /// Names the recovery in the audit trail and prefixes its restores (`<name>-cluster`,
    /// `<name>-1`, …); a DNS-1123 label of at most 50 characters.
    public var name: String
    /// The namespaces to recover; empty means every namespace the cluster resources' backup
    /// holds, less ``excludedNamespaces``.
    public var namespaces: [String]
    /// Namespaces never recovered. By default the new cluster's own (`kube-system`,
    /// `kube-public`, `kube-node-lease`) and Velero's (`velero`: the new cluster has its own
    /// installation, and restoring the old one's schedules would start backups into the
    /// read-only location). Naming one in ``namespaces`` recovers it anyway.
    public var excludedNamespaces: [String]
    /// The schedule whose backups take the cluster resources (the policy's
    /// `recovery.clusterResourcesSchedule`); `nil` takes the newest validated backup that holds them.
    public var clusterSchedule: String?
    /// Restore the cluster resources from this backup rather than choosing one.
    public var clusterBackup: String?
    /// The policy's objectives: they order the namespaces (tightest RTO first) and give each
    /// its RTO and RPO to measure against.
    public var objectives: [RecoveryObjective]
    /// The whole recovery's objective, if any, besides each class's.
    public var recoveryTimeObjective: Duration?
    /// The largest data loss accepted: a part whose newest good backup completed longer ago is refused.
    public var maximumDataLoss: Duration?
    /// `source: target` namespace renames.
    public var namespaceMappings: [String: String]
    /// `old: new` storage class renames (the engine's ``BackupEngine/setStorageClassMappings(_:)``).
    public var storageClassMappings: [String: String]
    /// Choose the recovery points and run the preflight, and stop there: nothing is restored
    /// and nothing on the target changes.
    public var planOnly: Bool
    /// Validate (audited) the newest backup of a part when it has never been validated, so
    /// that it can be chosen; otherwise only backups already validated count.
    public var validatesCandidates: Bool
    /// How long each restore may take before the recovery stops waiting for it.
    public var restoreTimeout: Duration
    /// A drill: after the verification, delete what the recovery created — the namespaces it
    /// restored and the cluster-scoped objects that were not on the target before (custom
    /// resource definitions last) — and wait for the namespaces to go. The `Restore` records
    /// are kept, as evidence. Not counted in the recovery time.
    public var removesAfterVerification: Bool = false

    /// The namespaces excluded by default.
    public static let defaultExcludedNamespaces = ["kube-system", "kube-public", "kube-node-lease", "velero"]

    /// Creates a request.
    public init(
        name: String, namespaces: [String] = [], excludedNamespaces: [String] = Self.defaultExcludedNamespaces,
        clusterSchedule: String? = nil, clusterBackup: String? = nil, objectives: [RecoveryObjective] = [],
        recoveryTimeObjective: Duration? = nil, maximumDataLoss: Duration? = nil,
        namespaceMappings: [String: String] = [:], storageClassMappings: [String: String] = [:],
        planOnly: Bool = false, validatesCandidates: Bool = true, restoreTimeout: Duration = .seconds(3600)
    ) {
        self.name = name
        self.namespaces = namespaces
        self.excludedNamespaces = excludedNamespaces
        self.clusterSchedule = clusterSchedule
        self.clusterBackup = clusterBackup
        self.objectives = objectives
        self.recoveryTimeObjective = recoveryTimeObjective
        self.maximumDataLoss = maximumDataLoss
        self.namespaceMappings = namespaceMappings
        self.storageClassMappings = storageClassMappings
        self.planOnly = planOnly
        self.validatesCandidates = validatesCandidates
        self.restoreTimeout = restoreTimeout
    }

    /// Checks every name, mapping and duration.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` naming the first bad field.
    public func validate() throws {
        try KubernetesName.validateLabel(name, what: "recovery name")
        if name.count > 50 { throw RecoveryError.invalidInput("recovery name '\(name)' is longer than 50 characters; its restores are named after it") }
        for namespace in namespaces + excludedNamespaces { try KubernetesName.validateLabel(namespace, what: "namespace") }
        if let clusterSchedule { try KubernetesName.validateSubdomain(clusterSchedule, what: "schedule name") }
        if let clusterBackup { try KubernetesName.validateSubdomain(clusterBackup, what: "backup name") }
        for objective in objectives { try objective.validate() }
        for (label, duration) in [("recovery time objective", recoveryTimeObjective), ("maximum data loss", maximumDataLoss), ("restore timeout", restoreTimeout)] {
            if let duration, duration <= .zero { throw RecoveryError.invalidInput("the \(label) must be positive, not \(duration)") }
        }
        for (from, to) in namespaceMappings.sorted(by: { $0.key < $1.key }) {
            try KubernetesName.validateLabel(from, what: "namespace mapping source")
            try KubernetesName.validateLabel(to, what: "namespace mapping target")
        }
        if Set(namespaceMappings.values).count != namespaceMappings.count {
            throw RecoveryError.invalidInput("namespace mappings send two namespaces to the same target: give each its own")
        }
        for (from, to) in storageClassMappings.sorted(by: { $0.key < $1.key }) {
            try KubernetesName.validateSubdomain(from, what: "storage class mapping source")
            try KubernetesName.validateSubdomain(to, what: "storage class mapping target")
        }
    }

    var auditParameters: JSONValue {
        var parameters: [String: JSONValue] = [
            "planOnly": .bool(planOnly), "validatesCandidates": .bool(validatesCandidates), "removesAfterVerification": .bool(removesAfterVerification),
            "namespaces": .array(namespaces.map { .string($0) }), "excludedNamespaces": .array(excludedNamespaces.map { .string($0) }),
            "namespaceMappings": .object(namespaceMappings.mapValues { .string($0) }),
            "storageClassMappings": .object(storageClassMappings.mapValues { .string($0) }),
        ]
        if let clusterSchedule { parameters["clusterSchedule"] = .string(clusterSchedule) }
        if let clusterBackup { parameters["clusterBackup"] = .string(clusterBackup) }
        if let recoveryTimeObjective { parameters["recoveryTimeObjectiveSeconds"] = .string(RestoreTestReport.seconds(recoveryTimeObjective)) }
        if let maximumDataLoss { parameters["maximumDataLossSeconds"] = .string(RestoreTestReport.seconds(maximumDataLoss)) }
        return .object(parameters)
    }
}
