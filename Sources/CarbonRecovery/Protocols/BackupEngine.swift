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
    /// Where an operator reads more about the subject (for Velero:
    /// `kubectl -n velero describe backup daily-1`), or `nil` (the default) for no hint.
    func troubleshootingHint(for subject: BackupEngineSubject) -> String?
    /// Whether a restore of a backup holding `item` puts it back (Velero never restores events,
    /// nodes or its own objects); the restore test expects exactly these back. The default: every item.
    func restores(_ item: BackupItem) -> Bool
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
    public func backupObjects(named name: String, in storage: any StorageBackend) async throws -> [BackedUpObject] {
        throw RecoveryError(.unsupported, "this backup engine cannot read the objects a backup holds", target: "backup/\(name)")
    }

    /// No hint.
    public func troubleshootingHint(for subject: BackupEngineSubject) -> String? { nil }

    /// Every item.
    public func restores(_ item: BackupItem) -> Bool { true }
}
