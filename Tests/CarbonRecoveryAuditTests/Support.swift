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

    /// A value bound to a `?N` parameter.
    enum Value {
        case text(String)
        case integer(Int64)
    }

    /// Runs every statement of `sql` in order, binding `bindings` to the parameters of each
    /// statement that has any (text with its exact bytes, NUL included); SQLite's error, or nil.
    @discardableResult
    static func exec(_ path: String, _ sql: String, _ bindings: [Value]) -> String? {
        guard !bindings.isEmpty else { return exec(path, sql) }
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE, nil) == SQLITE_OK else { return "cannot open" }
        defer { sqlite3_close_v2(handle) }
        sqlite3_busy_timeout(handle, 10_000)
        let transient = unsafeBitCast(Int(-1), to: sqlite3_destructor_type.self)
        var remaining = sql
        while !remaining.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            var statement: OpaquePointer?
            var consumed = 0
            let status = remaining.withCString { start -> Int32 in
                var tail: UnsafePointer<CChar>?
                let status = sqlite3_prepare_v2(handle, start, -1, &statement, &tail)
                consumed = tail.map { $0 - start } ?? 0
                return status
            }
            guard status == SQLITE_OK else { return String(cString: sqlite3_errmsg(handle)) }
            remaining = String(decoding: Array(remaining.utf8).dropFirst(consumed), as: UTF8.self)
            guard let statement else { continue }
            defer { sqlite3_finalize(statement) }
            if sqlite3_bind_parameter_count(statement) > 0 {
                for (index, value) in bindings.enumerated() {
                    switch value {
                    case .text(let text):
                        let bytes = Array(text.utf8) + [0]  // never empty, so there is always a base address
                        bytes.withUnsafeBufferPointer { buffer in
                            _ = sqlite3_bind_text(
                                statement, Int32(index + 1), UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self), Int32(buffer.count - 1), transient)
                        }
                    case .integer(let number): sqlite3_bind_int64(statement, Int32(index + 1), number)
                    }
                }
            }
            let step = sqlite3_step(statement)
            guard step == SQLITE_DONE || step == SQLITE_ROW else { return String(cString: sqlite3_errmsg(handle)) }
        }
        return nil
    }

    /// The first column of every row, as text.
    static func column(_ path: String, _ sql: String) -> [String] {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY, nil) == SQLITE_OK else { return [] }
        defer { sqlite3_close_v2(handle) }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK else { return [] }
        defer { sqlite3_finalize(statement) }
        var values: [String] = []
        while sqlite3_step(statement) == SQLITE_ROW {
            if let text = sqlite3_column_text(statement, 0) {
                values.append(String(decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, 0))), as: UTF8.self))
            }
        }
        return values
    }

    static let dropTriggers = """
        DROP TRIGGER audit_entries_no_update; DROP TRIGGER audit_entries_no_delete;
        DROP TRIGGER audit_checkpoints_no_update; DROP TRIGGER audit_checkpoints_no_delete;
        """

    /// Undoes schemas 3 (cosignatures) and 2 (the Merkle tree): the file is schema 1 exactly, as
    /// its migration step still creates it.
    static let backToSchema1 = """
        DROP TABLE audit_cosignatures; DELETE FROM schema_version WHERE version = 3;
        DROP TABLE audit_tree_before; ALTER TABLE audit_entries DROP COLUMN tree;
        ALTER TABLE audit_checkpoints DROP COLUMN root_hash; DELETE FROM schema_version WHERE version = 2;
        """
}

/// Writes `pairs` attempt/outcome pairs.
/// Opens the trail at `path`, appends `pairs` pairs and closes it: the next handle finds the file
/// quiet. (A handle only dropped ends its session on its own queue, later; on a loaded machine a
/// reader opened meanwhile can wait out its busy timeout behind it.)
func fill(path: String, configuration: SQLiteAuditTrail.Configuration = .init(), pairs: Int) async throws {
    let trail = try await SQLiteAuditTrail(path: path, configuration: configuration)
    try await fill(trail, pairs: pairs)
    await trail.close()
}

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


/// The export verifier of `docs/audit-trail.md` ("Verifying an export with Python"), taken from
/// the document itself so that the tests run exactly what reviewers are told to run.
func documentedExportVerifier() throws -> String {
    let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/audit-trail.md")
    let text = try String(contentsOf: docs, encoding: .utf8)
    guard let section = text.range(of: "## Verifying an export with Python"),
        let open = text.range(of: "```python\n", range: section.upperBound..<text.endIndex),
        let close = text.range(of: "\n```", range: open.upperBound..<text.endIndex)
    else { throw RecoveryError.invalidInput("docs/audit-trail.md has no Python export verifier") }
    return String(text[open.upperBound..<close.lowerBound]) + "\n"
}
