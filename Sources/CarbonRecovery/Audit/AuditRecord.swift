import Foundation

/// Whether an entry records the start of an operation or how it ended.
public enum AuditEntryKind: String, Sendable, Hashable, CaseIterable {
    /// Written before any side effect.
    case attempt
    /// Written after the operation, linked to its attempt by the correlation id.
    case outcome
}

/// How an operation ended.
public enum AuditOutcome: String, Sendable, Hashable, CaseIterable {
    /// The operation finished as asked and the result was observed.
    case success
    /// The operation failed; the entry's error says why.
    case failure
    /// The operation was cancelled, or its process ended before it could record an outcome.
    case abandoned
    /// The API server or the storage refused a call of the operation as unauthenticated or
    /// forbidden (HTTP 401/403); the outcome's parameters hold `denied` (``AccessDenial``: the
    /// identity used and what was refused). Entries with this outcome have format version 2,
    /// so a verifier that predates it refuses them by their `v` instead of misreading them.
    case denied
}

/// What to append to the audit trail. The trail adds sequence, time, session and hashes.
///
/// Parameters and error text are redacted when the record is made (the rules are in `docs/audit-trail.md`): a
/// secret handed to a record never reaches the trail.
public struct AuditRecord: Sendable, Hashable {
    /// Whether this records the start of an operation or its end.
    public var kind: AuditEntryKind
    /// Who ran the operation.
    public var actor: AuditActor
    /// A dotted operation name: `backup.create`, `restore.create`, `backup.delete`, `backup.validate`, …
    public var operation: String
    /// What the operation is about: `velero/backup/daily-20261125020000`.
    public var target: String
    /// Canonical JSON of the (redacted) parameters.
    public private(set) var parameters: String
    /// How the operation ended; `nil` for an attempt.
    public var outcome: AuditOutcome?
    /// What went wrong, redacted.
    public private(set) var error: String?
    /// Milliseconds from attempt to outcome.
    public var durationMilliseconds: Int64?
    /// Links an attempt to its outcome.
    public var correlationID: String

    /// A record of an operation about to start.
    public static func attempt(
        operation: String, target: String, parameters: JSONValue = .object([:]), actor: AuditActor, correlationID: String
    ) -> AuditRecord {
        AuditRecord(kind: .attempt, actor: actor, operation: operation, target: target, parameters: parameters,
                    outcome: nil, error: nil, durationMilliseconds: nil, correlationID: correlationID)
    }

    /// A record of how an operation ended.
    public static func outcome(
        _ outcome: AuditOutcome, operation: String, target: String, parameters: JSONValue = .object([:]),
        error: String? = nil, durationMilliseconds: Int64?, actor: AuditActor, correlationID: String
    ) -> AuditRecord {
        AuditRecord(kind: .outcome, actor: actor, operation: operation, target: target, parameters: parameters,
                    outcome: outcome, error: error, durationMilliseconds: durationMilliseconds, correlationID: correlationID)
    }

    /// Creates a record; parameters and error are redacted here.
    public init(
        kind: AuditEntryKind, actor: AuditActor, operation: String, target: String, parameters: JSONValue,
        outcome: AuditOutcome?, error: String?, durationMilliseconds: Int64?, correlationID: String
    ) {
        self.kind = kind
        self.actor = actor
        self.operation = operation
        self.target = target
        self.parameters = AuditRedaction.redact(parameters).canonicalString
        self.outcome = outcome
        self.error = error.map(AuditRedaction.redact(text:))
        self.durationMilliseconds = durationMilliseconds
        self.correlationID = correlationID
    }

    /// Checks the fields a trail relies on.
    ///
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput``.
    public func validate() throws {
        if operation.isEmpty || operation.utf8.count > 128 {
            throw RecoveryError.invalidInput("audit operation '\(operation)' must have 1 to 128 characters")
        }
        if correlationID.isEmpty || correlationID.utf8.count > 128 {
            throw RecoveryError.invalidInput("audit correlation id must have 1 to 128 characters")
        }
        if actor.user.isEmpty { throw RecoveryError.invalidInput("audit actor must name a user") }
        if (kind == .attempt) != (outcome == nil) {
            throw RecoveryError.invalidInput("an audit attempt has no outcome and an outcome record needs one (operation '\(operation)')")
        }
        if let durationMilliseconds, durationMilliseconds < 0 {
            throw RecoveryError.invalidInput("audit duration \(durationMilliseconds) ms is negative")
        }
    }
}
