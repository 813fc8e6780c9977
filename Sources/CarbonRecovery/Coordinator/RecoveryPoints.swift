import Foundation

/// Where a whole-cluster recovery restores each part from, and how much data each loses.
public struct RecoveryPoint: Sendable, Hashable {
    /// What one recovery point restores.
    public enum Scope: Sendable, Hashable, CustomStringConvertible {
        /// Cluster-scoped resources: CRDs, cluster roles and bindings, storage and priority classes, ….
        case clusterResources
        /// One namespace and everything in it.
        case namespace(String)

        public var description: String {
            switch self {
            case .clusterResources: "cluster resources"
            case .namespace(let name): "namespace \(name)"
            }
        }
    }

    /// The part restored.
    public var scope: Scope
    /// The backup it is restored from; `nil` when no good backup holds it.
    public var backup: BackupStatus?
    /// The objective the namespace falls under, if any.
    public var objective: RecoveryObjective?
    /// The data-loss window: from the backup's completion to now (as the RPO check measures it).
    public var dataLoss: TimeInterval?

    /// Creates a recovery point.
    public init(scope: Scope, backup: BackupStatus?, objective: RecoveryObjective?, dataLoss: TimeInterval?) {
        self.scope = scope
        self.backup = backup
        self.objective = objective
        self.dataLoss = dataLoss
    }

    /// Whether the data loss is within the objective's RPO; `nil` without an objective or a backup.
    public var meetsRPO: Bool? {
        guard let objective, let dataLoss else { return nil }
        return dataLoss <= objective.rpo.timeInterval
    }

    /// Chooses the recovery points of a whole-cluster recovery, in the order to restore them:
    /// cluster resources first, then namespaces by objective — the tightest RTO first, then
    /// the tightest RPO, then namespaces without an objective — by name within each.
    ///
    /// - Parameters:
    ///   - backups: Every backup the engine lists.
    ///   - validated: The backups with a successful validation (``RecoveryCoordinator`` reads
    ///     them from the audit trail); only these count.
    ///   - namespaces: The namespaces to recover.
    ///   - clusterSchedule: The schedule whose backups hold the cluster resources; `nil` takes
    ///     any backup that holds them.
    ///   - objectives: The policy's objectives.
    ///   - now: From the injected clock.
    /// - Returns: One point for the cluster resources and one per namespace; a point without a
    ///   backup means no `Completed`, validated backup holds that part.
    public static func select(
        backups: [BackupStatus], validated: Set<String>, namespaces: [String], clusterSchedule: String?,
        objectives: [RecoveryObjective], now: Date
    ) -> [RecoveryPoint] {
        let good = backups.filter { $0.phase == .completed && $0.completionTimestamp != nil && validated.contains($0.name) }
        func newest(_ candidates: [BackupStatus]) -> BackupStatus? {
            candidates.max { ($0.completionTimestamp!, $0.name) < ($1.completionTimestamp!, $1.name) }
        }
        func point(_ scope: Scope, _ backup: BackupStatus?, _ objective: RecoveryObjective?) -> RecoveryPoint {
            RecoveryPoint(scope: scope, backup: backup, objective: objective, dataLoss: backup.map { now.timeIntervalSince($0.completionTimestamp!) })
        }
        let cluster = newest(good.filter { $0.includesClusterResources && (clusterSchedule == nil || $0.scheduleName == clusterSchedule) })
        var points = [point(.clusterResources, cluster, nil)]
        let objectiveOf = { (namespace: String) in objectives.first { $0.namespaces.contains(namespace) } }
        let ordered = Set(namespaces).sorted { a, b in
            let (x, y) = (objectiveOf(a), objectiveOf(b))
            let keyA = (x == nil ? 1 : 0, x?.rto.nanoseconds ?? 0, x?.rpo.nanoseconds ?? 0, a)
            let keyB = (y == nil ? 1 : 0, y?.rto.nanoseconds ?? 0, y?.rpo.nanoseconds ?? 0, b)
            return keyA < keyB
        }
        for namespace in ordered {
            points.append(point(.namespace(namespace), newest(good.filter { $0.holds(namespace: namespace) }), objectiveOf(namespace)))
        }
        return points
    }
}
