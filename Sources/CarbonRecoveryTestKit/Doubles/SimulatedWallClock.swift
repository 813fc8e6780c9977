import CarbonRecovery
import Foundation
import Synchronization

/// A ``WallClock`` that moves only when told: days of cron schedules run in a test in milliseconds.
///
/// ```swift
/// let clock = SimulatedWallClock(start: try RFC3339.date("2026-03-30T00:00:00Z"))
/// let service = RecoveryTaskScheduler(coordinator: coordinator, tasks: tasks, clock: clock)
/// let running = Task { try await service.run() }
/// try await clock.advance(to: end, sleepers: tasks.count)   // every fire on the way runs, in order
/// running.cancel()
/// ```
public final class SimulatedWallClock: WallClock {
    private struct Sleeper {
        var id: UInt64
        var deadline: Date
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
    }

    // Mutex: `now()` is synchronous and called from any task, and sleepers are resumed from `advance`.
    private let state: Mutex<State>

    /// Creates a clock standing at `start`.
    public init(start: Date) {
        state = Mutex(State(now: start))
    }

    public func now() -> Date { state.withLock { $0.now } }

    /// How many tasks are sleeping on the clock.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline a task sleeps until.
    public var nextDeadline: Date? { state.withLock { $0.sleepers.map(\.deadline).min() } }

    public func sleep(until deadline: Date) async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: (any Error)?? = state.withLock { state in
                    if Task.isCancelled { return .some(CancellationError()) }
                    if deadline <= state.now { return .some(nil) }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return .none
                }
                switch resumeNow {
                case .some(.some(let error)): continuation.resume(throwing: error)
                case .some(.none): continuation.resume()
                case .none: break
                }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock to `date` (never backwards) and wakes every sleeper whose deadline has come.
    public func set(to date: Date) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = max(state.now, date)
            let due = state.sleepers.filter { $0.deadline <= state.now }
            state.sleepers.removeAll { $0.deadline <= state.now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Moves the clock to `date` one deadline at a time: at each, the due sleepers wake, and the
    /// clock waits (in real time, up to `timeout` per step) until `sleepers` tasks sleep again
    /// before it moves on — so every fire on the way happens at its own time, in order.
    ///
    /// - Throws: `SimulatedWallClock.Stalled` when the sleepers do not come back in time (a task
    ///   hangs, or `sleepers` is wrong). The default timeout is a hang detector, not a measure:
    ///   a task's run that writes a durable SQLite file can wait on its disk for tens of seconds
    ///   on a loaded machine (a CI run saw 30 s pass).
    public func advance(to date: Date, sleepers: Int, timeout: Duration = .seconds(120)) async throws {
        try await settle(sleepers: sleepers, timeout: timeout)
        while let next = nextDeadline, next <= date {
            set(to: next)
            try await settle(sleepers: sleepers, timeout: timeout)
        }
        set(to: date)
        try await settle(sleepers: sleepers, timeout: timeout)
    }

    /// Waits (in real time) until `sleepers` tasks sleep on the clock.
    public func settle(sleepers: Int, timeout: Duration = .seconds(120)) async throws {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while sleeperCount != sleepers {
            if ContinuousClock.now >= deadline { throw Stalled(expected: sleepers, sleeping: sleeperCount, at: now()) }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// The sleepers did not come back in time.
    public struct Stalled: Error, CustomStringConvertible {
        /// How many were expected.
        public var expected: Int
        /// How many were sleeping.
        public var sleeping: Int
        /// The simulated time.
        public var at: Date
        public var description: String { "expected \(expected) tasks asleep on the simulated clock at \(at), found \(sleeping)" }
    }
}
