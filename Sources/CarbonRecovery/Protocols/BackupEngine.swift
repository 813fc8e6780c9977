/// Runs backups and restores: Velero by default (`CarbonRecoveryVelero`).
///
/// The ``RecoveryCoordinator`` calls an engine; applications call the coordinator, so that every
/// operation is audited.
///
/// ## Implementation requirements
/// - ``startBackup(_:)`` and ``startRestore(_:)`` create the operation and return at once with its
///   first status; a request whose name exists already throws ``RecoveryError/Code/conflict``.
/// - ``waitForBackup(named:progress:)`` and ``waitForRestore(named:progress:)`` return when the
///   operation reaches a terminal phase, whatever that phase is (a `Failed` backup is a result,
///   not an error); they call `progress` as items are processed, observe changes by watching
///   rather than polling where the platform allows it, and stop waiting (throwing
///   `CancellationError`) when the task is cancelled — without stopping the operation itself.
/// - ``deleteBackup(named:)`` deletes the backup *and its data* (for Velero: a
///   `DeleteBackupRequest`, never only the `Backup` object) and returns once the deletion is confirmed.
/// - Lookups return `nil` for a missing operation.
/// - ``inspectBackup(named:in:)`` and ``backupItems(named:in:)`` are optional: an engine that
///   knows its storage format checks that every artifact a backup needs is there, opens them,
///   checks them against the backup and hashes them, and lists what the backup holds. One that
///   does not throws ``RecoveryError/Code/unsupported`` (the defaults do), and validation then
///   reports the backup as *not inspected* — never as valid.
/// - ``restores(_:)`` is optional: an engine that skips some kinds on restore says which.
/// - ``troubleshootingHint(for:)`` is optional: where an operator reads more about a backup or
///   restore, in the engine's own terms; the coordinator adds it to its error messages.
public protocol BackupEngine: Sendable {
    /// Starts a backup.
    func startBackup(_ request: BackupRequest) async throws -> BackupStatus
    /// The backup's current status, or `nil` when there is no such backup.
    func backupStatus(named name: String) async throws -> BackupStatus?
    /// Waits for a terminal phase, reporting progress.
    func waitForBackup(named name: String, progress: @escaping @Sendable (BackupStatus) -> Void) async throws -> BackupStatus
    /// Every backup the engine knows, newest first.
    func listBackups() async throws -> [BackupStatus]
    /// Deletes a backup and its stored data, and waits until both are gone.
    func deleteBackup(named name: String) async throws
    /// The storage key prefix under which the backup's artifacts live (e.g. `backups/<name>/`).
    func storagePrefix(ofBackup name: String) async throws -> String
    /// Starts a restore.
    func startRestore(_ request: RestoreRequest) async throws -> RestoreStatus
    /// The restore's current status, or `nil` when there is no such restore.
    func restoreStatus(named name: String) async throws -> RestoreStatus?
    /// Waits for a terminal phase, reporting progress.
    func waitForRestore(named name: String, progress: @escaping @Sendable (RestoreStatus) -> Void) async throws -> RestoreStatus
    /// Checks that the backup's required artifacts are stored, opens them and checks them
    /// against the backup object; returns the checks and a SHA-256 digest of every artifact it read.
    ///
    /// - Throws: ``RecoveryError/Code/unsupported`` when the engine cannot open its artifacts.
    func inspectBackup(named name: String, in storage: any StorageBackend) async throws -> BackupInspection
    /// The objects the backup holds, from its stored resource list.
    func backupItems(named name: String, in storage: any StorageBackend) async throws -> [BackupItem]
    /// Every object a backup holds, whole, as stored — what a preflight on a new cluster
    /// checks (API versions, storage classes, namespaces) and what a recovery's verification
    /// compares the cluster against. The default throws ``RecoveryError/Code/unsupported``.
    func backupObjects(named name: String, in storage: any StorageBackend) async throws -> [BackedUpObject]
    /// ``backupObjects(named:in:)`` without the members at `omitting` (paths of member names,
    /// e.g. `["metadata", "managedFields"]`): for a reader that needs only part of each object,
    /// as the preflight (``RecoveryPreflight/unreadFields``). An engine may skip them while
    /// parsing; the default reads whole objects and removes them.
    func backupObjects(named name: String, in storage: any StorageBackend, omitting: [[String]]) async throws -> [BackedUpObject]
    /// Where an operator reads more about the subject (for Velero:
    /// `kubectl -n velero describe backup daily-1`), or `nil` (the default) for no hint.
    func troubleshootingHint(for subject: BackupEngineSubject) -> String?
    /// Whether a restore of a backup holding `item` puts it back (Velero never restores events,
    /// nodes or its own objects); the restore test expects exactly these back. The default: every item.
    func restores(_ item: BackupItem) -> Bool
    /// Whether a restore puts this whole object back: ``restores(_:)`` for its kind, and the
    /// engine's rules for single objects (Velero skips completed pods and jobs and mirror pods).
    /// A recovery's verification expects exactly these back. The default: ``restores(_:)`` of its item.
    func restores(_ object: BackedUpObject) -> Bool
    /// An object as a comparison between a backup and a cluster sees it: without what the
    /// engine's restore resets or the API server assigns (uid, resource version, timestamps,
    /// status, …). Two objects equal in this form hold the same content as far as a restore can
    /// bring it back. The default removes the server-assigned metadata, `managedFields` and `status`.
    func comparableForm(of object: KubernetesObject, resource: String) -> KubernetesObject
    /// Whether the storage location of this name is read-only for this engine (Velero's
    /// `accessMode: ReadOnly`), so nothing can delete or overwrite the backups a cluster is
    /// rebuilt from; `nil` (the default) when the engine cannot tell.
    func storageLocationIsReadOnly(named name: String) async throws -> Bool?
    /// Makes the engine's restores rename storage classes (`old: new`) in the persistent volume
    /// claims, persistent volumes and stateful set claim templates they restore (Velero: its
    /// `change-storage-class` restore item action's ConfigMap), replacing earlier mappings. An
    /// empty map removes them. The default throws ``RecoveryError/Code/unsupported`` for a
    /// non-empty map.
    func setStorageClassMappings(_ mappings: [String: String]) async throws
}

/// What an engine's ``BackupEngine/troubleshootingHint(for:)`` is about.
public enum BackupEngineSubject: Sendable, Hashable {
    /// One backup: its item errors and warnings.
    case backup(named: String)
    /// One restore: its item errors and warnings.
    case restore(named: String)
    /// The list of every backup the engine knows.
    case allBackups
}

extension BackupEngine {
    /// Throws ``RecoveryError/Code/unsupported``: this engine cannot open its backups' stored
    /// artifacts, so validation reports the backup as not inspected.
    public func inspectBackup(named name: String, in storage: any StorageBackend) async throws -> BackupInspection {
        throw RecoveryError(
            .unsupported, "this backup engine cannot open a backup's stored artifacts, so none of them was checked", target: "backup/\(name)")
    }

    /// Throws ``RecoveryError/Code/unsupported``: this engine cannot list a backup's contents.
    public func backupItems(named name: String, in storage: any StorageBackend) async throws -> [BackupItem] {
        throw RecoveryError(.unsupported, "this backup engine cannot list what a backup holds", target: "backup/\(name)")
    }
    /// Throws ``RecoveryError/Code/unsupported``: this engine cannot read a backup's objects.
    public func backupObjects(named name: String, in storage: any StorageBackend) async throws -> [BackedUpObject] {
        throw RecoveryError(.unsupported, "this backup engine cannot read the objects a backup holds", target: "backup/\(name)")
    }

    /// ``backupObjects(named:in:)``, then each member at `omitting` removed.
    public func backupObjects(named name: String, in storage: any StorageBackend, omitting: [[String]]) async throws -> [BackedUpObject] {
        try await backupObjects(named: name, in: storage).map { entry in
            var entry = entry
            for path in omitting { entry.object.json.remove(path: path) }
            return entry
        }
    }

    /// No hint.
    public func troubleshootingHint(for subject: BackupEngineSubject) -> String? { nil }

    /// Every item.
    public func restores(_ item: BackupItem) -> Bool { true }

    /// ``restores(_:)`` of the object's item.
    public func restores(_ object: BackedUpObject) -> Bool { restores(object.item) }

    /// The object without `uid`, `resourceVersion`, `generation`, `creationTimestamp`,
    /// `deletionTimestamp`, `selfLink`, `managedFields` and `status`.
    public func comparableForm(of object: KubernetesObject, resource: String) -> KubernetesObject {
        var object = object
        for field in ["uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "selfLink", "managedFields"] {
            object.json["metadata"]?[field] = nil
        }
        object.json["status"] = nil
        return object
    }

    /// `nil`: not known.
    public func storageLocationIsReadOnly(named name: String) async throws -> Bool? { nil }

    /// Throws ``RecoveryError/Code/unsupported`` unless `mappings` is empty.
    public func setStorageClassMappings(_ mappings: [String: String]) async throws {
        guard mappings.isEmpty else {
            throw RecoveryError(.unsupported, "this backup engine cannot rename storage classes on restore")
        }
    }
}
