// PostgreSQL point-in-time recovery against the tools PostgreSQL teams trust, on the same S3
// server (the sandbox's TLS endpoint), the same machine, the same WAL:
//
//   carbon-bench postgres [--scale 18] [--segments 64]
//
// 1. A scratch PostgreSQL 15 (initdb, as the postgres user, 127.0.0.1) loaded with pgbench at
//    --scale (18: about 280 MiB), its WAL copied out by archive_command until at least
//    --segments segments exist.
// 2. WAL archiving, one process per segment in order, as archive_command runs it: `carbon-recovery
//    pg archive-wal` vs pgBackRest 2.45 `archive-push` vs `barman-cloud-wal-archive` 3.4, all
//    gzip, each into a bucket of its own. Segments/s; target >= 1x the faster peer.
// 3. Restore: both keep archiving from then on (archive_command runs both), both take a base
//    backup, pgbench writes at least --segments more segments, a moment T is noted, a little
//    more is written. `carbon-recovery pg restore --to-time T` vs pgBackRest `restore
//    --type=time` + starting the server + replay to T + promotion (what ours does in one
//    command). Both restored databases must hold the same rows. Target <= 1.2x.
//
// pgBackRest 2.45 checks a server certificate's DNS names only, and the sandbox's is for the IP
// 127.0.0.1: it runs with repo1-storage-verify-tls=n (TLS still encrypts; the others verify
// against the sandbox's CA). Every server and file is removed at the end.
import CarbonRecovery
import Foundation
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

func runPostgres(_ options: Options) async throws {
    let sandbox = try environmentValue("CARBON_RECOVERY_SANDBOX_DIR")
    let endpoint = try environmentValue("CARBON_RECOVERY_SANDBOX_TLS_ENDPOINT")
    let ca = try environmentValue("CARBON_RECOVERY_SANDBOX_STORAGE_CA")
    let credentials = try environmentValue("AWS_SHARED_CREDENTIALS_FILE")
    let bin = ProcessInfo.processInfo.environment["CARBON_RECOVERY_PG_BIN"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/lib/postgresql/15/bin"
    let pgbackrest = try which("pgbackrest"), barman = try which("barman-cloud-wal-archive")
    let bench = CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
    let cli = URL(fileURLWithPath: bench).deletingLastPathComponent().appendingPathComponent("carbon-recovery").path
    guard let port = URL(string: endpoint)?.port else { throw BenchError("CARBON_RECOVERY_SANDBOX_TLS_ENDPOINT \(endpoint) has no port") }
    let scale = options.scale, segments = options.segments

    let work = "/tmp/carbon-bench-pg-\(getpid())"
    let buckets = ["bench-pg-ours", "bench-pg-pgbackrest", "bench-pg-barman"]
    var servers: [String] = []
    func cleanUp() async {
        for data in servers { _ = try? await asPostgres(bin + "/pg_ctl", ["stop", "-D", data, "-m", "immediate", "-w"]) }
        try? FileManager.default.removeItem(atPath: work)
        for bucket in buckets { try? FileManager.default.removeItem(atPath: "\(sandbox)/s3-tls/\(bucket)") }
    }
    do {
    try await shell("mkdir -p \(work)/walsrc && chown -R postgres: \(work) && chmod 0755 \(work)")
    for bucket in buckets { try FileManager.default.createDirectory(atPath: "\(sandbox)/s3-tls/\(bucket)", withIntermediateDirectories: true) }
    try refreshListings(pidFile: "\(sandbox)/rclone-tls.pid")
    // Credentials the postgres user can read (the sandbox's are root's, 0600).
    try FileManager.default.copyItem(atPath: credentials, toPath: "\(work)/s3-credentials")
    try await shell("chown postgres: \(work)/s3-credentials && chmod 0600 \(work)/s3-credentials")
    let keys = try String(contentsOfFile: credentials, encoding: .utf8).split(separator: "\n").reduce(into: [String: String]()) { keys, line in
        let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        if parts.count == 2, keys[parts[0]] == nil { keys[parts[0]] = parts[1] }
    }
    guard let keyID = keys["aws_access_key_id"], let secret = keys["aws_secret_access_key"] else { throw BenchError("no keys in \(credentials)") }

    // 1. The database and its WAL.
    let primaryPort = try LoopbackPort.unused()
    let data = work + "/primary"
    _ = try await asPostgres(bin + "/initdb", ["-D", data, "-U", "postgres", "--auth=trust", "--no-sync"])
    try appendText(
        data + "/postgresql.conf",
        """
        listen_addresses = '127.0.0.1'
        port = \(primaryPort)
        unix_socket_directories = '\(work)'
        archive_mode = on
        archive_command = 'cp %p \(work)/walsrc/%f'
        max_wal_size = 8GB
        checkpoint_timeout = 30min
        track_commit_timestamp = on

        """)
    // The programs archive_command runs read their settings from the server's environment.
    let ours: [String: String] = [
        "CARBON_RECOVERY_S3_ENDPOINT": endpoint, "CARBON_RECOVERY_S3_CA_FILE": ca, "CARBON_RECOVERY_S3_BUCKET": buckets[0],
        "AWS_SHARED_CREDENTIALS_FILE": "\(work)/s3-credentials", "CARBON_RECOVERY_AUDIT_DB": "\(work)/archive-audit.db", "XDG_STATE_HOME": "\(work)/state",
    ]
    _ = try await asPostgres(bin + "/pg_ctl", ["start", "-D", data, "-l", "\(work)/primary.log", "-w"], environment: ours)
    servers.append(data)
    let psqlEnvironment = ["PGHOST": "127.0.0.1", "PGPORT": String(primaryPort), "PGUSER": "postgres", "PGDATABASE": "postgres"]
    func sql(_ text: String, port: Int = primaryPort) async throws -> String {
        var environment = psqlEnvironment
        environment["PGPORT"] = String(port)
        return try await fileProcess(bin + "/psql", ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", text], environment: environment).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
    func waitArchived(_ segment: String) async throws {
        for _ in 0..<3000 {
            if try await sql("SELECT coalesce(last_archived_wal, '') >= '\(segment)' FROM pg_stat_archiver") == "t" { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("\(segment) was not archived within 5 minutes: \(try await sql("SELECT * FROM pg_stat_archiver"))")
    }
    func switchAndWait() async throws { try await waitArchived(try await sql("SELECT pg_walfile_name(pg_switch_wal())")) }
    func writeUntil(segments wanted: Int) async throws {
        let start = Int(try await sql("SELECT archived_count FROM pg_stat_archiver")) ?? 0
        var round = 0
        while (Int(try await sql("SELECT archived_count FROM pg_stat_archiver")) ?? 0) - start < wanted {
            // Real WAL, not empty switched segments: a quarter of the accounts updated (heap
            // updates and full-page images, ~100 MiB), then a second of pgbench's transactions.
            _ = try await sql("UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 4 = \(round % 4)")
            _ = try await fileProcess(bin + "/pgbench", ["-n", "-c", "2", "-T", "1"], environment: psqlEnvironment)
            try await switchAndWait()
            round += 1
        }
    }
    say("loading pgbench at scale \(scale), and writing until \(segments) segments are archived…")
    _ = try await fileProcess(bin + "/pgbench", ["-i", "-q", "-s", String(scale)], environment: psqlEnvironment)
    try await switchAndWait()
    if (try FileManager.default.contentsOfDirectory(atPath: work + "/walsrc")).count < segments {
        try await writeUntil(segments: segments - (try FileManager.default.contentsOfDirectory(atPath: work + "/walsrc")).count)
    }
    let walFiles = try FileManager.default.contentsOfDirectory(atPath: work + "/walsrc").filter { $0.count == 24 }.sorted()
    let databaseBytes = Int64(try await sql("SELECT pg_database_size('postgres')")) ?? 0

    // 2. Archiving the same segments with each tool, one process per segment.
    let configuration = "\(work)/pgbackrest.conf"
    try await writePrivate(
        configuration,
        """
        [global]
        repo1-type=s3
        repo1-path=/repo
        repo1-s3-bucket=\(buckets[1])
        repo1-s3-endpoint=127.0.0.1
        repo1-storage-port=\(port)
        repo1-s3-region=us-east-1
        repo1-s3-key=\(keyID)
        repo1-s3-key-secret=\(secret)
        repo1-s3-uri-style=path
        repo1-storage-verify-tls=n
        compress-type=gz
        start-fast=y
        log-level-console=warn
        log-level-file=off
        lock-path=\(work)
        spool-path=\(work)

        [bench]
        pg1-path=\(data)
        pg1-port=\(primaryPort)
        pg1-socket-path=\(work)

        """)
    _ = try await asPostgres(pgbackrest, ["--config=\(configuration)", "--stanza=bench", "stanza-create"])
    let barmanEnvironment = ["AWS_SHARED_CREDENTIALS_FILE": "\(work)/s3-credentials", "AWS_CA_BUNDLE": ca, "AWS_EC2_METADATA_DISABLED": "true"]
    say("archiving \(walFiles.count) segments with each tool (one process per segment, gzip)…")
    var archiving: [String: Double] = [:]
    for (tool, program, arguments, environment) in [
        ("carbon-recovery", cli, { (name: String) in ["pg", "archive-wal", "--stanza", "bench", "\(work)/walsrc/\(name)", name] }, ours),
        ("pgbackrest", pgbackrest, { (name: String) in ["--config=\(configuration)", "--stanza=bench", "archive-push", "\(work)/walsrc/\(name)"] }, [:]),
        ("barman", barman, { (name: String) in ["--gzip", "--endpoint-url", endpoint, "s3://\(buckets[2])/", "bench", "\(work)/walsrc/\(name)"] }, barmanEnvironment),
    ] as [(String, String, (String) -> [String], [String: String])] {
        var total = 0.0
        for name in walFiles { total += try await asPostgres(program, arguments(name), environment: environment).seconds }
        archiving[tool] = total
    }
    let rates = archiving.mapValues { Double(walFiles.count) / $0 }
    for (tool, rate) in rates.sorted(by: { $0.key < $1.key }) { say(String(format: "  %@: %.2f segments/s (%.1f s)", tool, rate, archiving[tool] ?? 0)) }
    let fasterPeer = max(rates["pgbackrest"] ?? 0, rates["barman"] ?? 0)
    fflush(nil)
    report(
        "WAL archiving, \(walFiles.count) segments of 16 MiB, one process each (segments/s; higher is better)", measured: rates["carbon-recovery"] ?? 0, unit: "segments/s",
        baseline: fasterPeer, baselineName: "the faster of pgBackRest archive-push (\(format(rates["pgbackrest"] ?? 0))) and barman-cloud-wal-archive (\(format(rates["barman"] ?? 0)))",
        target: ">= 1.00x")

    // 3. Both archive from here on; a base backup each; more WAL; a moment; a restore each.
    let command = "'\(cli)' pg archive-wal --stanza bench %p %f && '\(pgbackrest)' --config=\(configuration) --stanza=bench archive-push %p"
    _ = try await sql("ALTER SYSTEM SET archive_command = '\(command.replacingOccurrences(of: "'", with: "''"))'")
    _ = try await sql("SELECT pg_reload_conf()")
    try await Task.sleep(for: .seconds(1))
    say("base backups of \(databaseBytes / 1_048_576) MiB…")
    let theirBackup = try await asPostgres(pgbackrest, ["--config=\(configuration)", "--stanza=bench", "backup", "--type=full"])
    var backupEnvironment = ours
    backupEnvironment.merge(psqlEnvironment) { $1 }
    // GNU time reports the peak memory: the tar streams to storage, so it stays far below the database's size.
    let usage = work + "/base-backup.time"
    let ourBackup = try await fileProcess("/usr/bin/time", ["-o", usage, "-f", "%M", cli, "pg", "base-backup", "--stanza", "bench"], environment: backupEnvironment)
    let peakKiB = Double(try String(contentsOfFile: usage, encoding: .utf8).split(separator: "\n").last.map(String.init) ?? "") ?? 0
    say(String(format: "  base backup: carbon-recovery %.1f s at %.0f MiB peak memory; pgBackRest backup --type=full %.1f s", ourBackup.seconds, peakKiB / 1024, theirBackup.seconds))
    report(
        "base backup of a \(databaseBytes / 1_048_576) MiB database to S3, gzip (s; lower is better)", measured: ourBackup.seconds, unit: "s",
        baseline: theirBackup.seconds, baselineName: "pgBackRest backup --type=full (gzip, same server)", target: "informational")
    report(
        "peak memory of pg base-backup (MiB) against the database's size: the tar streams, it is not held", measured: peakKiB / 1024, unit: "MiB",
        baseline: Double(databaseBytes) / 1_048_576, baselineName: "the database's size (MiB)", target: "<= 0.50x")
    say("writing at least \(segments) more segments…")
    try await writeUntil(segments: segments)
    let target = try await sql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
    try await Task.sleep(for: .milliseconds(50))
    _ = try await fileProcess(bin + "/pgbench", ["-n", "-c", "2", "-T", "2"], environment: psqlEnvironment)
    try await switchAndWait()
    let replayed = try await sql("SELECT pg_walfile_name(pg_current_wal_lsn())")

    say("restoring both to \(target)…")
    let oursData = work + "/restored-ours", oursPort = try LoopbackPort.unused()
    var restoreEnvironment = ours
    restoreEnvironment["PGPASSFILE"] = ""
    restoreEnvironment.merge(psqlEnvironment) { $1 }
    let mine = try await fileProcess(
        cli, ["pg", "restore", "--stanza", "bench", "--timeline", "1", "--to-time", target, "--data-dir", oursData, "--port", String(oursPort), "--run-as", "postgres", "--keep-running"],
        environment: restoreEnvironment)
    servers.append(oursData)
    // Where the time went: the command's own line says the whole and the replay.
    say("  carbon-recovery pg restore: \(mine.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").last ?? "")")
    let theirsData = work + "/restored-pgbackrest", theirsPort = try LoopbackPort.unused()
    let clock = ContinuousClock()
    let started = clock.now
    _ = try await asPostgres(
        pgbackrest, ["--config=\(configuration)", "--stanza=bench", "--pg1-path=\(theirsData)", "restore", "--type=time", "--target=\(target.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "+00"))", "--target-action=promote", "--target-timeline=1"])
    let restored = clock.now
    try appendText(theirsData + "/postgresql.auto.conf", "port = \(theirsPort)\narchive_mode = off\nunix_socket_directories = '\(work)'\n")
    _ = try await asPostgres(bin + "/pg_ctl", ["start", "-D", theirsData, "-l", "\(work)/restored-pgbackrest.log", "-w", "-t", "3600"])
    servers.append(theirsData)
    while try await sql("SELECT pg_is_in_recovery()", port: theirsPort) != "f" { try await Task.sleep(for: .milliseconds(200)) }
    let theirs = started.duration(to: clock.now)
    let theirsSeconds = Double(theirs.components.seconds) + Double(theirs.components.attoseconds) / 1e18
    let files = started.duration(to: restored), replay = restored.duration(to: clock.now)
    say(String(
        format: "  pgBackRest: restore of the files %.1f s, then start + replay + promote %.1f s",
        Double(files.components.seconds) + Double(files.components.attoseconds) / 1e18, Double(replay.components.seconds) + Double(replay.components.attoseconds) / 1e18))

    let check = "SELECT count(*), coalesce(sum(delta), 0) FROM pgbench_history"
    let (oursRows, theirRows) = (try await sql(check, port: oursPort), try await sql(check, port: theirsPort))
    guard oursRows == theirRows, oursRows != "0|0" else { throw BenchError("the restored databases differ: carbon-recovery \(oursRows), pgBackRest \(theirRows)") }
    let walCount = WALCount.between(walFiles.last ?? "", replayed)
    say("  both restored pgbench_history to \(oursRows) (rows|sum of deltas); about \(walCount) segments replayed after the first phase")
    report(
        "restore of a \(databaseBytes / 1_048_576) MiB database + \(walCount)+ segments of WAL to a moment, to the promoted server", measured: mine.seconds, unit: "s",
        baseline: theirsSeconds, baselineName: "pgBackRest restore --type=time + start + replay + promote, same data", target: "<= 1.20x")
    } catch {
        await cleanUp()
        throw error
    }
    await cleanUp()
}

/// Prints a progress line at once, also into a pipe.
func say(_ line: String) {
    print(line)
    fflush(nil)
}

/// Segments between two WAL file names on timeline 1 (16 MiB segments).
enum WALCount {
    static func between(_ first: String, _ last: String) -> Int {
        func number(_ name: String) -> Int { name.count == 24 ? (Int(name.dropFirst(8).prefix(8), radix: 16) ?? 0) * 256 + (Int(name.suffix(8), radix: 16) ?? 0) : 0 }
        return max(0, number(last) - number(first))
    }
}

/// Runs a program as the postgres user (setpriv; its environment reset, then `environment`).
@discardableResult
func asPostgres(_ program: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> ProcessTiming {
    let settings = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    return try await fileProcess(
        "/usr/bin/setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--reset-env", "--", "/usr/bin/env"] + settings + [program] + arguments)
}

/// Runs a process to completion and times it (swift-subprocess: Foundation's Process leaves
/// pg_ctl unreaped here once Subprocess watches children in the same process).
func fileProcess(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> ProcessTiming {
    var settings: [Environment.Key: String?] = [:]
    for (key, value) in environment { settings[Environment.Key(stringLiteral: key)] = value }
    let clock = ContinuousClock()
    let start = clock.now
    let result = try await Subprocess.run(
        .path(FilePath(executable)), arguments: Arguments(arguments), environment: .inherit.updating(settings),
        input: .none, output: .string(limit: 16 << 20), error: .string(limit: 1 << 20))
    let elapsed = start.duration(to: clock.now)
    guard result.terminationStatus.isSuccess else {
        throw BenchError("\(executable) \(arguments.joined(separator: " ")) ended \(result.terminationStatus): \(result.standardError.suffix(2000))")
    }
    return ProcessTiming(seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, output: result.standardOutput)
}

func shell(_ command: String) async throws {
    _ = try await fileProcess("/bin/sh", ["-c", command])
}

func appendText(_ path: String, _ text: String) throws {
    guard let handle = FileHandle(forWritingAtPath: path) else { throw BenchError("cannot open \(path)") }
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(text.utf8))
    try handle.close()
}

/// A file only the postgres user reads (pgBackRest's configuration holds the S3 secret).
func writePrivate(_ path: String, _ text: String) async throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else { throw BenchError("cannot write \(path)") }
    try await shell("chown postgres: '\(path)'")
}

/// rclone serves cached listings; SIGHUP makes it see folders made beside it.
func refreshListings(pidFile: String) throws {
    guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw BenchError("cannot read the S3 server's PID from \(pidFile)")
    }
    guard kill(pid, SIGHUP) == 0 else { throw BenchError("cannot signal the S3 server (pid \(pid))") }
}

