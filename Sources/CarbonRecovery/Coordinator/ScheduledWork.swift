import Foundation
import Metrics

/// Where each objective namespace stands against its RPO, from one ``RecoveryCoordinator/checkRecoveryPoints(_:)``.
public struct RecoveryPointReport: Sendable, Hashable {
    /// One namespace of one objective.
    public struct Entry: Sendable, Hashable {
        /// The namespace.
        public var namespace: String
        /// The objective's class.
        public var objective: String
        /// The objective's RPO.
        public var rpo: GoDuration
        /// The newest `Completed` backup holding the whole namespace.
        public var lastBackup: String?
        /// When it completed.
        public var lastBackupAt: Date?
        /// Its age at the check.
        public var age: TimeInterval?

        /// Creates an entry.
        public init(namespace: String, objective: String, rpo: GoDuration, lastBackup: String?, lastBackupAt: Date?, age: TimeInterval?) {
            self.namespace = namespace
            self.objective = objective
            self.rpo = rpo
            self.lastBackup = lastBackup
            self.lastBackupAt = lastBackupAt
            self.age = age
        }

        /// Whether the newest good backup is no older than the RPO.
        public var met: Bool { age.map { $0 <= rpo.timeInterval } ?? false }
    }

    /// Every namespace of every objective, in the policy's order.
    public var entries: [Entry]
    /// When the check ran.
    public var checkedAt: Date
    /// Namespaces breached now that were met (or not known) at the previous check.
    public var newlyBreached: [String]
    /// Namespaces met now that were breached at the previous check.
    public var recovered: [String]

    /// Creates a report.
    public init(entries: [Entry], checkedAt: Date, newlyBreached: [String] = [], recovered: [String] = []) {
        self.entries = entries
        self.checkedAt = checkedAt
        self.newlyBreached = newlyBreached
        self.recovered = recovered
    }

    /// The namespaces whose RPO is breached.
    public var breached: [String] { entries.filter { !$0.met }.map(\.namespace) }
}

/// What one ``RecoveryCoordinator/validateNewBackups()`` did.
public struct NewBackupValidation: Sendable, Hashable {
    /// Backups validated and found good.
    public var valid: [String]
    /// Backups that failed validation, with their problems.
    public var invalid: [String: [String]]
    /// Backups that could not be validated (gone meanwhile, storage unreachable), with the error.
    public var errors: [String: String]

    /// Creates a result.
    public init(valid: [String] = [], invalid: [String: [String]] = [:], errors: [String: String] = [:]) {
        self.valid = valid
        self.invalid = invalid
        self.errors = errors
    }
}

extension RecoveryCoordinator {
    /// The backups that have a recorded `backup.validate` outcome: successful ones only, or any.
    func validatedBackupNames(successfulOnly: Bool) async throws -> Set<String> {
        var names: Set<String> = []
        var query = AuditQuery(operation: "backup.validate", kind: .outcome, outcome: successfulOnly ? .success : nil, limit: AuditQuery.maximumLimit)
        while true {
            let page = try await audit.entries(matching: query)
            for entry in page.entries where entry.target.hasPrefix("backup/") && entry.outcome != .abandoned {
                names.insert(String(entry.target.dropFirst("backup/".count)))
            }
            guard let cursor = page.nextCursor else { return names }
            query.afterSequence = cursor
        }
    }

    /// Validates every `Completed` backup that has never been validated (no `backup.validate`
    /// outcome in the audit trail), oldest first — each an audited ``validateBackup(named:)``, so
    /// its artifacts' digests are recorded for later comparisons. A backup that failed
    /// validation once is not validated again on every run; `backup validate` does that on demand.
    ///
    /// Run by the in-process scheduler (`carbon-recovery run`) on `automation.validate`.
    public func validateNewBackups() async throws -> NewBackupValidation {
        let seen = try await validatedBackupNames(successfulOnly: false)
        let fresh = try await engine.listBackups().filter { $0.phase == .completed && !seen.contains($0.name) }
            .sorted { ($0.completionTimestamp ?? .distantPast, $0.name) < ($1.completionTimestamp ?? .distantPast, $1.name) }
        var result = NewBackupValidation()
        for backup in fresh {
            try Task.checkCancellation()
            do {
                let report = try await validateBackup(named: backup.name)
                if report.isValid { result.valid.append(backup.name) } else { result.invalid[backup.name] = report.problems }
            } catch let error as RecoveryError where error.code != .auditFailure {
                result.errors[backup.name] = Self.describe(error)
            }
        }
        return result
    }

    /// Checks each objective namespace's newest `Completed` backup that holds the whole
    /// namespace (``BackupStatus/holds(namespace:)``: named, or in a backup of every namespace) against its RPO, audited as `rpo.check`.
    ///
    /// A namespace that becomes breached raises ``RecoveryEvent/Kind/rpoBreached``; one that is
    /// met again after a breach raises ``RecoveryEvent/Kind/rpoRecovered``. "Before" is the
    /// previous `rpo.check` in the audit trail, so a restart neither repeats nor loses a
    /// transition. The check succeeds whatever it finds; the breaches are in its details.
    public func checkRecoveryPoints(_ objectives: [RecoveryObjective]) async throws -> RecoveryPointReport {
        let parameters: JSONValue = .object(["namespaces": .integer(Int64(objectives.reduce(0) { $0 + $1.namespaces.count }))])
        return try await perform("rpo.check", target: "objectives", parameters: parameters) { correlationID, _ in
            let previous = try await previouslyBreached()
            let backups = try await engine.listBackups().filter { $0.phase == .completed && $0.completionTimestamp != nil }
            let checkedAt = now()
            var entries: [RecoveryPointReport.Entry] = []
            for objective in objectives {
                for namespace in objective.namespaces {
                    let newest = backups.filter { $0.holds(namespace: namespace) }.max { $0.completionTimestamp! < $1.completionTimestamp! }
                    entries.append(.init(
                        namespace: namespace, objective: objective.namespaceClass, rpo: objective.rpo, lastBackup: newest?.name,
                        lastBackupAt: newest?.completionTimestamp, age: newest.map { checkedAt.timeIntervalSince($0.completionTimestamp!) }))
                }
            }
            for entry in entries {
                let dimensions = [("namespace", entry.namespace)]
                Gauge(label: RecoveryMetrics.namespaceRPO, dimensions: dimensions).record(Double(entry.rpo.nanoseconds) / 1e9)
                if let at = entry.lastBackupAt, let age = entry.age {
                    Gauge(label: RecoveryMetrics.namespaceLastBackup, dimensions: dimensions).record(at.timeIntervalSince1970)
                    Gauge(label: RecoveryMetrics.namespaceRPOAge, dimensions: dimensions).record(age)
                }
            }
            var report = RecoveryPointReport(entries: entries, checkedAt: checkedAt)
            let breachedNow = Set(report.breached)
            report.newlyBreached = report.breached.filter { name in previous.map { !$0.contains(name) } ?? true }.removingDuplicates()
            report.recovered = entries.filter { $0.met && (previous?.contains($0.namespace) ?? false) && !breachedNow.contains($0.namespace) }
                .map(\.namespace).removingDuplicates()
            for entry in entries where report.newlyBreached.contains(entry.namespace) {
                await notify(RecoveryEvent(
                    kind: .rpoBreached, severity: .critical, target: "namespace/\(entry.namespace)",
                    summary: entry.lastBackup.map { "namespace '\(entry.namespace)': newest good backup '\($0)' is \(Int(entry.age ?? 0)) s old, RPO \(entry.rpo)" }
                        ?? "namespace '\(entry.namespace)' has no Completed backup holding it; RPO \(entry.rpo)",
                    details: ["objective": entry.objective, "rpo": entry.rpo.description, "lastBackup": entry.lastBackup ?? ""],
                    occurredAt: checkedAt, idempotencyKey: "rpo-breached:\(entry.namespace):\(entry.lastBackup ?? "none")", correlationID: correlationID))
            }
            for entry in entries where report.recovered.contains(entry.namespace) {
                await notify(RecoveryEvent(
                    kind: .rpoRecovered, severity: .info, target: "namespace/\(entry.namespace)",
                    summary: "namespace '\(entry.namespace)' meets its RPO \(entry.rpo) again with backup '\(entry.lastBackup ?? "?")'",
                    details: ["objective": entry.objective, "lastBackup": entry.lastBackup ?? ""], occurredAt: checkedAt,
                    idempotencyKey: "rpo-recovered:\(entry.namespace):\(entry.lastBackup ?? "none")", correlationID: correlationID))
            }
            let details: JSONValue = .object([
                "breached": .array(report.breached.removingDuplicates().map { .string($0) }),
                "newlyBreached": .array(report.newlyBreached.map { .string($0) }),
                "recovered": .array(report.recovered.map { .string($0) }),
                "ages": .object(Dictionary(entries.map { ($0.namespace, JSONValue.string($0.age.map { String(Int($0)) } ?? "none")) }, uniquingKeysWith: { $1 })),
            ])
            return (report, details)
        }
    }

    /// Checks that the backup storage answers and measures what it holds under `prefixes` (a
    /// listing of each: pass none to check availability only), for
    /// the metrics (`carbon_recovery_storage_location_available`, `carbon_recovery_storage_bytes`,
    /// `carbon_recovery_storage_objects`). When the storage does not answer, a
    /// ``RecoveryEvent/Kind/storageLocationUnavailable`` event is raised (the durable outbox
    /// drops repeats within its dedupe window). Reads only; not audited.
    ///
    /// - Returns: The usage per prefix (empty when `prefixes` is), or `nil` when the storage did not answer.
    @discardableResult
    public func measureStorage(location: String = "default", prefixes: [String] = ["backups/", "restores/"]) async -> [String: StorageUsage]? {
        let available = Gauge(label: RecoveryMetrics.storageAvailable, dimensions: [("location", location)])
        do {
            try await storage.checkAccess()
            var usage: [String: StorageUsage] = [:]
            for prefix in prefixes {
                let measured = try await storage.usage(prefix: prefix)
                usage[prefix] = measured
                Gauge(label: RecoveryMetrics.storageBytes, dimensions: [("prefix", prefix)]).record(measured.bytes)
                Gauge(label: RecoveryMetrics.storageObjects, dimensions: [("prefix", prefix)]).record(measured.objects)
            }
            available.record(1)
            return usage
        } catch {
            available.record(0)
            let at = now()
            await notify(RecoveryEvent(
                kind: .storageLocationUnavailable, severity: .critical, target: "storage/\(location)",
                summary: "backup storage location '\(location)' did not answer: \(Self.describe(error))", occurredAt: at,
                idempotencyKey: "storage-unavailable:\(location):\(Int64(at.timeIntervalSince1970) / 600)"))
            return nil
        }
    }

    /// The breached namespaces of the newest successful `rpo.check`, or `nil` when there is none.
    private func previouslyBreached() async throws -> Set<String>? {
        let page = try await audit.entries(matching: AuditQuery(operation: "rpo.check", kind: .outcome, outcome: .success, limit: 1, newestFirst: true))
        guard let entry = page.entries.first, let details = try? JSONValue(parsing: Array(entry.parameters.utf8)) else { return nil }
        return Set(details["breached"]?.arrayValue?.compactMap(\.stringValue) ?? [])
    }

    /// Runs a drill: a restore test (``testRestore(_:progress:)``) of the newest `Completed`
    /// backup of the drill's schedule, against the smallest RTO of the objectives whose
    /// namespaces it holds. A `full-recovery` drill also fails when the backup does not hold
    /// every namespace of those objectives. Both are non-destructive: they restore into scratch
    /// namespaces.
    ///
    /// - Throws: ``RecoveryError`` — `notFound` when the schedule has no completed backup (recorded
    ///   as a failed `drill.run`), `invalidInput` for a `pitr` drill (nothing recorded), or what the restore test threw.
    public func runDrill(_ drill: DrillPolicy, objectives: [RecoveryObjective]) async throws -> RestoreTestReport {
        guard drill.kind != .pitr else {
            throw RecoveryError.invalidInput("drill '\(drill.name)' is a database's point-in-time recovery drill; run it with PointInTimeRecovery.drill")
        }
        let parameters: JSONValue = .object(["kind": .string(drill.kind.rawValue), "schedule": .string(drill.schedule)])
        return try await perform("drill.run", target: "drill/\(drill.name)", parameters: parameters) { _, _ in
            let completed = try await engine.listBackups().filter { $0.scheduleName == drill.schedule && $0.phase == .completed }
            guard let newest = completed.max(by: { ($0.completionTimestamp ?? .distantPast, $0.name) < ($1.completionTimestamp ?? .distantPast, $1.name) }) else {
                throw RecoveryError(.notFound, "drill '\(drill.name)': schedule '\(drill.schedule)' has no Completed backup to restore; is the schedule deployed (carbon-recovery status)?")
            }
            let held = Set(newest.namespaces)
            let relevant = objectives.filter { !held.isDisjoint(with: $0.namespaces) }
            let rto = relevant.map(\.rto).min { $0.nanoseconds < $1.nanoseconds }
            let report = try await testRestore(RestoreTestRequest(backup: newest.name, recoveryTimeObjective: rto.map { .nanoseconds($0.nanoseconds) }))
            var details = report.auditDetails
            details["backup"] = .string(newest.name)
            guard report.passed else {
                throw ReportedFailure(
                    result: report, details: details, message: "drill '\(drill.name)' on backup '\(newest.name)' failed: " + report.problems.joined(separator: "; "))
            }
            if drill.kind == .fullRecovery {
                let absent = Set(relevant.flatMap(\.namespaces)).subtracting(held).sorted()
                if !absent.isEmpty {
                    throw ReportedFailure(
                        result: report, details: details,
                        message: "full-recovery drill '\(drill.name)': backup '\(newest.name)' does not hold \(absent.joined(separator: ", ")) of the objectives it serves")
                }
            }
            return (report, details)
        }
    }
}

extension Array where Element: Hashable {
    func removingDuplicates() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
