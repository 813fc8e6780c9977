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
        /// When it finished: the time its outcome was audited.
        public var time: Date
        /// What was restored: `drill/<name>`, `backup/<name>`, `recovery/<name>`, `postgres/<stanza>`.
        public var target: String
        /// The audited operation it came from.
        public var operation: String
        /// Whether it succeeded, its data checked out and it met the RTO it was measured against.
        public var passed: Bool
        /// The measured recovery time, in seconds; `nil` when it recorded none.
        public var recoverySeconds: Double?
        /// The RTO it is held to: the one it recorded, else the strictest of its namespaces' (or its database's).
        public var objectiveSeconds: Double?
        /// The namespaces it restored, sorted; empty when none were recorded (a database drill).
        public var namespaces: [String]
        /// The stanza of the database it restored, when it names one (`pitr`).
        public var database: String?
        /// What went wrong or did not check out, as recorded (its error last).
        public var problems: [String]

        /// Whether the measured time is within the RTO; `nil` when either is unknown.
        public var metObjective: Bool? {
            guard let recoverySeconds, let objectiveSeconds else { return nil }
            return recoverySeconds <= objectiveSeconds
        }
    }

    /// An RPO age at a moment (`nil`: no backup at all then).
    public struct AgePoint: Sendable, Equatable {
        /// When the age was checked.
        public var time: Date
        /// The age in seconds; `nil` when there was no backup at all.
        public var seconds: Double?
    }

    /// A backup's outcome.
    public struct BackupOutcome: Sendable, Equatable {
        /// When it finished: its audited outcome's time, else Velero's completion (or start) time.
        public var time: Date
        /// The backup's name.
        public var name: String
        /// Whether it succeeded.
        public var succeeded: Bool
        /// `audit` (the coordinator made it) or `cluster` (Velero holds it: scheduled backups).
        public var source: String
        /// Why it failed, as recorded.
        public var error: String?
    }

    /// One namespace of an objective.
    public struct NamespaceEvidence: Sendable, Equatable {
        /// The namespace's name.
        public var namespace: String
        /// The RPO age at each `rpo.check` (at most ~600 points: the worst of each slice of time).
        public var ages: [AgePoint]
        /// How many times the RPO was breached (a check over it after one within it, or the first check).
        public var breaches: Int
        /// Roughly how long it was breached: the time from each breached check to the next.
        public var breachedSeconds: Double
        /// The worst RPO age at a check in the range, in seconds; `nil` when a check found no backup or none was made.
        public var worstAgeSeconds: Double?
        /// The age now (the cluster's backups), else at the last check.
        public var currentAgeSeconds: Double?
        /// Its backups that finished in the range (every-namespace ones included), oldest first.
        public var backups: [BackupOutcome]
    }

    /// What an objective declares, what tests showed, what was observed, and whether it held.
    public struct Verdict: Sendable, Equatable {
        /// What is declared: the RPO and RTO (and the namespaces they cover).
        public var declared: String
        /// What drills showed: how many, how many passed, and the newest one's recovery time.
        public var tested: String
        /// What was observed: the worst age or lag, breaches, failed checks, gaps, the window.
        public var observed: String
        /// `true` when a drill in the range met the RTO, the newest one did, and the RPO was never
        /// breached; `false` when one of those failed; `nil` when nothing was tested or checked.
        public var met: Bool?

        /// Creates a verdict; nothing is read or checked.
        public init(declared: String, tested: String, observed: String, met: Bool?) {
            self.declared = declared
            self.tested = tested
            self.observed = observed
            self.met = met
        }
    }

    /// One recovery objective (a class of namespaces).
    public struct ObjectiveEvidence: Sendable, Equatable {
        /// The objective's namespace class (its name in the policy).
        public var namespaceClass: String
        /// The objective's RPO, in seconds.
        public var rpoSeconds: Double
        /// The objective's RTO, in seconds.
        public var rtoSeconds: Double
        /// Each of its namespaces, in the policy's order.
        public var namespaces: [NamespaceEvidence]
        /// The drills that restored any of its namespaces.
        public var drills: [Drill]
        /// Whether it held, and why.
        public var verdict: Verdict
    }

    /// A database's point-in-time recovery.
    public struct DatabaseEvidence: Sendable, Equatable {
        /// The database's stanza (the name of its archive).
        public var stanza: String
        /// The database's RPO, in seconds (archive lag is held to it).
        public var rpoSeconds: Double
        /// The database's RTO, in seconds.
        public var rtoSeconds: Double
        /// The archive's window now: earliest and latest reachable moments, WAL gaps.
        public var earliest: Date?
        /// The latest moment a restore can reach now; `nil` when unknown.
        public var latest: Date?
        /// How many base backups the archive holds now; `nil` when the window was not read.
        public var baseBackups: Int?
        /// Every WAL gap in the archive now (empty when the window was not read).
        public var gaps: [PointInTimeRecovery.Gap]
        /// Why the window could not be read, when it could not.
        public var windowError: String?
        /// Archive lag at each `pg-check` (worst of each slice, as ages).
        public var lag: [AgePoint]
        /// How many of the `pg-check` runs in the range failed.
        public var checksFailed: Int
        /// How many `pg-check` runs there were in the range.
        public var checks: Int
        /// How many base backups succeeded in the range.
        public var baseBackupsTaken: Int
        /// How many base backups failed in the range.
        public var baseBackupsFailed: Int
        /// Its `pitr` drills in the range, oldest first.
        public var drills: [Drill]
        /// Whether it held, and why.
        public var verdict: Verdict
    }

    /// The audit trail the report was made from.
    public struct TrailEvidence: Sendable, Equatable {
        /// The audit trail's path (its database file).
        public var path: String
        /// Whether the trail verified.
        public var valid: Bool
        /// How many entries the verification checked.
        public var entriesChecked: Int64
        /// The sequence number of the last entry checked.
        public var headSequence: Int64
        /// The hash of the last entry checked (64 zeros for an empty trail).
        public var headHash: String
        /// The first problem the verification found; `nil` when the trail verified.
        public var problem: String?
        /// The newest signed checkpoint: its origin, size, head hash and the signed note itself.
        public var checkpointOrigin: String?
        /// How many entries the trail had when the checkpoint was signed.
        public var checkpointSize: Int64?
        /// The hash the checkpoint states, in hex: the Merkle tree root of the first
        /// `checkpointSize` entries (for a checkpoint from before the tree, the hash of entry
        /// `checkpointSize`).
        public var checkpointHeadHash: String?
        /// The checkpoint's signed note; `nil` when the trail has no signed checkpoint.
        public var checkpointNote: String?
    }

    /// The start of the range (included).
    public var from: Date
    /// The end of the range (excluded).
    public var to: Date
    /// When the report was made (``Input/now``).
    public var generatedAt: Date
    /// Each of the policy's recovery objectives, in the policy's order.
    public var objectives: [ObjectiveEvidence]
    /// Each of the policy's databases, in the policy's order.
    public var databases: [DatabaseEvidence]
    /// Every drill in the range, oldest first.
    public var drills: [Drill]
    /// The newest full-recovery drill or annual exercise in the range.
    public var lastFullRecovery: Drill?
    /// The policy's open lint findings.
    public var findings: [PolicyFinding]
    /// The audit trail's verification, head and newest signed checkpoint.
    public var trail: TrailEvidence
    /// The sections capabilities added (``Input/sections``), after the report's own parts.
    public var sections: [Section]
    /// How many audit entries the report read.
    public var entriesRead: Int
    /// What could not be read and what that leaves out.
    public var notes: [String]
}
