import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryPostgres
import Foundation

/// `carbon-recovery pg …` — PostgreSQL point-in-time recovery: the WAL archive.
struct PostgresCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pg",
        abstract: "PostgreSQL point-in-time recovery: WAL archiving, base backups, restores to a moment.",
        discussion: "See docs/postgres.md for the archive's layout, archive_command, and restores.",
        subcommands: [ArchiveWAL.self, BaseBackupCommand.self, List.self, Status.self, Cleanup.self, Restore.self, RestoreWAL.self, Drill.self])
}

/// Where a PostgreSQL cluster's archive is: the stanza, a prefix and how files are stored.
struct ArchiveOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The PostgreSQL cluster's name in the archive (one stanza per cluster).", valueName: "name"))
    var stanza: String = "main"

    @Option(name: .customLong("archive-prefix"), help: ArgumentHelp(
        "A folder before postgres/<stanza>/ in the bucket (empty, or ending in /).",
        discussion: "Velero refuses a location whose prefix holds folders of others: give the archive a bucket, or a prefix outside the location's.",
        valueName: "folder"))
    var archivePrefix: String = ""

    @Option(help: ArgumentHelp("How new files are stored: gzip or none.", valueName: "method"))
    var compress: String = "gzip"

    func archive(_ connection: ConnectionOptions) throws -> WALArchive {
        guard let compression = WALArchive.Compression(rawValue: compress) else {
            throw RecoveryError(.invalidInput, "--compress '\(compress)' is not one of gzip, none", target: compress)
        }
        return try WALArchive(storage: try connection.storageBackend(), stanza: stanza, prefix: archivePrefix, compression: compression)
    }
}

/// Runs `body` as one audited operation in the trail `global` names, closing the trail after.
func performAudited<Result: Sendable>(
    _ global: GlobalOptions, _ operation: String, target: String, parameters: JSONValue,
    _ body: @escaping () async throws -> (Result, JSONValue)
) async throws -> Result {
    let trail = try await openTrail(global, readOnly: false)
    do {
        let result = try await OperationAudit(audit: trail).perform(operation, target: target, parameters: parameters) { _, _ in try await body() }
        await trail.close()
        return result
    } catch {
        await trail.close()
        throw error
    }
}

/// How to reach a PostgreSQL server and run its programs.
struct PostgresOptions: ParsableArguments {
    @Option(name: .customLong("pg-host"), help: ArgumentHelp("The server's address.", valueName: "address"))
    var host: String = "127.0.0.1"

    @Option(name: .customLong("pg-port"), help: ArgumentHelp("The server's port.", discussion: "Default: $PGPORT, else 5432.", valueName: "port"))
    var port: Int?

    @Option(name: .customLong("pg-user"), help: ArgumentHelp("The role to connect as (superuser, or REPLICATION with pg_monitor).", valueName: "role"))
    var user: String = "postgres"

    @Option(name: .customLong("pg-bin"), help: ArgumentHelp("PostgreSQL's programs.", discussion: "Default: $CARBON_RECOVERY_PG_BIN, else /usr/lib/postgresql/15/bin.", valueName: "folder"))
    var bin: String?

    @Option(name: .customLong("run-as"), help: ArgumentHelp(
        "Run the server's own programs as this OS user (PostgreSQL refuses root).", discussion: "Required when running as root.", valueName: "user"))
    var runAs: String?

    /// The connection; the password comes from PGPASSFILE (libpq's password file), never an option.
    var connection: PostgresTools.Connection {
        let environment = ProcessInfo.processInfo.environment
        return PostgresTools.Connection(
            host: host, port: port ?? environment["PGPORT"].flatMap { Int($0) } ?? 5432, user: user,
            passwordFile: environment["PGPASSFILE"].flatMap { $0.isEmpty ? nil : $0 })
    }

    var tools: PostgresTools {
        PostgresTools(binDirectory: bin ?? ProcessInfo.processInfo.environment["CARBON_RECOVERY_PG_BIN"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/lib/postgresql/15/bin", runAs: runAs)
    }
}

extension PostgresCommand {
    /// `carbon-recovery pg archive-wal %p %f` — PostgreSQL's `archive_command`.
    struct ArchiveWAL: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "archive-wal",
            abstract: "Archive one WAL file (PostgreSQL's archive_command: archive-wal %p %f).",
            discussion: """
                Uploads the file with its SHA-256 in the object's name (gzip-compressed unless --compress none, with the \\
                storage's encryption settings) and reads the object back; exits 0 only then, so PostgreSQL recycles a segment \\
                only once the storage holds it. A file already archived with the same contents succeeds without writing; \\
                one archived with other contents is refused (exit 1, nothing written). Each call is recorded in the audit \\
                trail given by --audit-db (the database's own, beside it).
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var archiveOptions: ArchiveOptions

        @Argument(help: ArgumentHelp("The file's path (%p, relative to the data directory).", valueName: "path"))
        var path: String

        @Argument(help: ArgumentHelp("The file's name (%f).", valueName: "name"))
        var name: String

        func run() async throws {
            try await runReportingErrors {
                let file = try WALFileName(name)
                guard (path as NSString).lastPathComponent == name else {
                    throw RecoveryError(.invalidInput, "the path \(path) does not end in the file name \(name): archive_command should pass %p %f", target: path)
                }
                let archive = try archiveOptions.archive(connection)
                guard let contents = FileManager.default.contents(atPath: path) else {
                    throw RecoveryError(.notFound, "\(path) does not exist or cannot be read by this user", target: path)
                }
                let result = try await performAudited(
                    global, "pg.archive-wal", target: "postgres/\(archive.stanza)/\(file.name)",
                    parameters: ["file": .string(file.name), "kind": .string(file.kind.rawValue), "compression": .string(archive.compression.rawValue)]
                ) {
                    let result = try await archive.archive(Array(contents), name: file)
                    return (result, [
                        "key": .string(result.key), "sha256": .string(result.sha256), "bytes": .integer(Int64(result.bytes)),
                        "storedBytes": .integer(Int64(result.storedBytes)), "stored": .bool(result.stored),
                    ])
                }
                switch global.output {
                case .json:
                    print(JSONValue.object([
                        "file": .string(file.name), "key": .string(result.key), "sha256": .string(result.sha256),
                        "bytes": .integer(Int64(result.bytes)), "storedBytes": .integer(Int64(result.storedBytes)), "stored": .bool(result.stored),
                    ]).canonicalString)
                case .table:
                    print(result.stored
                        ? "archived \(file.name) (\(result.bytes) bytes, sha256 \(result.sha256)) as \(result.key)"
                        : "\(file.name) was already archived with the same contents (\(result.key)); nothing written")
                }
            }
        }
    }
}

extension PostgresCommand {
    /// `carbon-recovery pg base-backup`.
    struct BaseBackupCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "base-backup",
            abstract: "Take a base backup with pg_basebackup into the archive, with its manifest.",
            discussion: """
                Runs pg_basebackup (tar, fast checkpoint, SHA-256 checksums in PostgreSQL's backup_manifest, no WAL: the \
                archive has it), stores the tar with its SHA-256, waits until the backup's last WAL segment is archived, then \
                writes manifest.json — only then is the backup listed and used. Audited as pg.base-backup.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var archiveOptions: ArchiveOptions
        @OptionGroup var postgres: PostgresOptions

        func run() async throws {
            try await runReportingErrors {
                let recovery = PointInTimeRecovery(archive: try archiveOptions.archive(connection), tools: postgres.tools)
                let server = postgres.connection
                let backup = try await performAudited(
                    global, "pg.base-backup", target: "postgres/\(recovery.archive.stanza)",
                    parameters: ["server": .string("\(server.host):\(server.port)"), "user": .string(server.user)]
                ) {
                    let backup = try await recovery.baseBackup(of: server)
                    return (backup, backup.json)
                }
                switch global.output {
                case .json: print(backup.json.canonicalString)
                case .table:
                    print("base backup \(backup.id): \(backup.files) files, \(backup.bytes) bytes (stored \(backup.storedBytes)), timeline \(backup.timeline), "
                        + "lsn \(backup.startLSN)–\(backup.stopLSN), WAL \(backup.startSegment)–\(backup.stopSegment) archived")
                }
            }
        }
    }

    /// `carbon-recovery pg restore`.
    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore",
            abstract: "Restore into a new data folder and replay WAL to a moment, a position or the end of the archive.",
            discussion: """
                Picks the newest base backup complete before the target, refuses a gap in the archive on the way (naming the \
                segment), fetches the WAL ahead checking each file's SHA-256, checks the tar's SHA-256 and every file \
                against PostgreSQL's manifest (pg_verifybackup), then starts the server with restore_command \
                (`carbon-recovery pg restore-wal`), stops at the target, promotes, and stops the server cleanly unless \
                --keep-running. Audited as pg.restore with the recovery time.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var archiveOptions: ArchiveOptions
        @OptionGroup var postgres: PostgresOptions

        @Option(name: .customLong("to-time"), help: ArgumentHelp("Stop after the last commit at or before this moment (RFC 3339).", valueName: "time"))
        var toTime: String?

        @Option(name: .customLong("to-lsn"), help: ArgumentHelp("Stop at this WAL position (X/Y).", valueName: "lsn"))
        var toLSN: String?

        @Flag(help: "Replay to the end of the archive (refused when it has a gap).")
        var latest = false

        @Option(help: ArgumentHelp(
            "The timeline to follow (default: the highest in the archive, as PostgreSQL's 'latest').",
            discussion: "Name the original's when a restored server archived a timeline of its own into the stanza.", valueName: "n"))
        var timeline: UInt32?

        @Option(name: .customLong("data-dir"), help: ArgumentHelp("The new data folder (must not exist).", valueName: "path"))
        var dataDirectory: String

        @Option(help: ArgumentHelp("The port the restored server listens on, on 127.0.0.1.", valueName: "port"))
        var port: Int

        @Flag(name: .customLong("keep-running"), help: "Leave the restored server running.")
        var keepRunning = false

        @Flag(help: "Keep the backup's WAL archiving: the restored server archives its new timeline into the same stanza (default: off).")
        var archive = false

        func target() throws -> PointInTimeRecovery.Target {
            switch (toTime, toLSN, latest) {
            case (let time?, nil, false):
                guard let date = RFC3339.parse(time) else { throw RecoveryError(.invalidInput, "--to-time '\(time)' is not an RFC 3339 time (2026-12-04T14:03:27Z)", target: time) }
                return .time(date)
            case (nil, let lsn?, false): return .lsn(try LSN(parsing: lsn))
            case (nil, nil, true): return .latest
            default: throw RecoveryError(.invalidInput, "give exactly one of --to-time, --to-lsn, --latest")
            }
        }

        func run() async throws {
            try await runReportingErrors {
                let target = try target()
                guard (1...65535).contains(port) else { throw RecoveryError(.invalidInput, "--port \(port) is not a port") }
                let dataDirectory = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
                if getuid() == 0 && postgres.runAs == nil {
                    throw RecoveryError(.invalidInput, "PostgreSQL refuses to run as root: pass --run-as with the database's OS user (e.g. postgres)")
                }
                let recovery = PointInTimeRecovery(archive: try archiveOptions.archive(connection), tools: postgres.tools)
                let executable = currentExecutable()
                // restore_command runs as the server's user: when this executable is out of its
                // reach, a copy of it beside the data folder (the user's, removed afterwards) serves.
                let copy = dataDirectory + ".carbon-recovery"
                let (command, copied) = try await RestoreWALCommand.staged(executable, copyingTo: copy, tools: postgres.tools)
                defer { if copied { try? FileManager.default.removeItem(atPath: copy) } }
                let request = PointInTimeRecovery.RestoreRequest(
                    target: target, timeline: timeline, dataDirectory: dataDirectory, port: port, connection: postgres.connection,
                    restoreCommand: command.command(spool: dataDirectory + ".wal-spool"), keepRunning: keepRunning, archive: archive)
                let report = try await performAudited(
                    global, "pg.restore", target: "postgres/\(recovery.archive.stanza)",
                    parameters: ["target": .string(target.description), "dataDirectory": .string(dataDirectory), "port": .integer(Int64(port))]
                ) {
                    let report = try await recovery.restore(request)
                    return (report, [
                        "backup": .string(report.backup.id), "files": .integer(Int64(report.files)), "timeline": .integer(Int64(report.timeline)),
                        "milliseconds": .integer(report.duration.wholeMilliseconds), "replayMilliseconds": .integer(report.replay.wholeMilliseconds),
                    ])
                }
                switch global.output {
                case .json:
                    print(JSONValue.object([
                        "backup": .string(report.backup.id), "target": .string(target.description), "files": .integer(Int64(report.files)),
                        "timeline": .integer(Int64(report.timeline)), "milliseconds": .integer(report.duration.wholeMilliseconds),
                        "replayMilliseconds": .integer(report.replay.wholeMilliseconds), "dataDirectory": .string(dataDirectory),
                    ]).canonicalString)
                case .table:
                    print("restored base backup \(report.backup.id) into \(dataDirectory) and replayed \(report.files) WAL files to \(target): "
                        + "promoted on timeline \(report.timeline) in \(report.duration.wholeMilliseconds) ms (replay \(report.replay.wholeMilliseconds) ms)"
                        + (keepRunning ? "; running on 127.0.0.1:\(port)" : "; stopped cleanly"))
                }
            }
        }
    }

    /// `carbon-recovery pg restore-wal --spool DIR %f %p` — the restore_command `pg restore` sets.
    struct RestoreWAL: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore-wal",
            abstract: "Hand PostgreSQL one prefetched WAL file (the restore_command `pg restore` sets).",
            discussion: """
                Copies NAME-<sha256> from the spool folder to the path PostgreSQL asks for, after checking the file still \
                hashes to its name; waits for a file the restore planned and is still fetching. Exits 1 quietly when the \
                plan has no such file: PostgreSQL asks for files past the end of the archive, and that is how it learns \
                where the end is. Exits 126 when a planned file cannot be handed over (the restore stopped, the file \
                changed): PostgreSQL takes that as fatal and stops recovery rather than end it early.
                """)

        @Option(help: ArgumentHelp("The folder `pg restore` fetched the checked WAL into.", valueName: "folder"))
        var spool: String

        @Argument(help: ArgumentHelp("The file PostgreSQL wants (%f).", valueName: "name"))
        var name: String

        @Argument(help: ArgumentHelp("Where to put it (%p).", valueName: "path"))
        var path: String

        func run() async throws {
            try await runReportingErrors {
                switch WALSpool.deliver(name, to: path, spool: spool) {
                case .delivered: return
                case .notPlanned: throw ExitCode(1)
                case .abort(let reason):
                    // Fatal for PostgreSQL: recovery stops here instead of ending early.
                    Terminal.printError("error: \(name): \(reason)")
                    throw ExitCode(WALSpool.abortStatus)
                }
            }
        }
    }
}

extension PostgresCommand {
    /// `carbon-recovery pg list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Show the base backups, the restore window and every gap in the WAL archive.",
            discussion: """
                The window runs from the oldest base backup that can be made consistent to the moment the last segment of \
                an unbroken run from a base backup was archived: nothing after that can be restored, so now minus that \
                moment is the database's real recovery point. Each gap names its missing segments. Read-only.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var archiveOptions: ArchiveOptions

        func run() async throws {
            try await runReportingErrors {
                let recovery = PointInTimeRecovery(archive: try archiveOptions.archive(connection), tools: PostgresTools())
                let window = try await recovery.window()
                let now = Date()
                let age = window.latest.map { Int(now.timeIntervalSince($0).rounded()) }
                switch global.output {
                case .json:
                    print(JSONValue.object([
                        "stanza": .string(recovery.archive.stanza), "segments": .integer(Int64(window.segments)),
                        "earliest": window.earliest.map { .string(RFC3339.format($0)) } ?? .null,
                        "latest": window.latest.map { .string(RFC3339.format($0)) } ?? .null,
                        "latestSegment": window.latestSegment.map { .string($0) } ?? .null,
                        "recoveryPointAgeSeconds": age.map { .integer(Int64($0)) } ?? .null,
                        "backups": .array(window.backups.map(\.json)),
                        "gaps": .array(window.gaps.map { ["first": .string($0.first), "last": .string($0.last), "segments": .integer(Int64($0.segments))] }),
                    ]).canonicalString)
                case .table:
                    if window.backups.isEmpty {
                        print("stanza \(recovery.archive.stanza): no base backup (\(window.segments) WAL segments archived): nothing can be restored; take one with `pg base-backup`")
                        return
                    }
                    let range = window.earliest.map { start in "restore window \(RFC3339.format(start)) → \(window.latest.map(RFC3339.format) ?? "?")" } ?? "no base backup can be made consistent"
                    print("stanza \(recovery.archive.stanza): \(window.backups.count) base backups, \(window.segments) WAL segments; \(range)"
                        + (age.map { " (recovery point \($0) s ago)" } ?? ""))
                    Terminal.printTable(
                        ["BACKUP", "STOP TIME", "TIMELINE", "LSN", "WAL", "SIZE"],
                        window.backups.map {
                            [$0.id, RFC3339.format($0.stopTime), String($0.timeline), "\($0.startLSN)–\($0.stopLSN)", "\($0.startSegment)–\($0.stopSegment)", "\($0.bytes)"]
                        })
                    for gap in window.gaps {
                        print("gap: \(gap.first)\(gap.segments > 1 ? "–\(gap.last)" : "") (\(gap.segments) segment\(gap.segments == 1 ? "" : "s") missing)")
                    }
                }
            }
        }
    }

    /// `carbon-recovery pg status` — the live server's archive lag.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Measure how far the running server's WAL is ahead of the archive (the archive lag); change nothing.",
            discussion: """
                Bytes: the server's current WAL position minus the end of the newest segment of its timeline in the archive \
                (read from the archive). Seconds: 0 while the archive holds everything written, else the time since \
                PostgreSQL last archived a file — the oldest unarchived WAL is at most that old plus one upload (see \
                docs/postgres.md). Exits 1 when archiving has a problem (each printed with its fix) or the lag exceeds \
                --max-lag.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var archiveOptions: ArchiveOptions
        @OptionGroup var postgres: PostgresOptions

        @Option(name: .customLong("max-lag"), help: ArgumentHelp("Exit 1 when the lag is longer (the database's RPO, e.g. 5m).", valueName: "duration"))
        var maxLag: String?

        func run() async throws {
            try await runReportingErrors {
                let limit = try maxLag.map { text in
                    let duration = try GoDuration(parsing: text)
                    guard duration.nanoseconds > 0 else { throw RecoveryError(.invalidInput, "--max-lag \(text) must be positive, e.g. 5m", target: text) }
                    return duration
                }
                let recovery = PointInTimeRecovery(archive: try archiveOptions.archive(connection), tools: postgres.tools)
                let status = try await recovery.archiveStatus(of: postgres.connection)
                var problems = status.problems
                if let limit, status.lagSeconds > limit.timeInterval {
                    problems.append("the archive lag \(Int(status.lagSeconds.rounded())) s is over --max-lag \(limit)")
                }
                switch global.output {
                case .json:
                    print(JSONValue.object([
                        "stanza": .string(recovery.archive.stanza), "timeline": .integer(Int64(status.timeline)),
                        "currentLSN": .string(status.currentLSN.description), "currentSegment": .string(status.currentSegment),
                        "newestArchived": status.newestArchived.map { .string($0) } ?? .null,
                        "unarchivedBytes": status.unarchivedBytes.map { .integer(Int64($0)) } ?? .null,
                        "lagSeconds": .integer(Int64(status.lagSeconds.rounded())),
                        "lastArchivedAt": status.lastArchivedAt.map { .string(RFC3339.format($0)) } ?? .null,
                        "lastArchivedWAL": status.lastArchivedWAL.map { .string($0) } ?? .null,
                        "failedCount": .integer(Int64(status.failedCount)),
                        "lastFailedAt": status.lastFailedAt.map { .string(RFC3339.format($0)) } ?? .null,
                        "archiveMode": .string(status.archiveMode), "archiveTimeout": .string(status.archiveTimeout),
                        "checkedAt": .string(RFC3339.format(status.checkedAt)),
                        "problems": .array(problems.map { .string($0) }),
                    ]).canonicalString)
                case .table:
                    print("stanza \(recovery.archive.stanza): timeline \(status.timeline), writing \(status.currentSegment) at \(status.currentLSN)")
                    print("archived through: \(status.newestArchived ?? "nothing of this timeline")")
                    print("archive lag: \(status.unarchivedBytes.map { "\($0) bytes" } ?? "unknown bytes"), \(Int(status.lagSeconds.rounded())) s")
                    print("last archived: \(status.lastArchivedWAL ?? "-") at \(status.lastArchivedAt.map(RFC3339.format) ?? "-"); failures: \(status.failedCount)"
                        + (status.lastFailedAt.map { " (last \(RFC3339.format($0)) on \(status.lastFailedWAL ?? "?"))" } ?? ""))
                    print("archive_mode \(status.archiveMode), archive_timeout \(status.archiveTimeout)")
                    for problem in problems { print("PROBLEM: \(problem)") }
                }
                if !problems.isEmpty { throw ExitCode.failure }
            }
        }
    }
}
