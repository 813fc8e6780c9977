import CarbonRecovery
import Foundation

/// The `Scheduler` for Velero: makes a set of schedule policies true as Velero `Schedule`
/// objects, the same way `VeleroDeployment` does for the whole policy.
///
/// ```swift
/// let scheduler = VeleroScheduler(cluster: cluster)
/// let plan = try await scheduler.reconcile(policy.schedules.map(\.schedule), dryRun: true)   // show it
/// _ = try await scheduler.reconcile(policy.schedules.map(\.schedule), dryRun: false)
/// ```
///
/// Schedules it writes carry `app.kubernetes.io/managed-by: carbon-recovery`. A managed schedule
/// not among the policies is deleted; schedules without the label (made by hand or by another
/// tool) are never touched. Writes are server-side applies with `--force-conflicts`. Deleting a
/// `Schedule` leaves its backups alone.
public actor VeleroScheduler: Scheduler {
    /// The cluster.
    public nonisolated let cluster: any ClusterClient
    /// Velero's namespace.
    public nonisolated let namespace: String
    /// The field manager of the applies.
    public nonisolated let fieldManager: String
    private var reconciled: [SchedulePolicy] = []

    /// Creates a scheduler for Velero in `namespace`.
    public init(cluster: any ClusterClient, namespace: String = VeleroObjects.defaultNamespace, fieldManager: String = "carbon-recovery") {
        self.cluster = cluster
        self.namespace = namespace
        self.fieldManager = fieldManager
    }

    /// The `Schedule` object for a policy, labelled as managed.
    package static func object(for policy: SchedulePolicy, namespace: String) -> KubernetesObject {
        var object = VeleroObjects.schedule(policy, namespace: namespace)
        var labels = object.json[path: ["metadata", "labels"]]?.objectValue ?? [:]
        labels[VeleroDeployment.managedByLabel] = .string(VeleroDeployment.managedByValue)
        object.json["metadata"]?["labels"] = .object(labels)
        return object
    }

    /// Plans and (unless `dryRun`) applies: create, update, unchanged, delete.
    ///
    /// - Throws: `RecoveryError.Code.invalidInput` for an invalid or duplicate policy — before
    ///   anything changes; what the cluster threw.
    public func reconcile(_ policies: [SchedulePolicy], dryRun: Bool) async throws -> SchedulePlan {
        try KubernetesName.validateLabel(namespace, what: "Velero namespace")
        for policy in policies { try policy.validate() }
        try RecoveryError.requireUnique(policies.map(\.name), what: "schedule")
        var steps: [SchedulePlan.Step] = []
        var writes: [KubernetesObject] = []
        for policy in policies.sorted(by: { $0.name < $1.name }) {
            let desired = Self.object(for: policy, namespace: namespace)
            let live = try await cluster.get(try ObjectReference(kind: .veleroSchedule, namespace: namespace, name: policy.name))
            let action: SchedulePlan.Action =
                if let live { VeleroDeployment.differences(desired: desired.json, live: live.json, path: "").isEmpty ? .unchanged : .update } else { .create }
            steps.append(.init(action: action, schedule: policy.name))
            if action != .unchanged { writes.append(desired) }
        }
        let orphans = try await Self.orphanedSchedules(keeping: Set(policies.map(\.name)), namespace: namespace, cluster: cluster).compactMap(\.name)
        steps += orphans.map { .init(action: .delete, schedule: $0) }
        guard !dryRun else { return SchedulePlan(steps: steps) }
        for object in writes { _ = try await cluster.forceApply(object, fieldManager: fieldManager) }
        for name in orphans { try await cluster.delete(try ObjectReference(kind: .veleroSchedule, namespace: namespace, name: name), ignoreNotFound: true) }
        reconciled = policies
        return SchedulePlan(steps: steps)
    }

    /// The `Schedule`s in `namespace` that this package manages (labelled
    /// `app.kubernetes.io/managed-by: carbon-recovery`) and that are not in `wanted`, by name:
    /// what a reconcile deletes. Schedules made by hand are never among them.
    static func orphanedSchedules(keeping wanted: Set<String>, namespace: String, cluster: any ClusterClient) async throws -> [KubernetesObject] {
        let selector = try LabelSelector(matchLabels: [VeleroDeployment.managedByLabel: VeleroDeployment.managedByValue])
        return try await cluster.list(.veleroSchedule, namespace: namespace, labelSelector: selector)
            .filter { !wanted.contains($0.name ?? "") }
            .sorted { ($0.name ?? "") < ($1.name ?? "") }
    }

    /// The next run of each unpaused schedule last reconciled by this scheduler.
    public func nextRuns(after date: Date) async throws -> [String: Date] {
        Dictionary(uniqueKeysWithValues: reconciled.filter { !$0.paused }.compactMap { policy in policy.cron.nextFire(after: date).map { (policy.name, $0) } })
    }
}
