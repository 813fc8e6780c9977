import Foundation

/// What a ``Scheduler`` would change (or changed) to make the policies true.
public struct SchedulePlan: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable {
        case create, update, unchanged, delete
    }

    public struct Step: Sendable, Hashable {
        public var action: Action
        public var schedule: String

        public init(action: Action, schedule: String) {
            self.action = action
            self.schedule = schedule
        }
    }

    public var steps: [Step]

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
