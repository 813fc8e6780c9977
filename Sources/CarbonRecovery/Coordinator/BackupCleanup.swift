import Foundation

/// Which backups a cleanup removes, and why — shown before anything is deleted.
///
/// ```swift
/// let plan = try await coordinator.planCleanup(expired: true, failed: true)
/// for entry in plan.entries { print(entry.backup.name, entry.reason) }
/// let result = try await coordinator.cleanup(plan)
/// ```
public struct CleanupPlan: Sendable, Hashable {
    /// Why a backup is in the plan.
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// Its expiration has passed (Velero's garbage collection would remove it too).
        case expired(Date)
        /// It finished in a failed phase.
        case failed(BackupPhase)
        /// The schedule's retention rules keep it no longer (``RetentionPlanner``).
        case retention(schedule: String)

        public var description: String {
            switch self {
            case .expired(let date): "expired \(RFC3339.format(date))"
            case .failed(let phase): "finished \(phase)"
            case .retention(let schedule): "retention of \(schedule): no keep rule holds it"
            }
        }
    }

    /// One backup to delete.
    public struct Entry: Sendable, Hashable {
        /// The backup as listed when planning.
        public var backup: BackupStatus
        /// Why it is deleted.
        public var reason: Reason

        /// Creates an entry.
        public init(backup: BackupStatus, reason: Reason) {
            self.backup = backup
            self.reason = reason
        }
    }

    /// The backups to delete, oldest first.
    public var entries: [Entry]
    /// Backups left alone although they matched, and why (for example: already being deleted).
    public var skipped: [String: String]
    /// Backups retention keeps → the rules that keep them (empty without retention).
    public var kept: [String: [String]]

    /// Creates a plan.
    public init(entries: [Entry], skipped: [String: String] = [:], kept: [String: [String]] = [:]) {
        self.entries = entries
        self.skipped = skipped
        self.kept = kept
    }
}

/// What ``RecoveryCoordinator/cleanup(_:progress:)`` did.
public struct CleanupResult: Sendable, Hashable {
    /// Backups deleted with their data.
    public var deleted: [String]
    /// Backups whose deletion failed → the error.
    public var failed: [String: String]

    /// Creates a result.
    public init(deleted: [String], failed: [String: String]) {
        self.deleted = deleted
        self.failed = failed
    }
}

extension RecoveryCoordinator {
    /// Plans the guide's cleanup: expired backups, failed backups, or both. Reads only.
    ///
    /// Failed means `Failed`, `PartiallyFailed` or `FailedValidation`. Backups already in
    /// `Deleting` are skipped (a deletion is under way or stuck; `backup describe` shows why).
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when neither kind is asked for.
    public func planCleanup(expired: Bool, failed: Bool) async throws -> CleanupPlan {
        guard expired || failed else {
            throw RecoveryError.invalidInput("choose what to clean up: expired backups, failed backups, or both (--expired, --failed)")
        }
        let at = now()
        var entries: [CleanupPlan.Entry] = []
        var skipped: [String: String] = [:]
        for backup in try await engine.listBackups() {
            var reason: CleanupPlan.Reason?
            if failed, [.failed, .partiallyFailed, .failedValidation].contains(backup.phase) { reason = .failed(backup.phase) }
            if reason == nil, expired, let expiration = backup.expiration, expiration <= at { reason = .expired(expiration) }
            guard let reason else { continue }
            if backup.phase == .deleting {
                skipped[backup.name] = "already being deleted"
                continue
            }
            entries.append(.init(backup: backup, reason: reason))
        }
        entries.sort { ($0.backup.startTimestamp ?? .distantPast, $0.backup.name) < ($1.backup.startTimestamp ?? .distantPast, $1.backup.name) }
        return CleanupPlan(entries: entries, skipped: skipped)
    }

    /// Plans retention beyond Velero's TTL for the given schedules (``RetentionPlanner``): each
    /// schedule's `Completed` backups (by their `velero.io/schedule-name`) that no keep rule holds,
    /// except the newest validated backup of each namespace — validated meaning a successful
    /// `backup.validate` in the audit trail. Reads only.
    ///
    /// - Parameter schedules: The policy's schedules; one without keep rules contributes nothing.
    public func planRetention(_ schedules: [ScheduledBackup]) async throws -> CleanupPlan {
        let backups = try await engine.listBackups()
        let validated = try await validatedBackupNames(successfulOnly: true)
        var entries: [CleanupPlan.Entry] = []
        var kept: [String: [String]] = [:]
        let planner = RetentionPlanner()
        for schedule in schedules {
            let own = backups.filter { $0.scheduleName == schedule.schedule.name && $0.phase == .completed && $0.completionTimestamp != nil }
            let candidates = own.map { RetentionCandidate(name: $0.name, completedAt: $0.completionTimestamp!, namespaces: $0.namespaces) }
            let decision = planner.plan(candidates, policy: schedule.retention, validated: validated)
            kept.merge(decision.keep) { $0 + $1 }
            let byName = Dictionary(uniqueKeysWithValues: own.map { ($0.name, $0) })
            entries += decision.delete.compactMap { candidate in
                byName[candidate.name].map { CleanupPlan.Entry(backup: $0, reason: .retention(schedule: schedule.schedule.name)) }
            }
        }
        return CleanupPlan(entries: entries, kept: kept)
    }

    /// One plan for the guide's cleanup and the policy's retention: ``planCleanup(expired:failed:)``
    /// plus ``planRetention(_:)``, each backup once (with the first reason found). Reads only.
    public func planCleanup(expired: Bool, failed: Bool, retention schedules: [ScheduledBackup]) async throws -> CleanupPlan {
        var plan = expired || failed ? try await planCleanup(expired: expired, failed: failed) : CleanupPlan(entries: [])
        guard !schedules.isEmpty else { return plan }
        let kept = try await planRetention(schedules)
        let planned = Set(plan.entries.map(\.backup.name))
        plan.entries += kept.entries.filter { !planned.contains($0.backup.name) }
        plan.kept = kept.kept
        return plan
    }

    /// Deletes the backups of a plan, each through ``deleteBackup(named:)`` (for Velero a
    /// `DeleteBackupRequest`: the object *and* its data), each audited on its own, inside one
    /// audited `backup.cleanup` operation.
    ///
    /// A backup that has gone since planning counts as deleted. One failure does not stop the
    /// others; if any failed, the outcome is a failure and the result says which.
    ///
    /// - Parameters:
    ///   - plan: From ``planCleanup(expired:failed:)``, typically shown to a person first.
    ///   - progress: Called before each deletion with the entry.
    public func cleanup(_ plan: CleanupPlan, progress: @escaping @Sendable (CleanupPlan.Entry) -> Void = { _ in }) async throws -> CleanupResult {
        let parameters: JSONValue = .object([
            "backups": .array(plan.entries.map { .string($0.backup.name) }),
            "reasons": .object(Dictionary(plan.entries.map { ($0.backup.name, JSONValue.string($0.reason.description)) }, uniquingKeysWith: { first, _ in first })),
        ])
        return try await perform("backup.cleanup", target: "backups", parameters: parameters) { _, _ in
            var deleted: [String] = []
            var failures: [String: String] = [:]
            for entry in plan.entries {
                try Task.checkCancellation()
                progress(entry)
                do {
                    try await deleteBackup(named: entry.backup.name)
                    deleted.append(entry.backup.name)
                } catch let error as RecoveryError where error.code == .notFound {
                    deleted.append(entry.backup.name)
                } catch {
                    failures[entry.backup.name] = Self.describe(error)
                }
            }
            let result = CleanupResult(deleted: deleted, failed: failures)
            let details: JSONValue = .object([
                "deleted": .array(deleted.map { .string($0) }),
                "failed": .object(failures.mapValues { .string($0) }),
            ])
            guard failures.isEmpty else {
                throw ReportedFailure(
                    result: result, details: details,
                    message: "\(failures.count) of \(plan.entries.count) backups could not be deleted: "
                        + failures.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; "))
            }
            return (result, details)
        }
    }
}
