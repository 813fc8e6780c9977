import Foundation

/// One contradiction or risk in a ``RecoveryPolicy``: the rule, where, the evidence and a fix.
public struct PolicyFinding: Sendable, Hashable, CustomStringConvertible {
    /// How bad it is.
    public enum Severity: String, Sendable, Hashable, Comparable {
        /// The policy cannot do what it promises; `policy lint` exits non-zero.
        case error
        /// Probably a mistake, or a weak spot.
        case warning

        public static func < (left: Severity, right: Severity) -> Bool { left == .error && right == .warning }
    }

    /// The rule's identifier, e.g. `schedule-slower-than-rpo`.
    public var rule: String
    /// How bad it is.
    public var severity: Severity
    /// The field it is about, as a path: `schedules[1].cron`, `objectives[0].rpo`, `alerts.slowBackup`.
    public var field: String
    /// What was found, with the numbers.
    public var evidence: String
    /// What to change.
    public var fix: String

    /// Creates a finding.
    public init(rule: String, severity: Severity, field: String, evidence: String, fix: String) {
        self.rule = rule
        self.severity = severity
        self.field = field
        self.evidence = evidence
        self.fix = fix
    }

    public var description: String { "\(severity) [\(rule)] \(field): \(evidence) Fix: \(fix)" }
}

/// Finds the contradictions in a ``RecoveryPolicy`` before they bite.
///
/// Rules (each a ``PolicyFinding/rule``):
/// - `schedule-slower-than-rpo` (error): the schedules that fully cover a namespace of an
///   objective (not through a label selector) leave a gap longer than its RPO — the guide's own
///   6-hourly critical backup against a 15-minute RPO;
/// - `objective-not-covered` (error): a namespace in an objective that no schedule covers fully;
/// - `retention-shorter-than-drill` (warning): a drill's schedule keeps its backups for less
///   than the longest gap between drills, so backups taken after one drill are gone by the next;
/// - `unknown-schedule` (error): a drill names a schedule the policy does not have;
/// - `unknown-database` (error): a `pitr` drill names a database the policy does not have;
/// - `drill-without-dr-cluster` (warning): a full-recovery drill names no DR cluster, so it
///   only restores into scratch namespaces of the production cluster;
/// - `overlapping-schedules` (warning): two schedules back up the same namespace at the same minute;
/// - `ttl-rejected` (error) / `ttl-zero` (warning): a TTL Velero rejects, or zero (Velero's 720 h default);
/// - `cron-never-fires` (error): a schedule or drill whose cron has no next time (30 February);
/// - `alert-longer-than-rpo` (error): the staleness or slow-backup alert fires only after the
///   smallest RPO it guards is already breached;
/// - `cluster-resources-not-backed-up` (error / warning): the schedule named by
///   `recovery.clusterResourcesSchedule` takes no cluster-scoped resources, or (warning) a
///   policy with objectives or a full-recovery drill has no schedule that does — the guide's
///   schedules all name namespaces, so its full-cluster recovery would have no CRDs, cluster
///   roles or storage classes to restore (a schedule of every namespace but some excluded
///   takes none either, as in Velero);
/// - `velero-access-not-limited` (warning): no `access` section, so Velero keeps what it has
///   (the guide: cluster-admin); `no-operator-group` (warning): an access section without operators;
/// - `storage-not-encrypted` (warning): no `storage.encryption`, so backups (every backed-up
///   Secret among them) lie in the bucket as the storage's defaults leave them;
///   `storage-plain-http` (warning): the endpoint is `http://`, so the keys' signatures and the
///   backups cross the network in the clear;
/// - `rpo-check-slower-than-rpo` (warning): the in-process scheduler's RPO check runs less often
///   than the smallest RPO, so a breach is noticed late (or it is off while objectives exist);
///   an automation cron that never fires is a `cron-never-fires` error;
/// - for the policy's databases: `database-archive-in-velero-location` (error), the WAL archive
///   inside the Velero location's folder, which Velero then refuses as holding others' data;
///   `database-without-base-backup` (warning), no base-backup cron, so the restore window never
///   moves forward; `database-check-slower-than-rpo` (warning), the archive-lag check runs less
///   often than the database's RPO (or is off); `database-retention-off` (warning),
///   `keepBaseBackups` without `automation.cleanup`, so it is never applied.
///
/// Gaps are measured over the fire times of a 62-day window from ``referenceDate`` (UTC).
public struct PolicyLinter: Sendable {
    /// Where the measuring window starts.
    public var referenceDate: Date
    /// How long the window is.
    public var window: TimeInterval

    /// Creates a linter; the default window starts 2026-01-01T00:00:00Z and lasts 62 days.
    public init(referenceDate: Date = Date(timeIntervalSince1970: 1_767_225_600), window: TimeInterval = 62 * 86_400) {
        self.referenceDate = referenceDate
        self.window = window
    }

    /// Every finding, errors first, then in the policy's order.
    public func lint(_ policy: RecoveryPolicy) -> [PolicyFinding] {
        var findings: [PolicyFinding] = []
        let schedules = policy.schedules.enumerated().map { (index: $0.offset, entry: $0.element) }

        // Crons that never fire, and TTLs.
        for (index, entry) in schedules {
            if entry.schedule.cron.nextFire(after: referenceDate) == nil {
                findings.append(.init(
                    rule: "cron-never-fires", severity: .error, field: "schedules[\(index)].cron",
                    evidence: "schedule '\(entry.schedule.name)' has cron '\(entry.schedule.cron)', which has no fire time within five years.",
                    fix: "correct the day and month fields (e.g. '0 2 * * *')."))
            }
            for (field, ttl) in [("ttl", entry.schedule.template.ttl), ("retention.ttl", entry.retention.ttl)] {
                guard let ttl else { continue }
                if ttl.nanoseconds < 0 {
                    findings.append(.init(
                        rule: "ttl-rejected", severity: .error, field: "schedules[\(index)].\(field)",
                        evidence: "schedule '\(entry.schedule.name)' has TTL \(ttl), which Velero rejects.", fix: "use a positive Go duration such as 168h0m0s."))
                } else if ttl.nanoseconds == 0 {
                    findings.append(.init(
                        rule: "ttl-zero", severity: .warning, field: "schedules[\(index)].\(field)",
                        evidence: "schedule '\(entry.schedule.name)' has TTL 0, which Velero replaces with its default of 720h.", fix: "write the retention you mean, e.g. 168h0m0s."))
                }
            }
        }
        if let manual = policy.manualBackupTTL, manual.nanoseconds <= 0 {
            findings.append(.init(
                rule: manual.nanoseconds < 0 ? "ttl-rejected" : "ttl-zero", severity: manual.nanoseconds < 0 ? .error : .warning, field: "manual.ttl",
                evidence: "manual backups get TTL \(manual)\(manual.nanoseconds == 0 ? ", which Velero replaces with 720h" : ", which Velero rejects").",
                fix: "use a positive Go duration such as 24h0m0s."))
        }
        for (index, drill) in policy.drills.enumerated() where drill.cron.nextFire(after: referenceDate) == nil {
            findings.append(.init(
                rule: "cron-never-fires", severity: .error, field: "drills[\(index)].cron",
                evidence: "drill '\(drill.name)' has cron '\(drill.cron)', which has no fire time within five years.", fix: "correct the day and month fields."))
        }

        // Objectives against the schedules that cover their namespaces.
        let fireTimes = Dictionary(uniqueKeysWithValues: schedules.map { ($0.index, fires($0.entry.schedule.cron, within: window)) })
        for (objectiveIndex, objective) in policy.objectives.enumerated() {
            for namespace in objective.namespaces {
                let covering = schedules.filter { Self.coversFully($0.entry.schedule, namespace) }
                guard !covering.isEmpty else {
                    let partial = schedules.filter { Self.covers($0.entry.schedule, namespace) }.map { "'\($0.entry.schedule.name)'" }
                    findings.append(.init(
                        rule: "objective-not-covered", severity: .error, field: "objectives[\(objectiveIndex)].namespaces",
                        evidence: "namespace '\(namespace)' of objective '\(objective.namespaceClass)' is backed up by no schedule"
                            + (partial.isEmpty ? "." : " in full (only through a label selector: \(partial.joined(separator: ", ")))."),
                        fix: "add '\(namespace)' to a schedule's namespaces, or remove it from the objective."))
                    continue
                }
                let gap = Self.largestGap(covering.flatMap { fireTimes[$0.index] ?? [] }, window: window, start: referenceDate)
                if gap > objective.rpo.timeInterval {
                    let names = covering.map { "'\($0.entry.schedule.name)' (\($0.entry.schedule.cron))" }.joined(separator: ", ")
                    findings.append(.init(
                        rule: "schedule-slower-than-rpo", severity: .error, field: "objectives[\(objectiveIndex)].rpo",
                        evidence: "namespace '\(namespace)' of objective '\(objective.namespaceClass)' needs a backup at least every \(objective.rpo) (RPO), "
                            + "but \(names) leave gaps of up to \(Self.human(gap)).",
                        fix: "back up '\(namespace)' at least every \(objective.rpo) (for a 15-minute RPO: cron '*/15 * * * *'), or relax the RPO to \(Self.human(gap))."))
                }
            }
        }

        // Drills against the retention of the schedule they restore from.
        for (index, drill) in policy.drills.enumerated() where drill.kind != .pitr {
            if drill.kind == .fullRecovery && drill.drCluster == nil {
                findings.append(.init(
                    rule: "drill-without-dr-cluster", severity: .warning, field: "drills[\(index)]",
                    evidence: "full-recovery drill '\(drill.name)' names no DR cluster, so it restores into scratch namespaces of the production cluster: the cluster-scoped resources, the order and a new cluster's Velero are never tested.",
                    fix: "add drCluster: {context: NAME} naming a cluster with Velero that reads the backups' location (read-only)."))
            }
            guard let entry = policy.schedules.first(where: { $0.schedule.name == drill.schedule }) else {
                findings.append(.init(
                    rule: "unknown-schedule", severity: .error, field: "drills[\(index)].schedule",
                    evidence: "drill '\(drill.name)' restores from schedule '\(drill.schedule)', which the policy does not define.",
                    fix: "name one of: \(policy.schedules.map(\.schedule.name).joined(separator: ", "))."))
                continue
            }
            let drillWindow = max(window, 400 * 86_400)
            let gap = Self.largestGap(fires(drill.cron, within: drillWindow), window: drillWindow, start: referenceDate)
            if entry.effectiveTTL.timeInterval < gap {
                findings.append(.init(
                    rule: "retention-shorter-than-drill", severity: .warning, field: "drills[\(index)].cron",
                    evidence: "drill '\(drill.name)' runs up to \(Self.human(gap)) apart, but '\(entry.schedule.name)' keeps backups for \(entry.effectiveTTL): "
                        + "backups taken after one drill are gone before the next can test them.",
                    fix: "keep '\(entry.schedule.name)' backups at least \(Self.human(gap)), or run the drill more often."))
            }
        }

        // Which schedule takes the cluster-scoped resources a lost cluster is rebuilt from.
        func takesClusterResources(_ template: BackupRequest) -> Bool {
            let everyNamespace = (template.includedNamespaces.isEmpty || template.includedNamespaces == ["*"]) && template.excludedNamespaces.isEmpty
            return template.includeClusterResources ?? everyNamespace
        }
        if let name = policy.recovery.clusterResourcesSchedule {
            if let entry = policy.schedules.first(where: { $0.schedule.name == name }) {
                if !takesClusterResources(entry.schedule.template) {
                    findings.append(.init(
                        rule: "cluster-resources-not-backed-up", severity: .error, field: "recovery.clusterResourcesSchedule",
                        evidence: "schedule '\(name)' is to hold the cluster resources, but its backups take only some namespaces and no cluster-scoped resources (CRDs, cluster roles, storage classes).",
                        fix: "set includeClusterResources: true on '\(name)', or name a schedule of every namespace."))
                }
            } else {
                findings.append(.init(
                    rule: "unknown-schedule", severity: .error, field: "recovery.clusterResourcesSchedule",
                    evidence: "recovery takes the cluster resources from schedule '\(name)', which the policy does not define.",
                    fix: "name one of: \(policy.schedules.map(\.schedule.name).joined(separator: ", "))."))
            }
        } else if !policy.schedules.isEmpty && (!policy.objectives.isEmpty || policy.drills.contains { $0.kind == .fullRecovery })
            && !policy.schedules.contains(where: { takesClusterResources($0.schedule.template) }) {
            findings.append(.init(
                rule: "cluster-resources-not-backed-up", severity: .warning, field: "schedules",
                evidence: "every schedule backs up only some namespaces, so no backup holds the cluster-scoped resources (CRDs, cluster roles, storage classes) a lost cluster is rebuilt with.",
                fix: "add a schedule with includeClusterResources: true (or of every namespace) and name it in recovery.clusterResourcesSchedule."))
        }

        // Schedules that write the same namespace at the same minute.
        for (leftIndex, left) in schedules {
            for (rightIndex, right) in schedules where rightIndex > leftIndex {
                let shared = Self.sharedNamespaces(left.schedule, right.schedule)
                guard !shared.isEmpty else { continue }
                let leftTimes = Set(fireTimes[leftIndex] ?? [])
                guard let first = (fireTimes[rightIndex] ?? []).first(where: leftTimes.contains) else { continue }
                findings.append(.init(
                    rule: "overlapping-schedules", severity: .warning, field: "schedules[\(rightIndex)].cron",
                    evidence: "'\(left.schedule.name)' and '\(right.schedule.name)' both back up \(shared.joined(separator: ", ")) at the same minute (first at \(RFC3339.format(first))).",
                    fix: "move one of them by a few minutes (e.g. '\(Self.shiftedByFiveMinutes(right.schedule.cron))')."))
            }
        }

        // Alert thresholds against the smallest RPO.
        if let tightest = policy.objectives.min(by: { $0.rpo.nanoseconds < $1.rpo.nanoseconds }) {
            if let stale = policy.alerts.staleAfter, stale.nanoseconds > tightest.rpo.nanoseconds {
                findings.append(.init(
                    rule: "alert-longer-than-rpo", severity: .error, field: "alerts.staleAfter",
                    evidence: "the staleness alert fires after \(stale), but objective '\(tightest.namespaceClass)' allows \(tightest.rpo): the RPO is breached before anyone is told.",
                    fix: "set staleAfter to at most \(tightest.rpo), or leave it out to use each objective's RPO."))
            }
            if policy.alerts.slowBackup.nanoseconds > tightest.rpo.nanoseconds {
                findings.append(.init(
                    rule: "alert-longer-than-rpo", severity: .error, field: "alerts.slowBackup",
                    evidence: "a backup is called slow only after \(policy.alerts.slowBackup), but objective '\(tightest.namespaceClass)' allows \(tightest.rpo) between good backups.",
                    fix: "alert on backups slower than \(tightest.rpo) for the '\(tightest.namespaceClass)' namespaces."))
            }
        }
        // The in-process scheduler's cadences.
        for (field, cron) in [("validate", policy.automation.validate), ("rpoCheck", policy.automation.rpoCheck), ("cleanup", policy.automation.cleanup)] {
            guard let cron, cron.nextFire(after: referenceDate) == nil else { continue }
            findings.append(.init(
                rule: "cron-never-fires", severity: .error, field: "automation.\(field)",
                evidence: "automation.\(field) has cron '\(cron)', which has no fire time within five years.", fix: "correct it, or write 'off'."))
        }
        if let tightest = policy.objectives.min(by: { $0.rpo.nanoseconds < $1.rpo.nanoseconds }) {
            if let check = policy.automation.rpoCheck {
                let gap = Self.largestGap(fires(check, within: window), window: window, start: referenceDate)
                if gap.isFinite, gap > tightest.rpo.timeInterval {
                    findings.append(.init(
                        rule: "rpo-check-slower-than-rpo", severity: .warning, field: "automation.rpoCheck",
                        evidence: "the RPO check runs up to \(Self.human(gap)) apart, but objective '\(tightest.namespaceClass)' allows \(tightest.rpo): a breach can go unreported for longer than the RPO itself.",
                        fix: "check at least every \(tightest.rpo) (e.g. '*/5 * * * *')."))
                }
            } else {
                findings.append(.init(
                    rule: "rpo-check-slower-than-rpo", severity: .warning, field: "automation.rpoCheck",
                    evidence: "the RPO check is off, so `carbon-recovery run` never reports a breached RPO of objective '\(tightest.namespaceClass)'.",
                    fix: "set automation.rpoCheck (e.g. '*/5 * * * *'), or rely on the rendered staleness alert."))
            }
        }
        // Who may do what through Velero.
        if policy.storage.encryption == .none {
            findings.append(.init(
                rule: "storage-not-encrypted", severity: .warning, field: "storage.encryption",
                evidence: "the policy asks for no server-side encryption: the backups, every backed-up Secret among them, lie in \(policy.storage.bucket) as the storage's defaults leave them.",
                fix: "encryption: {type: SSE-S3} (or SSE-KMS with kmsKeyID, or SSE-C with customerKeyFile); deploy writes it into the storage location."))
        }
        if policy.storage.endpoint.lowercased().hasPrefix("http://") {
            findings.append(.init(
                rule: "storage-plain-http", severity: .warning, field: "storage.endpoint",
                evidence: "\(policy.storage.endpoint) is plain HTTP: the backups cross the network unencrypted.",
                fix: "serve the storage over https (in-cluster MinIO: a certificate from your CA) and name the CA in storage.caFile."))
        }
        if let access = policy.access {
            if access.operatorGroups.isEmpty {
                findings.append(.init(
                    rule: "no-operator-group", severity: .warning, field: "access.operators",
                    evidence: "no group may create backups or restores: at 3 a.m. only carbon-recovery's account and cluster administrators can restore.",
                    fix: "name the group of the people on call: operators: [platform-dr-operators]."))
            }
        } else {
            findings.append(.init(
                rule: "velero-access-not-limited", severity: .warning, field: "access",
                evidence: "the policy says nothing about access, so deploy leaves Velero's permissions as they are — the guide binds cluster-admin to Velero's account, "
                    + "and anyone who may create a Restore or DownloadRequest can take the cluster or read every backed-up Secret.",
                fix: "add an access section (operators, viewers, customResourceGroups); deploy then renders least-privilege roles, and doctor checks the bindings (docs/security.md)."))
        }
        findings += databaseFindings(policy)
        return findings.enumerated().sorted { ($0.element.severity, $0.offset) < ($1.element.severity, $1.offset) }.map(\.element)
    }

    // MARK: Helpers

    func fires(_ cron: CronSchedule, within span: TimeInterval) -> [Date] {
        var dates: [Date] = []
        var cursor = referenceDate.addingTimeInterval(-1)
        let end = referenceDate.addingTimeInterval(span)
        while dates.count < 200_000, let next = cron.nextFire(after: cursor), next <= end {
            dates.append(next)
            cursor = next
        }
        return dates
    }

    /// The longest time without a fire within the window (from its start to the first fire, between fires).
    static func largestGap(_ dates: [Date], window: TimeInterval, start: Date) -> TimeInterval {
        let end = start.addingTimeInterval(window)
        let sorted = Set(dates.filter { $0 <= end }).sorted()
        guard var previous = sorted.first else { return .infinity }
        var largest: TimeInterval = 0
        for date in sorted.dropFirst() {
            largest = max(largest, date.timeIntervalSince(previous))
            previous = date
        }
        return sorted.count == 1 ? window : largest   // one fire in the window: at least the window
    }

    static func covers(_ schedule: SchedulePolicy, _ namespace: String) -> Bool {
        let template = schedule.template
        let included = template.includedNamespaces.isEmpty || template.includedNamespaces.contains { NamespaceGlob.matches($0, namespace) }
        return included && !template.excludedNamespaces.contains { NamespaceGlob.matches($0, namespace) }
    }

    /// Whether a schedule backs up a namespace with all its objects (no label selector, no resource filter).
    public static func coversFully(_ schedule: SchedulePolicy, _ namespace: String) -> Bool {
        covers(schedule, namespace) && schedule.template.labelSelector == nil && schedule.template.includedResources.filter { $0 != "*" }.isEmpty
    }

    static func sharedNamespaces(_ left: SchedulePolicy, _ right: SchedulePolicy) -> [String] {
        let names = Set(left.template.includedNamespaces + right.template.includedNamespaces).filter { !$0.contains("*") && !$0.contains("?") }
        return names.filter { covers(left, $0) && covers(right, $0) }.sorted()
    }

    static func human(_ seconds: TimeInterval) -> String {
        guard seconds.isFinite else { return "more than the measuring window" }
        let whole = Int(seconds)
        if whole % 86_400 == 0 { return "\(whole / 86_400)d (\(whole / 3600)h)" }
        if whole % 3600 == 0 { return "\(whole / 3600)h" }
        if whole % 60 == 0 { return "\(whole / 60)m" }
        return "\(whole)s"
    }

    static func shiftedByFiveMinutes(_ cron: CronSchedule) -> String {
        let fields = cron.expression.split(separator: " ")
        guard fields.count == 5, let minute = Int(fields[0]) else { return "a different minute" }
        return ([String((minute + 5) % 60)] + fields.dropFirst().map(String.init)).joined(separator: " ")
    }
}

/// Velero's namespace globs (`*`, `?`).
enum NamespaceGlob {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        guard pattern.contains("*") || pattern.contains("?") else { return pattern == text }
        let expression = "^" + NSRegularExpression.escapedPattern(for: pattern).replacingOccurrences(of: "\\*", with: ".*").replacingOccurrences(of: "\\?", with: ".") + "$"
        return text.range(of: expression, options: .regularExpression) != nil
    }
}
