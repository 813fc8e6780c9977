import CSQLite
import Foundation

/// SQLite's "transient" destructor: SQLite copies the bound bytes before the call returns.
package let SQLITE_TRANSIENT = unsafeBitCast(Int(-1), to: sqlite3_destructor_type.self)

/// One libsqlite3 connection. Not thread-safe: use it from one thread at a time, and never from
/// Swift's cooperative pool — ``SQLiteQueue`` owns one on a thread of its own.
package final class SQLiteConnection {
    package let handle: OpaquePointer
    package let path: String

    /// Opens a connection.
    ///
    /// - Throws: ``SQLiteError`` with SQLite's message.
    package init(path: String, readOnly: Bool) throws {
        var handle: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &handle, flags, nil)
        guard status == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let handle { sqlite3_close_v2(handle) }
            throw SQLiteError(code: status == SQLITE_OK ? SQLITE_NOMEM : status, message: message)
        }
        self.handle = handle
        self.path = path
        sqlite3_extended_result_codes(handle, 1)
    }

    /// Statements prepared once and kept, by SQL text.
    private var cache: [String: SQLiteStatement] = [:]

    /// A prepared statement for `sql`, prepared on first use and kept for the connection's life
    /// (it comes back reset, its bindings cleared). For the statements a hot path
    /// runs again and again; the prepare is a good part of a short transaction's cost.
    package func cachedStatement(_ sql: String) throws -> SQLiteStatement {
        if let statement = cache[sql] {
            statement.reset()   // in case the last user threw before resetting it
            return statement
        }
        let statement = try prepare(sql)
        cache[sql] = statement
        return statement
    }

    /// Whether ``close()`` was called.
    package private(set) var isClosed = false

    /// Closes the connection now (the last connection to a WAL database checkpoints it). Its
    /// statements must be finalized first, or the close waits for them. Nothing may use the
    /// connection afterwards; a second call does nothing.
    package func close() {
        guard !isClosed else { return }
        isClosed = true
        cache = [:]   // finalized first, so that the connection closes now
        sqlite3_close_v2(handle)
    }

    deinit {
        close()
    }

    /// How long a statement waits for another connection's lock before failing with `SQLITE_BUSY`.
    package func setBusyTimeout(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        sqlite3_busy_timeout(handle, Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000))
    }

    /// The number of rows the last statement inserted, changed or deleted.
    package var changes: Int { Int(sqlite3_changes(handle)) }

    /// The last error message of this connection.
    package var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    /// Runs SQL that returns no rows (one or several statements).
    package func execute(_ sql: String) throws {
        var errorPointer: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(handle, sql, nil, nil, &errorPointer)
        if status != SQLITE_OK {
            let message = errorPointer.map { String(cString: $0) } ?? lastError
            sqlite3_free(errorPointer)
            throw SQLiteError(code: status, message: message)
        }
    }

    /// Prepares one statement.
    package func prepare(_ sql: String) throws -> SQLiteStatement {
        var statement: OpaquePointer?
        let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard status == SQLITE_OK, let statement else { throw SQLiteError(code: status, message: lastError) }
        return SQLiteStatement(statement, database: self)
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction: committed when it returns, rolled back when it throws.
    package func immediateTransaction<T>(_ body: () throws -> T) throws -> T {
        // Prepared once: a short durable transaction is paid for per statement parsed.
        try cachedStatement("BEGIN IMMEDIATE").run()
        do {
            let result = try body()
            try cachedStatement("COMMIT").run()
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Runs `body` in a read transaction, so that every statement sees one snapshot.
    package func readTransaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN DEFERRED")
        defer { try? execute("COMMIT") }
        return try body()
    }
}

