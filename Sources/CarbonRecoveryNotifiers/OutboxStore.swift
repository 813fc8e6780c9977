import CSQLite
import CarbonRecovery
import CarbonRecoverySQLite
import Foundation

/// The outbox's SQLite file: every statement the outbox runs, each on the file's own thread (an
/// `SQLiteQueue`), so no caller's cooperative thread waits on SQLite's busy timeout or a commit.
struct OutboxStore: Sendable {
    /// A row leased for delivery.
    struct Claimed: Sendable {
        var id: Int64
        var route: NotificationRoute
        var event: RecoveryEvent
        /// This try's number (1 for the first).
        var attempt: Int
    }

    /// What a finished try changes in its row.
    struct Update: Sendable {
        var id: Int64
        var state: NotificationOutbox.State
        var attempts: Int
        var nextAttempt: Int64
        var error: String?
    }

    let path: String
    private let database: SQLiteQueue

    /// Opens (or creates, mode 0600) the file and its schema.
    static func open(path: String, syncEveryEnqueue: Bool) async throws -> OutboxStore {
        try FileSecurity.createParentDirectories(of: path, for: "the notification outbox")
        try FileSecurity.ensurePrivateFile(at: path, for: "the notification outbox")
        return try await wrap("open the notification outbox", path: path) {
            let database = try SQLiteQueue(path: path, readOnly: false, label: "outbox", busyTimeout: .seconds(10))
            try await database.run { database in
                try database.execute("PRAGMA journal_mode=WAL")
                try database.execute("PRAGMA synchronous=\(syncEveryEnqueue ? "FULL" : "NORMAL")")
                try database.execute(schema)
            }
            return OutboxStore(path: path, database: database)
        }
    }

    private init(path: String, database: SQLiteQueue) {
        self.path = path
        self.database = database
    }

    static let schema = """
        CREATE TABLE IF NOT EXISTS outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            notifier TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            dedupe_key TEXT NOT NULL,
            kind TEXT NOT NULL,
            target TEXT NOT NULL,
            event TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'suppressed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at INTEGER NOT NULL,
            next_attempt_at INTEGER NOT NULL,
            lease_until INTEGER,
            delivered_at INTEGER,
            last_error TEXT,
            UNIQUE (notifier, idempotency_key)
        );
        CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, notifier, next_attempt_at);
        CREATE INDEX IF NOT EXISTS outbox_dedupe ON outbox (notifier, dedupe_key, created_at);
        CREATE INDEX IF NOT EXISTS outbox_delivered ON outbox (notifier, delivered_at);
        """

    /// Stores every event for every route in one transaction (all or none).
    func insert(
        _ events: [RecoveryEvent], routes: [String: NotificationRoute], at: Int64
    ) async throws -> [[String: NotificationOutbox.EnqueueResult]] {
        try await run("enqueue notifications") { database in
            try database.immediateTransaction {
                let insert = try database.cachedStatement("""
                    INSERT INTO outbox (notifier, idempotency_key, dedupe_key, kind, target, event, state, created_at, next_attempt_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (notifier, idempotency_key) DO NOTHING
                    """)
                let recent = try database.cachedStatement("""
                    SELECT 1 FROM outbox WHERE notifier = ? AND dedupe_key = ? AND created_at >= ? AND state IN ('pending', 'delivered') LIMIT 1
                    """)
                var results: [[String: NotificationOutbox.EnqueueResult]] = []
                for event in events {
                    let body = event.json.canonicalString
                    let dedupeKey = NotificationOutbox.dedupeKey(event)
                    var perRoute: [String: NotificationOutbox.EnqueueResult] = [:]
                    for (name, route) in routes {
                        var state = NotificationOutbox.State.pending
                        let window = route.delivery.dedupeWindow
                        if window > .zero {
                            recent.bind(1, name)
                            recent.bind(2, dedupeKey)
                            recent.bind(3, at - window.wholeMilliseconds)
                            if try recent.step() { state = .suppressed }
                            recent.reset()
                        }
                        insert.bind(1, name)
                        insert.bind(2, event.idempotencyKey)
                        insert.bind(3, dedupeKey)
                        insert.bind(4, event.kind.rawValue)
                        insert.bind(5, event.target)
                        insert.bind(6, body)
                        insert.bind(7, state.rawValue)
                        insert.bind(8, at)
                        insert.bind(9, at)
                        try insert.run()
                        perRoute[name] = database.changes == 0 ? .duplicate : state == .suppressed ? .suppressed : .queued
                    }
                    results.append(perRoute)
                }
                return results
            }
        }
    }

    /// Leases up to `maximum` due rows of the routed notifiers, within each route's rate limit,
    /// until `at + lease`. Rows whose event cannot be read are dead-lettered and returned in `unreadable`.
    func claim(
        routes: [String: NotificationRoute], maximum: Int, at: Int64, lease: Duration
    ) async throws -> (claimed: [Claimed], unreadable: [Int64]) {
        try await run("claim deliveries") { database in
            try database.immediateTransaction {
                let select = try database.cachedStatement("""
                    SELECT id, event, attempts FROM outbox WHERE state = 'pending' AND notifier = ? AND next_attempt_at <= ?
                    AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at, id LIMIT ?
                    """)
                let used = try database.cachedStatement("""
                    SELECT count(*) FROM outbox WHERE notifier = ? AND (delivered_at > ? OR (state = 'pending' AND lease_until > ?))
                    """)
                let leaseStatement = try database.cachedStatement("UPDATE outbox SET lease_until = ? WHERE id = ?")
                let deadLetter = try database.cachedStatement("UPDATE outbox SET state = 'dead', last_error = 'unreadable event' WHERE id = ?")
                var claimed: [Claimed] = []
                var unreadable: [Int64] = []
                for (name, route) in routes.sorted(by: { $0.key < $1.key }) {
                    var allowance = maximum - claimed.count
                    if let rate = route.delivery.ratePerMinute {
                        used.bind(1, name)
                        used.bind(2, at - 60_000)
                        used.bind(3, at)
                        _ = try used.step()
                        allowance = min(allowance, rate - Int(used.int64(0)))
                        used.reset()
                    }
                    guard allowance > 0 else { continue }
                    select.bind(1, name)
                    select.bind(2, at)
                    select.bind(3, at)
                    select.bind(4, Int64(allowance))
                    var unreadableHere: [Int64] = []
                    while try select.step() {
                        let id = select.int64(0)
                        guard let json = try? JSONValue(parsing: Array((select.text(1) ?? "").utf8)), let event = try? RecoveryEvent(json: json) else {
                            unreadableHere.append(id)
                            continue
                        }
                        claimed.append(Claimed(id: id, route: route, event: event, attempt: Int(select.int64(2)) + 1))
                    }
                    select.reset()
                    for id in unreadableHere {
                        deadLetter.bind(1, id)
                        try deadLetter.run()
                    }
                    unreadable += unreadableHere
                }
                for item in claimed {
                    leaseStatement.bind(1, at + lease.wholeMilliseconds)
                    leaseStatement.bind(2, item.id)
                    try leaseStatement.run()
                }
                return (claimed, unreadable)
            }
        }
    }

    /// Gives leased rows back undelivered.
    func release(_ ids: [Int64]) async throws {
        try await run("release deliveries") { database in
            try database.immediateTransaction {
                let release = try database.cachedStatement("UPDATE outbox SET lease_until = NULL WHERE id = ?")
                for id in ids {
                    release.bind(1, id)
                    try release.run()
                }
            }
        }
    }

    /// Records finished tries: new state, attempts, next try and error, and the delivery time.
    func record(_ updates: [Update], at: Int64) async throws {
        try await run("record deliveries") { database in
            try database.immediateTransaction {
                let update = try database.cachedStatement("""
                    UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, lease_until = NULL, last_error = ?,
                    delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END WHERE id = ?
                    """)
                for item in updates {
                    update.bind(1, item.state.rawValue)
                    update.bind(2, Int64(item.attempts))
                    update.bind(3, item.nextAttempt)
                    update.bind(4, item.error)
                    update.bind(5, item.state.rawValue)
                    update.bind(6, at)
                    update.bind(7, item.id)
                    try update.run()
                }
            }
        }
    }

    /// When (in milliseconds since 1970) the next pending row of `notifiers` is due or its lease
    /// ends, if there is one.
    func nextDue(notifiers: [String]) async throws -> Int64? {
        let names = JSONValue.array(notifiers.map { .string($0) }).canonicalString
        return try await run("read the outbox") { database in
            let statement = try database.cachedStatement("""
                SELECT min(max(next_attempt_at, coalesce(lease_until, 0))) FROM outbox WHERE state = 'pending' AND notifier IN (SELECT value FROM json_each(?))
                """)
            statement.bind(1, names)
            defer { statement.reset() }
            guard try statement.step(), !statement.isNull(0) else { return nil }
            return statement.int64(0)
        }
    }

    /// The rows in the given states, newest first.
    func entries(states: Set<NotificationOutbox.State>, limit: Int) async throws -> [NotificationOutbox.Entry] {
        let stateList = JSONValue.array(states.map { .string($0.rawValue) }).canonicalString
        return try await run("read the outbox") { database in
            let statement = try database.cachedStatement("""
                SELECT id, notifier, event, state, attempts, created_at, next_attempt_at, delivered_at, last_error FROM outbox
                WHERE state IN (SELECT value FROM json_each(?)) ORDER BY id DESC LIMIT ?
                """)
            statement.bind(1, stateList)
            statement.bind(2, Int64(limit))
            defer { statement.reset() }
            var entries: [NotificationOutbox.Entry] = []
            while try statement.step() {
                guard let json = try? JSONValue(parsing: Array((statement.text(2) ?? "").utf8)), let event = try? RecoveryEvent(json: json),
                    let state = statement.text(3).flatMap(NotificationOutbox.State.init(rawValue:))
                else { continue }
                entries.append(NotificationOutbox.Entry(
                    id: statement.int64(0), notifier: statement.text(1) ?? "", event: event, state: state, attempts: Int(statement.int64(4)),
                    createdAt: Self.date(statement.int64(5)), nextAttemptAt: Self.date(statement.int64(6)),
                    deliveredAt: statement.isNull(7) ? nil : Self.date(statement.int64(7)), lastError: statement.text(8)))
            }
            return entries
        }
    }

    /// Rows per notifier and state, counting only `states`.
    func depth(states: Set<NotificationOutbox.State>) async throws -> [String: [NotificationOutbox.State: Int]] {
        let stateList = JSONValue.array(states.map { .string($0.rawValue) }).canonicalString
        return try await run("read the outbox") { database in
            let statement = try database.cachedStatement(
                "SELECT notifier, state, count(*) FROM outbox WHERE state IN (SELECT value FROM json_each(?)) GROUP BY notifier, state")
            statement.bind(1, stateList)
            defer { statement.reset() }
            var depth: [String: [NotificationOutbox.State: Int]] = [:]
            while try statement.step() {
                guard let state = statement.text(1).flatMap(NotificationOutbox.State.init(rawValue:)) else { continue }
                depth[statement.text(0) ?? "", default: [:]][state] = Int(statement.int64(2))
            }
            return depth
        }
    }

    /// Moves the dead rows `ids` back to pending, due at `at`, with their attempts reset.
    func replay(_ ids: [Int64], at: Int64) async throws {
        try await run("replay dead notifications") { database in
            try database.immediateTransaction {
                let update = try database.cachedStatement(
                    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_until = NULL, last_error = NULL WHERE id = ? AND state = 'dead'")
                for id in ids {
                    update.bind(1, at)
                    update.bind(2, id)
                    try update.run()
                }
            }
        }
    }

    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    private func run<T: Sendable>(_ what: String, _ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await Self.wrap(what, path: path) { try await database.run(body) }
    }

    /// Turns SQLite's errors into the outbox's own error code, naming what failed.
    private static func wrap<T>(_ what: String, path: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SQLiteError {
            throw RecoveryError(error.isBusy ? .timeout : .notificationFailure, "cannot \(what): \(error.message)", target: path, underlying: error)
        }
    }
}
