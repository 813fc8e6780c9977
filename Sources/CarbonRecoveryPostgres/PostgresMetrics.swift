import Metrics

/// The metrics of PostgreSQL point-in-time recovery, by name; each has a `stanza` label.
/// `carbon-recovery run` sets them on each check of a policy's database (docs/metrics.md), and
/// the rules `render alerts` writes use them.
public enum PostgresMetrics {
    /// Gauge (seconds): the estimated age of the oldest WAL not in the archive; 0 while the
    /// archive holds everything written (``PointInTimeRecovery/ArchiveStatus``).
    public static let archiveLagSeconds = "carbon_recovery_pg_archive_lag_seconds"
    /// Gauge (bytes): WAL written but not in the archive.
    public static let archiveLagBytes = "carbon_recovery_pg_archive_lag_bytes"
    /// Gauge: failed `archive_command` runs since the server's statistics were reset.
    public static let archiveFailures = "carbon_recovery_pg_archive_failures"
    /// Gauge: gaps in the WAL archive after the oldest base backup (a restore cannot cross one).
    public static let walGaps = "carbon_recovery_pg_wal_gaps"
    /// Gauge (unix seconds): the stop time of the newest base backup.
    public static let lastBaseBackup = "carbon_recovery_pg_last_base_backup_timestamp_seconds"
}

extension PointInTimeRecovery.RestoreWindow {
    /// Sets the gaps and last-base-backup gauges for `stanza`.
    public func recordMetrics(stanza: String) {
        let dimensions = [("stanza", stanza)]
        Gauge(label: PostgresMetrics.walGaps, dimensions: dimensions).record(gaps.count)
        if let newest = backups.last {
            Gauge(label: PostgresMetrics.lastBaseBackup, dimensions: dimensions).record(newest.stopTime.timeIntervalSince1970)
        }
    }
}
