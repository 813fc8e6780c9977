// The in-process scheduler on a simulated clock over DST-free UTC days, with a real SQLite
// audit trail: every fire runs at its time, a stopped-and-restarted process reports its missed
// runs once and runs each task once, a restart right after changes nothing, and every fire is
// accounted for exactly once in the audit trail.
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryScheduler
import CarbonRecoveryTestKit
import Foundation
import Logging
import TestSupport
import Synchronization
import Testing

actor RunLog {
    var runs: [(task: String, run: RecoveryTask.Run)] = []
    var missed: [(task: String, count: Int)] = []
    var flakyCalls = 0
    func add(_ task: String, _ run: RecoveryTask.Run) { runs.append((task, run)) }
    func addMissed(_ task: String, _ count: Int) { missed.append((task, count)) }
    func nextFlaky() -> Int {
        flakyCalls += 1
        return flakyCalls
    }
    func runs(of task: String) -> [RecoveryTask.Run] { runs.filter { $0.task == task }.map(\.run) }
}

struct SchedulerHarness {
    let directory: TemporaryDirectory
    let clock: SimulatedWallClock
    let log = RunLog()

    static func date(_ text: String) -> Date { RFC3339.parse(text)! }

    func tasks() throws -> [RecoveryTask] {
        let log = self.log
        func task(_ name: String, _ cron: String, fail: Bool = false) throws -> RecoveryTask {
            RecoveryTask(name: name, cron: try CronSchedule(parsing: cron)) { run in
                await log.add(name, run)
                if fail, await log.nextFlaky() % 2 == 1 { throw RecoveryError(.unreachable, "flaky failed on purpose") }
                return .object(["ok": .bool(true)])
            }
        }
        return [
            try task("rpo", "*/15 * * * *"), try task("daily", "0 2 * * *"), try task("drill", "0 4 1 * *"),
            try task("flaky", "30 * * * *", fail: true),
        ]
    }

    /// A fresh "process": its own trail handle and coordinator over the same file. The trail
    /// commits without waiting for the disk (`synchronous=NORMAL`; a crash still loses nothing):
    /// hundreds of simulated runs are about scheduling, and on a loaded CI machine each synced
    /// commit waited about a second.
    func start() async throws -> (Task<Void, any Error>, SQLiteAuditTrail) {
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"), configuration: .init(durability: .normal))
        let coordinator = RecoveryCoordinator(
            engine: InMemoryBackupEngine(), storage: InMemoryStorageBackend(), audit: trail, actor: AuditActor(user: "scheduler-test", cluster: nil),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let log = self.log
        let scheduler = RecoveryTaskScheduler(coordinator: coordinator, tasks: try tasks(), clock: clock) { event in
            if case .missed(let task, let count, _, _) = event { Task { await log.addMissed(task, count) } }
        }
        return (Task { try await scheduler.runUntilCancelled() }, trail)
    }

    func attempts(_ trail: SQLiteAuditTrail, task: String) async throws -> [JSONValue] {
        try await trail.entries(matching: AuditQuery(operation: "task.run", target: "task/\(task)", kind: .attempt, limit: 10_000)).entries
            .map { try JSONValue(parsing: Array($0.parameters.utf8)) }
    }
}

@Suite("In-process scheduler on a simulated clock")
struct RecoveryTaskSchedulerTests {
    @Test("fires on time across UTC days; a restart reports missed runs once and runs each task once")
    func missedRunsAcrossRestarts() async throws {
        let date = SchedulerHarness.date
        let harness = SchedulerHarness(directory: try TemporaryDirectory(), clock: SimulatedWallClock(start: date("2026-03-30T00:00:00.000Z")))
        let clock = harness.clock

        // Phase 1: the first start ever runs 34 simulated hours with nothing to catch up.
        var (running, trail) = try await harness.start()
        try await clock.advance(to: date("2026-03-31T10:00:00.000Z"), sleepers: 4)
        running.cancel()
        try await running.value   // stops by returning, not by throwing
        #expect(await harness.log.runs(of: "rpo").count == 34 * 4)
        #expect(await harness.log.runs(of: "daily").map(\.scheduledFor) == [date("2026-03-30T02:00:00.000Z"), date("2026-03-31T02:00:00.000Z")])
        #expect(await harness.log.runs(of: "drill").isEmpty)
        #expect(await harness.log.runs(of: "flaky").count == 34)
        #expect(await harness.log.runs.allSatisfy { !$0.run.isCatchUp && $0.run.missedRuns == 0 })
        #expect(await harness.log.missed.isEmpty)
        let stops = try await trail.entries(matching: AuditQuery(operation: "scheduler.run", kind: .outcome, limit: 10)).entries
        #expect(stops.map(\.outcome) == [.success])

        // Phase 2: the process is down for 2 days 5 hours 7 minutes, then starts again.
        clock.set(to: date("2026-04-02T15:07:00.000Z"))
        (running, trail) = try await harness.start()
        try await clock.settle(sleepers: 4)
        let catchUps = await harness.log.runs.filter(\.run.isCatchUp)
        #expect(catchUps.count == 4, "one catch-up run per task, not a burst")
        func catchUp(_ task: String) -> RecoveryTask.Run? { catchUps.first { $0.task == task }?.run }
        #expect(catchUp("rpo") == RecoveryTask.Run(
            scheduledFor: date("2026-04-02T15:00:00.000Z"), missedRuns: 53 * 4, firstMissed: date("2026-03-31T10:15:00.000Z"), isCatchUp: true))
        #expect(catchUp("daily") == RecoveryTask.Run(
            scheduledFor: date("2026-04-02T02:00:00.000Z"), missedRuns: 2, firstMissed: date("2026-04-01T02:00:00.000Z"), isCatchUp: true))
        #expect(catchUp("drill") == RecoveryTask.Run(
            scheduledFor: date("2026-04-01T04:00:00.000Z"), missedRuns: 1, firstMissed: date("2026-04-01T04:00:00.000Z"), isCatchUp: true))
        #expect(catchUp("flaky")?.missedRuns == 53)
        try await Task.sleep(for: .milliseconds(50))   // the event callback hops onto the log actor
        #expect(await harness.log.missed.sorted { $0.task < $1.task }.map { "\($0.task)=\($0.count)" } == ["daily=2", "drill=1", "flaky=53", "rpo=212"])

        // Phase 3: back on time after the catch-up.
        try await clock.advance(to: date("2026-04-02T16:00:00.000Z"), sleepers: 4)
        #expect(await harness.log.runs(of: "rpo").suffix(4).map(\.scheduledFor) == [
            date("2026-04-02T15:15:00.000Z"), date("2026-04-02T15:30:00.000Z"), date("2026-04-02T15:45:00.000Z"), date("2026-04-02T16:00:00.000Z"),
        ])
        running.cancel()
        try await running.value

        // Phase 4: a restart right after changes nothing and reports nothing.
        let before = await harness.log.runs.count
        (running, trail) = try await harness.start()
        try await clock.settle(sleepers: 4)
        try await Task.sleep(for: .milliseconds(50))
        #expect(await harness.log.runs.count == before)
        #expect(await harness.log.missed.count == 4)
        running.cancel()
        try await running.value

        // Every quarter hour from the first start to the end is accounted for exactly once in the
        // audit trail: run at its time, or reported missed within a catch-up run.
        var accounted: [Date] = []
        for parameters in try await harness.attempts(trail, task: "rpo") {
            let scheduled = RFC3339.parse(parameters["scheduledFor"]!.stringValue!)!
            if let first = parameters["firstMissed"]?.stringValue.flatMap(RFC3339.parse) {
                var cursor = first
                while cursor < scheduled {
                    accounted.append(cursor)
                    cursor += 900
                }
            }
            accounted.append(scheduled)
        }
        let expected = stride(from: date("2026-03-30T00:15:00.000Z").timeIntervalSince1970, through: date("2026-04-02T16:00:00.000Z").timeIntervalSince1970, by: 900)
            .map { Date(timeIntervalSince1970: $0) }
        #expect(accounted == expected)

        // The failing task failed every other run, each failure audited, and kept running.
        let flaky = try await trail.entries(matching: AuditQuery(operation: "task.run", target: "task/flaky", kind: .outcome, limit: 10_000)).entries
        let calls = await harness.log.runs(of: "flaky").count
        #expect(flaky.count == calls)
        #expect(flaky.filter { $0.outcome == .failure }.count == (calls + 1) / 2)
        #expect(flaky.first { $0.outcome == .failure }?.error?.contains("flaky failed on purpose") == true)
        #expect(try await trail.verify().isValid)
    }

    @Test("bad task sets are refused before anything is recorded")
    func badTasks() async throws {
        let directory = try TemporaryDirectory()
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"))
        let coordinator = RecoveryCoordinator(
            engine: InMemoryBackupEngine(), storage: InMemoryStorageBackend(), audit: trail, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let clock = SimulatedWallClock(start: SchedulerHarness.date("2026-03-30T00:00:00.000Z"))
        let noop: @Sendable (RecoveryTask.Run) async throws -> JSONValue = { _ in [:] }
        let twice = [RecoveryTask(name: "a", cron: try CronSchedule(parsing: "@hourly"), action: noop), RecoveryTask(name: "a", cron: try CronSchedule(parsing: "@daily"), action: noop)]
        await #expect(throws: RecoveryError.self) { try await RecoveryTaskScheduler(coordinator: coordinator, tasks: twice, clock: clock).runUntilCancelled() }
        let never = [RecoveryTask(name: "never", cron: try CronSchedule(parsing: "0 0 30 2 *"), action: noop)]
        do {
            try await RecoveryTaskScheduler(coordinator: coordinator, tasks: never, clock: clock).runUntilCancelled()
            Issue.record("a cron that never fires was accepted")
        } catch let error as RecoveryError {
            #expect(error.code == .invalidInput)
            #expect(error.message.contains("never fires"))
        }
        #expect(try await trail.entries(matching: AuditQuery(limit: 10)).entries.isEmpty)
    }
}

/// Which drill runs where: a restore test on the production coordinator, a recovery drill on
/// the DR cluster's — and a recovery drill that cannot reach one fails, saying why.
@Suite("The policy's drill tasks")
struct DrillTaskTests {
    func policy(_ drills: [DrillPolicy]) -> RecoveryPolicy {
        var policy = RecoveryPolicy(storage: StoragePolicy(endpoint: "http://127.0.0.1:9", bucket: "b", credentials: .file(path: "/dev/null", profile: "default")), drills: drills)
        policy.automation = AutomationPolicy(validate: nil, rpoCheck: nil, cleanup: nil)
        return policy
    }

    @Test("a recovery drill without a DR cluster or a way to reach it fails with the reason; the factory is asked for the drill's cluster")
    func routing() async throws {
        let cron = try CronSchedule(parsing: "0 6 1 1 *")
        let trail = InMemoryAuditTrail()
        let coordinator = RecoveryCoordinator(engine: InMemoryBackupEngine(), storage: InMemoryStorageBackend(), audit: trail, cluster: InMemoryClusterClient())
        let dr = DrillPolicy.DRCluster(context: "dr-admin", kubeconfig: "/etc/dr/kubeconfig")
        let annualWithout = DrillPolicy(name: "annual", cron: cron, kind: .annualExercise, schedule: "s")
        let quarterly = DrillPolicy(name: "quarterly", cron: cron, kind: .fullRecovery, schedule: "s", drCluster: dr)

        let without = RecoveryTasks.standard(for: policy([annualWithout]), coordinator: coordinator)
        let named = await #expect(throws: RecoveryError.self) { _ = try await without[0].action(.init(scheduledFor: Date())) }
        #expect(named?.code == .unsupported && named?.message.contains("it names none") == true)
        let unreachable = RecoveryTasks.standard(for: policy([quarterly]), coordinator: coordinator)
        let reach = await #expect(throws: RecoveryError.self) { _ = try await unreachable[0].action(.init(scheduledFor: Date())) }
        #expect(reach?.message.contains("cannot reach one") == true)

        // The factory gets the drill's DR cluster; its coordinator runs the drill (here on a
        // cluster that is production: refused, and recorded).
        let asked = Mutex<[DrillPolicy.DRCluster]>([])
        let identity = ClusterIdentity(context: "in-memory", user: "test-admin", server: "memory://")
        let tasks = RecoveryTasks.standard(for: policy([quarterly]), coordinator: coordinator, productionIdentity: identity) { reference in
            asked.withLock { $0.append(reference) }
            return coordinator
        }
        let refused = await #expect(throws: RecoveryError.self) { _ = try await tasks[0].action(.init(scheduledFor: Date())) }
        #expect(refused?.code == .conflict)
        #expect(asked.withLock { $0 } == [dr])
        #expect(await trail.allEntries.filter { $0.operation == "drill.run" && $0.kind == .outcome }.map(\.outcome) == [.failure])
    }
}
