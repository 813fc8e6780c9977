import CSQLite

/// One SQLite connection with a thread of its own: every call into libsqlite3 runs there, never
/// on Swift's cooperative pool.
///
/// A blocking `sqlite3_step` — a durable commit's `fsync`, or the busy handler waiting out
/// another process's write lock for up to its timeout — holds the thread it runs on. Swift's
/// concurrency runtime has one thread per core, so a blocking call inside an `async` function or
/// an actor stalls every task scheduled there. Like GRDB's `DatabaseQueue` (a serial dispatch
/// queue per connection) and vapor/sqlite-nio (a thread pool), a `SQLiteQueue` runs each job
/// away from the pool, on a thread of its own (``SQLiteQueueThread``, which spins briefly
/// between jobs so that calls made back to back pay no thread wake-up), and the caller awaits
/// the result. It watches for the result for a while before it suspends (``SQLiteReply``),
/// sized to the queue's recent jobs and at most 250 µs, so a short job costs no wake-up on that
/// side either.
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
    private let thread: SQLiteQueueThread
    private let box: ConnectionBox
    private let watchLimit: Duration?

    /// Opens a connection to `path`. Opening touches no lock; configure the connection (pragmas,
    /// schema) in a first ``run(_:)``.
    ///
    /// - Parameters:
    ///   - path: The database file.
    ///   - readOnly: Open for reading only.
    ///   - label: Names the queue's thread in debuggers and crash reports (`sqlite <label>`; Linux
    ///     keeps the first 15 bytes of a thread's name).
    ///   - busyTimeout: How long a statement waits for another connection's lock before it fails with `SQLITE_BUSY`.
    ///   - watchLimit: How long ``run(_:)`` watches for a job's result before it suspends; `nil`
    ///     (the default) sizes the watch to the queue's recent jobs (``watch(typicalJob:)``).
    ///     Tests choose the path with it.
    /// - Throws: ``SQLiteError`` when the file cannot be opened.
    package init(path: String, readOnly: Bool, label: String, busyTimeout: Duration, watchLimit: Duration? = nil) throws {
        let connection = try SQLiteConnection(path: path, readOnly: readOnly)
        connection.setBusyTimeout(busyTimeout)
        self.path = path
        self.watchLimit = watchLimit
        self.box = ConnectionBox(connection)
        self.thread = SQLiteQueueThread(name: "sqlite \(label)")
    }

    deinit {
        // Jobs already submitted (a trail's clean-up from its own `deinit`) still run.
        thread.finish()
    }

    /// Runs `body` with the connection on the queue's thread and returns its result.
    ///
    /// The job runs to its end even when the calling task is cancelled meanwhile (a transaction
    /// is never left half done); the caller sees the result either way.
    /// - Throws: What `body` throws; ``SQLiteError`` (`SQLITE_MISUSE`) once the queue is closed.
    package func run<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        let reply = SQLiteReply<T>()
        thread.submit { [box] in
            reply.deliver(Result {
                guard !box.connection.isClosed else { throw SQLiteError(code: SQLITE_MISUSE, message: "the database connection is closed") }
                return try body(box.connection)
            })
        }
        if let result = reply.poll(for: watchLimit ?? Self.watch(typicalJob: thread.typicalJob)) { return try result.get() }
        return try await reply.wait()
    }

    /// The longest ``run(_:)`` watches for a job's result before it suspends (see ``SQLiteReply``).
    package static let callerWatchLimit: Duration = .microseconds(250)

    /// How long ``run(_:)`` watches, given how long this queue's jobs have recently taken: twice
    /// that and 20 µs more, at most ``callerWatchLimit``; not at all when they typically take
    /// longer than the limit (they block: a commit's `fsync`, a query over the whole trail), so
    /// that a caller does not spin for a result it will suspend for anyway. (Like the adaptive
    /// spin of glibc's mutexes, which sizes its spin to how long the lock was held before.)
    package static func watch(typicalJob: Duration) -> Duration {
        guard typicalJob <= callerWatchLimit else { return .zero }
        return min(callerWatchLimit, typicalJob * 2 + .microseconds(20))
    }

    /// Runs `body` (to finalize statements kept elsewhere), then closes the connection, after
    /// every job submitted before. Later jobs fail; a second close does nothing.
    package func close(after body: @escaping @Sendable (SQLiteConnection) -> Void = { _ in }) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            thread.submit { [box] in
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
        thread.submit { [box] in body(box.connection) }
    }
}

/// Holds the connection for the queue's jobs.
// `@unchecked Sendable`: the connection is only ever touched by jobs of the owning
// `SQLiteQueue`'s thread, one at a time; it is never handed out otherwise.
private final class ConnectionBox: @unchecked Sendable {
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
}
