import Foundation
import Synchronization

/// The thread behind a ``SQLiteQueue``: runs submitted jobs one at a time, in order, and after
/// each one spins briefly for the next before it sleeps.
///
/// Most of the time a caller takes for one quick call (a proof, a point read) used to be two
/// thread wake-ups, not SQLite: handing the job to a sleeping thread and handing the result
/// back. On the VMs this runs on, a wake-up costs 10–30 µs, several times a point read. Callers
/// tend to make calls back to back (a proof after a proof, an append after an append), so after
/// each job the thread watches for the next one for up to ``spinLimit`` before it parks on its
/// condition variable; a job that arrives meanwhile starts at once, with no wake-up. The cost
/// is at most ``spinLimit`` of one core after a job that has no successor. (The same trade as
/// glibc's adaptive mutexes and Go's spinning scheduler threads.)
///
/// When the owner calls ``finish()``, the thread runs the jobs already submitted and exits.
// `@unchecked Sendable`: `jobs`, `finished` and `parked` are only touched with `condition`
// locked; `submitted` is an atomic that the spinning thread reads without the lock.
final class SQLiteQueueThread: @unchecked Sendable {
    /// How long the thread spins for the next job after each one before it sleeps.
    static let spinLimit: Duration = .microseconds(50)

    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var finished = false
    private var parked = false
    /// Jobs submitted and not yet taken, for the spin to watch without the lock.
    private let submitted = Atomic<Int>(0)
    /// A running average of how long a job takes here, in nanoseconds (each job weighs 1/8, and
    /// counts as at most 1 ms, so that one long job is forgotten after a dozen short ones).
    private let averageJob = Atomic<Int>(0)

    /// How long a job has recently taken on this thread.
    var typicalJob: Duration { .nanoseconds(averageJob.load(ordering: .relaxed)) }

    /// Starts the thread.
    ///
    /// - Parameter name: The thread's name in debuggers and crash reports.
    init(name: String) {
        // The thread keeps this object (its jobs) alive until it exits after `finish()`.
        let thread = Thread { [self] in
            Thread.current.name = Self.threadName(name)
            run()
        }
        thread.start()
    }

    /// `name`, cut to the 15 bytes a Linux thread's name can hold (a longer one is refused
    /// whole), at a character's boundary.
    static func threadName(_ name: String) -> String {
        var kept = Substring(name)
        while kept.utf8.count > 15 { kept.removeLast() }
        return String(kept)
    }

    /// Adds `job` to run after every job submitted before it.
    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        submitted.add(1, ordering: .releasing)
        if parked { condition.signal() }
        condition.unlock()
    }

    /// Lets the thread exit once it has run every job submitted so far.
    func finish() {
        condition.lock()
        finished = true
        if parked { condition.signal() }
        condition.unlock()
    }

    private func run() {
        let clock = ContinuousClock()
        while true {
            let deadline = clock.now.advanced(by: Self.spinLimit)
            while submitted.load(ordering: .acquiring) == 0, clock.now < deadline {}
            condition.lock()
            while jobs.isEmpty, !finished {
                parked = true
                condition.wait()
                parked = false
            }
            if jobs.isEmpty {   // finished, and nothing left to run
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            submitted.store(0, ordering: .releasing)
            condition.unlock()
            for job in batch {
                let started = clock.now
                job()
                let took = started.duration(to: clock.now).components
                let sample = took.seconds > 0 ? 1_000_000 : min(1_000_000, Int(took.attoseconds / 1_000_000_000))
                let average = averageJob.load(ordering: .relaxed)
                averageJob.store(average + (sample - average) / 8, ordering: .relaxed)
            }
        }
    }
}
