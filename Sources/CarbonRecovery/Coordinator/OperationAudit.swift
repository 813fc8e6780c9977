import Foundation
import Logging

/// Runs operations between an audited attempt and an audited outcome: the envelope every
/// ``RecoveryCoordinator`` operation runs in, for work that needs neither a backup engine nor
/// storage (deploying Velero's objects, reconciling schedules, an operation of your own).
///
/// The attempt is recorded before the operation starts, who and on which cluster included; the
/// outcome — `success`, `failure`, `abandoned` (cancelled) or `denied`, with the error and the
/// duration — after it ends, linked by a correlation id. If the attempt cannot be recorded, the
/// operation does not run.
///
/// `denied` is an operation that threw ``RecoveryError/Code/unauthorized`` or
/// ``RecoveryError/Code/forbidden``: the API server or the storage refused one of its calls. The
/// outcome's parameters then hold `denied` — the error's ``AccessDenial`` (the identity used and
/// what was refused; the identity defaults to the actor's cluster identity) — each notifier gets
/// an ``RecoveryEvent/Kind/accessDenied`` event, and `carbon_recovery_access_denied_total`
/// counts it.
///
/// ```swift
/// let audited = OperationAudit(audit: trail, cluster: cluster, logger: logger)
/// try await audited.perform("deploy.apply", target: "velero/velero", parameters: ["config": "carbon-recovery.yaml"]) { _, _ in
///     try await deployment.apply(change)
///     return ((), [:])
/// }
/// ```
public struct OperationAudit: Sendable {
    let audit: any AuditTrail
    let cluster: (any ClusterClient)?
    private let fixedActor: AuditActor?
    let clock: any WallClock
    let notifiers: [any Notifier]
    let logger: Logger

    /// Creates the envelope.
    ///
    /// - Parameters:
    ///   - audit: The audit trail; required.
    ///   - cluster: When given, its ``ClusterClient/identity()`` is recorded as the actor's cluster identity.
    ///   - actor: Overrides the recorded actor (default: the OS user plus the cluster identity).
    ///   - clock: The time: durations and the operation metrics' timestamps; inject a
    ///     `SimulatedWallClock` to control both.
    ///   - notifiers: Told when a call is refused (``RecoveryEvent/Kind/accessDenied``).
    ///   - logger: Where it logs (debug, and a warning when a notifier fails); by default nowhere.
    public init(
        audit: any AuditTrail, cluster: (any ClusterClient)? = nil, actor: AuditActor? = nil, clock: any WallClock = SystemWallClock(),
        notifiers: [any Notifier] = [],
        logger: Logger = Logger(label: "carbon-recovery", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.audit = audit
        self.cluster = cluster
        self.fixedActor = actor
        self.clock = clock
        self.notifiers = notifiers
        self.logger = logger
    }

    /// Runs `body` between an audited attempt and an audited outcome.
    ///
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
        let actor = await resolveActor()
        let correlationID = UUID().uuidString.lowercased()
        do {
            _ = try await audit.record(.attempt(
                operation: operation, target: target, parameters: parameters, actor: actor, correlationID: correlationID))
        } catch {
            throw RecoveryError(
                .auditFailure, "could not record the attempt in the audit trail, so '\(operation)' was not started",
                operation: operation, target: target, underlying: error)
        }
        logger.debug("operation started", metadata: ["operation": "\(operation)", "target": "\(target)", "correlation-id": "\(correlationID)"])
        let elapsed = clock.startStopwatch()
        do {
            let (result, details) = try await body(correlationID, elapsed)
            try await recordOutcome(.success, operation, target, details, nil, elapsed(), actor, correlationID)
            return result
        } catch let failure as ReportedFailure<Result> {
            try await recordOutcome(.failure, operation, target, failure.details, failure.message, elapsed(), actor, correlationID)
            return failure.result
        } catch let error as RecoveryError where error.code == .unauthorized || error.code == .forbidden {
            let denial = error.denial ?? AccessDenial(
                source: .kubernetes, status: error.code == .unauthorized ? 401 : 403, isUnauthenticated: error.code == .unauthorized,
                identity: nil, refused: "\(error.operation ?? operation) \(error.target ?? target)")
            let details = denial.json(fallbackIdentity: actor.cluster ?? actor.user)
            try await recordOutcome(.denied, operation, target, ["denied": details], Self.describe(error), elapsed(), actor, correlationID, rethrowing: error)
            RecoveryMetrics.recordAccessDenied(source: denial.source.rawValue, operation: operation)
            await notifyDenied(denial, details: details, operation: operation, target: target, correlationID: correlationID)
            throw error.with(operation: operation, target: target)
        } catch {
            let outcome: AuditOutcome = error is CancellationError || Task.isCancelled ? .abandoned : .failure
            let message = outcome == .abandoned ? "cancelled by the caller" : Self.describe(error)
            try await recordOutcome(outcome, operation, target, [:], message, elapsed(), actor, correlationID, rethrowing: error)
            if let recoveryError = error as? RecoveryError { throw recoveryError.with(operation: operation, target: target) }
            throw error
        }
    }

    private func recordOutcome(
        _ outcome: AuditOutcome, _ operation: String, _ target: String, _ details: JSONValue, _ message: String?,
        _ duration: Duration, _ actor: AuditActor, _ correlationID: String, rethrowing original: (any Error)? = nil
    ) async throws {
        let milliseconds = duration.wholeMilliseconds
        RecoveryMetrics.recordOperation(operation, outcome: outcome, duration: duration, at: clock.now())
        do {
            _ = try await audit.record(.outcome(
                outcome, operation: operation, target: target, parameters: details, error: message,
                durationMilliseconds: milliseconds, actor: actor, correlationID: correlationID))
            logger.debug("operation ended", metadata: ["operation": "\(operation)", "outcome": "\(outcome.rawValue)", "correlation-id": "\(correlationID)"])
        } catch {
            // The operation already happened; its attempt stays open and is closed as abandoned
            // when this process's session ends. Say so rather than report an unrecorded success.
            throw RecoveryError(
                .auditFailure,
                "'\(operation)' ended (\(outcome.rawValue)) but its outcome could not be recorded in the audit trail"
                    + (original.map { "; the operation's own error was: \(Self.describe($0))" } ?? ""),
                operation: operation, target: target, underlying: error)
        }
    }

    /// Tells every notifier about a refused call; a notifier that fails is logged, not thrown.
    private func notifyDenied(_ denial: AccessDenial, details: JSONValue, operation: String, target: String, correlationID: String) async {
        guard !notifiers.isEmpty else { return }
        let identity = details["identity"]?.stringValue ?? "an unknown identity"
        let event = RecoveryEvent(
            kind: .accessDenied, severity: .warning, target: target,
            summary: "\(denial.source == .storage ? "The storage" : "The API server") refused \(identity): \(denial.refused) (HTTP \(denial.status), \(operation))",
            details: [
                "source": denial.source.rawValue, "status": String(denial.status), "identity": identity, "refused": denial.refused,
                "operation": operation, "unauthenticated": String(denial.isUnauthenticated),
            ],
            occurredAt: clock.now(), correlationID: correlationID)
        for notifier in notifiers {
            do {
                try await notifier.deliver(event)
            } catch {
                logger.warning("notifier failed", metadata: ["notifier": "\(notifier.name)", "event": "\(event.kind)", "error": "\(error)"])
            }
        }
    }

    private func resolveActor() async -> AuditActor {
        if let fixedActor { return fixedActor }
        guard let cluster else { return .current() }
        do {
            return .current(cluster: try await cluster.identity())
        } catch {
            logger.debug("could not read the cluster identity for the audit trail", metadata: ["error": "\(error)"])
            return AuditActor(user: AuditActor.current().user, cluster: "unknown")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? RecoveryError { return "[\(error.code)] \(error.message)" }
        return String(describing: error)
    }
}
