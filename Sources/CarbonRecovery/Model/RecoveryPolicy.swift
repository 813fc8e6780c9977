import Foundation

/// The whole recovery policy of a platform: where backups go, what is backed up when and for
/// how long, the objectives, the drills, the alert thresholds and the notifiers.
///
/// `CarbonRecoveryPolicy` reads it from `carbon-recovery.yaml`; ``PolicyLinter`` checks it for
/// contradictions. `Examples/254carbon.yaml` is the platform guide's strategy.
///
/// ```swift
/// let findings = PolicyLinter().lint(policy)
/// for finding in findings where finding.severity == .error { print(finding.field, finding.evidence, finding.fix) }
/// ```
public struct RecoveryPolicy: Sendable, Hashable {
    /// Where backups are stored.
    public var storage: StoragePolicy
    /// The scheduled backups, each with its retention.
    public var schedules: [ScheduledBackup]
    /// The TTL of backups taken by hand (`backup create` without `--ttl`).
    public var manualBackupTTL: GoDuration?
    /// Recovery objectives per class of namespaces.
    public var objectives: [RecoveryObjective]
    /// Restore drills and their cadence.
    public var drills: [DrillPolicy]
    /// Alert thresholds.
    public var alerts: AlertPolicy
    /// Where events go.
    public var notifiers: [NotifierPolicy]
    /// When the in-process scheduler (`carbon-recovery run`) validates, checks RPOs and cleans up.
    public var automation: AutomationPolicy
    /// How the audit trail's checkpoints are signed and exported.
    public var audit: AuditPolicy
    /// How a lost cluster is rebuilt (`carbon-recovery recover cluster`).
    public var recovery: ClusterRecoveryPolicy = ClusterRecoveryPolicy()
    /// Who may do what through Velero; `nil` when the policy does not say (Velero's permissions
    /// are then left as they are).
    public var access: AccessPolicy?
    /// PostgreSQL clusters recovered to a point in time from their WAL archives, each with its
    /// objectives, base-backup cron and retention.
    public var databases: [DatabasePolicy] = []

    /// Creates a policy.
    public init(
        storage: StoragePolicy, schedules: [ScheduledBackup] = [], manualBackupTTL: GoDuration? = nil, objectives: [RecoveryObjective] = [],
        drills: [DrillPolicy] = [], alerts: AlertPolicy = AlertPolicy(), notifiers: [NotifierPolicy] = [],
        automation: AutomationPolicy = AutomationPolicy(), audit: AuditPolicy = AuditPolicy()
    ) {
        self.audit = audit
        self.storage = storage
        self.schedules = schedules
        self.manualBackupTTL = manualBackupTTL
        self.objectives = objectives
        self.drills = drills
        self.alerts = alerts
        self.notifiers = notifiers
        self.automation = automation
    }
}

/// The backup storage: a MinIO (S3 API) bucket, and how to get its credentials.
public struct StoragePolicy: Sendable, Hashable {
    /// The S3 endpoint, `http(s)://host:port`.
    public var endpoint: String
    /// The bucket (the guide: `254carbon-backups`).
    public var bucket: String
    /// A prefix inside the bucket (Velero's `objectStorage.prefix`), or empty.
    public var prefix: String
    /// The signing region (MinIO: `minio` or `us-east-1`).
    public var region: String
    /// Where the credentials come from — never the secret itself.
    public var credentials: CredentialsReference
    /// Server-side encryption for everything written (`deploy` puts it into the location's
    /// config, as Velero's AWS plugin reads it).
    public var encryption: StorageEncryptionSetting
    /// A PEM file with the CA that signed the storage's certificate, when a private CA did
    /// (`deploy` puts it into a secret the location's `caCertRef` names).
    public var caCertificateFile: String?

    /// Creates a storage policy.
    public init(
        endpoint: String, bucket: String, prefix: String = "", region: String = "us-east-1", credentials: CredentialsReference,
        encryption: StorageEncryptionSetting = .none, caCertificateFile: String? = nil
    ) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.credentials = credentials
        self.encryption = encryption
        self.caCertificateFile = caCertificateFile
    }
}

/// Where storage credentials come from. A policy file names them; it never holds them.
public enum CredentialsReference: Sendable, Hashable, CustomStringConvertible {
    /// Two environment variables (the guide: `VELERO_S3_ACCESS_KEY`, `VELERO_S3_SECRET_KEY`).
    case environment(accessKeyID: String, secretAccessKey: String)
    /// An AWS-style credentials file and its profile.
    case file(path: String, profile: String)
    /// A Kubernetes secret holding an AWS-style file (Velero's `cloud-credentials`, key `cloud`).
    case secret(namespace: String, name: String, key: String)

    public var description: String {
        switch self {
        case .environment(let id, let secret): "environment variables \(id) and \(secret)"
        case .file(let path, let profile): "file \(path) [\(profile)]"
        case .secret(let namespace, let name, let key): "secret \(namespace)/\(name) key \(key)"
        }
    }
}

/// A scheduled backup and how long its backups are kept.
public struct ScheduledBackup: Sendable, Hashable {
    /// The Velero schedule (its template's TTL is Velero's retention).
    public var schedule: SchedulePolicy
    /// Retention beyond the TTL: keep-last and calendar buckets.
    public var retention: RetentionPolicy

    /// Creates a scheduled backup.
    public init(schedule: SchedulePolicy, retention: RetentionPolicy = RetentionPolicy()) {
        self.schedule = schedule
        self.retention = retention
    }

    /// How long a backup of this schedule lives: the retention TTL, else the template's, else Velero's default (720 h).
    public var effectiveTTL: GoDuration { retention.ttl ?? schedule.template.ttl ?? .hours(720) }
}

/// How a lost cluster is rebuilt on a new one (``RecoveryCoordinator/recoverCluster(_:progress:)``).
public struct ClusterRecoveryPolicy: Sendable, Hashable {
    /// The schedule whose backups take the cluster-scoped resources (CRDs, cluster roles,
    /// storage and priority classes): its newest validated backup restores them. `nil` takes
    /// the newest validated backup that holds them, whichever took it.
    public var clusterResourcesSchedule: String?
    /// The largest data loss a recovery accepts by default (`--max-data-loss`).
    public var maximumDataLoss: GoDuration?

    /// Creates a recovery policy.
    public init(clusterResourcesSchedule: String? = nil, maximumDataLoss: GoDuration? = nil) {
        self.clusterResourcesSchedule = clusterResourcesSchedule
        self.maximumDataLoss = maximumDataLoss
    }
}

/// A drill at one of the guide's three levels: the monthly DR drill, the quarterly full
/// recovery test, the annual exercise.
public struct DrillPolicy: Sendable, Hashable {
    /// What a drill does.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Monthly: a restore test into scratch namespaces (``RecoveryCoordinator/testRestore(_:progress:)``).
        case restoreTest = "restore-test"
        /// Quarterly: with ``DrillPolicy/drCluster``, the objectives' namespaces and the cluster
        /// resources recovered into the DR cluster, verified and removed
        /// (``RecoveryCoordinator/runRecoveryDrill(_:objectives:recovery:production:)``); without
        /// one, a restore test of every namespace of the backup, measured against the RTO.
        case fullRecovery = "full-recovery"
        /// Annually: every backup never validated is validated, every objective's RPO is
        /// checked, and every namespace is recovered into the DR cluster, verified and removed.
        case annualExercise = "annual-exercise"
        /// A point-in-time recovery drill of one of the policy's databases
        /// (``DrillPolicy/database``): a marker row written just before a moment and one just
        /// after, the archive restored to that moment into a scratch instance, the markers
        /// compared (the first present, the second absent), the recovery time measured against
        /// the database's RTO (`CarbonRecoveryPostgres`' `PointInTimeRecovery.drill`).
        case pitr
    }

    /// The cluster a recovery drill restores into, by kubeconfig context. A drill never
    /// creates a cluster: this one must exist, run Velero, and read the backups' location.
    public struct DRCluster: Sendable, Hashable {
        /// The kubeconfig context.
        public var context: String
        /// The kubeconfig file; `nil` for the one the command uses.
        public var kubeconfig: String?

        /// Creates a reference.
        public init(context: String, kubeconfig: String? = nil) {
            self.context = context
            self.kubeconfig = kubeconfig
        }
    }

    /// The drill's name.
    public var name: String
    /// When it runs.
    public var cron: CronSchedule
    /// What it does.
    public var kind: Kind
    /// The schedule whose latest completed backup a restore test restores; for a recovery
    /// drill, the schedule whose backups hold the cluster resources, unless the policy's
    /// ``ClusterRecoveryPolicy/clusterResourcesSchedule`` names one.
    public var schedule: String
    /// Where a recovery drill restores (`full-recovery`, `annual-exercise`).
    public var drCluster: DRCluster?
    /// For a `pitr` drill: the stanza of the database (in the policy's `databases`) it restores.
    public var database: String?
    /// For a `pitr` drill: the port of the scratch instance on 127.0.0.1; `nil` picks a free one.
    public var scratchPort: Int?
    /// For a `pitr` drill: the folder the scratch instance's data folder is made in (and
    /// removed from); `nil` for the system's temporary folder. The database's OS user must
    /// reach it.
    public var scratchDirectory: String?

    /// Creates a drill. A `pitr` drill names a ``database`` and no ``schedule`` (empty).
    public init(
        name: String, cron: CronSchedule, kind: Kind, schedule: String, drCluster: DRCluster? = nil, database: String? = nil, scratchPort: Int? = nil,
        scratchDirectory: String? = nil
    ) {
        self.name = name
        self.cron = cron
        self.kind = kind
        self.schedule = schedule
        self.drCluster = drCluster
        self.database = database
        self.scratchPort = scratchPort
        self.scratchDirectory = scratchDirectory
    }
}

/// Alert thresholds, rendered into Prometheus rules.
public struct AlertPolicy: Sendable, Hashable {
    /// A backup failure counts within this window (`increase(…[window]) > 0`).
    public var failureWindow: GoDuration
    /// A backup slower than this is slow (the guide: 1 h).
    public var slowBackup: GoDuration
    /// A namespace whose last good backup is older than this is stale; `nil` uses each objective's RPO.
    public var staleAfter: GoDuration?

    /// Creates alert thresholds; the defaults are the guide's corrected ones.
    public init(failureWindow: GoDuration = .hours(1), slowBackup: GoDuration = .hours(1), staleAfter: GoDuration? = nil) {
        self.failureWindow = failureWindow
        self.slowBackup = slowBackup
        self.staleAfter = staleAfter
    }
}

/// A notifier named in the policy. Settings hold references (`env:NAME`, `file:/path`), not secrets.
public struct NotifierPolicy: Sendable, Hashable {
    /// The notifier's name.
    public var name: String
    /// Its type, e.g. `webhook`, `slack`, `alertmanager`, `log`, or a plugin's.
    public var type: String
    /// Its settings.
    public var settings: [String: String]

    /// Creates a notifier entry.
    public init(name: String, type: String, settings: [String: String] = [:]) {
        self.name = name
        self.type = type
        self.settings = settings
    }
}

/// The cadence of the work Velero does not do, run by the in-process scheduler
/// (`carbon-recovery run`): validating new backups, checking each namespace's RPO, and cleanup
/// (expired, failed, and retention beyond the TTL). Drills run on their own crons.
public struct AutomationPolicy: Sendable, Hashable {
    /// When completed backups that were never validated are validated (default every 15 minutes).
    public var validate: CronSchedule?
    /// When each objective namespace's newest good backup is checked against its RPO (default every 5 minutes).
    public var rpoCheck: CronSchedule?
    /// When expired, failed and retention-surplus backups are deleted (default 04:30 daily).
    public var cleanup: CronSchedule?

    /// The defaults.
    public static let defaultValidate = try! CronSchedule(parsing: "*/15 * * * *")
    /// The default RPO check cadence.
    public static let defaultRPOCheck = try! CronSchedule(parsing: "*/5 * * * *")
    /// The default cleanup cadence.
    public static let defaultCleanup = try! CronSchedule(parsing: "30 4 * * *")

    /// Creates the cadences; `nil` turns that work off.
    public init(
        validate: CronSchedule? = AutomationPolicy.defaultValidate, rpoCheck: CronSchedule? = AutomationPolicy.defaultRPOCheck,
        cleanup: CronSchedule? = AutomationPolicy.defaultCleanup
    ) {
        self.validate = validate
        self.rpoCheck = rpoCheck
        self.cleanup = cleanup
    }
}
