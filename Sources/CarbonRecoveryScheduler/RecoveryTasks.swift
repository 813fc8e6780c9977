import CarbonRecovery
import Foundation

/// The tasks a ``RecoveryPolicy`` asks of the in-process scheduler: what Velero does not do.
///
/// - `validate` (`automation.validate`): ``RecoveryCoordinator/validateNewBackups()``;
/// - `rpo-check` (`automation.rpoCheck`, when the policy has objectives):
///   ``RecoveryCoordinator/checkRecoveryPoints(_:)``, which raises RPO breached/recovered events;
/// - `cleanup` (`automation.cleanup`): expired and failed backups, and the schedules' retention,
///   through ``RecoveryCoordinator/cleanup(_:progress:)``;
/// - `drill/<name>` for each drill on its cron: ``RecoveryCoordinator/runDrill(_:objectives:)``.
///
/// A task's run fails (and its `task.run` outcome says why) when its work found a problem a
/// person must see: a backup that could not be validated, a failed drill, a backup that could
/// not be deleted. Breached RPOs are reported as events and in the details, not as failures.
public enum RecoveryTasks {
    /// The tasks for `policy`, in a stable order.
    public static func standard(for policy: RecoveryPolicy, coordinator: RecoveryCoordinator) -> [RecoveryTask] {
        var tasks: [RecoveryTask] = []
        if let cron = policy.automation.validate {
            tasks.append(RecoveryTask(name: "validate", cron: cron) { _ in
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
                            + result.errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "))
                }
                return details
            })
        }
        if let cron = policy.automation.rpoCheck, !policy.objectives.isEmpty {
            tasks.append(RecoveryTask(name: "rpo-check", cron: cron) { _ in
                let report = try await coordinator.checkRecoveryPoints(policy.objectives)
                return .object([
                    "breached": .array(report.breached.map { .string($0) }),
                    "newlyBreached": .array(report.newlyBreached.map { .string($0) }),
                    "recovered": .array(report.recovered.map { .string($0) }),
                ])
            })
        }
        if let cron = policy.automation.cleanup {
            tasks.append(RecoveryTask(name: "cleanup", cron: cron) { _ in
                let plan = try await coordinator.planCleanup(expired: true, failed: true, retention: policy.schedules)
                guard !plan.entries.isEmpty else { return .object(["deleted": .array([])]) }
                let result = try await coordinator.cleanup(plan)
                guard result.failed.isEmpty else {
                    throw RecoveryError(
                        .unreachable,
                        "\(result.failed.count) backup(s) could not be deleted: "
                            + result.failed.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "))
                }
                return .object(["deleted": .array(result.deleted.map { .string($0) })])
            })
        }
        for drill in policy.drills {
            tasks.append(RecoveryTask(name: "drill/\(drill.name)", cron: drill.cron) { _ in
                let report = try await coordinator.runDrill(drill, objectives: policy.objectives)
                guard report.passed else {
                    throw RecoveryError(.validationFailed, "drill '\(drill.name)' failed: " + report.problems.joined(separator: "; "))
                }
                return .object([
                    "backup": .string(report.backup), "recoveryTimeSeconds": .string(RestoreTestReport.seconds(report.recoveryTime)),
                ])
            })
        }
        return tasks
    }
}
