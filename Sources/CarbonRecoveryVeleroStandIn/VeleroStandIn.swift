import CarbonRecovery
import CarbonRecoveryVelero
import Foundation
import Logging

/// A stand-in for Velero's server, for the sandbox — **not Velero**. It implements the part of
/// Velero's server-side contract that the SDK relies on, over any `ClusterClient`, so backups
/// and restores in the sandbox really collect objects from the API server, write Velero's
/// object-storage layout and tarball format, and restore from them by Velero's rules:
///
/// - Storage comes from the `BackupStorageLocation` objects — bucket, prefix, `config`,
///   `accessMode` and the credentials secret (`spec.credential`, else `cloud-credentials`/`cloud`)
///   — read again for every operation, so a rotated secret is used by the next one.
/// - `Backup`: `New` → `InProgress` (with progress) → `Completed`. What to back up comes from
///   API discovery: every listable resource in its preferred version (pods and custom
///   resources included), filtered by namespaces, resources, labels and
///   `includeClusterResources` as Velero filters them, and not labelled
///   `velero.io/exclude-from-backup=true`; the CRDs of backed-up custom resources come along.
///   The backup carries the `velero.io/source-cluster-k8s-*` annotations and goes into
///   `backups/<name>/<name>.tar.gz` in Velero's format (`metadata/version` 1.1.0) with
///   `velero-backup.json`, the logs, the resource list and the results beside it. A location in
///   `accessMode: ReadOnly` refuses it (`FailedValidation`), as Velero does.
/// - `Restore` (from a backup, or a schedule's latest completed backup): CRDs first (each
///   waited on until established), then Velero's restore priorities; never the resources
///   Velero never restores; metadata and status reset as Velero resets them
///   (``CarbonRecoveryVelero/VeleroRestoreRules``); namespace mappings, filters and
///   `existingResourcePolicy`. The time it took, in milliseconds, goes on the `Restore` as
///   the annotation ``restoreMillisecondsAnnotation``.
/// - `DeleteBackupRequest`: removes the storage prefix, then the `Backup`, then the request;
///   refused for a read-only location.
/// - `BackupStorageLocation`: `Available`/`Unavailable` from a real access check with its own credentials.
/// - `Schedule`: `Enabled` or `FailedValidation`; `<schedule>-<UTC yyyyMMddHHmmss>` backups
///   labelled `velero.io/schedule-name` at each cron time (the first after the schedule's creation).
/// - TTL garbage collection: an expired backup gets a `DeleteBackupRequest` (not on a
///   read-only location: the backup is labelled `velero.io/gc-failure=BSLReadOnly`).
/// - Backup sync, per location: a backup in the bucket without a `Backup` object gets one
///   again — on a new cluster, every backup of the location.
///
/// Fault switches, for tests, are annotations on the object (on a `Backup` also a label, so a
/// `BackupRequest`'s labels can carry one through the coordinator):
/// `stand-in.carbon-recovery.dev/fault` = `fail`, `partial`, `fail-validation` or `stall` on a
/// `Backup`, `unavailable` on a `BackupStorageLocation`.
///
/// A periodic resync (every 10 s) hands `New` objects older than 5 s that no handler holds to
/// their handlers, so an event lost while kubectl's watch reconnected delays an object, never
/// strands it.
///
/// Its own limits (`docs/sandbox.md` lists them): no volume data (no kubelet, CSI or
/// file-system backup), hooks are logged as not run, no plugins or item actions beyond
/// Velero's built-in ones that touch objects only, and the periodic controllers list rather than watch.
public actor VeleroStandIn {
    /// The annotation (or, on a `Backup`, label) that switches on a fault.
    public static let faultAnnotation = "stand-in.carbon-recovery.dev/fault"
    /// The annotation the stand-in puts on a finished `Restore`: how long restoring its items
    /// took, in milliseconds, measured by the stand-in itself.
    public static let restoreMillisecondsAnnotation = "stand-in.carbon-recovery.dev/restore-milliseconds"
    /// The location a backup without `spec.storageLocation` goes to (Velero's
    /// `--default-backup-storage-location`), unless another one has `spec.default: true`.
    public static let defaultLocationName = "default"
    /// The secret and key holding storage credentials when a location names none (what
    /// `velero install` mounts into Velero's pod).
    public static let defaultCredential = (secret: "cloud-credentials", key: "cloud")

    /// Makes a `StorageBackend` for one location, as read for one operation.
    public typealias StorageResolver = @Sendable (StandInStorageLocation) async throws -> any StorageBackend

    let cluster: any ClusterClient
    let resolveStorage: StorageResolver
    let namespace: String
    let logger: Logger
    let fieldManager = "velero-stand-in"
    var busy: Set<String> = []
    /// Backups whose data is being deleted: backup sync leaves them alone.
    var deleting: Set<String> = []

    /// Creates a stand-in for Velero in `namespace` that reaches each storage location through `storage`.
    ///
    /// - Parameters:
    ///   - cluster: The cluster it watches and backs up.
    ///   - namespace: Velero's namespace.
    ///   - storage: Makes the backend for a location (with that location's credentials).
    ///   - logger: One line per backup, restore, deletion and sync.
    public init(
        cluster: any ClusterClient, namespace: String = VeleroObjects.defaultNamespace,
        storage: @escaping StorageResolver, logger: Logger = Logger(label: "velero-stand-in")
    ) {
        self.cluster = cluster
        self.resolveStorage = storage
        self.namespace = namespace
        self.logger = logger
    }

    /// Creates a stand-in whose every location is `storage` (each location's prefix and
    /// access mode still apply): for tests and embedders with one backend.
    public init(cluster: any ClusterClient, storage: any StorageBackend, namespace: String = VeleroObjects.defaultNamespace, logger: Logger = Logger(label: "velero-stand-in")) {
        self.init(cluster: cluster, namespace: namespace, storage: { _ in storage }, logger: logger)
    }

    /// How often the stand-in's periodic controllers run; `nil` switches one off.
    public struct Intervals: Sendable {
        /// Storage location validation (Velero: `validationFrequency`, 1 min).
        public var validation: Duration?
        /// Checking schedules for due backups (Velero: its cron library's own timer).
        public var schedules: Duration?
        /// TTL garbage collection (Velero: hourly).
        public var garbageCollection: Duration?
        /// Backup sync from storage (Velero: `backupSyncPeriod`, 1 min).
        public var sync: Duration?
        /// Handing `New` objects a watch missed to their handlers (controller-runtime's resync).
        public var resync: Duration? = .seconds(10)

        /// Creates intervals; the defaults are shorter than Velero's so that the sandbox shows each effect quickly.
        public init(validation: Duration? = .seconds(10), schedules: Duration? = .seconds(2), garbageCollection: Duration? = .seconds(5), sync: Duration? = .seconds(5)) {
            self.validation = validation
            self.schedules = schedules
            self.garbageCollection = garbageCollection
            self.sync = sync
        }
    }

    /// Runs until cancelled: watches Backups, Restores and DeleteBackupRequests, and runs the
    /// periodic controllers — storage location validation, schedules, TTL garbage collection
    /// and backup sync — each on its interval.
    public func run(intervals: Intervals = Intervals()) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.watchLoop(.veleroBackup) { try await self.handleBackup($0) } }
            group.addTask { try await self.watchLoop(.veleroRestore) { try await self.handleRestore($0) } }
            group.addTask { try await self.watchLoop(.veleroDeleteBackupRequest) { try await self.handleDeleteRequest($0) } }
            group.addTask { try await self.every(intervals.validation, "validating storage locations") { await self.validateLocations() } }
            group.addTask { try await self.every(intervals.schedules, "running schedules") { try await self.runSchedules() } }
            group.addTask { try await self.every(intervals.garbageCollection, "collecting expired backups") { try await self.collectExpired() } }
            group.addTask { try await self.every(intervals.sync, "syncing backups from storage") { try await self.syncFromStorage() } }
            group.addTask { try await self.every(intervals.resync, "resyncing new objects") { try await self.resync() } }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Runs `body` every `interval` until cancelled; a failed pass is logged and retried next time.
    private func every(_ interval: Duration?, _ what: String, _ body: @escaping @Sendable () async throws -> Void) async throws {
        guard let interval else { return try await Task.sleep(for: .seconds(365 * 86_400)) }   // switched off; wait for cancellation
        while !Task.isCancelled {
            do {
                try await body()
            } catch is CancellationError {
                return
            } catch {
                logger.warning("\(what) failed", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: interval)
        }
    }

    private func watchLoop(_ kind: ResourceKind, handle: @escaping @Sendable (KubernetesObject) async throws -> Void) async throws {
        for try await event in cluster.watch(kind, namespace: namespace, labelSelector: nil) where event.kind != .deleted {
            dispatch(kind, event.object, handle)
        }
    }

    /// Hands a `New` object to its handler unless one is already at work on it.
    private func dispatch(_ kind: ResourceKind, _ object: KubernetesObject, _ handle: @escaping @Sendable (KubernetesObject) async throws -> Void) {
        let phase = object.status?["phase"]?.stringValue ?? "New"
        guard phase == "New", let name = object.name else { return }
        let key = "\(kind.kind)/\(name)"
        guard !busy.contains(key) else { return }
        busy.insert(key)
        Task {
            do {
                try await handle(object)
            } catch is CancellationError {
            } catch {
                self.logger.error("handling failed", metadata: ["object": "\(key)", "error": "\(error)"])
                await self.markFailed(kind, name, error)
            }
            self.done(key)
        }
    }

    /// A controller's resync: every `New` object a watch may have missed (an event lost while
    /// kubectl's watch reconnected) is handed to its handler, as controller-runtime's periodic
    /// resync does for Velero. A `New` object someone is handling already is left alone.
    func resync() async throws {
        for (kind, handle) in [
            (ResourceKind.veleroBackup, handleBackup as @Sendable (KubernetesObject) async throws -> Void),
            (.veleroRestore, handleRestore), (.veleroDeleteBackupRequest, handleDeleteRequest),
        ] {
            for object in try await cluster.list(kind, namespace: namespace, labelSelector: nil) {
                // Only objects that have stayed New a while: a fresh one is the watch's to handle.
                let created = object.json[path: ["metadata", "creationTimestamp"]]?.stringValue.flatMap(RFC3339.parse) ?? Date()
                guard Date().timeIntervalSince(created) > 5, (object.status?["phase"]?.stringValue ?? "New") == "New", let name = object.name,
                      !busy.contains("\(kind.kind)/\(name)") else { continue }
                // Read again: a handler may have finished with it since the list.
                guard let fresh = try await cluster.get(try ObjectReference(kind: kind, namespace: namespace, name: name)) else { continue }
                logger.info("resync found a New object the watch missed", metadata: ["object": "\(kind.kind)/\(name)"])
                dispatch(kind, fresh, handle)
            }
        }
    }

    private func done(_ key: String) { busy.remove(key) }

    /// What Velero does when running a backup or restore returns an error: the object ends
    /// `Failed` with the reason, never left `InProgress` for someone to wait on forever.
    private func markFailed(_ kind: ResourceKind, _ name: String, _ error: any Error) async {
        guard kind == .veleroBackup || kind == .veleroRestore else { return }
        let reason = "\(error)"
        do {
            try await update(kind, name) { object in
                guard let phase = object.status?["phase"]?.stringValue, phase == "New" || phase == "InProgress" else { return }
                var status = object.status?.objectValue ?? [:]
                status["phase"] = "Failed"
                status["failureReason"] = .string(reason)
                status["completionTimestamp"] = Self.timestamp()
                object.json["status"] = .object(status)
            }
        } catch {
            logger.error("marking Failed failed", metadata: ["object": "\(kind.kind)/\(name)", "error": "\(error)"])
        }
    }

    // MARK: Status

    /// Writes an object's status as Velero does (Velero's CRDs have no status subresource): the
    /// whole object goes back with the new status, since kubectl validates what it applies as a
    /// complete object.
    ///
    /// Someone else may change the spec between the read and the apply (a user pausing a
    /// `Schedule`, say). The apply then conflicts on that field, and this reads the object again
    /// and retries, so the status lands and the other writer's spec is kept; it never forces.
    func setStatus(_ kind: ResourceKind, _ name: String, _ status: [String: JSONValue]) async throws {
        try await update(kind, name) { $0.json["status"] = .object(status) }
    }

    /// Reads an object, changes it with `change` and applies it whole, retrying on conflict as ``setStatus(_:_:_:)`` does.
    func update(_ kind: ResourceKind, _ name: String, _ change: @Sendable (inout KubernetesObject) -> Void) async throws {
        let reference = try ObjectReference(kind: kind, namespace: namespace, name: name)
        for attempt in 1...5 {
            guard var object = try await cluster.get(reference) else { return }
            for field in ["managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"] { object.json["metadata"]?[field] = nil }
            object.json["metadata"]?["annotations"]?["kubectl.kubernetes.io/last-applied-configuration"] = nil
            change(&object)
            do {
                _ = try await cluster.apply(object, fieldManager: fieldManager)
                return
            } catch let error as RecoveryError where error.code == .conflict && attempt < 5 {
                logger.debug("status write conflicted; reading the object again", metadata: ["object": "\(name)", "attempt": "\(attempt)"])
            }
        }
    }

    static func timestamp(_ date: Date = Date()) -> JSONValue {
        .string(String(RFC3339.format(date).prefix(19)) + "Z")
    }

    static func backupPrefix(_ name: String, in location: StandInStorageLocation) -> String { "\(location.prefix)backups/\(name)/" }
}
