import CarbonRecovery
import CarbonRecoveryPostgres
import Foundation

extension EvidenceReport {
    /// A signed checkpoint of the audit trail, as stored.
    public struct Checkpoint: Sendable, Equatable {
        /// The trail it is about (`carbon-recovery.audit/<trail id>`).
        public var origin: String
        /// How many entries the trail had when it was signed.
        public var size: Int64
        /// The hash the note states, in hex: the Merkle tree root of the first `size` entries (for
        /// a checkpoint from before the tree, the hash of entry `size`).
        public var headHash: String
        /// The signed note (C2SP signed-note text).
        public var note: String

        /// Creates a checkpoint from its stored parts; nothing is read or checked, the signature neither.
        public init(origin: String, size: Int64, headHash: String, note: String) {
            self.origin = origin
            self.size = size
            self.headHash = headHash
            self.note = note
        }
    }

    /// A database's restore window now, or why it could not be read.
    public enum WindowReading: Sendable {
        /// The window as read from the archive.
        case read(PointInTimeRecovery.RestoreWindow)
        /// The window could not be read: why.
        case failed(String)
    }

    /// What the report is made from besides the audit trail's entries: the range, the policy and
    /// its lint findings, the trail's verification, and what is true now (each optional: a report
    /// made where the cluster or the archive cannot be reached says so instead).
    public struct Input: Sendable {
        /// The start of the range (included).
        public var from: Date
        /// The end of the range (excluded); must be after `from`.
        public var to: Date
        /// When the report is made: its ``EvidenceReport/generatedAt``, and what ages now are measured from.
        public var now: Date
        /// The recovery policy whose objectives and databases the report judges.
        public var policy: RecoveryPolicy
        /// The policy's open lint findings, shown as given.
        public var findings: [PolicyFinding]
        /// The audit trail's path, shown in the report.
        public var trailPath: String
        /// The audit trail's verification, as made before the report.
        public var verification: AuditVerificationReport
        /// The trail's newest signed checkpoint; `nil` when it has none.
        public var checkpoint: Checkpoint?
        /// Velero's backups now (scheduled ones are not in the trail); `nil` when not read.
        public var clusterBackups: [BackupStatus]?
        /// Each database's archive window now, by stanza.
        public var windows: [String: WindowReading]
        /// What could not be read and what that leaves out, said at the top of the report.
        public var notes: [String]
        /// Sections capabilities add after the report's own parts, in order (ids unique).
        public var sections: [Section]

        /// Creates the input; nothing is read or checked (``EvidenceReport/build(trail:input:)`` checks it).
        public init(
            from: Date, to: Date, now: Date, policy: RecoveryPolicy, findings: [PolicyFinding], trailPath: String,
            verification: AuditVerificationReport, checkpoint: Checkpoint?, clusterBackups: [BackupStatus]? = nil,
            windows: [String: WindowReading] = [:], notes: [String] = [], sections: [Section] = []
        ) {
            self.from = from
            self.to = to
            self.now = now
            self.policy = policy
            self.findings = findings
            self.trailPath = trailPath
            self.verification = verification
            self.checkpoint = checkpoint
            self.clusterBackups = clusterBackups
            self.windows = windows
            self.notes = notes
            self.sections = sections
        }
    }

    /// The audited operations the report reads (and whether it reads their attempts too): what
    /// `audit query` must select to read the same entries (the benchmark's baseline).
    package static var auditOperations: [(name: String, attempts: Bool)] { TrailFacts.operations }

    /// Reads the trail's entries of `input`'s range and builds the report; changes nothing.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` for an empty range or a section whose id is
    ///   not a name, is the report's own or is taken twice; what the trail throws.
    public static func build(trail: any AuditTrail, input: Input) async throws -> EvidenceReport {
        guard input.from < input.to else {
            throw RecoveryError(.invalidInput, "the report's range is empty: \(RFC3339.format(input.from)) is not before \(RFC3339.format(input.to))")
        }
        var ids: Set<String> = []
        for section in input.sections {
            try section.validate()
            guard ids.insert(section.id).inserted else { throw RecoveryError(.invalidInput, "two report sections have the id \(section.id)") }
        }
        let facts = try await TrailFacts.read(from: trail, from: input.from, to: input.to)
        return assemble(facts, input: input)
    }

    static func assemble(_ facts: TrailFacts, input: Input) -> EvidenceReport {
        let policy = input.policy
        func rto(of namespaces: [String]) -> Double? {
            policy.objectives.filter { !Set($0.namespaces).isDisjoint(with: namespaces) }.map(\.rto.timeInterval).min()
        }
        let drills = facts.drills.map { run in
            let objective = run.objectiveSeconds
                ?? (run.level == .pitr ? policy.databases.first { $0.stanza == run.database }?.rto.timeInterval : rto(of: run.namespaces))
            var drill = Drill(
                level: run.level.rawValue, time: run.time, target: run.target, operation: run.operation, passed: run.succeeded,
                recoverySeconds: run.recoverySeconds, objectiveSeconds: objective, namespaces: run.namespaces, database: run.database, problems: run.problems)
            if drill.metObjective == false { drill.passed = false }
            return drill
        }
        let objectives = policy.objectives.map { objective(for: $0, facts: facts, drills: drills, input: input) }
        let databases = policy.databases.map { database(for: $0, facts: facts, drills: drills, input: input) }
        let verification = input.verification
        let trail = TrailEvidence(
            path: input.trailPath, valid: verification.isValid, entriesChecked: verification.entriesChecked, headSequence: verification.headSequence,
            headHash: verification.headHash, problem: verification.problem?.message, checkpointOrigin: input.checkpoint?.origin,
            checkpointSize: input.checkpoint?.size, checkpointHeadHash: input.checkpoint?.headHash, checkpointNote: input.checkpoint?.note)
        return EvidenceReport(
            from: input.from, to: input.to, generatedAt: input.now, objectives: objectives, databases: databases, drills: drills,
            lastFullRecovery: drills.last { $0.level == TrailFacts.DrillRun.Level.fullRecovery.rawValue || $0.level == TrailFacts.DrillRun.Level.annualExercise.rawValue },
            findings: input.findings, trail: trail, sections: input.sections, entriesRead: facts.entriesRead, notes: input.notes)
    }

    /// At most `slices` points: of the points in each slice of the range, the worst (no backup
    /// at all counts as the worst), in time order.
    static func downsample(_ points: [AgePoint], from: Date, to: Date, slices: Int = 600) -> [AgePoint] {
        guard points.count > slices else { return points }
        let span = max(to.timeIntervalSince(from), 1)
        var worst: [Int: AgePoint] = [:]
        for point in points {
            let slice = min(max(Int(point.time.timeIntervalSince(from) / span * Double(slices)), 0), slices - 1)
            guard let kept = worst[slice] else { worst[slice] = point; continue }
            if kept.seconds != nil, point.seconds.map({ $0 > kept.seconds! }) ?? true { worst[slice] = point }
        }
        return worst.keys.sorted().compactMap { worst[$0] }
    }

    /// Breach episodes and time over `limit` in a series of checks (no value: breached).
    static func breaches(_ points: [AgePoint], limit: Double, until end: Date) -> (count: Int, seconds: Double) {
        var count = 0
        var seconds = 0.0
        var previousBreached = false
        for (index, point) in points.enumerated() {
            let breached = point.seconds.map { $0 > limit } ?? true
            if breached && !previousBreached { count += 1 }
            if breached {
                let next = index + 1 < points.count ? points[index + 1].time : end
                seconds += max(0, next.timeIntervalSince(point.time))
            }
            previousBreached = breached
        }
        return (count, seconds)
    }

    private static func objective(for objective: RecoveryObjective, facts: TrailFacts, drills: [Drill], input: Input) -> ObjectiveEvidence {
        let rpo = objective.rpo.timeInterval
        let namespaces = objective.namespaces.map { namespace in
            let raw = facts.rpoChecks.compactMap { check in check.ages[namespace].map { AgePoint(time: check.time, seconds: $0) } }
            let (count, seconds) = breaches(raw, limit: rpo, until: min(input.to, input.now))
            var backups = facts.backups.filter { $0.namespaces.isEmpty || $0.namespaces.contains(namespace) }.map {
                BackupOutcome(time: $0.time, name: $0.name, succeeded: $0.succeeded, source: "audit", error: $0.error)
            }
            let audited = Set(backups.map(\.name))
            for backup in input.clusterBackups ?? [] where backup.holds(namespace: namespace) && !audited.contains(backup.name) && backup.phase.isTerminal {
                guard let time = backup.completionTimestamp ?? backup.startTimestamp, time >= input.from, time < input.to else { continue }
                backups.append(BackupOutcome(
                    time: time, name: backup.name, succeeded: backup.phase.isSuccess, source: "cluster", error: backup.failureReason))
            }
            // Now: the newest completed backup holding the namespace, when the cluster was read.
            let current: Double?? = input.clusterBackups.map { backups in
                backups.filter { $0.phase.isSuccess && $0.holds(namespace: namespace) }.compactMap(\.completionTimestamp).max().map { input.now.timeIntervalSince($0) }
            } ?? raw.last.map(\.seconds)
            return NamespaceEvidence(
                namespace: namespace, ages: downsample(raw, from: input.from, to: input.to), breaches: count, breachedSeconds: seconds,
                worstAgeSeconds: raw.contains { $0.seconds == nil } ? nil : raw.compactMap(\.seconds).max(), currentAgeSeconds: current ?? nil,
                backups: backups.sorted { $0.time < $1.time })
        }
        let covering = drills.filter { !Set($0.namespaces).isDisjoint(with: objective.namespaces) }
        let checked = namespaces.contains { !$0.ages.isEmpty }
        let breached = namespaces.reduce(0) { $0 + $1.breaches }
        let worst = namespaces.compactMap(\.worstAgeSeconds).max()
        let verdict = Verdict(
            declared: "RPO \(objective.rpo), RTO \(objective.rto) for \(objective.namespaces.joined(separator: ", "))",
            tested: tested(covering),
            observed: checked
                ? "worst RPO age \(worst.map(Wording.duration) ?? "unknown (a namespace had no backup)"); \(breached) breach(es)"
                    + (breached > 0 ? ", about \(Wording.duration(namespaces.reduce(0) { $0 + $1.breachedSeconds })) over the RPO" : "")
                : "no RPO check in the range"
                    + (namespaces.allSatisfy { $0.currentAgeSeconds != nil }
                        ? "; age now \(Wording.duration(namespaces.compactMap(\.currentAgeSeconds).max() ?? 0))" : ""),
            met: met(drills: covering, checked: checked, violated: breached > 0))
        return ObjectiveEvidence(
            namespaceClass: objective.namespaceClass, rpoSeconds: rpo, rtoSeconds: objective.rto.timeInterval, namespaces: namespaces, drills: covering, verdict: verdict)
    }

    private static func database(for database: DatabasePolicy, facts: TrailFacts, drills: [Drill], input: Input) -> DatabaseEvidence {
        let checks = facts.databaseChecks.filter { $0.stanza == database.stanza }
        let lag = checks.compactMap { check in check.lagSeconds.map { AgePoint(time: check.time, seconds: $0) } }
        let rpo = database.rpo.timeInterval
        let (lagBreaches, lagSeconds) = breaches(lag, limit: rpo, until: min(input.to, input.now))
        let own = drills.filter { $0.level == TrailFacts.DrillRun.Level.pitr.rawValue && $0.database == database.stanza }
        let backups = facts.baseBackups.filter { $0.stanza == database.stanza }
        var evidence = DatabaseEvidence(
            stanza: database.stanza, rpoSeconds: rpo, rtoSeconds: database.rto.timeInterval, earliest: nil, latest: nil, baseBackups: nil, gaps: [],
            windowError: nil, lag: downsample(lag, from: input.from, to: input.to), checksFailed: checks.filter { !$0.succeeded }.count, checks: checks.count,
            baseBackupsTaken: backups.filter(\.succeeded).count, baseBackupsFailed: backups.filter { !$0.succeeded }.count, drills: own,
            verdict: Verdict(declared: "", tested: "", observed: "", met: nil))
        switch input.windows[database.stanza] {
        case .read(let window)?:
            evidence.earliest = window.earliest
            evidence.latest = window.latest
            evidence.baseBackups = window.backups.count
            evidence.gaps = window.gaps
        case .failed(let reason)?:
            evidence.windowError = reason
        case nil:
            evidence.windowError = "not read"
        }
        var observed = lag.isEmpty ? "no archive check in the range" : "worst archive lag \(Wording.duration(lag.compactMap(\.seconds).max() ?? 0)); \(lagBreaches) breach(es)"
        if lagBreaches > 0 { observed += ", about \(Wording.duration(lagSeconds)) over the RPO" }
        if evidence.checksFailed > 0 { observed += "; \(evidence.checksFailed) of \(checks.count) checks failed" }
        if !evidence.gaps.isEmpty { observed += "; \(evidence.gaps.count) WAL gap(s) now" }
        if let latest = evidence.latest, let earliest = evidence.earliest {
            observed += "; restorable from \(RFC3339.format(earliest)) to \(RFC3339.format(latest))"
        }
        evidence.verdict = Verdict(
            declared: "RPO \(database.rpo), RTO \(database.rto)", tested: tested(own), observed: observed,
            met: met(drills: own, checked: !lag.isEmpty, violated: lagBreaches > 0 || !evidence.gaps.isEmpty || evidence.checksFailed > 0))
        return evidence
    }

    private static func tested(_ drills: [Drill]) -> String {
        let timed = drills.filter { $0.recoverySeconds != nil }
        guard let newest = timed.last, let seconds = newest.recoverySeconds else { return "no drill in the range" }
        let passed = timed.filter(\.passed).count
        let objective = newest.objectiveSeconds.map { " against an RTO of \(Wording.duration($0))" } ?? ""
        return "\(timed.count) drill(s), \(passed) passed; newest \(RFC3339.format(newest.time).prefix(10)): \(Wording.duration(seconds))\(objective)"
            + (newest.passed ? "" : " — failed")
    }

    private static func met(drills: [Drill], checked: Bool, violated: Bool) -> Bool? {
        let timed = drills.filter { $0.recoverySeconds != nil }
        if violated || timed.last.map({ !$0.passed }) == true { return false }
        guard !timed.isEmpty, checked else { return nil }
        return true
    }
}

enum Wording {
    /// `42 s`, `12 min`, `3.5 h`, `2.1 d`: a duration in words for the report.
    static func duration(_ seconds: Double) -> String {
        switch seconds {
        case ..<120: String(format: seconds < 10 ? "%.1f s" : "%.0f s", seconds)
        case ..<(2 * 3600): String(format: "%.0f min", seconds / 60)
        case ..<(2 * 86_400): String(format: "%.1f h", seconds / 3600)
        default: String(format: "%.1f d", seconds / 86_400)
        }
    }
}
