import CSQLite
import Dispatch

/// One SQLite connection with a thread of its own: every call into libsqlite3 runs there, never
/// on Swift's cooperative pool.
///
/// A blocking `sqlite3_step` — a durable commit's `fsync`, or the busy handler waiting out
/// another process's write lock for up to its timeout — holds the thread it runs on. Swift's
/// concurrency runtime has one thread per core, so a blocking call inside an `async` function or
/// an actor stalls every task scheduled there. Like GRDB's `DatabaseQueue` (a serial dispatch
/// queue per connection) and vapor/sqlite-nio (a thread pool), a `SQLiteQueue` runs each job on
/// a serial dispatch queue, whose threads are libdispatch's, and the caller awaits the result.
///
/// ```swift
/// let queue = try SQLiteQueue(path: path, readOnly: false, label: "outbox")
/// let count = try await queue.run { connection in
///     let statement = try connection.prepare("SELECT count(*) FROM outbox")
///     _ = try statement.step()
///     return statement.int64(0)
/// }
/// ```
///
/// Jobs run one at a time, in the order they were submitted. A job must not submit another job
/// and wait for it (the queue is serial: that would deadlock).
package final class SQLiteQueue: Sendable {
    /// The database file.
    package let path: String
    private let queue: DispatchQueue
    private let box: ConnectionBox

    /// Opens a connection to `path`. Opening touches no lock; configure the connection (pragmas,
    /// schema) in a first ``run(_:)``.
    ///
    /// - Parameters:
    ///   - path: The database file.
    ///   - readOnly: Open for reading only.
    ///   - label: Names the queue's thread in debuggers and crash reports.
    ///   - busyTimeout: How long a statement waits for another connection's lock before it fails with `SQLITE_BUSY`.
    /// - Throws: ``SQLiteError`` when the file cannot be opened.
    package init(path: String, readOnly: Bool, label: String, busyTimeout: Duration) throws {
        let connection = try SQLiteConnection(path: path, readOnly: readOnly)
        connection.setBusyTimeout(busyTimeout)
        self.path = path
        self.box = ConnectionBox(connection)
        self.queue = DispatchQueue(label: "carbon-recovery.sqlite.\(label)")
    }

    /// Runs `body` with the connection on the queue's thread and returns its result.
    ///
    /// The job runs to its end even when the calling task is cancelled meanwhile (a transaction
    /// is never left half done); the caller sees the result either way.
    /// - Throws: What `body` throws; ``SQLiteError`` (`SQLITE_MISUSE`) once the queue is closed.
    package func run<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { [box] in
                continuation.resume(with: Result {
                    guard !box.connection.isClosed else { throw SQLiteError(code: SQLITE_MISUSE, message: "the database connection is closed") }
                    return try body(box.connection)
                })
            }
        }
    }

    /// Runs `body` (to finalize statements kept elsewhere), then closes the connection, after
    /// every job submitted before. Later jobs fail; a second close does nothing.
    package func close(after body: @escaping @Sendable (SQLiteConnection) -> Void = { _ in }) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async { [box] in
                if !box.connection.isClosed {
                    body(box.connection)
                    box.connection.close()
                }
                continuation.resume()
            }
        }
    }

    /// Submits `body` to run on the queue's thread without waiting for it: for work whose
    /// callers are resumed from inside it (group commit) and for clean-up from `deinit`.
    ///
    /// Unlike ``run(_:)``, `body` runs after ``close(after:)`` too (to fail the callers it would
    /// have resumed): it must check ``SQLiteConnection/isClosed`` before using the connection.
    package func submit(_ body: @escaping @Sendable (SQLiteConnection) -> Void) {
        queue.async { [box] in body(box.connection) }
    }
}

/// Holds the connection for the queue's jobs.
// `@unchecked Sendable`: the connection is only ever touched by jobs of the owning
// `SQLiteQueue`'s serial dispatch queue, one at a time; it is never handed out otherwise.
private final class ConnectionBox: @unchecked Sendable {
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
}
