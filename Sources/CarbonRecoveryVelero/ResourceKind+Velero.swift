import CarbonRecovery

/// Velero's `velero.io/v1` kinds.
extension ResourceKind {
    /// `velero.io/v1` `Backup`.
    public static let veleroBackup = ResourceKind(apiVersion: "velero.io/v1", kind: "Backup", resource: "backups.velero.io")
    /// `velero.io/v1` `Restore`.
    public static let veleroRestore = ResourceKind(apiVersion: "velero.io/v1", kind: "Restore", resource: "restores.velero.io")
    /// `velero.io/v1` `Schedule`.
    public static let veleroSchedule = ResourceKind(apiVersion: "velero.io/v1", kind: "Schedule", resource: "schedules.velero.io")
    /// `velero.io/v1` `DeleteBackupRequest`: how a backup and its data are deleted.
    public static let veleroDeleteBackupRequest = ResourceKind(
        apiVersion: "velero.io/v1", kind: "DeleteBackupRequest", resource: "deletebackuprequests.velero.io")
    /// `velero.io/v1` `BackupStorageLocation`.
    public static let veleroBackupStorageLocation = ResourceKind(
        apiVersion: "velero.io/v1", kind: "BackupStorageLocation", resource: "backupstoragelocations.velero.io")
}
