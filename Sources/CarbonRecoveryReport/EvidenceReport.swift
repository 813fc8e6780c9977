import CarbonRecovery
import CarbonRecoveryPostgres
import Foundation

/// Proof that backups are taken and restores work, over a time range: per objective, the RPO
/// age over time against the objective (breaches counted), backup outcomes, every drill at each
/// level with its measured recovery time against the RTO, the last full-recovery test, each
/// database's recovery window and WAL gaps, the policy's open lint findings, and the audit
/// trail's verification with the head and signed checkpoint the report was made from.
///
/// Built by ``build(trail:input:)`` from the audit trail (what happened) and the
/// ``Input``'s live state (what is true now); rendered by ``json`` and ``html``.
public struct EvidenceReport: Sendable {
    /// A drill, a restore test or a recovery: something restored and timed.
    public struct Drill: Sendable, Equatable {
        /// `restore-test`, `full-recovery`, `annual-exercise` or `pitr`.
        public var level: String
        public var time: Date
        /// What was restored: `drill/<name>`, `backup/<name>`, `recovery/<name>`, `postgres/<stanza>`.
        public var target: String
        /// The audited operation it came from.
        public var operation: String
        /// Whether it succeeded, its data checked out and it met the RTO it was measured against.
        public var passed: Bool
        public var recoverySeconds: Double?
        /// The RTO it is held to: the one it recorded, else the strictest of its namespaces' (or its database's).
        public var objectiveSeconds: Double?
        public var namespaces: [String]
        public var database: String?
        public var problems: [String]

        /// Whether the measured time is within the RTO; `nil` when either is unknown.
        public var metObjective: Bool? {
            guard let recoverySeconds, let objectiveSeconds else { return nil }
            return recoverySeconds <= objectiveSeconds
        }
    }

    /// An RPO age at a moment (`nil`: no backup at all then).
    public struct AgePoint: Sendable, Equatable {
        public var time: Date
        public var seconds: Double?
    }

    /// A backup's outcome.
    public struct BackupOutcome: Sendable, Equatable {
        public var time: Date
        public var name: String
        public var succeeded: Bool
        /// `audit` (the coordinator made it) or `cluster` (Velero holds it: scheduled backups).
        public var source: String
        /// Why it failed, as recorded.
        public var error: String?
    }

    /// One namespace of an objective.
    public struct NamespaceEvidence: Sendable, Equatable {
        public var namespace: String
        /// The RPO age at each `rpo.check` (at most ~600 points: the worst of each slice of time).
        public var ages: [AgePoint]
        /// How many times the RPO was breached (a check over it after one within it, or the first check).
        public var breaches: Int
        /// Roughly how long it was breached: the time from each breached check to the next.
        public var breachedSeconds: Double
        public var worstAgeSeconds: Double?
        /// The age now (the cluster's backups), else at the last check.
        public var currentAgeSeconds: Double?
        public var backups: [BackupOutcome]
    }

    /// What an objective declares, what tests showed, what was observed, and whether it held.
    public struct Verdict: Sendable, Equatable {
        public var declared: String
        public var tested: String
        public var observed: String
        /// `true` when a drill in the range met the RTO, the newest one did, and the RPO was never
        /// breached; `false` when one of those failed; `nil` when nothing was tested or checked.
        public var met: Bool?

        public init(declared: String, tested: String, observed: String, met: Bool?) {
            self.declared = declared
            self.tested = tested
            self.observed = observed
            self.met = met
        }
    }

    /// One recovery objective (a class of namespaces).
    public struct ObjectiveEvidence: Sendable, Equatable {
        public var namespaceClass: String
        public var rpoSeconds: Double
        public var rtoSeconds: Double
        public var namespaces: [NamespaceEvidence]
        /// The drills that restored any of its namespaces.
        public var drills: [Drill]
        public var verdict: Verdict
    }

    /// A database's point-in-time recovery.
    public struct DatabaseEvidence: Sendable, Equatable {
        public var stanza: String
        public var rpoSeconds: Double
        public var rtoSeconds: Double
        /// The archive's window now: earliest and latest reachable moments, WAL gaps.
        public var earliest: Date?
        public var latest: Date?
        public var baseBackups: Int?
        public var gaps: [PointInTimeRecovery.Gap]
        /// Why the window could not be read, when it could not.
        public var windowError: String?
        /// Archive lag at each `pg-check` (worst of each slice, as ages).
        public var lag: [AgePoint]
        public var checksFailed: Int
        public var checks: Int
        public var baseBackupsTaken: Int
        public var baseBackupsFailed: Int
        public var drills: [Drill]
        public var verdict: Verdict
    }

    /// The audit trail the report was made from.
    public struct TrailEvidence: Sendable, Equatable {
        public var path: String
        public var valid: Bool
        public var entriesChecked: Int64
        public var headSequence: Int64
        public var headHash: String
        public var problem: String?
        /// The newest signed checkpoint: its origin, size, head hash and the signed note itself.
        public var checkpointOrigin: String?
        public var checkpointSize: Int64?
        public var checkpointHeadHash: String?
        public var checkpointNote: String?
    }

    public var from: Date
    public var to: Date
    public var generatedAt: Date
    public var objectives: [ObjectiveEvidence]
    public var databases: [DatabaseEvidence]
    /// Every drill in the range, oldest first.
    public var drills: [Drill]
    /// The newest full-recovery drill or annual exercise in the range.
    public var lastFullRecovery: Drill?
    public var findings: [PolicyFinding]
    public var trail: TrailEvidence
    /// The sections capabilities added (``Input/sections``), after the report's own parts.
    public var sections: [Section]
    /// How many audit entries the report read.
    public var entriesRead: Int
    /// What could not be read and what that leaves out.
    public var notes: [String]
}
