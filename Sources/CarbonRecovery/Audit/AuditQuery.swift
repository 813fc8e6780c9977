import Foundation

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
            throw RecoveryError.invalidInput("audit query time range is empty: 'from' (\(RFC3339.format(from))) must be before 'to' (\(RFC3339.format(to)))")
        }
    }

    /// Whether an entry passes every filter except paging and limit.
    public func matches(_ entry: AuditEntry) -> Bool {
        if let from, entry.time < RFC3339.format(from) { return false }
        if let to, entry.time >= RFC3339.format(to) { return false }
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
