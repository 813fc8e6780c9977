import CarbonRecovery
import Foundation
import Logging
import ServiceLifecycle

/// The in-process cron scheduler: runs ``RecoveryTask``s — what Velero does not do — at their
/// fire times, each run audited, as a swift-service-lifecycle `Service`.
///
/// ```swift
/// let scheduler = RecoveryTaskScheduler(
///     coordinator: coordinator, tasks: RecoveryTasks.standard(for: policy, coordinator: coordinator), logger: logger)
/// let group = ServiceGroup(configuration: .init(
///     services: [.init(service: scheduler)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
/// try await group.run()
/// ```
///
/// ## Runs and the audit trail
/// The scheduler's lifetime is one audited `scheduler.run` operation (its attempt lists the
/// tasks and their crons; its outcome says how it stopped). Each firing is an audited `task.run`
/// (target `task/<name>`) whose attempt records `scheduledFor`, before the work starts.
///
/// ## Missed runs
/// On start, each task's fires since its last recorded run (or, for a task never run, since
/// the first `scheduler.run` that listed it) that are already past were missed: the process was
/// down. They are reported once — a warning in the log, an ``Event/missed(task:count:first:last:)``,
/// and `missedRuns`/`firstMissed` on the one catch-up run's audit entry — and the task runs once
/// for the latest of them, not once per missed fire. A restart right after changes nothing: the
/// catch-up run's `scheduledFor` is the new starting point. A run that overruns its task's next
/// fires is handled the same way. The first start ever has nothing to catch up.
///
/// Each task has its own loop, so a long drill does not delay the RPO check. Graceful shutdown
/// (SIGTERM in a `ServiceGroup`) ends the sleeps at once and lets a run in progress finish — a
/// drill is not left half-restored; cancellation ends the sleeps and cancels the runs, which are
/// recorded as `abandoned`. Either way ``runUntilCancelled()`` then returns normally.
public struct RecoveryTaskScheduler: Service {
    /// What the scheduler did, for a caller that shows it (the CLI prints one line each).
    public enum Event: Sendable {
        /// It started with these tasks and their next fire times.
        case started(tasks: [(name: String, next: Date?)])
        /// Fires of a task were missed; it runs once for `last`.
        case missed(task: String, count: Int, first: Date, last: Date)
        /// A run ended: its details, or the error message.
        case finished(task: String, run: RecoveryTask.Run, result: Result<JSONValue, RecoveryError>)
        /// It stopped.
        case stopped(runs: Int)
    }

    let coordinator: RecoveryCoordinator
    let tasks: [RecoveryTask]
    let clock: any WallClock
    let logger: Logger
    let onEvent: @Sendable (Event) -> Void

    /// Creates a scheduler.
    ///
    /// - Parameters:
    ///   - coordinator: Audits every run (and the scheduler's lifetime); its audit trail is also
    ///     where the missed-run bookkeeping is read from.
    ///   - tasks: The tasks; names must be unique.
    ///   - clock: Wall-clock time; inject `SimulatedWallClock` to run days in a test.
    ///   - logger: Runs at info, missed runs and failures at warning.
    ///   - onEvent: Called for each ``Event``.
    public init(
        coordinator: RecoveryCoordinator, tasks: [RecoveryTask], clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "carbon-recovery.scheduler", factory: { _ in SwiftLogNoOpLogHandler() }), onEvent: @escaping @Sendable (Event) -> Void = { _ in }
    ) {
        self.coordinator = coordinator
        self.tasks = tasks
        self.clock = clock
        self.logger = logger
        self.onEvent = onEvent
    }

    /// Runs until graceful shutdown (SIGTERM in a `ServiceGroup`) or cancellation.
    ///
    /// Graceful shutdown ends the sleeps at once and lets runs in progress finish (bound them with
    /// the group's `maximumGracefulShutdownDuration`); cancellation also cancels those runs,
    /// which are then recorded as `abandoned`.
    public func run() async throws {
        try await runUntilCancelled()
    }

    /// Runs until graceful shutdown or cancellation, then returns normally (not by throwing).
    ///
    /// - Throws: ``RecoveryError`` — `invalidInput` for duplicate task names or a cron that never
    ///   fires (nothing recorded), `auditFailure` when the start cannot be recorded.
    public func runUntilCancelled() async throws {
        let names = tasks.map(\.name)
        try RecoveryError.requireUnique(names, what: "task")
        let startedAt = clock.now()
        for task in tasks where task.cron.nextFire(after: startedAt) == nil {
            throw RecoveryError.invalidInput("task '\(task.name)' has cron '\(task.cron)', which never fires")
        }
        let parameters: JSONValue = .object([
            "startedAt": .string(RFC3339.format(startedAt)),
            "tasks": .object(Dictionary(uniqueKeysWithValues: tasks.map { ($0.name, JSONValue.string($0.cron.expression)) })),
        ])
        try await coordinator.perform("scheduler.run", target: "scheduler", parameters: parameters) { _, _ in
            let anchors = try await self.anchors(startedAt: startedAt)
            self.onEvent(.started(tasks: self.tasks.map { ($0.name, $0.cron.nextFire(after: startedAt)) }))
            self.logger.info("scheduler started", metadata: ["tasks": "\(names.joined(separator: ", "))"])
            let runs = await withTaskGroup(of: Int.self) { group in
                for task in self.tasks {
                    let anchor = anchors[task.name] ?? startedAt
                    group.addTask { await self.loop(task, anchor: anchor, startedAt: startedAt) }
                }
                return await group.reduce(0, +)
            }
            self.onEvent(.stopped(runs: runs))
            self.logger.info("scheduler stopped", metadata: ["runs": "\(runs)"])
            return ((), .object(["stoppedAt": .string(RFC3339.format(self.clock.now())), "runs": .integer(Int64(runs))]))
        }
    }

    // MARK: The loop of one task

    /// Runs one task until cancelled; returns how many runs it made. The catch-up covers the
    /// fires in `(anchor, startedAt]`: the process was down for those, not for the ones that
    /// passed while it was starting.
    func loop(_ task: RecoveryTask, anchor: Date, startedAt: Date) async -> Int {
        var handled = anchor
        var runs = 0
        var catchUp = true
        while !Task.isCancelled {
            if !catchUp {
                guard let next = task.cron.nextFire(after: handled) else { return runs }
                guard await sleep(until: next) else { return runs }
            }
            let due = Self.fires(of: task.cron, after: handled, through: catchUp ? startedAt : clock.now())
            defer { catchUp = false }
            guard let last = due.last else { continue }
            // After a start every due fire passed while the process was down; in the loop, all but the
            // latest passed while the previous run was still going.
            let missed = catchUp ? due.count : due.count - 1
            let run = RecoveryTask.Run(scheduledFor: last, missedRuns: missed, firstMissed: missed > 0 ? due.first : nil, isCatchUp: catchUp)
            if run.missedRuns > 0 {
                onEvent(.missed(task: task.name, count: run.missedRuns, first: due.first!, last: last))
                logger.warning(
                    "missed runs", metadata: [
                        "task": "\(task.name)", "missed": "\(run.missedRuns)", "first": "\(RFC3339.format(due.first!))",
                        "running-once-for": "\(RFC3339.format(last))",
                    ])
            }
            handled = last
            runs += 1
            if await execute(task, run) == false { return runs }
        }
        return runs
    }

    /// Sleeps until `deadline`; `false` when woken early by graceful shutdown or cancellation.
    /// Only the sleep races the shutdown: a run in progress is left to finish.
    func sleep(until deadline: Date) async -> Bool {
        // A shutdown that came during a run must win even when the next fire is already due:
        // racing it against a sleep that returns at once would start another run.
        if Task.isShuttingDownGracefully { return false }
        let clock = self.clock
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await clock.sleep(until: deadline)) != nil }
            group.addTask {
                // Outside a ServiceGroup this waits until cancelled.
                try? await gracefulShutdown()
                return false
            }
            let slept = await group.next() ?? false
            group.cancelAll()
            return slept && !Task.isCancelled && !Task.isShuttingDownGracefully
        }
    }

    /// Runs a task once through the coordinator; `false` when it was cancelled.
    func execute(_ task: RecoveryTask, _ run: RecoveryTask.Run) async -> Bool {
        var parameters: [String: JSONValue] = [
            "scheduledFor": .string(RFC3339.format(run.scheduledFor)), "cron": .string(task.cron.expression), "catchUp": .bool(run.isCatchUp),
        ]
        if run.missedRuns > 0 {
            parameters["missedRuns"] = .integer(Int64(run.missedRuns))
            parameters["firstMissed"] = .string(RFC3339.format(run.firstMissed!))
        }
        do {
            let details = try await coordinator.perform("task.run", target: "task/\(task.name)", parameters: .object(parameters)) { _, _ in
                let details = try await task.action(run)
                return (details, details)
            }
            logger.info("task ran", metadata: ["task": "\(task.name)", "scheduled-for": "\(RFC3339.format(run.scheduledFor))"])
            onEvent(.finished(task: task.name, run: run, result: .success(details)))
            return true
        } catch is CancellationError {
            return false
        } catch {
            if Task.isCancelled { return false }
            let failure = error as? RecoveryError ?? RecoveryError(.unsupported, String(describing: error))
            logger.warning("task failed", metadata: ["task": "\(task.name)", "error": "\(failure.message)"])
            onEvent(.finished(task: task.name, run: run, result: .failure(failure)))
            return failure.code != .auditFailure   // without an audit trail, stop rather than run unrecorded
        }
    }

    /// The fire times in `(after, through]`, in order.
    static func fires(of cron: CronSchedule, after: Date, through: Date) -> [Date] {
        var dates: [Date] = []
        var cursor = after
        while dates.count < 10_000_000, let next = cron.nextFire(after: cursor), next <= through {
            dates.append(next)
            cursor = next
        }
        return dates
    }

    // MARK: Where each task starts from

    /// For each task: the `scheduledFor` of its newest `task.run`, else the `startedAt` of the
    /// first `scheduler.run` that listed it. Tasks with neither are absent.
    func anchors(startedAt: Date) async throws -> [String: Date] {
        var anchors: [String: Date] = [:]
        let trail = coordinator.auditTrail
        for task in tasks {
            let page = try await trail.entries(matching: AuditQuery(operation: "task.run", target: "task/\(task.name)", kind: .attempt, limit: 1, newestFirst: true))
            if let entry = page.entries.first, let scheduled = Self.date(entry, "scheduledFor") { anchors[task.name] = scheduled }
        }
        var pending = Set(tasks.map(\.name)).subtracting(anchors.keys)
        var query = AuditQuery(operation: "scheduler.run", kind: .attempt, limit: 500)
        while !pending.isEmpty {
            let page = try await trail.entries(matching: query)
            for entry in page.entries {
                guard let parameters = try? JSONValue(parsing: Array(entry.parameters.utf8)),
                    let started = parameters["startedAt"]?.stringValue.flatMap(RFC3339.parse), let listed = parameters["tasks"]?.objectValue
                else { continue }
                for name in pending where listed[name] != nil {
                    anchors[name] = min(started, startedAt)
                    pending.remove(name)
                }
            }
            guard let cursor = page.nextCursor else { break }
            query.afterSequence = cursor
        }
        return anchors
    }

    static func date(_ entry: AuditEntry, _ key: String) -> Date? {
        guard let parameters = try? JSONValue(parsing: Array(entry.parameters.utf8)) else { return nil }
        return parameters[key]?.stringValue.flatMap(RFC3339.parse)
    }
}
