// The plans SQLite picks for the trail's own lookups, read with EXPLAIN QUERY PLAN on a real
// trail file. Without statistics (a trail never runs ANALYZE) SQLite can pick an index that
// reads a row per matching entry; these lookups run on every verification.
import CSQLite
import CarbonRecovery
@testable import CarbonRecoveryAudit
import TestSupport
import Testing

@Suite("The trail's own lookups use the index that lists what they look for")
struct AuditQueryPlanTests {
    @Test("the key rotations are found through the operation index, not by reading every successful entry")
    func keyRotationsUseTheOperationIndex() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: path)
        try await fill(trail, pairs: 20, tag: "plan")
        await trail.close()
        let plan = Self.queryPlan(path, SQLiteAuditTrail.keyRotationsSQL)
        #expect(plan.contains { $0.contains("USING INDEX audit_entries_operation (operation=?)") }, "\(plan)")
        #expect(!plan.contains { $0.contains("audit_entries_outcome") }, "\(plan)")
    }

    /// The `detail` column of `EXPLAIN QUERY PLAN sql`.
    private static func queryPlan(_ path: String, _ sql: String) -> [String] {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY, nil) == SQLITE_OK else { return [] }
        defer { sqlite3_close_v2(handle) }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, "EXPLAIN QUERY PLAN " + sql, -1, &statement, nil) == SQLITE_OK else { return [] }
        defer { sqlite3_finalize(statement) }
        var details: [String] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            if let text = sqlite3_column_text(statement, 3) { details.append(String(cString: text)) }
        }
        return details
    }
}
