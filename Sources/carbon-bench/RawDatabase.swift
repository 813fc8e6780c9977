import CSQLite
import CarbonRecovery
import CarbonRecoveryAudit
import Crypto
import Foundation

// The raw SQLite baseline of the audit benchmarks: the same table and indexes through the C API,
// and the entries the trail would store.

final class RawDatabase {
    let handle: OpaquePointer
    let insert: OpaquePointer

    init(path: String, synchronous: String, createSchema: Bool = true) async throws {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK, let handle else {
            throw BenchError("cannot open \(path)")
        }
        self.handle = handle
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=\(synchronous)"] {
            sqlite3_exec(handle, pragma, nil, nil, nil)
        }
        // The same table and indexes as the audit trail (copied from a real trail's schema),
        // without the triggers, the chain and the bookkeeping.
        let schema = createSchema ? try await RawDatabase.entrySchema() : ""
        guard sqlite3_exec(handle, schema, nil, nil, nil) == SQLITE_OK else { throw BenchError("schema: \(String(cString: sqlite3_errmsg(handle)))") }
        var statement: OpaquePointer?
        // The entry's sixteen members; the trail's `tree` column (its Merkle hashes) stays NULL:
        // maintaining the tree is part of what the trail's side is measured doing.
        sqlite3_prepare_v2(
            handle,
            """
            INSERT INTO audit_entries (seq, v, time, kind, actor, cluster, operation, target, parameters, outcome, error, duration_ms, correlation_id, session, prev_hash, hash)
            VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)
            """, -1, &statement, nil)
        guard let statement else { throw BenchError("prepare failed") }
        insert = statement
    }

    /// The `CREATE` statements of `audit_entries` and its indexes, read from a new trail.
    static func entrySchema() async throws -> String {
        let path = NSTemporaryDirectory() + "carbon-bench-schema-\(getpid()).db"
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            try? FileManager.default.removeItem(atPath: path + "-sessions")
        }
        // Closed before reading: a handle dropped without close() finishes closing on its own
        // thread, and a reader that opens the file meanwhile can find it half checkpointed.
        await (try await SQLiteAuditTrail(path: path)).close()
        var handle: OpaquePointer?
        sqlite3_open_v2(path, &handle, SQLITE_OPEN_READONLY, nil)
        defer { sqlite3_close_v2(handle) }
        var statement: OpaquePointer?
        sqlite3_prepare_v2(handle, "SELECT sql FROM sqlite_master WHERE tbl_name = 'audit_entries' AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC", -1, &statement, nil)
        defer { sqlite3_finalize(statement) }
        var statements: [String] = []
        while sqlite3_step(statement) == SQLITE_ROW { statements.append(String(cString: sqlite3_column_text(statement, 0))) }
        guard statements.count > 1 else { throw BenchError("could not read the audit trail's schema") }
        return statements.joined(separator: ";\n") + ";"
    }

    deinit {
        sqlite3_finalize(insert)
        sqlite3_close_v2(handle)
    }

    func exec(_ sql: String) { sqlite3_exec(handle, sql, nil, nil, nil) }

    /// Inserts already-built rows (the same values the trail stores, hash included).
    func insert(_ entry: AuditEntry) {
        let transient = unsafeBitCast(Int(-1), to: sqlite3_destructor_type.self)
        func text(_ index: Int32, _ value: String?) {
            if let value { sqlite3_bind_text(insert, index, value, -1, transient) } else { sqlite3_bind_null(insert, index) }
        }
        sqlite3_bind_int64(insert, 1, entry.sequence)
        sqlite3_bind_int64(insert, 2, entry.version)
        text(3, entry.time)
        text(4, entry.kind.rawValue)
        text(5, entry.actor)
        text(6, entry.cluster)
        text(7, entry.operation)
        text(8, entry.target)
        text(9, entry.parameters)
        text(10, entry.outcome?.rawValue)
        text(11, entry.error)
        if let duration = entry.durationMilliseconds { sqlite3_bind_int64(insert, 12, duration) } else { sqlite3_bind_null(insert, 12) }
        text(13, entry.correlationID)
        text(14, entry.session)
        text(15, entry.previousHash)
        text(16, entry.hash)
        sqlite3_step(insert)
        sqlite3_reset(insert)
    }

    /// Runs a query and steps through its rows, reading every column; returns the row count.
    func rows(_ sql: String) -> Int {
        var statement: OpaquePointer?
        sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        defer { sqlite3_finalize(statement) }
        var count = 0
        while sqlite3_step(statement) == SQLITE_ROW {
            for column in 0..<sqlite3_column_count(statement) { _ = sqlite3_column_text(statement, column) }
            count += 1
        }
        return count
    }
}

/// Precomputed rows for the raw baseline: the entries the trail would store.
func rawEntries(_ records: [AuditRecord], startSequence: Int64) -> [AuditEntry] {
    var previous = AuditCanonicalEncoding.genesisHash
    let time = RFC3339.format(Date())
    return records.enumerated().map { index, record in
        var entry = AuditEntry(
            sequence: startSequence + Int64(index), time: time, kind: record.kind, actor: record.actor.user, cluster: record.actor.cluster,
            operation: record.operation, target: record.target, parameters: record.parameters, outcome: record.outcome,
            error: record.error, durationMilliseconds: record.durationMilliseconds, correlationID: record.correlationID,
            session: "raw", previousHash: previous, hash: "")
        entry.hash = SHA256.hash(data: entry.canonicalBytes(includingHash: false)).map { String(format: "%02x", $0) }.joined()
        previous = entry.hash
        return entry
    }
}
