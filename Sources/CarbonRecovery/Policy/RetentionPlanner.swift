import Foundation

/// One backup as retention sees it.
public struct RetentionCandidate: Sendable, Hashable {
    /// The backup's name.
    public var name: String
    /// When it completed; only completed backups are kept or deleted by retention.
    public var completedAt: Date
    /// The namespaces it holds in full.
    public var namespaces: [String]

    /// Creates a candidate.
    public init(name: String, completedAt: Date, namespaces: [String]) {
        self.name = name
        self.completedAt = completedAt
        self.namespaces = namespaces
    }
}

/// What retention decided for one schedule's backups.
public struct RetentionDecision: Sendable, Hashable {
    /// Backups kept → why (`last 7`, `daily 2026-11-25`, `newest validated backup of data-platform`, …).
    public var keep: [String: [String]]
    /// Backups to delete, oldest first.
    public var delete: [RetentionCandidate]
}

/// Retention beyond Velero's TTL: keep-last-N and daily / weekly / monthly buckets, in the way
/// restic's `forget` counts them, with one rule above all: the newest *validated* backup of each
/// namespace is never deleted.
///
/// - `keepLast` N keeps the newest N backups.
/// - `keepDaily` N keeps the newest backup of each of the newest N UTC days that have one;
///   `keepWeekly` the same per ISO week, `keepMonthly` per month.
/// - A backup kept by any rule is kept. A policy with no keep rule deletes nothing (Velero's TTL
///   alone applies).
///
/// ```swift
/// let decision = RetentionPlanner().plan(candidates, policy: RetentionPolicy(keepLast: 3, keepDaily: 7), validated: ["daily-20261124020000"])
/// ```
public struct RetentionPlanner: Sendable {
    private let calendar: Calendar

    /// Creates a planner that buckets by UTC days, ISO weeks and months.
    public init() {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        self.calendar = calendar
    }

    /// Decides which of one schedule's completed backups to keep and which to delete.
    ///
    /// - Parameters:
    ///   - candidates: The schedule's completed backups, in any order.
    ///   - policy: The keep rules.
    ///   - validated: Names of backups that passed validation; the newest of them holding each
    ///     namespace is kept whatever the rules say.
    public func plan(_ candidates: [RetentionCandidate], policy: RetentionPolicy, validated: Set<String>) -> RetentionDecision {
        let newestFirst = candidates.sorted { ($0.completedAt, $0.name) > ($1.completedAt, $1.name) }
        var keep: [String: [String]] = [:]
        let hasRules = [policy.keepLast, policy.keepDaily, policy.keepWeekly, policy.keepMonthly].contains { $0 != nil }
        guard hasRules else {
            return RetentionDecision(keep: Dictionary(uniqueKeysWithValues: newestFirst.map { ($0.name, ["no keep rule: Velero's TTL applies"]) }), delete: [])
        }
        if let last = policy.keepLast {
            for candidate in newestFirst.prefix(last) { keep[candidate.name, default: []].append("last \(last)") }
        }
        for (count, label, bucket) in [
            (policy.keepDaily, "daily", { (date: Date) in self.dayKey(date) }),
            (policy.keepWeekly, "weekly", { (date: Date) in self.weekKey(date) }),
            (policy.keepMonthly, "monthly", { (date: Date) in self.monthKey(date) }),
        ] {
            guard let count, count > 0 else { continue }
            var seen: [String] = []
            for candidate in newestFirst {
                let key = bucket(candidate.completedAt)
                guard !seen.contains(key) else { continue }
                guard seen.count < count else { break }
                seen.append(key)
                keep[candidate.name, default: []].append("\(label) \(key)")
            }
        }
        // Above every rule: the newest validated backup of each namespace.
        var protectedNamespaces: Set<String> = []
        for candidate in newestFirst where validated.contains(candidate.name) {
            for namespace in candidate.namespaces where protectedNamespaces.insert(namespace).inserted {
                keep[candidate.name, default: []].append("newest validated backup of \(namespace)")
            }
        }
        let delete = newestFirst.filter { keep[$0.name] == nil }.reversed()
        return RetentionDecision(keep: keep, delete: Array(delete))
    }

    func dayKey(_ date: Date) -> String {
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }

    func weekKey(_ date: Date) -> String {
        let parts = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
        return String(format: "%04d-W%02d", parts.yearForWeekOfYear!, parts.weekOfYear!)
    }

    func monthKey(_ date: Date) -> String {
        let parts = calendar.dateComponents([.year, .month], from: date)
        return String(format: "%04d-%02d", parts.year!, parts.month!)
    }
}
