import CSQLite
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import TestSupport
import Testing

/// Raw SQL against a trail file, the way someone with file access would tamper with it.
enum RawSQL {
    /// Runs SQL and returns SQLite's error message, or nil on success.
    @discardableResult
    static func exec(_ path: String, _ sql: String) -> String? {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK else { return "cannot open" }
        defer { sqlite3_close_v2(handle) }
        sqlite3_busy_timeout(handle, 10_000)
        var error: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(handle, sql, nil, nil, &error) == SQLITE_OK else {
            defer { sqlite3_free(error) }
            return error.map { String(cString: $0) } ?? "error"
        }
        return nil
    }

    /// The first column of the first row, as text.
    static func scalar(_ path: String, _ sql: String) -> String? {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY, nil) == SQLITE_OK else { return nil }
        defer { sqlite3_close_v2(handle) }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else { return nil }
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW, let text = sqlite3_column_text(statement, 0) else { return nil }
        return String(cString: text)
    }

    static let dropTriggers = """
        DROP TRIGGER audit_entries_no_update; DROP TRIGGER audit_entries_no_delete;
        DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;
        """
}

/// Writes `pairs` attempt/outcome pairs.
func fill(_ trail: SQLiteAuditTrail, pairs: Int, tag: String = "b") async throws {
    let actor = AuditActor(user: "alice", cluster: "admin@sandbox")
    var records: [AuditRecord] = []
    for index in 0..<pairs {
        let id = "\(tag)-\(index)"
        records.append(.attempt(operation: "backup.create", target: "backup/\(id)", parameters: ["ttl": "24h0m0s"], actor: actor, correlationID: id))
        records.append(.outcome(index % 5 == 4 ? .failure : .success, operation: "backup.create", target: "backup/\(id)",
                                error: index % 5 == 4 ? "finished PartiallyFailed" : nil, durationMilliseconds: Int64(index), actor: actor, correlationID: id))
    }
    _ = try await trail.record(contentsOf: records)
}

