import CarbonRecovery
import Foundation

/// Point-in-time recovery of one PostgreSQL cluster from its archive: base backups taken with
/// `pg_basebackup` and restores to a moment, a position or the end of the archive.
///
/// Base backups live beside the WAL archive, under `<prefix>postgres/<stanza>/base/<id>/`:
/// `base.tar[.gz]` (PostgreSQL's `backup_manifest` inside) and `manifest.json`
/// (``BaseBackup``), written last.
///
/// ```swift
/// let recovery = PointInTimeRecovery(archive: archive, tools: PostgresTools())
/// let backup = try await recovery.baseBackup(of: PostgresTools.Connection(port: 5432, passwordFile: "/root/.pgpass"))
/// ```
public struct PointInTimeRecovery: Sendable {
    /// The cluster's WAL archive (its storage, stanza, prefix and compression serve the base backups too).
    public let archive: WALArchive
    /// PostgreSQL's programs.
    public let tools: PostgresTools
    /// The time: backup names, stop times, durations.
    public let clock: any WallClock
    /// How long a base backup waits for its last WAL segment to reach the archive.
    public var archiveWait: Duration
    /// The `carbon-recovery` executable whose `pg restore-wal` serves the restores this service
    /// starts by itself (``drill(_:)``); `nil` refuses them.
    public var restoreWALExecutable: String?

    /// Creates the service; nothing is read or written.
    public init(
        archive: WALArchive, tools: PostgresTools, clock: any WallClock = SystemWallClock(), archiveWait: Duration = .seconds(120),
        restoreWALExecutable: String? = nil
    ) {
        self.archive = archive
        self.tools = tools
        self.clock = clock
        self.archiveWait = archiveWait
        self.restoreWALExecutable = restoreWALExecutable
    }

    /// The folder base backups are under.
    public var baseRoot: String { "\(archive.prefix)postgres/\(archive.stanza)/base/" }

    /// Every base backup whose manifest is in the archive, oldest first.
    ///
    /// - Throws: ``RecoveryError/Code/invalidObject`` for a manifest that cannot be read (naming it).
    public func baseBackups() async throws -> [BaseBackup] {
        var backups: [BaseBackup] = []
        for try await object in archive.storage.list(prefix: baseRoot) where object.key.hasSuffix("/manifest.json") {
            guard let bytes = try await archive.storage.get(object.key) else { continue }
            do {
                backups.append(try BaseBackup(json: try JSONValue(parsing: bytes)))
            } catch let error as RecoveryError {
                throw RecoveryError(.invalidObject, "\(object.key): \(error.message)", target: object.key)
            }
        }
        return backups.sorted { $0.stopTime < $1.stopTime }
    }

    /// Takes a base backup with `pg_basebackup` (tar format, a fast checkpoint, SHA-256 file
    /// checksums in PostgreSQL's manifest, no WAL: the archive holds it), streams it to storage
    /// (hashed, checked and compressed on the way, with bounded memory when the storage streams:
    /// ``StorageBackend/upload(_:from:)``), waits until the archive holds every segment the
    /// backup needs, then writes its manifest.
    ///
    /// - Throws: ``RecoveryError/Code/timeout`` when the backup's last segment is not archived
    ///   within ``archiveWait`` (no manifest is written: the backup is not usable);
    ///   what `pg_basebackup` or the storage throws.
    public func baseBackup(of connection: PostgresTools.Connection) async throws -> BaseBackup {
        let settings = try await tools.query(
            "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size' UNION ALL SELECT current_setting('server_version_num')", on: connection)
        guard settings.count == 2, let segmentSize = Int(settings[0].first ?? ""), let serverVersion = Int(settings[1].first ?? "") else {
            throw RecoveryError(.invalidObject, "could not read wal_segment_size and server_version_num from \(connection.host):\(connection.port)")
        }
        let id = Self.identifier(clock.now())
        let key = baseRoot + id + "/base.tar" + (archive.compression == .gzip ? ".gz" : "")
        let streamed = try await tools.stream(
            "pg_basebackup", ["-D", "-", "-F", "t", "-X", "none", "--checkpoint=fast", "--manifest-checksums=SHA256", "-w"], connection: connection
        ) { output in
            let stream = try BaseBackupStream(output, compression: archive.compression)
            try await archive.storage.upload(key, from: stream)
            return stream.summary
        }
        guard streamed.status == 0 else {
            // The tar may be complete in storage while the program failed after it: it is not a backup.
            try? await archive.storage.delete(key)
            throw PostgresTools.error(streamed.error, program: "pg_basebackup", connection: connection)
        }
        let digest = streamed.result
        let stopTime = clock.now()
        // The tar is stored; what PostgreSQL wrote inside it says what it is. If that does not
        // read, the object is not a backup and goes.
        func describe() throws -> BaseBackup {
            func contents(_ name: String) throws -> [UInt8] {
                guard let bytes = digest.captured[name] else {
                    throw RecoveryError(.invalidObject, "pg_basebackup's tar has no \(name)")
                }
                return bytes
            }
            let label = String(decoding: try contents("backup_label"), as: UTF8.self)
            let manifest = try JSONValue(parsing: try contents("backup_manifest"))
            guard let range = manifest["WAL-Ranges"]?.arrayValue?.last, case .integer(let timeline)? = range["Timeline"],
                  let start = range["Start-LSN"]?.stringValue, let end = range["End-LSN"]?.stringValue,
                  let files = manifest["Files"]?.arrayValue
            else { throw RecoveryError(.invalidObject, "PostgreSQL's backup_manifest has no WAL range or file list") }
            let startLSN = try LSN(parsing: start), stopLSN = try LSN(parsing: end)
            let startTime = Self.labelTime(label) ?? stopTime
            return BaseBackup(
                id: id, key: key, sha256: digest.sha256, bytes: digest.bytes, storedBytes: digest.storedBytes, compression: archive.compression,
                timeline: UInt32(timeline), startLSN: startLSN, stopLSN: stopLSN, startSegment: startLSN.segment(timeline: UInt32(timeline), segmentSize: segmentSize),
                stopSegment: stopLSN.segment(timeline: UInt32(timeline), segmentSize: segmentSize), walSegmentSize: segmentSize, startTime: startTime,
                stopTime: stopTime, files: files.count, serverVersion: serverVersion)
        }
        let backup: BaseBackup
        do {
            backup = try describe()
        } catch {
            try? await archive.storage.delete(key)
            throw error
        }
        try await waitForArchived(backup.stopSegment, connection: connection)
        try await archive.storage.put(baseRoot + backup.id + "/manifest.json", data: Array(backup.json.canonicalString.utf8))
        return backup
    }

    /// Waits until `segment` is in the archive, asking the server to switch segments if it
    /// still writes into it.
    func waitForArchived(_ segment: String, connection: PostgresTools.Connection) async throws {
        let name = try WALFileName(segment)
        let deadline = ContinuousClock.now + archiveWait
        var switched = false
        while try await archive.entries(named: name).isEmpty {
            if !switched {
                let current = try await tools.query("SELECT pg_walfile_name(pg_current_wal_lsn())", on: connection).first?.first ?? ""
                if current == segment { _ = try await tools.query("SELECT pg_switch_wal()", on: connection) }
                switched = true
            }
            guard ContinuousClock.now < deadline else {
                throw RecoveryError(
                    .timeout,
                    "the base backup's last WAL segment \(segment) did not reach the archive within \(archiveWait); check archive_command "
                        + "(pg_stat_archiver's last_failed_wal); the backup is stored but has no manifest, so it is not used",
                    target: segment)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// `START TIME: 2026-12-04 17:39:00 UTC` from a backup_label.
    static func labelTime(_ label: String) -> Date? {
        guard let line = label.split(separator: "\n").first(where: { $0.hasPrefix("START TIME: ") }) else { return nil }
        let text = line.dropFirst("START TIME: ".count).trimmingCharacters(in: .whitespaces)
        let parts = text.split(separator: " ")
        guard parts.count == 3 else { return nil }
        let zone = parts[2] == "UTC" || parts[2] == "GMT" ? "Z" : String(parts[2])
        return RFC3339.parse("\(parts[0])T\(parts[1])\(zone.hasPrefix("+") || zone.hasPrefix("-") ? zone + (zone.count == 3 ? ":00" : "") : zone)")
    }

    /// `yyyyMMdd'T'HHmmssSSS'Z'` in UTC.
    static func identifier(_ date: Date) -> String {
        let digits = RFC3339.format(date).filter(\.isNumber)   // yyyyMMddHHmmssSSS
        return digits.prefix(8) + "T" + digits.dropFirst(8) + "Z"
    }
}
