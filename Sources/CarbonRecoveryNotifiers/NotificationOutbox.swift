import CarbonRecovery
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
/// let outbox = try await NotificationOutbox(path: stateDir + "/audit.outbox.db", routes: routes, audit: trail)
/// let coordinator = RecoveryCoordinator(engine: engine, storage: storage, audit: trail, notifiers: [outbox], logger: logger)
/// try await coordinator.backup(request)       // a failure enqueues backup-failed
/// let result = await outbox.flush(timeout: .seconds(30))
/// ```
public actor NotificationOutbox: Notifier, Service {
    /// The outbox as a notifier.
    public nonisolated let name = "outbox"
    /// The SQLite file.
    public nonisolated let path: String

    private let store: OutboxStore
    private let routes: [String: NotificationRoute]
    private let audit: (any AuditTrail)?
    private let auditActor: AuditActor
    private let configuration: Configuration
    private let clock: any WallClock
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
    ///   - actor: Who the audited delivery entries name.
    ///   - configuration: Leases, concurrency, polling and durability.
    ///   - clock: The time rows are stamped with and retries wait on; inject a simulated clock in tests.
    ///   - logger: Where delivery failures are logged. Without one, the outbox logs nothing.
    /// - Throws: ``RecoveryError`` (`invalidInput` for duplicate names, `notificationFailure`
    ///   with SQLite's message when the file cannot be opened).
    public init(
        path: String, routes: [NotificationRoute] = [], audit: (any AuditTrail)? = nil, actor: AuditActor = .current(),
        configuration: Configuration = Configuration(), clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "carbon-recovery.outbox", factory: { _ in SwiftLogNoOpLogHandler() })
    ) async throws {
        try RecoveryError.requireUnique(routes.map(\.notifier.name), what: "notifier", because: "the outbox keys deliveries by name")
        self.routes = Dictionary(uniqueKeysWithValues: routes.map { ($0.notifier.name, $0) })
        self.path = path
        self.audit = audit
        self.auditActor = actor
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.store = try await OutboxStore.open(path: path, syncEveryEnqueue: configuration.syncEveryEnqueue)
    }

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
    /// - Throws: ``RecoveryError/Code/notificationFailure`` with SQLite's message when it could not be
    ///   stored; then nothing of its transaction was stored.
    @discardableResult
    public func enqueue(_ event: RecoveryEvent) async throws -> [String: EnqueueResult] {
        guard !committing else {
            return try await withCheckedThrowingContinuation { continuation in waitingToCommit.append((event, continuation)) }
        }
        // Nobody is committing: commit this event at once, from here (no extra task), and hand
        // what arrived meanwhile to a task that commits it in rounds.
        committing = true
        defer {
            if waitingToCommit.isEmpty {
                committing = false
            } else {
                Task { await self.commitWaiting() }
            }
        }
        return try await enqueue(contentsOf: [event])[0]
    }

    /// Commits what callers of ``enqueue(_:)`` left, a transaction per round, until nothing waits.
    private func commitWaiting() async {
        while !waitingToCommit.isEmpty {
            let batch = waitingToCommit
            waitingToCommit = []
            do {
                let results = try await enqueue(contentsOf: batch.map(\.event))
                for (item, result) in zip(batch, results) { item.continuation.resume(returning: result) }
            } catch {
                for item in batch { item.continuation.resume(throwing: error) }
            }
        }
        committing = false
    }

    /// Stores several events in one transaction (all or none).
    @discardableResult
    public func enqueue(contentsOf events: [RecoveryEvent]) async throws -> [[String: EnqueueResult]] {
        guard !routes.isEmpty, !events.isEmpty else { return events.map { _ in [:] } }
        let results = try await store.insert(events, routes: routes, at: milliseconds(clock.now()))
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
        let claimed: [OutboxStore.Claimed]
        do {
            let result = try await store.claim(routes: routes, maximum: maximum, at: milliseconds(clock.now()), lease: configuration.lease)
            for id in result.unreadable {
                logger.error("an outbox row does not hold a readable event; dead-lettered it", metadata: ["id": "\(id)"])
            }
            claimed = result.claimed
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
                try? await store.release(claimed.map(\.id))
                return Round()
            }
        }
        let outcomes = await deliver(claimed)
        var round = Round(tried: claimed.count)
        let at = clock.now()
        var updates: [OutboxStore.Update] = []
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
            updates.append(OutboxStore.Update(id: item.id, state: state, attempts: item.attempt, nextAttempt: nextAttempt, error: failure?.message))
            Counter(label: RecoveryMetrics.operations, dimensions: [("operation", "notify.deliver"), ("outcome", failure == nil ? "success" : "failure")]).increment()
            Metrics.Timer(label: RecoveryMetrics.operationDuration, dimensions: [("operation", "notify.deliver")]).record(duration: duration)
            if let failure {
                logger.warning("notification not delivered", metadata: [
                    "notifier": "\(item.route.notifier.name)", "kind": "\(item.event.kind)", "attempt": "\(item.attempt)",
                    "state": "\(state.rawValue)", "error": "\(failure.message)"])
            }
            var details: JSONValue = ["attempt": .integer(Int64(item.attempt)), "state": .string(state.rawValue), "outboxId": .integer(item.id)]
            if state == .pending { details["nextAttemptAt"] = .string(RFC3339.format(OutboxStore.date(nextAttempt))) }
            records.append(.outcome(
                failure == nil ? .success : .failure, operation: "notify.deliver", target: "notify/\(item.route.notifier.name)/\(item.event.idempotencyKey)",
                parameters: details, error: failure.map { ($0.isPermanent ? "permanent: " : "temporary: ") + $0.message }, durationMilliseconds: duration.wholeMilliseconds,
                actor: auditActor, correlationID: correlationIDs[index]))
        }
        do {
            try await store.record(updates, at: milliseconds(at))
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
        await updateDepthGauges()
        return round
    }

    /// Calls the notifiers of `claimed`, at most ``Configuration/concurrency`` at once; returns
    /// each try's index, failure (scrubbed of URLs) and how long it took.
    private func deliver(_ claimed: [OutboxStore.Claimed]) async -> [(index: Int, error: NotifierError?, duration: Duration)] {
        let concurrency = max(1, configuration.concurrency)
        var outcomes: [(index: Int, error: NotifierError?, duration: Duration)] = []
        await withTaskGroup(of: (Int, NotifierError?, Duration).self) { group in
            var next = 0
            func start() {
                let index = next
                let item = claimed[index]
                next += 1
                group.addTask {
                    // How long the notifier took: a measured duration, not a time of day.
                    let stopwatch = ContinuousClock()
                    let started = stopwatch.now
                    do {
                        try await item.route.notifier.deliver(item.event)
                        return (index, nil, started.duration(to: stopwatch.now))
                    } catch let error as NotifierError {
                        return (index, NotifierError(isPermanent: error.isPermanent, message: Self.scrub(error.message)), started.duration(to: stopwatch.now))
                    } catch {
                        return (index, .temporary(Self.scrub(HTTPDelivery.errorName(error))), started.duration(to: stopwatch.now))
                    }
                }
            }
            while next < min(concurrency, claimed.count) { start() }
            for await outcome in group {
                outcomes.append(outcome)
                if next < claimed.count { start() }
            }
        }
        return outcomes
    }

    /// When the next routed pending row is due (or its lease ends), if any.
    private func nextDue() async throws -> Date? {
        guard let due = try await store.nextDue(notifiers: Array(routes.keys)) else { return nil }
        return max(OutboxStore.date(due), clock.now())
    }

    /// Asks ``flush(timeout:)`` and ``run()`` to stop after the deliveries in flight, which are recorded first.
    /// Safe to call from a signal handler's queue.
    public nonisolated func requestStop() {
        stopping.set(true)
        waker.signal()
    }

    /// Delivers until no routed row is pending, `timeout` has passed on the outbox's clock, or
    /// ``requestStop()`` is called, waiting for retries that come due in time.
    public func flush(timeout: Duration) async -> FlushResult {
        let deadline = clock.now().addingTimeInterval(timeout.seconds)
        var result = FlushResult()
        while !Task.isCancelled && !stopping.isSet {
            let round = await deliverDue()
            result.delivered += round.delivered
            result.dead += round.dead
            if round.tried > 0 { continue }
            guard let due = try? await nextDue(), due < deadline else { break }
            await waker.wait(until: due, on: clock)
        }
        let pending = (try? await store.depth(states: [.pending])) ?? [:]
        result.pending = pending.filter { routes[$0.key] != nil }.values.reduce(0) { $0 + ($1[.pending] ?? 0) }
        return result
    }

    /// Delivers until cancelled or, as a `Service`, until graceful shutdown; deliveries in flight finish first.
    public func run() async throws {
        stopping.set(false)
        await updateDepthGauges()
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !stopping.isSet {
                let round = await deliverDue()
                if round.tried > 0 { continue }
                await updateDepthGauges()   // rows enqueued or replayed by other processes
                // Wake when the next row is due, and at least every poll interval for rows that
                // other processes enqueue (their signal does not reach this one).
                let poll = clock.now().addingTimeInterval(configuration.pollInterval.seconds)
                let due = ((try? await nextDue()) ?? nil).map { min($0, poll) } ?? poll
                await waker.wait(until: due, on: clock)
            }
        } onGracefulShutdown: { [stopping, waker] in
            stopping.set(true)
            waker.signal()
        }
    }

    // MARK: - Reading and replaying

    /// The rows in the given states, newest first.
    public func entries(states: Set<State> = Set(State.allCases), limit: Int = 100) async throws -> [Entry] {
        try await store.entries(states: states, limit: limit)
    }

    /// Rows per notifier and state, counting only `states` (pending and dead rows are found
    /// through an index; counting delivered ones reads the whole history).
    public func depth(states: Set<State> = Set(State.allCases)) async throws -> [String: [State: Int]] {
        try await store.depth(states: states)
    }

    /// Moves dead rows back to pending with their attempts reset, to be delivered again: the
    /// rows with `ids`, or every dead row when `ids` is `nil`. Audited as `notify.retry`.
    ///
    /// - Returns: The rows moved.
    /// - Throws: ``RecoveryError/Code/notFound`` naming ids that are not dead rows (then nothing moves).
    @discardableResult
    public func retry(ids: [Int64]? = nil) async throws -> [Entry] {
        let dead = try await store.entries(states: [.dead], limit: Int.max)
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
        try await store.replay(chosen.map(\.id), at: milliseconds(clock.now()))
        _ = try await audit?.record(.outcome(
            .success, operation: "notify.retry", target: "outbox", parameters: ["moved": .integer(Int64(chosen.count))], error: nil,
            durationMilliseconds: 0, actor: auditActor, correlationID: correlationID))
        waker.signal()
        await updateDepthGauges()
        return chosen
    }

    // MARK: - Helpers

    private func updateDepthGauges() async {
        guard let depth = try? await store.depth(states: [.pending, .dead]) else { return }
        for name in Set(routes.keys).union(depth.keys) {
            for state in [State.pending, .dead] {
                Gauge(label: RecoveryMetrics.outboxDepth, dimensions: [("notifier", name), ("state", state.rawValue)]).record(depth[name]?[state] ?? 0)
            }
        }
    }

    private func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// Removes URLs (which may hold tokens) and URL credentials from error text.
    static func scrub(_ text: String) -> String {
        let redacted = AuditRedaction.redact(text: text)
        return redacted.replacing(/[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s"'<>]+/, with: "[URL]")
    }
}

extension Duration {
    /// The duration in seconds, as a `TimeInterval`.
    fileprivate var seconds: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
