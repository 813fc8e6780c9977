import Foundation

/// What a whole-cluster recovery (``RecoveryCoordinator/recoverCluster(_:progress:)``) chose,
/// found, did and measured.
public struct ClusterRecoveryReport: Sendable, Hashable {
    /// One restore of the recovery: the cluster resources, or one class of namespaces.
    public struct Phase: Sendable, Hashable {
        /// `cluster resources`, or the namespace class (`critical`, …; `no objective` for the rest).
        public var name: String
        /// The namespaces it restored (none for the cluster resources).
        public var namespaces: [String]
        /// The backup it restored from.
        public var backup: String
        /// The restore's final status.
        public var restore: RestoreStatus
        /// From asking for the restore to seeing it finished.
        public var duration: Duration
        /// From the start of the recovery to the end of this phase: the time these namespaces
        /// were down for, as far as this recovery is concerned.
        public var recoveredAfter: Duration
        /// The class's objective, if any.
        public var objective: RecoveryObjective?

        /// Creates a phase.
        public init(name: String, namespaces: [String], backup: String, restore: RestoreStatus, duration: Duration, recoveredAfter: Duration, objective: RecoveryObjective?) {
            self.name = name
            self.namespaces = namespaces
            self.backup = backup
            self.restore = restore
            self.duration = duration
            self.recoveredAfter = recoveredAfter
            self.objective = objective
        }

        /// Whether the class was back within its RTO; `nil` without an objective.
        public var objectiveMet: Bool? { objective.map { recoveredAfter <= .nanoseconds($0.rto.nanoseconds) } }
    }

    /// Every object the recovery restored, compared with its backup.
    public struct Verification: Sendable, Hashable {
        /// Objects the recovery was expected to bring back.
        public var expected: Int
        /// Back, and equal to the backup in the engine's comparable form.
        public var matched: Int
        /// Not on the target after the restores.
        public var missing: [BackupItem]
        /// On the target, but different from the backup; each with the first field that differs.
        public var different: [Difference]
        /// On the target before the recovery and different from the backup: left as they were
        /// (the engine does not overwrite existing objects), so not failures.
        public var keptAsFound: [BackupItem]

        /// One object that came back different.
        public struct Difference: Sendable, Hashable, CustomStringConvertible {
            /// The object.
            public var item: BackupItem
            /// The first differing field's path, e.g. `spec.replicas`.
            public var field: String

            /// Creates a difference.
            public init(item: BackupItem, field: String) {
                self.item = item
                self.field = field
            }

            public var description: String { "\(item) (\(field))" }
        }

        /// Creates a verification.
        public init(expected: Int, matched: Int, missing: [BackupItem], different: [Difference], keptAsFound: [BackupItem]) {
            self.expected = expected
            self.matched = matched
            self.missing = missing
            self.different = different
            self.keptAsFound = keptAsFound
        }

        /// Nothing missing and nothing different.
        public var passed: Bool { missing.isEmpty && different.isEmpty }
    }

    /// The recovery's name.
    public var name: String
    /// Where each part was restored from, in restore order.
    public var points: [RecoveryPoint]
    /// What the preflight found; a recovery with an error finding restored nothing.
    public var findings: [RecoveryPreflight.Finding]
    /// Whether only the plan was made.
    public var planOnly: Bool
    /// Choosing the points, validating candidates, reading the backups and checking the target.
    public var preflightTime: Duration
    /// The restores, in order.
    public var phases: [Phase]
    /// The comparison after the restores; `nil` when nothing was restored.
    public var verification: Verification?
    /// How long the verification took.
    public var verificationTime: Duration
    /// From the start to the end, verification included: the measured recovery time.
    public var totalTime: Duration
    /// The whole recovery's objective, if one was given.
    public var recoveryTimeObjective: Duration?
    /// What happened to the recovered objects afterwards, for a drill
    /// (``ClusterRecoveryRequest/removesAfterVerification``); `nil` otherwise.
    public var cleanup: RestoreTestReport.Cleanup?

    /// Creates a report.
    public init(
        name: String, points: [RecoveryPoint], findings: [RecoveryPreflight.Finding], planOnly: Bool, preflightTime: Duration,
        phases: [Phase], verification: Verification?, verificationTime: Duration, totalTime: Duration, recoveryTimeObjective: Duration?
    ) {
        self.name = name
        self.points = points
        self.findings = findings
        self.planOnly = planOnly
        self.preflightTime = preflightTime
        self.phases = phases
        self.verification = verification
        self.verificationTime = verificationTime
        self.totalTime = totalTime
        self.recoveryTimeObjective = recoveryTimeObjective
    }

    /// Whether the preflight found an error.
    public var refused: Bool { findings.contains { $0.severity == .error } }

    /// Whether the whole recovery's objective was met; `nil` without one or for a plan.
    public var objectiveMet: Bool? {
        guard !planOnly, !refused, let recoveryTimeObjective else { return nil }
        return totalTime <= recoveryTimeObjective
    }

    /// A plan: the preflight passed. A recovery: it also restored every phase `Completed`,
    /// every object verified, and every objective (each class's RTO, the whole one's) was met.
    public var passed: Bool { problems.isEmpty }

    /// Why it did not pass, in words; empty when it passed.
    public var problems: [String] {
        var problems = findings.filter { $0.severity == .error }.map(\.description)
        guard !planOnly, problems.isEmpty else { return problems }
        for phase in phases where !phase.restore.phase.isSuccess {
            problems.append("restore \(phase.restore.name) (\(phase.name)) finished \(phase.restore.phase) with \(phase.restore.errors) errors")
        }
        for phase in phases where phase.objectiveMet == false {
            problems.append("\(phase.name) was back after \(RestoreTestReport.seconds(phase.recoveredAfter)) s, more than its RTO of \(phase.objective!.rto)")
        }
        if let verification {
            if !verification.missing.isEmpty {
                problems.append("\(verification.missing.count) object(s) not restored: " + RecoveryPreflight.sample(verification.missing.map(\.description)))
            }
            if !verification.different.isEmpty {
                problems.append("\(verification.different.count) object(s) differ from the backup: " + RecoveryPreflight.sample(verification.different.map(\.description)))
            }
        }
        if objectiveMet == false, let recoveryTimeObjective {
            problems.append("the recovery took \(RestoreTestReport.seconds(totalTime)) s, more than its objective of \(RestoreTestReport.seconds(recoveryTimeObjective)) s")
        }
        return problems
    }

    /// What the audit trail records with the outcome.
    public var auditDetails: JSONValue {
        var details: [String: JSONValue] = [
            "planOnly": .bool(planOnly), "passed": .bool(passed),
            "preflightSeconds": .string(RestoreTestReport.seconds(preflightTime)),
            "verificationSeconds": .string(RestoreTestReport.seconds(verificationTime)),
            "recoveryTimeSeconds": .string(RestoreTestReport.seconds(totalTime)),
            "points": .array(points.map { point in
                var json: [String: JSONValue] = ["scope": .string(point.scope.description), "backup": point.backup.map { .string($0.name) } ?? .null]
                if let dataLoss = point.dataLoss { json["dataLossSeconds"] = .integer(Int64(dataLoss.rounded())) }
                if let objective = point.objective { json["class"] = .string(objective.namespaceClass); json["rpo"] = .string(objective.rpo.description) }
                if let met = point.meetsRPO { json["rpoMet"] = .bool(met) }
                return .object(json)
            }),
            "findings": .array(findings.map { .string($0.description) }),
            "phases": .array(phases.map { phase in
                var json: [String: JSONValue] = [
                    "name": .string(phase.name), "backup": .string(phase.backup), "restore": .string(phase.restore.name),
                    "phase": .string(phase.restore.phase.rawValue), "seconds": .string(RestoreTestReport.seconds(phase.duration)),
                    "recoveredAfterSeconds": .string(RestoreTestReport.seconds(phase.recoveredAfter)),
                ]
                if let objective = phase.objective { json["rto"] = .string(objective.rto.description) }
                if let met = phase.objectiveMet { json["rtoMet"] = .bool(met) }
                return .object(json)
            }),
        ]
        if let cleanup { details["cleanup"] = .string(cleanup.description) }
        if let worst = points.compactMap(\.dataLoss).max() { details["achievedRPOSeconds"] = .integer(Int64(worst.rounded())) }
        if let verification {
            details["verification"] = [
                "expected": .integer(Int64(verification.expected)), "matched": .integer(Int64(verification.matched)),
                "missing": .array(verification.missing.prefix(50).map { .string($0.description) }),
                "different": .array(verification.different.prefix(50).map { .string($0.description) }),
                "keptAsFound": .integer(Int64(verification.keptAsFound.count)),
            ]
        }
        if let recoveryTimeObjective { details["recoveryTimeObjectiveSeconds"] = .string(RestoreTestReport.seconds(recoveryTimeObjective)) }
        if let met = objectiveMet { details["objectiveMet"] = .bool(met) }
        if !passed { details["problems"] = .array(problems.prefix(20).map { .string($0) }) }
        return .object(details)
    }
}
