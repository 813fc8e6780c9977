import Foundation

/// Wall-clock time for things that happen at a time of day: cron fires, RPO ages.
///
/// Swift's `Clock` measures durations between instants; a cron schedule needs the calendar date,
/// and a simulated day must move both together. The in-process scheduler therefore takes a
/// `WallClock`: ``SystemWallClock`` in production, `SimulatedWallClock` (in
/// `CarbonRecoveryTestKit`) to run days of schedules in a test in milliseconds.
///
/// ## Implementation requirements
/// - ``now()`` never goes backwards within one process unless the system clock is set back.
/// - ``sleep(until:)`` returns once ``now()`` has reached `deadline` (at once when it already
///   has) and throws `CancellationError` when the task is cancelled.
/// - ``startStopwatch()`` measures durations on the same time line as ``now()``; the default
///   subtracts two readings of ``now()``. ``SystemWallClock`` uses a monotonic clock instead, so
///   that a system clock set back never makes a duration negative.
public protocol WallClock: Sendable {
    /// The current date.
    func now() -> Date
    /// Suspends until the clock reaches `deadline`.
    func sleep(until deadline: Date) async throws
    /// Starts measuring: the returned function gives the time elapsed since this call.
    func startStopwatch() -> @Sendable () -> Duration
}

extension WallClock {
    /// The difference between ``now()`` at each call of the result and ``now()`` now.
    public func startStopwatch() -> @Sendable () -> Duration {
        let start = now()
        return { [self] in .nanoseconds(Int64((now().timeIntervalSince(start) * 1e9).rounded())) }
    }
}

/// The system's wall clock.
///
/// Sleeps in slices of at most a minute and re-reads the time after each, so a system clock set
/// forward or backward (or a suspended machine) delays a fire by at most a minute.
public struct SystemWallClock: WallClock {
    /// Creates the system clock.
    public init() {}

    public func now() -> Date { Date() }

    /// Measures with `ContinuousClock`, which the system clock's steps do not move.
    public func startStopwatch() -> @Sendable () -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        return { start.duration(to: clock.now) }
    }

    public func sleep(until deadline: Date) async throws {
        while true {
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { return }
            try await Task.sleep(for: .milliseconds(Int64(min(remaining, 60) * 1000) + 1))
        }
    }
}
