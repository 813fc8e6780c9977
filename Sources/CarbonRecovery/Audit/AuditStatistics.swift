import Foundation

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
