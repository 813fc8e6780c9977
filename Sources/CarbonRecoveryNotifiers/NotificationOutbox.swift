import CSQLite
import CarbonRecovery
import CarbonRecoveryAudit
import Crypto
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// The durable outbox between the coordinator and the notifiers: every event is written to an
/// SQLite file (beside the audit trail, not in its append-only table) before anyone is told,
/// then delivered, retried and, if it cannot be delivered, dead-lettered.
///
/// - **Nothing lost**: ``enqueue(_:)`` commits the event for every route before it returns. A
///   delivery is marked delivered only after the notifier returned. A process that stops or
///   crashes mid-delivery leaves a lease that expires, and the delivery is tried again.
/// - **Nothing duplicated**: each row is keyed by notifier and ``RecoveryEvent/idempotencyKey``,
///   so the same event enqueued twice is stored once. A redelivery after a crash carries the same
///   key, for the receiver to drop. Several processes may deliver from one file: a row is leased
///   to one of them at a time.
/// - **Retries**: temporary failures wait `retryBackoff × 2^(attempt-1)` (capped at
///   `maxBackoff`), drawn from the upper half of that wait (jitter). After `maxAttempts`, or a
///   permanent failure, the row is `dead`: ``entries(states:limit:)`` shows it, ``retry(ids:)``
///   replays it.
/// - **Dedupe and rate limits**: an identical event (kind, severity, target, summary) within the
///   route's dedupe window is kept as `suppressed`, not sent; a route sends at most
///   `ratePerMinute` deliveries a minute, and the rest wait.
/// - **Audited**: each try is a `notify.deliver` attempt, recorded before the notifier is
///   called, and its outcome, with the target `notify/<notifier>/<idempotency key>`. Error text is
///   stripped of URLs before it is stored or audited.
///
/// The outbox is itself a ``Notifier``: give it to ``RecoveryCoordinator`` and every event the
/// coordinator raises is enqueued. Run ``run()`` (it is a swift-service-lifecycle `Service`) or
/// call ``flush(timeout:)`` to deliver.
///
/// ```swift
/// let outbox = try NotificationOutbox(path: stateDir + "/audit.outbox.db", routes: routes, audit: trail)
/// let coordinator = RecoveryCoordinator(engine: engine, storage: storage, audit: trail, notifiers: [outbox], logger: logger)
/// try await coordinator.backup(request)       // a failure enqueues backup-failed
/// let result = await outbox.flush(timeout: .seconds(30))
/// ```
public actor NotificationOutbox: Notifier, Service {
    /// Where a delivery stands.
    public enum State: String, Sendable, Hashable, CaseIterable {
        /// Waiting for its (next) try.
        case pending
        /// The notifier accepted it.
        case delivered
        /// Given up on: a permanent failure or the last attempt failed. ``NotificationOutbox/retry(ids:)`` replays it.
        case dead
        /// Not sent: an identical event went to the same notifier within its dedupe window.
        case suppressed
    }

    /// One delivery: an event for one notifier.
    public struct Entry: Sendable, Hashable {
        /// The row id, for ``NotificationOutbox/retry(ids:)``.
        public var id: Int64
        /// The notifier's name.
        public var notifier: String
        /// The event.
        public var event: RecoveryEvent
        /// Where it stands.
        public var state: State
        /// Tries so far.
        public var attempts: Int
        /// When it was enqueued.
        public var createdAt: Date
        /// When it is tried next (pending only).
        public var nextAttemptAt: Date
        /// When the notifier accepted it.
        public var deliveredAt: Date?
        /// The last failure, without URLs.
        public var lastError: String?
    }

    /// What ``enqueue(_:)`` did for one route.
    public enum EnqueueResult: Sendable, Hashable {
        /// Stored for delivery.
        case queued
        /// Already in the outbox under the same idempotency key: stored once.
        case duplicate
        /// An identical event was sent within the dedupe window: stored as suppressed.
        case suppressed
    }

    /// What one round of deliveries did.
    public struct Round: Sendable, Hashable {
        /// Deliveries tried.
        public var tried = 0
        /// Accepted by their notifier.
        public var delivered = 0
        /// Failed and waiting for a retry.
        public var retrying = 0
        /// Failed for good (dead-lettered).
        public var dead = 0

        /// Creates a round's counts.
        public init(tried: Int = 0, delivered: Int = 0, retrying: Int = 0, dead: Int = 0) {
            self.tried = tried
            self.delivered = delivered
            self.retrying = retrying
            self.dead = dead
        }
    }

    /// What ``flush(timeout:)`` achieved.
    public struct FlushResult: Sendable, Hashable {
        /// Accepted by their notifier during the flush.
        public var delivered = 0
        /// Dead-lettered during the flush.
        public var dead = 0
        /// Still pending when it returned (their retry was not due before the timeout).
        public var pending = 0

        /// Creates a flush's counts.
        public init(delivered: Int = 0, dead: Int = 0, pending: Int = 0) {
            self.delivered = delivered
            self.dead = dead
            self.pending = pending
        }
    }

    /// Tunables.
    public struct Configuration: Sendable {
        /// How long a delivery is leased to one deliverer; an unfinished delivery is retried after it.
        public var lease: Duration = .seconds(30)
        /// Deliveries made at once.
        public var concurrency: Int = 16
        /// How often ``run()`` looks for work enqueued by other processes.
        public var pollInterval: Duration = .seconds(1)
        /// `true`: every enqueue is flushed to disk before it returns (`synchronous=FULL`);
        /// `false`: it survives a crash of the process but not of the machine (`NORMAL`).
        public var syncEveryEnqueue = true

        /// The defaults.
        public init() {}
    }

    /// The outbox as a notifier.
    public nonisolated let name = "outbox"
    /// The SQLite file.
    public nonisolated let path: String

    private let database: SQLiteDatabase
    private let routes: [String: NotificationRoute]
    private let audit: (any AuditTrail)?
    private let auditActor: AuditActor
    private let configuration: Configuration
    private let now: @Sendable () -> Date
    private let logger: Logger
    private nonisolated let waker = Waker()
    private nonisolated let stopping = StopFlag()
    private var waitingToCommit: [(event: RecoveryEvent, continuation: CheckedContinuation<[String: EnqueueResult], any Error>)] = []
    private var committing = false

    /// Opens (or creates, mode 0600) the outbox at `path`.
    ///
    /// - Parameters:
    ///   - routes: The notifiers to deliver to; names must be unique. Rows for notifiers not
    ///     routed here stay untouched (a policy that dropped a notifier does not lose its queue).
    ///   - audit: Where delivery attempts and outcomes are recorded; `nil` records nothing.
    /// - Throws: ``RecoveryError`` (`invalidInput` for duplicate names, `ioFailure`-like errors
    ///   with SQLite's message when the file cannot be opened).
    public init(
        path: String, routes: [NotificationRoute] = [], audit: (any AuditTrail)? = nil, actor: AuditActor = .current(),
        configuration: Configuration = Configuration(), now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "carbon-recovery.outbox")
    ) throws {
        var byName: [String: NotificationRoute] = [:]
        for route in routes {
            guard byName.updateValue(route, forKey: route.notifier.name) == nil else {
                throw RecoveryError.invalidInput("two notifiers are named '\(route.notifier.name)'; the outbox keys deliveries by name")
            }
        }
        self.routes = byName
        self.path = path
        self.audit = audit
        self.auditActor = actor
        self.configuration = configuration
        self.now = now
        self.logger = logger
        try FileSecurity.createParentDirectories(of: path, for: "the notification outbox")
        try FileSecurity.ensurePrivateFile(at: path, for: "the notification outbox")
        do {
            database = try SQLiteDatabase(path: path, readOnly: false)
            sqlite3_busy_timeout(database.handle, 10_000)
            try database.execute("PRAGMA journal_mode=WAL")
            try database.execute("PRAGMA synchronous=\(configuration.syncEveryEnqueue ? "FULL" : "NORMAL")")
            try database.execute(Self.schema)
        } catch let error as SQLiteError {
            throw RecoveryError(.auditFailure, "cannot open the notification outbox: \(error.message)", target: path)
        }
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

    // MARK: - Enqueueing

    /// Enqueues the event (the ``Notifier`` requirement); see ``enqueue(_:)``.
    public func deliver(_ event: RecoveryEvent) async throws {
        _ = try await enqueue(event)
    }

    /// Stores the event for every route, durably, and wakes ``run()``; returns once it is committed.
    ///
    /// Concurrent callers share commits (group commit): events that arrive while one transaction
    /// is being written go into the next one together, so many producers pay for one disk flush
    /// each round instead of one each. Each caller still returns only after its own event is on disk.
    ///
    /// - Returns: What happened per notifier name.
    /// - Throws: ``RecoveryError/Code/auditFailure`` with SQLite's message when it could not be
    ///   stored; then nothing of its transaction was stored.
    @discardableResult
    public func enqueue(_ event: RecoveryEvent) async throws -> [String: EnqueueResult] {
        try await withCheckedThrowingContinuation { continuation in
            waitingToCommit.append((event, continuation))
            guard !committing else { return }
            committing = true
            Task { await self.commitWaiting() }
        }
    }

    /// Commits what callers of ``enqueue(_:)`` left, a transaction per round, until nothing waits.
    private func commitWaiting() async {
        while !waitingToCommit.isEmpty {
            let batch = waitingToCommit
            waitingToCommit = []
            do {
                let results = try enqueue(contentsOf: batch.map(\.event))
                for (item, result) in zip(batch, results) { item.continuation.resume(returning: result) }
            } catch {
                for item in batch { item.continuation.resume(throwing: error) }
            }
            await Task.yield()   // let callers that arrived meanwhile join the next round
        }
        committing = false
    }

    /// Stores several events in one transaction (all or none).
    @discardableResult
    public func enqueue(contentsOf events: [RecoveryEvent]) throws -> [[String: EnqueueResult]] {
        guard !routes.isEmpty, !events.isEmpty else { return events.map { _ in [:] } }
        let at = milliseconds(now())
        let results = try sqlite("enqueue notifications") {
            try database.immediateTransaction {
                let insert = try database.prepare("""
                    INSERT INTO outbox (notifier, idempotency_key, dedupe_key, kind, target, event, state, created_at, next_attempt_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (notifier, idempotency_key) DO NOTHING
                    """)
                let recent = try database.prepare("""
                    SELECT 1 FROM outbox WHERE notifier = ? AND dedupe_key = ? AND created_at >= ? AND state IN ('pending', 'delivered') LIMIT 1
                    """)
                var results: [[String: EnqueueResult]] = []
                for event in events {
                    let body = event.json.canonicalString
                    let dedupeKey = Self.dedupeKey(event)
                    var perRoute: [String: EnqueueResult] = [:]
                    for (name, route) in routes {
                        var state = State.pending
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
                        perRoute[name] = sqlite3_changes(database.handle) == 0 ? .duplicate : state == .suppressed ? .suppressed : .queued
                    }
                    results.append(perRoute)
                }
                return results
            }
        }
        waker.signal()
        return results
    }

    static func dedupeKey(_ event: RecoveryEvent) -> String {
        let digest = SHA256.hash(data: Array("\(event.kind.rawValue)\u{1F}\(event.severity.rawValue)\u{1F}\(event.target)\u{1F}\(event.summary)".utf8))
        return digest.prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    // MARK: - Delivering

    /// Delivers what is due now, at most `maximum` rows (default: ``Configuration/concurrency``),
    /// concurrently, and records every outcome. Rounds are small on purpose: a process that dies
    /// mid-round leaves at most one round of accepted-but-unrecorded deliveries to be redelivered.
    public func deliverDue(maximum: Int? = nil) async -> Round {
        let maximum = maximum ?? max(1, configuration.concurrency)
        let claimed: [(id: Int64, route: NotificationRoute, event: RecoveryEvent, attempt: Int)]
        do {
            claimed = try claim(maximum: maximum)
        } catch {
            logger.error("could not read the notification outbox", metadata: ["error": "\(error)"])
            return Round()
        }
        guard !claimed.isEmpty else { return Round() }
        let correlationIDs = claimed.map { _ in UUID().uuidString.lowercased() }
        if let audit {
            let attempts = zip(claimed, correlationIDs).map { item, correlationID in
                AuditRecord.attempt(
                    operation: "notify.deliver", target: "notify/\(item.route.notifier.name)/\(item.event.idempotencyKey)",
                    parameters: ["kind": .string(item.event.kind.rawValue), "attempt": .integer(Int64(item.attempt)), "outboxId": .integer(item.id)],
                    actor: auditActor, correlationID: correlationID)
            }
            do {
                _ = try await audit.record(contentsOf: attempts)
            } catch {
                logger.error("could not record delivery attempts in the audit trail; not delivering", metadata: ["error": "\(error)"])
                try? release(claimed.map(\.id))
                return Round()
            }
        }
        let concurrency = max(1, configuration.concurrency)
        var outcomes: [(index: Int, error: NotifierError?, duration: Duration)] = []
        await withTaskGroup(of: (Int, NotifierError?, Duration).self) { group in
            var next = 0
            func start() {
                let index = next
                let item = claimed[index]
                next += 1
                group.addTask {
                    let clock = ContinuousClock()
                    let started = clock.now
                    do {
                        try await item.route.notifier.deliver(item.event)
                        return (index, nil, started.duration(to: clock.now))
                    } catch let error as NotifierError {
                        return (index, NotifierError(isPermanent: error.isPermanent, message: Self.scrub(error.message)), started.duration(to: clock.now))
                    } catch {
                        return (index, .temporary(Self.scrub(HTTPDelivery.errorName(error))), started.duration(to: clock.now))
                    }
                }
            }
            while next < min(concurrency, claimed.count) { start() }
            for await outcome in group {
                outcomes.append(outcome)
                if next < claimed.count { start() }
            }
        }
        var round = Round(tried: claimed.count)
        let at = now()
        var updates: [(id: Int64, state: State, attempts: Int, nextAttempt: Int64, error: String?)] = []
        var records: [AuditRecord] = []
        for (index, failure, duration) in outcomes {
            let item = claimed[index]
            let state: State
            var nextAttempt = milliseconds(at)
            if let failure {
                if failure.isPermanent || item.attempt >= item.route.delivery.maxAttempts {
                    state = .dead
                    round.dead += 1
                } else {
                    state = .pending
                    round.retrying += 1
                    let wait = item.route.delivery.backoff(afterAttempts: item.attempt)
                    nextAttempt += Int64(Double(wait.wholeMilliseconds) * Double.random(in: 0.5...1.0))
                }
            } else {
                state = .delivered
                round.delivered += 1
            }
            updates.append((item.id, state, item.attempt, nextAttempt, failure?.message))
            Counter(label: RecoveryMetrics.operations, dimensions: [("operation", "notify.deliver"), ("outcome", failure == nil ? "success" : "failure")]).increment()
            Metrics.Timer(label: RecoveryMetrics.operationDuration, dimensions: [("operation", "notify.deliver")]).record(duration: duration)
            if failure != nil {
                logger.warning("notification not delivered", metadata: [
                    "notifier": "\(item.route.notifier.name)", "kind": "\(item.event.kind)", "attempt": "\(item.attempt)",
                    "state": "\(state.rawValue)", "error": "\(failure!.message)"])
            }
            var details: JSONValue = ["attempt": .integer(Int64(item.attempt)), "state": .string(state.rawValue), "outboxId": .integer(item.id)]
            if state == .pending { details["nextAttemptAt"] = .string(RFC3339.format(Date(timeIntervalSince1970: Double(nextAttempt) / 1000))) }
            records.append(.outcome(
                failure == nil ? .success : .failure, operation: "notify.deliver", target: "notify/\(item.route.notifier.name)/\(item.event.idempotencyKey)",
                parameters: details, error: failure.map { ($0.isPermanent ? "permanent: " : "temporary: ") + $0.message }, durationMilliseconds: duration.wholeMilliseconds,
                actor: auditActor, correlationID: correlationIDs[index]))
        }
        do {
            try sqlite("record deliveries") {
                try database.immediateTransaction {
                    let update = try database.prepare("""
                        UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, lease_until = NULL, last_error = ?,
                        delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END WHERE id = ?
                        """)
                    for item in updates {
                        update.bind(1, item.state.rawValue)
                        update.bind(2, Int64(item.attempts))
                        update.bind(3, item.nextAttempt)
                        update.bind(4, item.error)
                        update.bind(5, item.state.rawValue)
                        update.bind(6, milliseconds(at))
                        update.bind(7, item.id)
                        try update.run()
                    }
                }
            }
        } catch {
            // The leases expire and the deliveries are retried; receivers drop the duplicates by key.
            logger.error("could not record delivery outcomes in the outbox", metadata: ["error": "\(error)"])
        }
        if let audit {
            do {
                _ = try await audit.record(contentsOf: records)
            } catch {
                logger.error("could not record delivery outcomes in the audit trail", metadata: ["error": "\(error)"])
            }
        }
        updateDepthGauges()
        return round
    }

    /// Leases up to `maximum` due rows of the routed notifiers, within each route's rate limit.
    private func claim(maximum: Int) throws -> [(id: Int64, route: NotificationRoute, event: RecoveryEvent, attempt: Int)] {
        let at = milliseconds(now())
        return try sqlite("claim deliveries") {
            try database.immediateTransaction {
                let select = try database.prepare("""
                    SELECT id, event, attempts FROM outbox WHERE state = 'pending' AND notifier = ? AND next_attempt_at <= ?
                    AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at, id LIMIT ?
                    """)
                let used = try database.prepare("""
                    SELECT count(*) FROM outbox WHERE notifier = ? AND (delivered_at > ? OR (state = 'pending' AND lease_until > ?))
                    """)
                let lease = try database.prepare("UPDATE outbox SET lease_until = ? WHERE id = ?")
                var claimed: [(id: Int64, route: NotificationRoute, event: RecoveryEvent, attempt: Int)] = []
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
                    while try select.step() {
                        let id = select.int64(0)
                        let text = select.text(1) ?? ""
                        let attempts = Int(select.int64(2))
                        guard let json = try? JSONValue(parsing: Array(text.utf8)), let event = try? RecoveryEvent(json: json) else {
                            logger.error("an outbox row does not hold a readable event; dead-lettering it", metadata: ["id": "\(id)"])
                            try database.execute("UPDATE outbox SET state = 'dead', last_error = 'unreadable event' WHERE id = \(id)")
                            continue
                        }
                        claimed.append((id, route, event, attempts + 1))
                    }
                    select.reset()
                }
                for item in claimed {
                    lease.bind(1, at + configuration.lease.wholeMilliseconds)
                    lease.bind(2, item.id)
                    try lease.run()
                }
                return claimed
            }
        }
    }

    private func release(_ ids: [Int64]) throws {
        try database.immediateTransaction {
            let release = try database.prepare("UPDATE outbox SET lease_until = NULL WHERE id = ?")
            for id in ids {
                release.bind(1, id)
                try release.run()
            }
        }
    }

    /// When the next routed pending row is due (or its lease ends), if any.
    private func nextDue() throws -> Date? {
        let at = milliseconds(now())
        return try sqlite("read the outbox") {
            let statement = try database.prepare("""
                SELECT min(max(next_attempt_at, coalesce(lease_until, 0))) FROM outbox WHERE state = 'pending' AND notifier IN (SELECT value FROM json_each(?))
                """)
            statement.bind(1, JSONValue.array(routes.keys.map { .string($0) }).canonicalString)
            defer { statement.reset() }
            guard try statement.step(), !statement.isNull(0) else { return nil }
            return Date(timeIntervalSince1970: Double(max(statement.int64(0), at)) / 1000)
        }
    }

    /// Asks ``flush(timeout:)`` and ``run()`` to stop after the deliveries in flight, which are recorded first.
    /// Safe to call from a signal handler's queue.
    public nonisolated func requestStop() {
        stopping.set(true)
        waker.signal()
    }

    /// Delivers until no routed row is pending, `timeout` has passed, or ``requestStop()`` is
    /// called, waiting for retries that come due in time.
    public func flush(timeout: Duration) async -> FlushResult {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var result = FlushResult()
        while !Task.isCancelled && !stopping.isSet {
            let round = await deliverDue()
            result.delivered += round.delivered
            result.dead += round.dead
            if round.tried > 0 { continue }
            guard let due = try? nextDue() else { break }
            let wait = Duration.milliseconds(Int64(max(0, due.timeIntervalSince(now())) * 1000))
            guard clock.now.advanced(by: wait) < deadline else { break }
            await waker.wait(for: max(wait, .milliseconds(5)))
        }
        result.pending = (try? depth(states: [.pending]).filter { routes[$0.key] != nil }.values.reduce(0) { $0 + ($1[.pending] ?? 0) }) ?? 0
        return result
    }

    /// Delivers until cancelled or, as a `Service`, until graceful shutdown; deliveries in flight finish first.
    public func run() async throws {
        stopping.set(false)
        updateDepthGauges()
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !stopping.isSet {
                let round = await deliverDue()
                if round.tried > 0 { continue }
                updateDepthGauges()   // rows enqueued or replayed by other processes
                let due = (try? nextDue()) ?? nil
                let wait = due.map { Duration.milliseconds(Int64(max(0, $0.timeIntervalSince(now())) * 1000)) } ?? configuration.pollInterval
                await waker.wait(for: max(.milliseconds(1), min(wait, configuration.pollInterval)))
            }
        } onGracefulShutdown: { [stopping, waker] in
            stopping.set(true)
            waker.signal()
        }
    }

    // MARK: - Reading and replaying

    /// The rows in the given states, newest first.
    public func entries(states: Set<State> = Set(State.allCases), limit: Int = 100) throws -> [Entry] {
        try sqlite("read the outbox") {
            let statement = try database.prepare("""
                SELECT id, notifier, event, state, attempts, created_at, next_attempt_at, delivered_at, last_error FROM outbox
                WHERE state IN (SELECT value FROM json_each(?)) ORDER BY id DESC LIMIT ?
                """)
            statement.bind(1, JSONValue.array(states.map { .string($0.rawValue) }).canonicalString)
            statement.bind(2, Int64(limit))
            defer { statement.reset() }
            var entries: [Entry] = []
            while try statement.step() {
                guard let json = try? JSONValue(parsing: Array((statement.text(2) ?? "").utf8)), let event = try? RecoveryEvent(json: json),
                    let state = statement.text(3).flatMap(State.init(rawValue:))
                else { continue }
                entries.append(Entry(
                    id: statement.int64(0), notifier: statement.text(1) ?? "", event: event, state: state, attempts: Int(statement.int64(4)),
                    createdAt: Self.date(statement.int64(5)), nextAttemptAt: Self.date(statement.int64(6)),
                    deliveredAt: statement.isNull(7) ? nil : Self.date(statement.int64(7)), lastError: statement.text(8)))
            }
            return entries
        }
    }

    /// Rows per notifier and state, counting only `states` (pending and dead rows are found
    /// through an index; counting delivered ones reads the whole history).
    public func depth(states: Set<State> = Set(State.allCases)) throws -> [String: [State: Int]] {
        try sqlite("read the outbox") {
            let statement = try database.prepare(
                "SELECT notifier, state, count(*) FROM outbox WHERE state IN (SELECT value FROM json_each(?)) GROUP BY notifier, state")
            statement.bind(1, JSONValue.array(states.map { .string($0.rawValue) }).canonicalString)
            defer { statement.reset() }
            var depth: [String: [State: Int]] = [:]
            while try statement.step() {
                guard let state = statement.text(1).flatMap(State.init(rawValue:)) else { continue }
                depth[statement.text(0) ?? "", default: [:]][state] = Int(statement.int64(2))
            }
            return depth
        }
    }

    /// Moves dead rows back to pending with their attempts reset, to be delivered again: the
    /// rows with `ids`, or every dead row when `ids` is `nil`. Audited as `notify.retry`.
    ///
    /// - Returns: The rows moved.
    /// - Throws: ``RecoveryError/Code/notFound`` naming ids that are not dead rows (then nothing moves).
    @discardableResult
    public func retry(ids: [Int64]? = nil) async throws -> [Entry] {
        let dead = try entries(states: [.dead], limit: Int.max)
        let chosen: [Entry]
        if let ids {
            let known = Set(dead.map(\.id))
            let unknown = ids.filter { !known.contains($0) }
            guard unknown.isEmpty else {
                throw RecoveryError(.notFound, "no dead notification with id \(unknown.map(String.init).joined(separator: ", ")); `notify list --failed` shows them")
            }
            chosen = dead.filter { ids.contains($0.id) }
        } else {
            chosen = dead
        }
        guard !chosen.isEmpty else { return [] }
        let correlationID = UUID().uuidString.lowercased()
        let parameters: JSONValue = ["ids": .array(chosen.map { .integer($0.id) })]
        _ = try await audit?.record(.attempt(operation: "notify.retry", target: "outbox", parameters: parameters, actor: auditActor, correlationID: correlationID))
        let at = milliseconds(now())
        try sqlite("replay dead notifications") {
            try database.immediateTransaction {
                let update = try database.prepare(
                    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_until = NULL, last_error = NULL WHERE id = ? AND state = 'dead'")
                for entry in chosen {
                    update.bind(1, at)
                    update.bind(2, entry.id)
                    try update.run()
                }
            }
        }
        _ = try await audit?.record(.outcome(
            .success, operation: "notify.retry", target: "outbox", parameters: ["moved": .integer(Int64(chosen.count))], error: nil,
            durationMilliseconds: 0, actor: auditActor, correlationID: correlationID))
        waker.signal()
        updateDepthGauges()
        return chosen
    }

    // MARK: - Helpers

    private func updateDepthGauges() {
        guard let depth = try? depth(states: [.pending, .dead]) else { return }
        for name in Set(routes.keys).union(depth.keys) {
            for state in [State.pending, .dead] {
                Gauge(label: RecoveryMetrics.outboxDepth, dimensions: [("notifier", name), ("state", state.rawValue)]).record(depth[name]?[state] ?? 0)
            }
        }
    }

    private func sqlite<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SQLiteError {
            throw RecoveryError(.auditFailure, "cannot \(what): \(error.message)", target: path)
        }
    }

    private func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

    /// Removes URLs (which may hold tokens) and URL credentials from error text.
    static func scrub(_ text: String) -> String {
        let redacted = AuditRedaction.redact(text: text)
        return redacted.replacing(/[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s"'<>]+/, with: "[URL]")
    }
}

/// A flag set from a graceful-shutdown handler.
final class StopFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set(_ flag: Bool) { value.withLock { $0 = flag } }
}

/// Wakes a sleeping deliverer early when work arrives.
final class Waker: Sendable {
    private let state = Mutex<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// Wakes the waiter, or the next one when none waits.
    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after `duration`, on a signal, or on cancellation, whichever comes first.
    func wait(for duration: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: duration) }
            group.addTask { await self.signalled() }
            await group.next()
            group.cancelAll()   // ends the other child: the sleep, or the wait for a signal
        }
    }

    /// Returns on a signal (or one that came while nobody waited), or on cancellation.
    private func signalled() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    // Cancelled before the continuation was stored: the handler found nothing to resume.
                    if Task.isCancelled { return true }
                    state.waiter?.resume()   // a second waiter replaces the first, which wakes early
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
