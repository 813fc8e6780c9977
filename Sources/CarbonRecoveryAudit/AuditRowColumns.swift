import CSQLite
import CarbonRecoverySQLite

/// One `audit_entries` row's columns (``AuditSchema/entryColumns`` order), read from SQLite
/// once per row: each column's type, and its text bytes or integer.
///
/// The verifier checks domains, compares hashes and encodes from this snapshot instead of
/// asking SQLite for the same column several times (every `sqlite3_column_*` call costs a
/// function call and an error-state update). Valid until the statement steps again.
struct AuditRowColumns: ~Copyable {
    static let count = 16

    private let types: UnsafeMutablePointer<Int32>
    private let texts: UnsafeMutablePointer<UnsafePointer<UInt8>?>
    private let lengths: UnsafeMutablePointer<Int>
    private let integers: UnsafeMutablePointer<Int64>

    init() {
        types = .allocate(capacity: Self.count)
        texts = .allocate(capacity: Self.count)
        lengths = .allocate(capacity: Self.count)
        integers = .allocate(capacity: Self.count)
        types.initialize(repeating: SQLITE_NULL, count: Self.count)
        texts.initialize(repeating: nil, count: Self.count)
        lengths.initialize(repeating: 0, count: Self.count)
        integers.initialize(repeating: 0, count: Self.count)
    }

    deinit {
        types.deallocate()
        texts.deallocate()
        lengths.deallocate()
        integers.deallocate()
    }

    /// Reads the current row of `statement`.
    ///
    /// Through `sqlite3_column_value` and the `sqlite3_value_*` accessors: one call per column
    /// does the bounds and error-state work that every `sqlite3_column_*` call repeats. The
    /// value is "unprotected" in SQLite's terms (no mutex held); that is safe here because only
    /// this thread uses the connection, and the values are read before the next step.
    @inline(__always)
    mutating func load(_ statement: SQLiteStatement) {
        let handle = statement.handle
        for column in 0..<Int32(Self.count) {
            let index = Int(column)
            guard let value = sqlite3_column_value(handle, column) else {
                types[index] = SQLITE_NULL
                continue
            }
            let type = sqlite3_value_type(value)
            types[index] = type
            switch type {
            case SQLITE_TEXT:
                texts[index] = sqlite3_value_text(value)
                lengths[index] = Int(sqlite3_value_bytes(value))
            case SQLITE_INTEGER:
                integers[index] = sqlite3_value_int64(value)
            default:
                texts[index] = nil
            }
        }
    }

    /// The column's SQLite type (`SQLITE_TEXT`, `SQLITE_INTEGER`, `SQLITE_NULL`, …).
    @inline(__always)
    func type(_ column: Int) -> Int32 { types[column] }

    /// The column's integer; meaningful when its type is `SQLITE_INTEGER`.
    @inline(__always)
    func integer(_ column: Int) -> Int64 { integers[column] }

    /// The column's UTF-8 bytes when it is `TEXT`; `nil` for any other type.
    @inline(__always)
    func text(_ column: Int) -> UnsafeBufferPointer<UInt8>? {
        guard types[column] == SQLITE_TEXT else { return nil }
        // SQLite returns NULL for an empty string's text on some paths; an empty buffer either way.
        guard let pointer = texts[column] else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: pointer, count: lengths[column])
    }

    /// The column's text as a `String` for messages (invalid UTF-8 repaired), or `nil`.
    func describe(_ column: Int) -> String? {
        text(column).map { String(decoding: $0, as: UTF8.self) }
    }
}
