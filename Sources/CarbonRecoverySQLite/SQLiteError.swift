import CSQLite

/// An SQLite failure with its (extended) result code.
package struct SQLiteError: Error, CustomStringConvertible {
    package var code: Int32
    package var message: String

    package var description: String { "SQLite error \(code): \(message)" }
    package var isBusy: Bool { code & 0xFF == SQLITE_BUSY || code & 0xFF == SQLITE_LOCKED }
}

