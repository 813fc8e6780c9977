import CarbonRecovery
import Foundation

/// The guide's "Verify Deployment" and monitoring on one screen: Velero's deployment, its storage
/// locations, each schedule with its last backup and next run, and, for every namespace of the
/// policy's objectives, the last good backup's age against the RPO and the last measured
/// recovery time (from the audit trail's restore tests) against the RTO.
///
/// ```swift
/// let status = try await VeleroStatus.collect(cluster: cluster, policy: policy, audit: trail)
/// for namespace in status.namespaces where namespace.rpoMet == false { print(namespace.name, "RPO breached") }
/// ```
public struct VeleroStatus: Sendable, Hashable {
    /// Velero's `Deployment`.
    public struct Deployment: Sendable, Hashable {
        /// Whether it exists.
        public var exists: Bool
        /// Ready replicas out of desired, or a note (the sandbox's stand-in says what it is).
        public var detail: String
    }

    /// One `BackupStorageLocation`.
    public struct Location: Sendable, Hashable {
        /// The location's name.
        public var name: String
        /// `Available`, `Unavailable`, or "not validated yet".
        public var phase: String
        /// When Velero last checked it.
        public var lastValidation: Date?
        /// Velero's message, when unavailable.
        public var message: String?
    }

    /// One `Schedule`.
    public struct Schedule: Sendable, Hashable {
        /// The schedule's name.
        public var name: String
        /// Its cron text.
        public var cron: String
        /// `New`, `Enabled` or `FailedValidation`.
        public var phase: String
        /// Whether it is paused.
        public var paused: Bool
        /// The newest backup it made (by the `velero.io/schedule-name` label).
        public var lastBackup: String?
        /// That backup's phase.
        public var lastBackupPhase: String?
        /// When that backup started.
        public var lastBackupAt: Date?
        /// The next cron time; `nil` when paused or the cron does not parse.
        public var nextRun: Date?
        /// Whether the policy names it.
        public var inPolicy: Bool
    }

    /// One namespace of an objective.
    public struct Namespace: Sendable, Hashable {
        /// The namespace.
        public var name: String
        /// The class of its objective.
        public var objective: String
        /// The objective's RPO.
        public var rpo: GoDuration
        /// The objective's RTO.
        public var rto: GoDuration
        /// The newest `Completed` backup that holds the whole namespace.
        public var lastBackup: String?
        /// When it completed.
        public var lastBackupAt: Date?
        /// Seconds since then.
        public var age: TimeInterval?
        /// Whether that age is within the RPO (`false` with no backup at all).
        public var rpoMet: Bool
        /// The last restore test that covered the namespace: its measured recovery time.
        public var lastRecoverySeconds: Double?
        /// When that test ran.
        public var lastRecoveryAt: Date?
        /// Whether that time is within the RTO; `nil` when never measured.
        public var rtoMet: Bool?
    }

    /// Velero's deployment.
    public var deployment: Deployment
    /// Every storage location.
    public var locations: [Location]
    /// Every schedule in Velero's namespace, the policy's and others.
    public var schedules: [Schedule]
    /// Every namespace of the policy's objectives.
    public var namespaces: [Namespace]
    /// When this was collected.
    public var collectedAt: Date

    /// Reads everything (cluster reads and one audit query; nothing is changed).
    ///
    /// - Parameter clock: The time ages, RPOs and next runs are computed against.
    public static func collect(
        cluster: any ClusterClient, namespace: String = VeleroObjects.defaultNamespace, policy: RecoveryPolicy, audit: (any AuditTrail)?,
        clock: any WallClock = SystemWallClock()
    ) async throws -> VeleroStatus {
        let now = clock.now()
        let deploymentObject = try await cluster.get(try ObjectReference(kind: .deployment, namespace: namespace, name: "velero"))
        var deployment = Deployment(exists: deploymentObject != nil, detail: "not found in \(namespace)")
        if let object = deploymentObject {
            if let note = object.json[path: ["metadata", "annotations", "carbon-recovery.dev/stand-in"]]?.stringValue {
                deployment.detail = note
            } else {
                let ready = object.status?["readyReplicas"]?.integerValue ?? 0
                let wanted = object.spec?["replicas"]?.integerValue ?? 1
                deployment.detail = "\(ready)/\(wanted) ready"
            }
        }
        let locations = try await cluster.list(.veleroBackupStorageLocation, namespace: namespace, labelSelector: nil).map { object in
            Location(
                name: object.name ?? "?", phase: object.status?["phase"]?.stringValue ?? "not validated yet",
                lastValidation: object.status?["lastValidationTime"]?.stringValue.flatMap(RFC3339.parse), message: object.status?["message"]?.stringValue)
        }
        let backups = try await cluster.list(.veleroBackup, namespace: namespace, labelSelector: nil)
        func completed(_ backup: KubernetesObject) -> Date? {
            guard backup.status?["phase"]?.stringValue == "Completed" else { return nil }
            return backup.status?["completionTimestamp"]?.stringValue.flatMap(RFC3339.parse)
        }
        let wanted = Set(policy.schedules.map(\.schedule.name))
        var schedules: [Schedule] = []
        for object in try await cluster.list(.veleroSchedule, namespace: namespace, labelSelector: nil) {
            let name = object.name ?? "?"
            let cronText = object.spec?["schedule"]?.stringValue ?? ""
            let paused = object.spec?["paused"]?.boolValue ?? false
            let made = backups.filter { $0.labels[VeleroObjects.scheduleNameLabel] == name }
                .max { ($0.status?["startTimestamp"]?.stringValue ?? "") < ($1.status?["startTimestamp"]?.stringValue ?? "") }
            schedules.append(Schedule(
                name: name, cron: cronText, phase: object.status?["phase"]?.stringValue ?? "New", paused: paused, lastBackup: made?.name,
                lastBackupPhase: made?.status?["phase"]?.stringValue, lastBackupAt: made?.status?["startTimestamp"]?.stringValue.flatMap(RFC3339.parse),
                nextRun: paused ? nil : (try? CronSchedule(parsing: cronText))?.nextFire(after: now), inPolicy: wanted.contains(name)))
        }

        // Recovery times measured by restore tests, newest first.
        var measured: [(namespaces: Set<String>, seconds: Double, at: Date?)] = []
        if let audit {
            let page = try await audit.entries(matching: AuditQuery(operation: "restore.test", kind: .outcome, outcome: .success, limit: 1000, newestFirst: true))
            for entry in page.entries {
                guard let details = try? JSONValue(parsing: Array(entry.parameters.utf8)),
                    let seconds = details["recoveryTimeSeconds"]?.stringValue.flatMap(Double.init),
                    let mappings = details["namespaceMappings"]?.objectValue
                else { continue }
                measured.append((Set(mappings.keys), seconds, entry.date))
            }
        }
        var namespaces: [Namespace] = []
        for objective in policy.objectives {
            for name in objective.namespaces {
                let holding = backups.filter { backup in
                    let spec = backup.spec
                    let included = spec?["includedNamespaces"]?.arrayValue?.compactMap(\.stringValue) ?? []
                    let excluded = spec?["excludedNamespaces"]?.arrayValue?.compactMap(\.stringValue) ?? []
                    return (included.isEmpty || included.contains(name) || included.contains("*")) && !excluded.contains(name)
                        && spec?["labelSelector"] == nil && completed(backup) != nil
                }
                let newest = holding.max { completed($0)! < completed($1)! }
                let at = newest.flatMap(completed)
                let age = at.map { now.timeIntervalSince($0) }
                let recovery = measured.first { $0.namespaces.contains(name) }
                namespaces.append(Namespace(
                    name: name, objective: objective.namespaceClass, rpo: objective.rpo, rto: objective.rto, lastBackup: newest?.name, lastBackupAt: at,
                    age: age, rpoMet: age.map { $0 <= objective.rpo.timeInterval } ?? false, lastRecoverySeconds: recovery?.seconds,
                    lastRecoveryAt: recovery?.at, rtoMet: recovery.map { $0.seconds <= objective.rto.timeInterval }))
            }
        }
        return VeleroStatus(
            deployment: deployment, locations: locations, schedules: schedules.sorted { $0.name < $1.name }, namespaces: namespaces, collectedAt: now)
    }
}
