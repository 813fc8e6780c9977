import CarbonRecovery
import Foundation
import Metrics

extension PointInTimeRecovery {
    /// How far a running server's WAL is ahead of the archive: the data a loss of the server
    /// now would lose, which continuous archiving is there to keep small.
    ///
    /// The bytes are exact: the server's current WAL position minus the end of the newest
    /// segment of its timeline that the archive holds (read from the archive, not from the
    /// server's statistics). The seconds are an estimate, since WAL records carry no write time:
    /// `0` while the archive holds everything written, else the time since PostgreSQL last
    /// archived a file (`pg_stat_archiver.last_archived_time`, or its `stats_reset` when
    /// nothing has been archived since) — the oldest unarchived WAL was written after the
    /// newest archived segment was closed, so it is at most this old plus that segment's own
    /// archiving time. With `archive_timeout` set, a healthy archive keeps it below
    /// `archive_timeout` plus one upload.
    public struct ArchiveStatus: Sendable, Equatable {
        /// The server's timeline.
        public var timeline: UInt32
        /// The server's current WAL write position (`pg_current_wal_lsn()`).
        public var currentLSN: LSN
        /// The segment being written.
        public var currentSegment: String
        /// The newest segment of the server's timeline in the archive, at or before the current one.
        public var newestArchived: String?
        /// The WAL written but not in the archive, in bytes; `nil` when the archive holds no
        /// segment of the server's timeline.
        public var unarchivedBytes: UInt64?
        /// The estimated age of the oldest unarchived WAL, in seconds (see the type's discussion).
        public var lagSeconds: TimeInterval
        /// When PostgreSQL last archived a file (`pg_stat_archiver.last_archived_time`).
        public var lastArchivedAt: Date?
        /// The file PostgreSQL last archived.
        public var lastArchivedWAL: String?
        /// Failed `archive_command` runs since the statistics were reset.
        public var failedCount: Int
        /// When `archive_command` last failed.
        public var lastFailedAt: Date?
        /// The file it last failed on.
        public var lastFailedWAL: String?
        /// `archive_mode` as the server runs it.
        public var archiveMode: String
        /// `archive_timeout` as the server runs it.
        public var archiveTimeout: String
        /// When this was measured.
        public var checkedAt: Date
        /// What is wrong with the archiving, each with its fix; empty when nothing is.
        public var problems: [String]
    }

    /// Measures the archive lag of the server at `connection` against this archive; changes
    /// nothing. Reads at most two folders of the archive (the current log's and the one before),
    /// or the whole archive when neither holds a segment of the server's timeline.
    ///
    /// - Throws: ``RecoveryError/Code/unsupported`` for a standby (measure its primary);
    ///   what `psql` or the storage throws.
    public func archiveStatus(of connection: PostgresTools.Connection) async throws -> ArchiveStatus {
        let rows = try await tools.query(
            """
            SELECT pg_is_in_recovery(),
                   CASE WHEN pg_is_in_recovery() THEN '' ELSE pg_current_wal_lsn()::text END,
                   CASE WHEN pg_is_in_recovery() THEN '' ELSE pg_walfile_name(pg_current_wal_lsn()) END,
                   (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'),
                   coalesce(last_archived_wal, ''), coalesce(extract(epoch FROM last_archived_time)::text, ''),
                   failed_count, coalesce(last_failed_wal, ''), coalesce(extract(epoch FROM last_failed_time)::text, ''),
                   coalesce(extract(epoch FROM stats_reset)::text, ''), current_setting('archive_mode'), current_setting('archive_timeout')
            FROM pg_stat_archiver
            """, on: connection)
        guard let row = rows.first, row.count == 12 else {
            throw RecoveryError(.invalidObject, "could not read pg_stat_archiver from \(connection.host):\(connection.port)")
        }
        return try await archiveStatus(row: row)
    }

    /// The status from `archiveStatus(of:)`'s one row (split out so a test can feed any row).
    func archiveStatus(row: [String]) async throws -> ArchiveStatus {
        let server = "the server"
        guard row[0] == "f" else {
            throw RecoveryError(.unsupported, "\(server) is a standby (in recovery): it does not archive its own WAL; measure the archive lag on its primary")
        }
        let current = try LSN(parsing: row[1])
        let reported = try WALFileName(row[2])
        guard reported.kind == .segment, let segmentSize = Int(row[3]), segmentSize > 0 else {
            throw RecoveryError(.invalidObject, "\(server) reported an unreadable WAL position (\(row[2]), wal_segment_size \(row[3]))")
        }
        // pg_walfile_name() names the segment before a position exactly on a boundary (the one
        // that ends there); the segment written next is the position's own.
        let segment = try WALFileName(current.segment(timeline: reported.timeline, segmentSize: segmentSize))
        func date(_ text: String) -> Date? { Double(text).map { Date(timeIntervalSince1970: $0) } }
        let checkedAt = clock.now()
        let lastArchivedAt = date(row[5]), statsReset = date(row[9])
        let newest = try await newestArchivedSegment(onTimelineOf: segment, segmentSize: segmentSize)
        let archivedThrough = newest.map { ($0.segmentNumber(segmentSize: segmentSize) + 1) * UInt64(segmentSize) }
        let unarchived = archivedThrough.map { current.value > $0 ? current.value - $0 : 0 }
        var lag: TimeInterval = 0
        if unarchived != 0, let since = lastArchivedAt ?? statsReset {
            lag = max(0, checkedAt.timeIntervalSince(since))
        }
        var problems: [String] = []
        let mode = row[10], timeout = row[11]
        if mode == "off" {
            problems.append("archive_mode is off: nothing is archived; set archive_mode = on and archive_command (docs/postgres.md), then restart the server")
        }
        let failed = Int(row[6]) ?? 0
        let lastFailedAt = date(row[8])
        if let lastFailedAt, lastFailedAt > (lastArchivedAt ?? .distantPast) {
            problems.append(
                "archive_command has failed since \(RFC3339.format(lastFailedAt)) (last on \(row[7])) and nothing was archived after: read the server's log for archive-wal's error")
        }
        if newest == nil && current.value >= UInt64(segmentSize) {
            problems.append("the archive holds no segment of timeline \(segment.timeline): is archive_command writing to this bucket, prefix and stanza '\(archive.stanza)'?")
        }
        // Whatever PostgreSQL last archived (a segment, a backup label, a history file) is in
        // the archive if archive_command writes here: it exits 0 only once the storage holds it.
        if let claimed = try? WALFileName(row[4]), try await archive.entries(named: claimed).isEmpty {
            problems.append("PostgreSQL archived \(claimed.name), but this archive does not hold it: archive_command writes somewhere else")
        }
        return ArchiveStatus(
            timeline: segment.timeline, currentLSN: current, currentSegment: segment.name, newestArchived: newest?.name, unarchivedBytes: unarchived,
            lagSeconds: lag, lastArchivedAt: lastArchivedAt, lastArchivedWAL: row[4].isEmpty ? nil : row[4], failedCount: failed, lastFailedAt: lastFailedAt,
            lastFailedWAL: row[7].isEmpty ? nil : row[7], archiveMode: mode, archiveTimeout: timeout, checkedAt: checkedAt, problems: problems)
    }

    /// The newest archived segment of `current`'s timeline at or before it: the current log's
    /// folder, then the one before, then the whole archive.
    func newestArchivedSegment(onTimelineOf current: WALFileName, segmentSize: Int) async throws -> WALFileName? {
        let limit = current.segmentNumber(segmentSize: segmentSize)
        func newest(_ entries: [WALArchive.Entry]) -> WALFileName? {
            entries.map(\.file).filter { $0.kind == .segment && $0.timeline == current.timeline && $0.segmentNumber(segmentSize: segmentSize) <= limit }.max()
        }
        var folders = [archive.folder(of: current)]
        if current.log > 0 {
            let previous = try WALFileName(WALFileName.segment(timeline: current.timeline, number: UInt64(current.log - 1) * WALFileName.segmentsPerLog(segmentSize: segmentSize), segmentSize: segmentSize))
            folders.append(archive.folder(of: previous))
        }
        for folder in folders {
            var entries: [WALArchive.Entry] = []
            for try await object in archive.storage.list(prefix: folder) {
                if let entry = WALArchive.entry(for: object) { entries.append(entry) }
            }
            if let found = newest(entries) { return found }
        }
        return newest(try await archive.entries())
    }
}

extension PointInTimeRecovery.ArchiveStatus {
    /// Sets the archive-lag gauges for `stanza` (docs/metrics.md).
    public func recordMetrics(stanza: String) {
        let dimensions = [("stanza", stanza)]
        Gauge(label: PostgresMetrics.archiveLagSeconds, dimensions: dimensions).record(lagSeconds)
        if let unarchivedBytes {
            Gauge(label: PostgresMetrics.archiveLagBytes, dimensions: dimensions).record(Double(unarchivedBytes))
        }
        Gauge(label: PostgresMetrics.archiveFailures, dimensions: dimensions).record(Double(failedCount))
    }
}
