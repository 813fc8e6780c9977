import CarbonRecovery
import Foundation

/// A ``Scheduler`` in memory: keeps the reconciled policies and computes next runs from cron.
public actor InMemoryScheduler: Scheduler {
    private var policies: [String: SchedulePolicy] = [:]

    /// Creates a scheduler with no schedules.
    public init() {}

    /// The policies as last reconciled.
    public var current: [String: SchedulePolicy] { policies }

    public func reconcile(_ policies: [SchedulePolicy], dryRun: Bool) async throws -> SchedulePlan {
        for policy in policies { try policy.validate() }
        let names = policies.map(\.name)
        try RecoveryError.requireUnique(names, what: "schedule")
        var steps: [SchedulePlan.Step] = []
        for policy in policies.sorted(by: { $0.name < $1.name }) {
            let action: SchedulePlan.Action =
                switch self.policies[policy.name] {
                case nil: .create
                case let existing? where existing == policy: .unchanged
                default: .update
                }
            steps.append(.init(action: action, schedule: policy.name))
        }
        for name in self.policies.keys.sorted() where !names.contains(name) {
            steps.append(.init(action: .delete, schedule: name))
        }
        if !dryRun { self.policies = Dictionary(uniqueKeysWithValues: policies.map { ($0.name, $0) }) }
        return SchedulePlan(steps: steps)
    }

    public func nextRuns(after date: Date) async throws -> [String: Date] {
        policies.filter { !$0.value.paused }.compactMapValues { $0.cron.nextFire(after: date) }
    }
}

/// A ``Notifier`` that keeps what it is given, and can be told to fail.
public actor RecordingNotifier: Notifier {
    public nonisolated let name: String
    /// Every event delivered, in order.
    public private(set) var delivered: [RecoveryEvent] = []
    private var failures: [NotifierError] = []

    /// Creates a notifier with the given name.
    public init(name: String = "recording") {
        self.name = name
    }

    /// The next deliveries fail with these errors, one each, before deliveries succeed again.
    public func failNext(_ errors: [NotifierError]) { failures = errors }

    public func deliver(_ event: RecoveryEvent) async throws {
        if !failures.isEmpty { throw failures.removeFirst() }
        delivered.append(event)
    }
}
