import CarbonRecovery
import Foundation

/// Work the in-process scheduler runs on a cron: validate new backups, check RPOs, clean up,
/// run a drill — or anything of your own.
///
/// ```swift
/// let heartbeat = RecoveryTask(name: "heartbeat", cron: try CronSchedule(parsing: "*/5 * * * *")) { run in
///     ["scheduledFor": .string(RFC3339.format(run.scheduledFor))]
/// }
/// ```
public struct RecoveryTask: Sendable {
    /// One firing of a task.
    public struct Run: Sendable, Hashable {
        /// The fire time this run stands for (the latest one, when fires were missed).
        public var scheduledFor: Date
        /// Fires that passed without a run at their time: for a catch-up run, every fire while the
        /// process was down (this run stands in for the latest of them); otherwise the fires that
        /// passed while the previous run overran. They are reported once, here, and run only as this one run.
        public var missedRuns: Int
        /// The first of the missed fires.
        public var firstMissed: Date?
        /// Whether this is the one catch-up run after the scheduler (re)started.
        public var isCatchUp: Bool

        /// Creates a run.
        public init(scheduledFor: Date, missedRuns: Int = 0, firstMissed: Date? = nil, isCatchUp: Bool = false) {
            self.scheduledFor = scheduledFor
            self.missedRuns = missedRuns
            self.firstMissed = firstMissed
            self.isCatchUp = isCatchUp
        }
    }

    /// A stable name (`validate`, `rpo-check`, `cleanup`, `drill/monthly-dr-drill`); the audit
    /// target is `task/<name>`, and the missed-run bookkeeping is keyed by it.
    public var name: String
    /// When it fires.
    public var cron: CronSchedule
    /// The work. It returns details recorded with the `task.run` outcome; what it throws is
    /// recorded as the failure, and the task fires again at its next time.
    public var action: @Sendable (Run) async throws -> JSONValue

    /// Creates a task.
    public init(name: String, cron: CronSchedule, action: @escaping @Sendable (Run) async throws -> JSONValue) {
        self.name = name
        self.cron = cron
        self.action = action
    }
}
