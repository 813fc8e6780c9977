/// The record of every operation: append-only, tamper-evident, queryable.
///
/// The default is `SQLiteAuditTrail` in `CarbonRecoveryAudit`. The ``RecoveryCoordinator``
/// requires one: no operation runs unaudited.
///
/// ## Implementation requirements
/// - ``record(_:)`` appends durably before it returns, assigning the next sequence number and
///   linking the entry to the previous one by hash; a record that cannot be appended throws and
///   leaves nothing behind. Several writers (tasks or processes) keep one linear chain.
/// - Nothing is ever changed or removed; an attempt left without an outcome (its process
///   died) is closed by appending an `abandoned` outcome, never by editing.
/// - ``entries(matching:)`` returns entries in sequence order (or newest first when asked),
///   at most `limit`, with a cursor for the next page.
/// - ``verify()`` recomputes the chain and reports the *first* bad entry.
/// - Records arrive redacted (``AuditRecord`` redacts on creation); implementations must not
///   log parameters at levels above `debug`.
public protocol AuditTrail: Sendable {
    /// Appends one record and returns the stored entry.
    func record(_ record: AuditRecord) async throws -> AuditEntry
    /// Appends several records as one transaction: all or none.
    func record(contentsOf records: [AuditRecord]) async throws -> [AuditEntry]
    /// One page of entries matching the query.
    func entries(matching query: AuditQuery) async throws -> AuditPage
    /// Recomputes the hash chain (and checks stored checkpoints) and reports the first problem.
    func verify() async throws -> AuditVerificationReport
    /// Counts by operation, kind and outcome for entries matching the query's filters.
    func statistics(matching query: AuditQuery) async throws -> AuditStatistics
}

