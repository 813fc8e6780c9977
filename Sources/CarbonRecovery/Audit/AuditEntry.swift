import Foundation

/// One entry of the audit trail, as stored and hashed.
///
/// Its member names and canonical encoding are the format `docs/audit-trail.md` specifies.
public struct AuditEntry: Sendable, Hashable {
    /// The newest entry format; a verifier refuses a greater `v`.
    package static let currentVersion: Int64 = 2

    /// The format an entry is written in: 2 for a `denied` outcome (the value format 2 added),
    /// 1 for everything else — so a trail without denials reads exactly as before.
    package static func version(for outcome: AuditOutcome?) -> Int64 { outcome == .denied ? 2 : 1 }

    /// The format version of the entry: 1, or 2 for a `denied` outcome.
    public var version: Int64
    /// 1, 2, 3, … with no gaps.
    public var sequence: Int64
    /// UTC time, `yyyy-MM-ddTHH:mm:ss.SSSZ`.
    public var time: String
    /// Whether this records the start of an operation or its end.
    public var kind: AuditEntryKind
    /// The OS user that ran the operation.
    public var actor: String
    /// The cluster identity (`user@context (server)`), if known.
    public var cluster: String?
    /// The dotted operation name, e.g. `backup.create`.
    public var operation: String
    /// What the operation was about, e.g. `backup/daily-20261125020000`.
    public var target: String
    /// Canonical JSON text of the redacted parameters or outcome details.
    public var parameters: String
    /// How the operation ended; `nil` for an attempt.
    public var outcome: AuditOutcome?
    /// What went wrong, redacted; `nil` unless the outcome is a failure or abandoned.
    public var error: String?
    /// Milliseconds from attempt to outcome; `nil` for attempts and abandoned outcomes found after a crash.
    public var durationMilliseconds: Int64?
    /// Links an attempt to its outcome.
    public var correlationID: String
    /// Identifies the process (trail handle) that wrote the entry.
    public var session: String
    /// Hex SHA-256 of the previous entry (64 zeros for the first).
    public var previousHash: String
    /// Hex SHA-256 of this entry's canonical encoding without the `hash` member.
    public var hash: String

    /// Creates an entry; trails build these, callers read them.
    public init(
        version: Int64 = 1, sequence: Int64, time: String, kind: AuditEntryKind, actor: String, cluster: String?,
        operation: String, target: String, parameters: String, outcome: AuditOutcome?, error: String?,
        durationMilliseconds: Int64?, correlationID: String, session: String, previousHash: String, hash: String
    ) {
        self.version = version
        self.sequence = sequence
        self.time = time
        self.kind = kind
        self.actor = actor
        self.cluster = cluster
        self.operation = operation
        self.target = target
        self.parameters = parameters
        self.outcome = outcome
        self.error = error
        self.durationMilliseconds = durationMilliseconds
        self.correlationID = correlationID
        self.session = session
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The date of ``time``.
    public var date: Date? { RFC3339.parse(time) }

    /// The canonical encoding: what is hashed (without the hash) or exported (with it).
    public func canonicalBytes(includingHash: Bool) -> [UInt8] {
        canonicalEncoding(includingHash: includingHash).bytes
    }

    /// The canonical encoding and where its `hash` member starts, or without it would go (see
    /// ``AuditCanonicalEncoding/append(to:includingHash:value:)``).
    package func canonicalEncoding(includingHash: Bool) -> (bytes: [UInt8], hashSlot: Int) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 + parameters.utf8.count)
        let hashSlot = AuditCanonicalEncoding.append(to: &bytes, includingHash: includingHash) { field, out in
            switch field {
            case .actor: CanonicalJSON.appendString(actor, to: &out)
            case .cluster: appendOptional(cluster, to: &out)
            case .correlationID: CanonicalJSON.appendString(correlationID, to: &out)
            case .durationMilliseconds:
                if let durationMilliseconds { CanonicalJSON.appendInteger(durationMilliseconds, to: &out) } else { out.append(contentsOf: "null".utf8) }
            case .error: appendOptional(error, to: &out)
            case .hash: CanonicalJSON.appendString(hash, to: &out)
            case .kind: CanonicalJSON.appendString(kind.rawValue, to: &out)
            case .operation: CanonicalJSON.appendString(operation, to: &out)
            case .outcome: appendOptional(outcome?.rawValue, to: &out)
            case .parameters: CanonicalJSON.appendString(parameters, to: &out)
            case .previousHash: CanonicalJSON.appendString(previousHash, to: &out)
            case .sequence: CanonicalJSON.appendInteger(sequence, to: &out)
            case .session: CanonicalJSON.appendString(session, to: &out)
            case .target: CanonicalJSON.appendString(target, to: &out)
            case .time: CanonicalJSON.appendString(time, to: &out)
            case .version: CanonicalJSON.appendInteger(version, to: &out)
            }
        }
        return (bytes, hashSlot)
    }

    /// One JSON Lines record of an export: the canonical encoding with the hash.
    public var jsonLine: String { String(decoding: canonicalBytes(includingHash: true), as: UTF8.self) }

    private func appendOptional(_ text: String?, to out: inout [UInt8]) {
        if let text { CanonicalJSON.appendString(text, to: &out) } else { out.append(contentsOf: "null".utf8) }
    }
}

/// The members of an audit entry, in canonical (sorted) order, with their JSON names.
package enum AuditField: String, Sendable, CaseIterable {
    /// `actor`: the OS user.
    case actor = "actor"
    /// `cluster`: the cluster identity or `null`.
    case cluster = "cluster"
    /// `correlation_id`: links attempt and outcome.
    case correlationID = "correlation_id"
    /// `duration_ms`: milliseconds or `null`.
    case durationMilliseconds = "duration_ms"
    /// `error`: what went wrong or `null`.
    case error = "error"
    /// `hash`: hex SHA-256 of the entry without this member.
    case hash = "hash"
    /// `kind`: `attempt` or `outcome`.
    case kind = "kind"
    /// `operation`: the dotted operation name.
    case operation = "operation"
    /// `outcome`: `success`, `failure`, `abandoned` or `null`.
    case outcome = "outcome"
    /// `parameters`: canonical JSON text.
    case parameters = "parameters"
    /// `prev_hash`: the previous entry's hash.
    case previousHash = "prev_hash"
    /// `seq`: 1, 2, 3, …
    case sequence = "seq"
    /// `session`: the writing handle's id.
    case session = "session"
    /// `target`: what the operation was about.
    case target = "target"
    /// `time`: UTC with milliseconds.
    case time = "time"
    /// `v`: the entry format version.
    case version = "v"
}
