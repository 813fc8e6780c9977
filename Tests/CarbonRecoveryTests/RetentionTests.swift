// Retention over two simulated years of backups with injected failures, checked against a
// simple reference model written separately, and against the rule that the newest validated
// backup of each namespace is never deleted.
import CarbonRecovery
import Foundation
import TestSupport
import Testing

/// The reference: bucket by formatted dates, newest N buckets, newest backup per bucket.
func referenceDeletions(_ candidates: [RetentionCandidate], _ policy: RetentionPolicy, validated: Set<String>) -> Set<String> {
    var calendar = Calendar(identifier: .iso8601)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let sorted = candidates.sorted { ($0.completedAt, $0.name) > ($1.completedAt, $1.name) }
    var kept = Set(sorted.prefix(policy.keepLast ?? 0).map(\.name))
    func keepNewestPerBucket(_ count: Int?, _ key: (Date) -> String) {
        guard let count, count > 0 else { return }
        var buckets: [String] = []
        var newest: [String: RetentionCandidate] = [:]
        for candidate in sorted {
            let bucket = key(candidate.completedAt)
            if newest[bucket] == nil { newest[bucket] = candidate; buckets.append(bucket) }
        }
        for bucket in buckets.prefix(count) { kept.insert(newest[bucket]!.name) }
    }
    let day = DateFormatter()
    day.timeZone = TimeZone(identifier: "UTC")
    day.dateFormat = "yyyy-MM-dd"
    let month = DateFormatter()
    month.timeZone = TimeZone(identifier: "UTC")
    month.dateFormat = "yyyy-MM"
    keepNewestPerBucket(policy.keepDaily) { day.string(from: $0) }
    keepNewestPerBucket(policy.keepWeekly) { date in
        let parts = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
        return "\(parts.yearForWeekOfYear!)/\(parts.weekOfYear!)"
    }
    keepNewestPerBucket(policy.keepMonthly) { month.string(from: $0) }
    var covered: Set<String> = []
    for candidate in sorted where validated.contains(candidate.name) {
        if !Set(candidate.namespaces).isSubset(of: covered) { kept.insert(candidate.name) }
        covered.formUnion(candidate.namespaces)
    }
    return Set(candidates.map(\.name)).subtracting(kept)
}

@Suite("Retention beyond Velero's TTL")
struct RetentionTests {
    @Test("two simulated years, cleaned up monthly: never the newest validated backup, always the reference model", arguments: [
        RetentionPolicy(keepLast: 3, keepDaily: 7, keepWeekly: 4, keepMonthly: 6),
        RetentionPolicy(keepDaily: 30),
        RetentionPolicy(keepLast: 1),
        RetentionPolicy(keepWeekly: 8, keepMonthly: 12),
    ])
    func twoYears(policy: RetentionPolicy) {
        var random = SplitMix(state: 20_261_125)
        let start = Date(timeIntervalSince1970: 1_735_689_600)   // 2025-01-01T00:00:00Z
        var remaining: [RetentionCandidate] = []
        var validated: Set<String> = []
        var failures = 0
        var deletedTotal = 0
        for step in 0..<(730 * 4) {   // every 6 hours for two years
            let at = start.addingTimeInterval(Double(step) * 21_600 + 120)
            let roll = Double.random(in: 0..<1, using: &random)
            if roll < 0.05 { continue }   // the process was down: no backup
            if roll < 0.15 { failures += 1; continue }   // Failed / PartiallyFailed: not a candidate
            let namespaces = step % 4 == 0 ? ["data-platform", "monitoring", "registry", "vault-prod"] : ["data-platform", "vault-prod"]
            let name = "backup-\(step)"
            remaining.append(RetentionCandidate(name: name, completedAt: at, namespaces: namespaces))
            if Double.random(in: 0..<1, using: &random) < 0.3 { validated.insert(name) }
            guard step % 120 == 119 else { continue }   // cleanup every 30 days

            let decision = RetentionPlanner().plan(remaining, policy: policy, validated: validated)
            let deleted = Set(decision.delete.map(\.name))
            #expect(deleted == referenceDeletions(remaining, policy, validated: validated), "step \(step)")
            #expect(Set(decision.keep.keys).isDisjoint(with: deleted) && Set(decision.keep.keys).union(deleted) == Set(remaining.map(\.name)))
            var covered: Set<String> = []
            for candidate in remaining.sorted(by: { $0.completedAt > $1.completedAt }) where validated.contains(candidate.name) {
                if !Set(candidate.namespaces).isSubset(of: covered) { #expect(!deleted.contains(candidate.name), "newest validated for a namespace") }
                covered.formUnion(candidate.namespaces)
            }
            #expect(!deleted.contains(remaining.max { $0.completedAt < $1.completedAt }!.name), "the newest backup survives every policy here")
            #expect(decision.delete.map(\.completedAt) == decision.delete.map(\.completedAt).sorted(), "oldest first")
            deletedTotal += deleted.count
            remaining.removeAll { deleted.contains($0.name) }
        }
        #expect(failures > 200 && deletedTotal > 1_000, "the simulation exercised failures and deletions")
    }

    @Test("no keep rule: nothing deleted, Velero's TTL applies")
    func noRules() {
        let candidates = (0..<10).map { RetentionCandidate(name: "b\($0)", completedAt: Date(timeIntervalSince1970: Double($0) * 86_400), namespaces: ["a"]) }
        let decision = RetentionPlanner().plan(candidates, policy: RetentionPolicy(ttl: .hours(24)), validated: [])
        #expect(decision.delete.isEmpty && decision.keep.count == 10)
    }

    @Test("reasons name the rule and the bucket")
    func reasons() {
        let day: TimeInterval = 86_400
        let candidates = (0..<5).map { RetentionCandidate(name: "b\($0)", completedAt: Date(timeIntervalSince1970: 1_764_028_800 + Double($0) * day), namespaces: ["data-platform"]) }
        let decision = RetentionPlanner().plan(candidates, policy: RetentionPolicy(keepLast: 1, keepDaily: 2), validated: ["b0"])
        #expect(decision.keep["b4"] == ["last 1", "daily 2025-11-29"])
        #expect(decision.keep["b3"] == ["daily 2025-11-28"])
        #expect(decision.keep["b0"] == ["newest validated backup of data-platform"])
        #expect(decision.delete.map(\.name) == ["b1", "b2"])
    }
}
