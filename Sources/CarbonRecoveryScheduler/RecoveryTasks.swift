import CarbonRecovery
import Foundation
import Synchronization

/// The tasks a ``RecoveryPolicy`` asks of the in-process scheduler: what Velero does not do.
///
/// - `validate` (`automation.validate`): ``RecoveryCoordinator/validateNewBackups()``;
/// - `rpo-check` (`automation.rpoCheck`, when the policy has objectives):
///   ``RecoveryCoordinator/checkRecoveryPoints(_:)``, which raises RPO breached/recovered events,
///   then ``RecoveryCoordinator/measureStorage(location:prefixes:)`` for the storage metrics
///   (availability each time, the bucket's usage at most every 15 minutes);
/// - `cleanup` (`automation.cleanup`): expired and failed backups, and the schedules' retention,
///   through ``RecoveryCoordinator/cleanup(_:progress:)``;
/// - `drill/<name>` for each drill on its cron: a restore test (``RecoveryCoordinator/runDrill(_:objectives:)``),
///   or, for a `full-recovery` or `annual-exercise` drill that names a DR cluster, a recovery
///   drill there (``RecoveryCoordinator/runRecoveryDrill(_:objectives:recovery:production:)``)
///   through the coordinator `drCoordinator` makes for it; a `pitr` drill restores its
///   database's archive to a marker moment into a scratch instance and compares
///   (`PointInTimeRecovery.drill`), audited as `drill.run` like the others;
/// - for each of the policy's databases, `pg-check/<stanza>` (`automation.rpoCheck`): the archive
///   lag against its RPO on every run, and the archive's gaps from a listing of the whole archive
///   at most every 15 minutes, as metrics; and `pg-base-backup/<stanza>` on its
///   `baseBackup` cron, audited as `pg.base-backup`; with `keepBaseBackups`, `pg-cleanup/<stanza>`
///   (`automation.cleanup`), audited as `pg.cleanup` (see ``DatabaseRecoveryFactory``).
///
/// A task's run fails (and its `task.run` outcome says why) when its work found a problem a
/// person must see: a backup that could not be validated, a failed drill, a backup that could
/// not be deleted. Breached RPOs are reported as events and in the details, not as failures.
public enum RecoveryTasks {
    /// What a selected task does.
    enum Work {
        case validate, rpoCheck, cleanup
        case drill(DrillPolicy)
        case databaseCheck(DatabasePolicy)
        case baseBackup(DatabasePolicy)
        case databaseCleanup(DatabasePolicy)
    }

    /// The one place that decides which tasks a policy asks for.
    static func selected(for policy: RecoveryPolicy) -> [(
        name: String, cron: CronSchedule, work: Work
    )] {
        var selected: [(name: String, cron: CronSchedule, work: Work)] = []
        if let cron = policy.automation.validate { selected.append(("validate", cron, .validate)) }
        if let cron = policy.automation.rpoCheck, !policy.objectives.isEmpty {
            selected.append(("rpo-check", cron, .rpoCheck))
        }
        if let cron = policy.automation.cleanup { selected.append(("cleanup", cron, .cleanup)) }
        for drill in policy.drills {
            selected.append(("drill/\(drill.name)", drill.cron, .drill(drill)))
        }
        for database in policy.databases {
            if let cron = policy.automation.rpoCheck { selected.append(("pg-check/\(database.stanza)", cron, .databaseCheck(database))) }
            if let cron = database.baseBackup { selected.append(("pg-base-backup/\(database.stanza)", cron, .baseBackup(database))) }
            if let cron = policy.automation.cleanup, database.keepBaseBackups != nil {
                selected.append(("pg-cleanup/\(database.stanza)", cron, .databaseCleanup(database)))
            }
        }
        return selected
    }

    /// The names of the tasks `policy` asks for, in the order ``standard(for:coordinator:)`` makes
    /// them; empty when it asks for no scheduled work. Needs no coordinator, so a caller can refuse
    /// such a policy before opening anything.
    public static func names(for policy: RecoveryPolicy) -> [String] {
        selected(for: policy).map(\.name)
    }

    /// Makes the coordinator of a drill's DR cluster: its cluster client and backup engine,
    /// with the production coordinator's audit trail, storage and notifiers.
    public typealias DRCoordinatorFactory = @Sendable (DrillPolicy.DRCluster) async throws -> RecoveryCoordinator

    /// The tasks for `policy`, in a stable order.
    ///
    /// - Parameters:
    ///   - policy: The policy.
    ///   - coordinator: The production cluster's coordinator.
    ///   - productionIdentity: The production cluster, which a recovery drill refuses as its DR cluster.
    ///   - drCoordinator: Makes a DR cluster's coordinator; `nil` when recovery drills cannot run
    ///     here (such a drill then fails, saying so).
    ///   - databases: Opens a database's archive; `nil` when the policy's databases cannot be
    ///     reached from here (their tasks then fail, saying so).
    public static func standard(
        for policy: RecoveryPolicy, coordinator: RecoveryCoordinator, productionIdentity: ClusterIdentity? = nil,
        drCoordinator: DRCoordinatorFactory? = nil, databases: DatabaseRecoveryFactory? = nil
    ) -> [RecoveryTask] {
        let usageClock = Throttle()
        let windows = DatabaseWindows()
        return selected(for: policy).map { entry in
            RecoveryTask(name: entry.name, cron: entry.cron) { run in
                switch entry.work {
                case .validate:
                    let result = try await coordinator.validateNewBackups()
                    let details: JSONValue = .object([
                        "valid": .array(result.valid.map { .string($0) }),
                        "invalid": .object(result.invalid.mapValues { .array($0.map { .string($0) }) }),
                        "errors": .object(result.errors.mapValues { .string($0) }),
                    ])
                    guard result.errors.isEmpty else {
                        throw RecoveryError(
                            .validationFailed,
                            "could not validate \(result.errors.count) backup(s): "
                                + result.errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(
                                    separator: "; "))
                    }
                    return details
                case .rpoCheck:
                    let report = try await coordinator.checkRecoveryPoints(policy.objectives)
                    // Availability on every check (one cheap request); usage, which lists the
                    // bucket, at most every 15 minutes.
                    // Paced by the fire times, which come from the scheduler's clock.
                    let measureUsage = usageClock.due(every: 900, now: run.scheduledFor)
                    let available = await coordinator.measureStorage(prefixes: measureUsage ? ["backups/", "restores/"] : []) != nil
                    return .object([
                        "storageAvailable": .bool(available),
                        "breached": .array(report.breached.map { .string($0) }),
                        "newlyBreached": .array(report.newlyBreached.map { .string($0) }),
                        "recovered": .array(report.recovered.map { .string($0) }),
                    ])
                case .cleanup:
                    let plan = try await coordinator.planCleanup(
                        expired: true, failed: true, retention: policy.schedules)
                    guard !plan.entries.isEmpty else { return .object(["deleted": .array([])]) }
                    let result = try await coordinator.cleanup(plan)
                    guard result.failed.isEmpty else {
                        throw RecoveryError(
                            .unreachable,
                            "\(result.failed.count) backup(s) could not be deleted: "
                                + result.failed.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(
                                    separator: "; "))
                    }
                    return .object(["deleted": .array(result.deleted.map { .string($0) })])
                case .drill(let drill) where drill.kind == .pitr:
                    return try await drillDatabase(drill, policy: policy, factory: databases, coordinator: coordinator)
                case .drill(let drill) where drill.kind != .restoreTest && (drill.drCluster != nil || drill.kind == .annualExercise):
                    guard let dr = drill.drCluster, let drCoordinator else {
                        throw RecoveryError(.unsupported, "drill '\(drill.name)' recovers into a DR cluster, but \(drill.drCluster == nil ? "it names none" : "this scheduler cannot reach one")")
                    }
                    let report = try await drCoordinator(dr).runRecoveryDrill(
                        drill, objectives: policy.objectives, recovery: policy.recovery, production: productionIdentity)
                    guard report.passed, report.cleanup.map({ if case .failed = $0 { false } else { true } }) ?? true else {
                        throw RecoveryError(.validationFailed, "drill '\(drill.name)' failed: " + report.problems.joined(separator: "; "))
                    }
                    return .object([
                        "recovery": .string(report.name),
                        "recoveryTimeSeconds": .string(RestoreTestReport.seconds(report.totalTime)),
                        "achievedRPOSeconds": report.points.compactMap(\.dataLoss).max().map { .integer(Int64($0.rounded())) } ?? .null,
                        "cleanup": .string(report.cleanup?.description ?? "-"),
                    ])
                case .databaseCheck(let database):
                    return try await checkDatabase(database, recovery: try open(database, with: databases), windows: windows, now: run.scheduledFor)
                case .baseBackup(let database):
                    return try await baseBackup(database, recovery: try open(database, with: databases), coordinator: coordinator, windows: windows, now: run.scheduledFor)
                case .databaseCleanup(let database):
                    return try await cleanUp(database, recovery: try open(database, with: databases), coordinator: coordinator)
                case .drill(let drill):
                    let report = try await coordinator.runDrill(drill, objectives: policy.objectives)
                    guard report.passed else {
                        throw RecoveryError(
                            .validationFailed,
                            "drill '\(drill.name)' failed: " + report.problems.joined(separator: "; "))
                    }
                    return .object([
                        "backup": .string(report.backup),
                        "recoveryTimeSeconds": .string(RestoreTestReport.seconds(report.recoveryTime)),
                    ])
                }
            }
        }
    }
}

/// Says whether something done at most every so often is due again.
final class Throttle: Sendable {
    private let last = Mutex<Date?>(nil)

    /// `true` (and remembers now) when `seconds` have passed since the last `true`, or never was.
    func due(every seconds: TimeInterval, now: Date) -> Bool {
        last.withLock { last in
            guard last.map({ now.timeIntervalSince($0) >= seconds }) ?? true else { return false }
            last = now
            return true
        }
    }
}
