import Foundation
import Logging

/// The one way backup and recovery operations run.
///
/// Every operation is validated, then recorded in the ``AuditTrail`` as an *attempt* before
/// any side effect, then run, then recorded as an *outcome* — `success`, `failure` or
/// `abandoned` (cancelled), with the error and the duration — linked to the attempt by a
/// correlation id. A failure is recorded first and then rethrown. Invalid input is rejected
/// before the attempt is recorded: it changes nothing, not even the trail.
///
/// ```swift
/// let coordinator = RecoveryCoordinator(engine: engine, storage: storage, audit: trail, logger: logger)
/// let status = try await coordinator.backup(
///     BackupRequest(name: "smoke-1", includedNamespaces: ["data-platform"], ttl: .hours(24))
/// ) { progress in print(progress.phase, progress.progress?.itemsDone ?? 0) }
/// ```
public struct RecoveryCoordinator: Sendable {
    /// Tunables of the coordinator.
    public struct Configuration: Sendable {
        /// A backup that takes longer raises a ``RecoveryEvent/Kind/backupSlow`` event (the guide: 1 h).
        public var slowBackupThreshold: Duration
        /// A validated backup's expiration must be at least this far in the future.
        public var minimumRemainingLifetime: Duration

        /// Creates a configuration; the defaults follow the guide (slow after one hour).
        public init(slowBackupThreshold: Duration = .seconds(3600), minimumRemainingLifetime: Duration = .zero) {
            self.slowBackupThreshold = slowBackupThreshold
            self.minimumRemainingLifetime = minimumRemainingLifetime
        }
    }

    let engine: any BackupEngine
    let storage: any StorageBackend
    let audit: any AuditTrail
    let cluster: (any ClusterClient)?
    private let notifiers: [any Notifier]
    /// Records every operation's attempt and outcome.
    let operations: OperationAudit
    let configuration: Configuration
    var clock: any WallClock { operations.clock }
    func now() -> Date { operations.clock.now() }
    var logger: Logger { operations.logger }

    /// Creates a coordinator.
    ///
    /// - Parameters:
    ///   - engine: Runs backups and restores.
    ///   - storage: Where the backups are stored; used by validation.
    ///   - audit: The audit trail; required.
    ///   - cluster: When given, its ``ClusterClient/identity()`` is recorded as the actor's cluster identity.
    ///   - notifiers: Told about failures, slow backups, finished restores and refused calls.
    ///   - actor: Overrides the recorded actor (default: the OS user plus the cluster identity).
    ///   - configuration: Thresholds.
    ///   - clock: The one source of time: expiration checks, event times and durations. Inject a
    ///     `SimulatedWallClock` (`CarbonRecoveryTestKit`) to run days in a test.
    ///   - logger: Where the coordinator logs (at debug, and warnings for notifier failures); by default nowhere.
    public init(
        engine: any BackupEngine,
        storage: any StorageBackend,
        audit: any AuditTrail,
        cluster: (any ClusterClient)? = nil,
        notifiers: [any Notifier] = [],
        actor: AuditActor? = nil,
        configuration: Configuration = Configuration(),
        clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "carbon-recovery", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.engine = engine
        self.storage = storage
        self.audit = audit
        self.cluster = cluster
        self.notifiers = notifiers
        self.configuration = configuration
        self.operations = OperationAudit(audit: audit, cluster: cluster, actor: actor, clock: clock, notifiers: notifiers, logger: logger)
    }

    /// The audit trail, for this package's own readers of it (the scheduler's missed-run bookkeeping).
    package var auditTrail: any AuditTrail { audit }

    // MARK: - Operations

    /// Creates a backup and, with `wait`, waits until it finishes.
    ///
    /// A backup that ends in any phase but `Completed` is recorded as a failure and throws
    /// ``RecoveryError/Code/backupFailed``: success is only reported when it was observed.
    /// Without `wait`, the outcome records that the backup was *started* (its phase then).
    ///
    /// - Parameters:
    ///   - request: What to back up; validated first.
    ///   - wait: Wait for a terminal phase (Velero's `--wait`).
    ///   - progress: Called with each status change while waiting.
    /// - Returns: The last status observed.
    /// - Throws: ``RecoveryError`` — `invalidInput` (nothing recorded), `backupFailed`, or what the engine threw.
    @discardableResult
    public func backup(
        _ request: BackupRequest, wait: Bool = true, progress: @escaping @Sendable (BackupStatus) -> Void = { _ in }
    ) async throws -> BackupStatus {
        try request.validate()
        let target = "backup/\(request.name)"
        return try await startAndWait(
            "backup.create", target: target, parameters: request.auditParameters, wait: wait,
            start: { try await engine.startBackup(request) }, phase: \.phase.rawValue,
            waitForEnd: { try await engine.waitForBackup(named: request.name, progress: progress) }
        ) { status, correlationID, took in
            let details = Self.details(of: status)
            if took > configuration.slowBackupThreshold {
                await notify(RecoveryEvent(
                    kind: .backupSlow, severity: .warning, target: target,
                    summary: "backup '\(request.name)' took \(took) (threshold \(configuration.slowBackupThreshold))",
                    details: ["phase": status.phase.rawValue], occurredAt: now(), correlationID: correlationID))
            }
            guard status.phase.isSuccess else {
                await notify(Self.failureEvent(for: status, engine: engine, target: target, at: now(), correlationID: correlationID))
                throw RecoveryError(
                    .backupFailed, Self.failureMessage(for: status, engine: engine), operation: "backup.create", target: target)
            }
            return details
        }
    }

    /// Starts a restore and, with `wait`, waits until it finishes.
    ///
    /// The outcome records the measured duration (the recovery time to compare with the RTO).
    /// A restore that ends in any phase but `Completed` throws ``RecoveryError/Code/restoreFailed``.
    ///
    /// - Parameters:
    ///   - request: What to restore; validated first.
    ///   - wait: Wait for a terminal phase.
    ///   - progress: Called with each status change while waiting.
    /// - Returns: The last status observed.
    /// - Throws: ``RecoveryError`` — `invalidInput` (nothing recorded), `restoreFailed`, or what the engine threw.
    @discardableResult
    public func restore(
        _ request: RestoreRequest, wait: Bool = true, progress: @escaping @Sendable (RestoreStatus) -> Void = { _ in }
    ) async throws -> RestoreStatus {
        try request.validate()
        let target = "restore/\(request.name)"
        return try await startAndWait(
            "restore.create", target: target, parameters: request.auditParameters, wait: wait,
            start: { try await engine.startRestore(request) }, phase: \.phase.rawValue,
            waitForEnd: { try await engine.waitForRestore(named: request.name, progress: progress) }
        ) { status, correlationID, took in
            var details: [String: String] = ["phase": status.phase.rawValue, "errors": String(status.errors)]
            if let backup = status.backupName { details["backup"] = backup }
            if let duration = status.duration { details["durationSeconds"] = String(Int(duration.rounded())) }
            await notify(RecoveryEvent(
                kind: .restoreFinished, severity: status.phase.isSuccess ? .info : .critical, target: target,
                summary: "restore '\(request.name)' from \(request.source) finished \(status.phase) after \(took)",
                details: details, occurredAt: now(), correlationID: correlationID))
            guard status.phase.isSuccess else {
                throw RecoveryError(
                    .restoreFailed,
                    "restore '\(request.name)' finished \(status.phase) with \(status.errors) errors"
                        + (status.failureReason.map { ": \($0)" } ?? "")
                        + (status.validationErrors.isEmpty ? "" : "; validation errors: " + status.validationErrors.joined(separator: "; "))
                        + (engine.troubleshootingHint(for: .restore(named: request.name)).map { "; the item errors are in the restore's results (`\($0)`)" } ?? ""),
                    operation: "restore.create", target: target)
            }
            return .object(details.mapValues { .string($0) })
        }
    }

    /// The flow backups and restores share, inside one audited operation: start; without `wait`,
    /// record the phase it started in; with it, wait for a terminal phase and let `finish` judge
    /// the end (throw for a failure) and give the details to record.
    private func startAndWait<Status: Sendable>(
        _ operation: String, target: String, parameters: JSONValue, wait: Bool,
        start: () async throws -> Status, phase: (Status) -> String, waitForEnd: () async throws -> Status,
        finish: (_ status: Status, _ correlationID: String, _ took: Duration) async throws -> JSONValue
    ) async throws -> Status {
        var parameters = parameters
        parameters["wait"] = .bool(wait)
        return try await perform(operation, target: target, parameters: parameters) { correlationID, elapsed in
            let started = try await start()
            guard wait else { return (started, .object(["phase": .string(phase(started)), "waited": false])) }
            let status = try await waitForEnd()
            return (status, try await finish(status, correlationID, elapsed()))
        }
    }

    /// Deletes a backup and its stored data (through the engine: for Velero a `DeleteBackupRequest`).
    ///
    /// - Parameter name: The backup's name.
    /// - Throws: ``RecoveryError`` — `invalidInput` (nothing recorded), `notFound`, or what the engine threw.
    public func deleteBackup(named name: String) async throws {
        try KubernetesName.validateSubdomain(name, what: "backup name")
        let _: Bool = try await perform("backup.delete", target: "backup/\(name)", parameters: [:]) { _, _ in
            guard try await engine.backupStatus(named: name) != nil else {
                throw RecoveryError(.notFound, "backup '\(name)' does not exist" + Self.listHint(engine))
            }
            try await engine.deleteBackup(named: name)
            return (true, [:])
        }
    }

    /// Checks that a backup can be restored from: its phase, errors, expiration and stored artifacts.
    ///
    /// The outcome is `success` when the backup is valid and `failure` (with the problems) when
    /// it is not; either way the report is returned.
    ///
    /// - Parameter name: The backup's name.
    /// - Returns: What was checked and what failed.
    /// - Throws: ``RecoveryError`` — `invalidInput` (nothing recorded), `notFound`, or what the engine or storage threw.
    public func validateBackup(named name: String) async throws -> BackupValidationReport {
        try KubernetesName.validateSubdomain(name, what: "backup name")
        let target = "backup/\(name)"
        return try await perform("backup.validate", target: target, parameters: [:]) { correlationID, _ in
            guard let status = try await engine.backupStatus(named: name) else {
                throw RecoveryError(.notFound, "backup '\(name)' does not exist" + Self.listHint(engine))
            }
            let prefix = try await engine.storagePrefix(ofBackup: name)
            var report = try await BackupValidator(storage: storage, minimumRemainingLifetime: configuration.minimumRemainingLifetime)
                .validate(status: status, storagePrefix: prefix, now: now())
            do {
                let inspection = try await engine.inspectBackup(named: name, in: storage)
                report.checks += inspection.checks
                report.digests = inspection.digests
            } catch let error as RecoveryError where error.code == .unsupported {
                report.checks.append(.init(name: "inspection", status: .notChecked, detail: "not inspected: \(error.message)"))
            }
            report.startTimestamp = status.startTimestamp
            if let baseline = try await firstRecordedDigests(target: target, startTimestamp: status.startTimestamp) {
                report.compare(with: baseline.digests, sequence: baseline.sequence, recordedAt: baseline.time)
            } else if !report.digests.isEmpty {
                report.checks.append(.init(
                    name: "digests", passed: true,
                    detail: "first validation: SHA-256 digests of \(report.digests.count) artifacts recorded in the audit trail"))
            }
            if !report.isValid {
                // Stored artifacts that changed or vanished since their first validation are a
                // mismatch (someone or something rewrote the backup), not an ordinary failure.
                let mismatches = report.checks.filter { !$0.passed && $0.name.hasPrefix("digests:") }
                await notify(RecoveryEvent(
                    kind: mismatches.isEmpty ? .backupFailedValidation : .validationMismatch, severity: .critical, target: target,
                    summary: mismatches.isEmpty
                        ? "backup '\(name)' failed validation: \(report.problems.joined(separator: "; "))"
                        : "backup '\(name)': stored artifacts differ from its first validation: \(mismatches.map(\.detail).joined(separator: "; "))",
                    details: mismatches.isEmpty ? [:] : ["artifacts": mismatches.map(\.detail).joined(separator: "; ")],
                    occurredAt: now(), correlationID: correlationID))
                throw ReportedFailure(
                    result: report, details: report.auditDetails,
                    message: "backup '\(name)' failed validation: " + report.problems.joined(separator: "; "))
            }
            return (report, report.auditDetails)
        }
    }

    /// The digests of the backup's first successful validation, if that was of the same backup
    /// (same start time: a backup deleted and created again under its name starts afresh).
    private func firstRecordedDigests(target: String, startTimestamp: Date?) async throws -> (digests: [String: String], sequence: Int64, time: String)? {
        let start = startTimestamp.map(RFC3339.format)
        var query = AuditQuery(operation: "backup.validate", target: target, kind: .outcome, outcome: .success, limit: 100)
        while true {
            let page = try await audit.entries(matching: query)
            for entry in page.entries {
                if let recorded = BackupValidationReport.recordedDigests(in: entry), recorded.startTimestamp == start {
                    return (recorded.digests, entry.sequence, entry.time)
                }
            }
            guard let cursor = page.nextCursor else { return nil }
            query.afterSequence = cursor
        }
    }

    // MARK: - The audited envelope

    /// Runs `body` between an audited attempt and an audited outcome.
    ///
    /// Use it to audit an operation of your own with the same guarantees as the built-in ones;
    /// ``OperationAudit`` does the same without an engine or storage.
    ///
    /// - Parameters:
    ///   - operation: A dotted name, e.g. `drill.run`.
    ///   - target: What the operation is about.
    ///   - parameters: Recorded with the attempt (redacted).
    ///   - body: The operation. It gets the correlation id and a function returning the time
    ///     elapsed so far; it returns its result and details to record with the outcome.
    /// - Returns: The body's result.
    /// - Throws: ``RecoveryError/Code/auditFailure`` when the attempt cannot be recorded (the body
    ///   then never runs), or what the body threw (after recording it).
    public func perform<Result: Sendable>(
        _ operation: String,
        target: String,
        parameters: JSONValue,
        _ body: (_ correlationID: String, _ elapsed: @Sendable () -> Duration) async throws -> (Result, JSONValue)
    ) async throws -> Result {
        try await operations.perform(operation, target: target, parameters: parameters, body)
    }

    func notify(_ event: RecoveryEvent) async {
        for notifier in notifiers {
            do {
                try await notifier.deliver(event)
            } catch {
                logger.warning(
                    "notifier failed", metadata: ["notifier": "\(notifier.name)", "event": "\(event.kind)", "error": "\(error)"])
            }
        }
    }

    static func describe(_ error: any Error) -> String { OperationAudit.describe(error) }

    static func details(of status: BackupStatus) -> JSONValue {
        var details: [String: JSONValue] = [
            "phase": .string(status.phase.rawValue), "errors": .integer(Int64(status.errors)),
            "warnings": .integer(Int64(status.warnings)),
        ]
        if let progress = status.progress {
            details["itemsBackedUp"] = .integer(Int64(progress.itemsDone))
            details["totalItems"] = .integer(Int64(progress.totalItems))
        }
        if let expiration = status.expiration { details["expiration"] = .string(RFC3339.format(expiration)) }
        return .object(details)
    }

    static func listHint(_ engine: any BackupEngine) -> String {
        engine.troubleshootingHint(for: .allBackups).map { "; check the name against the engine's backups (`\($0)`)" } ?? ""
    }

    static func failureMessage(for status: BackupStatus, engine: any BackupEngine) -> String {
        var message = "backup '\(status.name)' finished \(status.phase) with \(status.errors) errors and \(status.warnings) warnings"
        if let reason = status.failureReason { message += ": \(reason)" }
        if !status.validationErrors.isEmpty { message += "; validation errors: " + status.validationErrors.joined(separator: "; ") }
        if let hint = engine.troubleshootingHint(for: .backup(named: status.name)) { message += "; the item errors are in the backup's results (`\(hint)`)" }
        return message
    }

    static func failureEvent(for status: BackupStatus, engine: any BackupEngine, target: String, at date: Date, correlationID: String) -> RecoveryEvent {
        let kind: RecoveryEvent.Kind =
            switch status.phase {
            case .partiallyFailed: .backupPartiallyFailed
            case .failedValidation: .backupFailedValidation
            default: .backupFailed
            }
        return RecoveryEvent(
            kind: kind, severity: .critical, target: target, summary: failureMessage(for: status, engine: engine),
            details: ["phase": status.phase.rawValue, "errors": String(status.errors), "warnings": String(status.warnings)],
            occurredAt: date, correlationID: correlationID)
    }
}

