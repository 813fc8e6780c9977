import Foundation

/// What a ``Scheduler`` would change (or changed) to make the policies true.
public struct SchedulePlan: Sendable, Hashable {
    /// What happens to one schedule.
    public enum Action: String, Sendable, Hashable {
        /// It does not exist yet and will be created.
        case create
        /// It exists and differs; it will be updated.
        case update
        /// It exists as wanted.
        case unchanged
        /// It is managed but no longer wanted; it will be deleted.
        case delete
    }

    /// One schedule and what happens to it.
    public struct Step: Sendable, Hashable {
        /// What happens.
        public var action: Action
        /// The schedule's name.
        public var schedule: String

        /// Creates a step.
        public init(action: Action, schedule: String) {
            self.action = action
            self.schedule = schedule
        }
    }

    /// Every managed schedule, in name order, then the deletions.
    public var steps: [Step]

    /// Creates a plan.
    public init(steps: [Step]) { self.steps = steps }

    /// Whether applying the plan changes nothing.
    public var isEmpty: Bool { steps.allSatisfy { $0.action == .unchanged } }
}

/// Makes a set of schedule policies true and says when they run next.
///
/// ## Implementation requirements
/// - ``reconcile(_:dryRun:)`` is declarative and idempotent: a second call with the same policies
///   returns a plan of only `unchanged` steps. Schedules it manages that are not in `policies`
///   are deleted; schedules it does not manage are left alone. With `dryRun` it changes nothing.
/// - Policies are validated before anything changes; one bad policy changes nothing at all.
/// - ``nextRuns(after:)`` is pure: it reads the policies last reconciled and computes from the cron.
public protocol Scheduler: Sendable {
    /// Creates, updates and deletes schedules so that exactly `policies` exist.
    func reconcile(_ policies: [SchedulePolicy], dryRun: Bool) async throws -> SchedulePlan
    /// The next run of each managed schedule after `date`.
    func nextRuns(after date: Date) async throws -> [String: Date]
}
