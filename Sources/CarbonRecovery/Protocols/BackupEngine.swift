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
}
