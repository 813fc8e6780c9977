import Foundation

/// Who performed an operation: the operating-system user and the cluster identity.
public struct AuditActor: Sendable, Hashable {
    /// The OS user name (from the effective user id).
    public var user: String
    /// The cluster identity the operation ran as (kubeconfig context and user, server), if any.
    public var cluster: String?

    /// Creates an actor from an OS user name and an optional cluster identity.
    public init(user: String, cluster: String? = nil) {
        self.user = user
        self.cluster = cluster
    }

    /// The current OS user, with an optional cluster identity.
    public static func current(cluster: ClusterIdentity? = nil) -> AuditActor {
        AuditActor(user: currentOSUser(), cluster: cluster?.description)
    }

    static func currentOSUser() -> String {
        #if canImport(Glibc)
        let uid = geteuid()
        if let entry = getpwuid(uid), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid:\(uid)"
        #else
        return ProcessInfo.processInfo.userName
        #endif
    }
}

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
}

/// What to append to the audit trail. The trail adds sequence, time, session and hashes.
///
/// Parameters and error text are redacted when the record is made (see ``AuditRedaction``): a
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

/// One entry of the audit trail, as stored and hashed.
///
/// The field names in ``AuditField`` and the canonical encoding in ``AuditCanonicalEncoding``
/// are the format `docs/audit-trail.md` specifies.
public struct AuditEntry: Sendable, Hashable {
    /// The format version of the entry (currently 1).
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
    public var date: Date? { AuditTimestamp.parse(time) }

    /// The canonical encoding: what is hashed (without the hash) or exported (with it).
    public func canonicalBytes(includingHash: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 + parameters.utf8.count)
        AuditCanonicalEncoding.append(to: &bytes, includingHash: includingHash) { field, out in
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
        return bytes
    }

    /// One JSON Lines record of an export: the canonical encoding with the hash.
    public var jsonLine: String { String(decoding: canonicalBytes(includingHash: true), as: UTF8.self) }

    private func appendOptional(_ text: String?, to out: inout [UInt8]) {
        if let text { CanonicalJSON.appendString(text, to: &out) } else { out.append(contentsOf: "null".utf8) }
    }
}

/// The members of an audit entry, in canonical (sorted) order, with their JSON names.
public enum AuditField: String, Sendable, CaseIterable {
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

/// The canonical encoding of an audit entry (see `docs/audit-trail.md`).
///
/// A JSON object with every member of ``AuditField`` present, keys in sorted order, values in
/// ``CanonicalJSON`` form, absent values as `null`. The entry hash is SHA-256 over this encoding
/// without the `hash` member; `prev_hash` of entry 1 is 64 zeros.
public enum AuditCanonicalEncoding {
    /// `prev_hash` of the first entry.
    public static let genesisHash = String(repeating: "0", count: 64)

    /// The members in canonical order.
    public static let fieldsInOrder: [AuditField] = AuditField.allCases

    /// `{"name":` / `,"name":` for each member, by position in ``fieldsInOrder``, with and
    /// without the `hash` member counted (its own slot is empty when it is left out).
    public static let prefixesWithHash: [[UInt8]] = fieldsInOrder.enumerated().map { index, field in
        Array("\(index == 0 ? "{" : ",")\"\(field.rawValue)\":".utf8)
    }
    /// The same prefixes when the `hash` member is left out (its slot is empty).
    public static let prefixesWithoutHash: [[UInt8]] = {
        var seen = 0
        return fieldsInOrder.map { field in
            guard field != .hash else { return [] }
            defer { seen += 1 }
            return Array("\(seen == 0 ? "{" : ",")\"\(field.rawValue)\":".utf8)
        }
    }()

    /// Appends the encoding, asking `value` to append each member's JSON value.
    @inlinable
    public static func append(
        to bytes: inout [UInt8], includingHash: Bool, value: (AuditField, inout [UInt8]) -> Void
    ) {
        let prefixes = includingHash ? prefixesWithHash : prefixesWithoutHash
        for position in 0..<fieldsInOrder.count {
            let field = fieldsInOrder[position]
            if field == .hash && !includingHash { continue }
            bytes.append(contentsOf: prefixes[position])
            value(field, &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
    }
}

/// UTC timestamps as the audit trail writes them: `2026-11-25T05:12:34.567Z` (fixed width, so
/// text order is time order).
public enum AuditTimestamp {
    /// Formats a date.
    public static func format(_ date: Date) -> String {
        var milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        milliseconds -= Int64(seconds) * 1000
        if milliseconds < 0 { milliseconds += 1000; seconds -= 1 }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds), 3))Z"
    }

    /// Parses the format above, or plain RFC 3339 (`2026-11-25T05:12:34Z`, with or without fraction, `Z` or offset).
    public static func parse(_ text: String) -> Date? {
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withFraction.date(from: text) { return date }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: text)
    }
}

/// What to look for in the audit trail. Every filter is optional; all given filters must match.
public struct AuditQuery: Sendable, Hashable {
    /// Entries at or after this time.
    public var from: Date?
    /// Entries before this time.
    public var to: Date?
    /// Only entries by this OS user.
    public var actor: String?
    /// Only this operation.
    public var operation: String?
    /// Only this target.
    public var target: String?
    /// Only attempts or only outcomes.
    public var kind: AuditEntryKind?
    /// Only outcomes of this kind.
    public var outcome: AuditOutcome?
    /// Only the attempt and outcome of one operation.
    public var correlationID: String?
    /// Paging: only entries with a sequence greater than this (pass the previous page's ``AuditPage/nextCursor``).
    public var afterSequence: Int64?
    /// At most this many entries (1…10,000).
    public var limit: Int
    /// Newest first instead of oldest first.
    public var newestFirst: Bool

    /// Creates a query; every filter is optional.
    public init(
        from: Date? = nil, to: Date? = nil, actor: String? = nil, operation: String? = nil, target: String? = nil,
        kind: AuditEntryKind? = nil, outcome: AuditOutcome? = nil, correlationID: String? = nil,
        afterSequence: Int64? = nil, limit: Int = 100, newestFirst: Bool = false
    ) {
        self.from = from
        self.to = to
        self.actor = actor
        self.operation = operation
        self.target = target
        self.kind = kind
        self.outcome = outcome
        self.correlationID = correlationID
        self.afterSequence = afterSequence
        self.limit = limit
        self.newestFirst = newestFirst
    }

    /// The largest page a query may ask for.
    public static let maximumLimit = 10_000

    /// Checks the limit and the time range.
    ///
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput``.
    public func validate() throws {
        if limit < 1 || limit > AuditQuery.maximumLimit {
            throw RecoveryError.invalidInput("audit query limit \(limit) is out of range: use 1 to \(AuditQuery.maximumLimit)")
        }
        if let from, let to, from >= to {
            throw RecoveryError.invalidInput("audit query time range is empty: 'from' (\(AuditTimestamp.format(from))) must be before 'to' (\(AuditTimestamp.format(to)))")
        }
    }

    /// Whether an entry passes every filter except paging and limit.
    public func matches(_ entry: AuditEntry) -> Bool {
        if let from, entry.time < AuditTimestamp.format(from) { return false }
        if let to, entry.time >= AuditTimestamp.format(to) { return false }
        if let actor, entry.actor != actor { return false }
        if let operation, entry.operation != operation { return false }
        if let target, entry.target != target { return false }
        if let kind, entry.kind != kind { return false }
        if let outcome, entry.outcome != outcome { return false }
        if let correlationID, entry.correlationID != correlationID { return false }
        return true
    }
}

/// One page of query results.
public struct AuditPage: Sendable, Hashable {
    /// The entries of this page, in the order asked for.
    public var entries: [AuditEntry]
    /// Pass as ``AuditQuery/afterSequence`` to get the next page; `nil` when there is none.
    public var nextCursor: Int64?

    /// Creates a page.
    public init(entries: [AuditEntry], nextCursor: Int64?) {
        self.entries = entries
        self.nextCursor = nextCursor
    }
}

/// What verification found wrong first.
public struct AuditProblem: Sendable, Hashable, CustomStringConvertible {
    /// The kind of problem. New kinds may be added.
    public struct Kind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The entry's stored hash is not the hash of its fields: a field was changed.
        public static let hashMismatch = Kind(rawValue: "hash-mismatch")
        /// The entry's `prev_hash` is not the previous entry's hash: entries were removed, inserted or reordered.
        public static let brokenLink = Kind(rawValue: "broken-link")
        /// Sequence numbers skip or repeat.
        public static let sequenceGap = Kind(rawValue: "sequence-gap")
        /// The entry at a checkpoint's size does not have the checkpoint's hash: the trail was rewritten.
        public static let checkpointMismatch = Kind(rawValue: "checkpoint-mismatch")
        /// The trail is shorter than a checkpoint says it was: the tail was cut off.
        public static let truncated = Kind(rawValue: "truncated")
        /// A checkpoint's signature does not verify with the public key.
        public static let badSignature = Kind(rawValue: "bad-signature")
        /// An entry could not be read (a field is missing or has the wrong type).
        public static let malformed = Kind(rawValue: "malformed")
    }

    /// What kind of problem it is.
    public var kind: Kind
    /// The first bad entry's sequence number, when the problem is in an entry.
    public var sequence: Int64?
    /// What is wrong, in words.
    public var message: String

    /// Creates a problem report.
    public init(kind: Kind, sequence: Int64?, message: String) {
        self.kind = kind
        self.sequence = sequence
        self.message = message
    }

    public var description: String {
        if let sequence { return "entry \(sequence): \(kind): \(message)" }
        return "\(kind): \(message)"
    }
}

/// The result of verifying an audit trail.
public struct AuditVerificationReport: Sendable, Hashable {
    /// How many entries were checked.
    public var entriesChecked: Int64
    /// The last entry's sequence and hash (of the entries checked).
    public var headSequence: Int64
    /// The hash of the last entry checked (64 zeros for an empty trail).
    public var headHash: String
    /// How many signed checkpoints were checked against the chain.
    public var checkpointsChecked: Int
    /// The first problem found; `nil` when the trail verified.
    public var problem: AuditProblem?

    /// Creates a report.
    public init(entriesChecked: Int64, headSequence: Int64, headHash: String, checkpointsChecked: Int, problem: AuditProblem?) {
        self.entriesChecked = entriesChecked
        self.headSequence = headSequence
        self.headHash = headHash
        self.checkpointsChecked = checkpointsChecked
        self.problem = problem
    }

    /// Whether the trail verified.
    public var isValid: Bool { problem == nil }
}

/// Counts of entries by operation, kind and outcome.
public struct AuditStatistics: Sendable, Hashable {
    /// One group of entries and its count.
    public struct Row: Sendable, Hashable {
        /// The operation of the group.
        public var operation: String
        /// Attempts or outcomes.
        public var kind: AuditEntryKind
        /// The outcome of the group; `nil` for attempts.
        public var outcome: AuditOutcome?
        /// How many entries are in the group.
        public var count: Int64

        /// Creates a row.
        public init(operation: String, kind: AuditEntryKind, outcome: AuditOutcome?, count: Int64) {
            self.operation = operation
            self.kind = kind
            self.outcome = outcome
            self.count = count
        }
    }

    /// The groups, sorted by operation, kind and outcome.
    public var rows: [Row]
    /// All entries counted.
    public var totalEntries: Int64
    /// The earliest entry time counted.
    public var firstTime: String?
    /// The latest entry time counted.
    public var lastTime: String?

    /// Creates statistics.
    public init(rows: [Row], totalEntries: Int64, firstTime: String?, lastTime: String?) {
        self.rows = rows
        self.totalEntries = totalEntries
        self.firstTime = firstTime
        self.lastTime = lastTime
    }
}
