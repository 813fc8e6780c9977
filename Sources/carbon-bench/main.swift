// carbon-bench — release-mode benchmarks. Each figure is printed beside a baseline measured in
// the same run on the same machine, and the ratio is what the targets are about.
//
//   swift run -c release --static-swift-stdlib carbon-bench audit [--entries 1000000] [--single 4000] [--batch 1000] [--keep trail.db]
//
// Audit mode:
//   1. durable single appends (one entry per transaction, synchronous=FULL) through the public
//      AuditTrail API  vs  raw SQLite C-API inserts of the same rows into the same schema, same mode;
//   2. batched appends (--batch entries per transaction) vs raw batched inserts;
//   3. verify, chain and Merkle tree (entries/s), in process and as `carbon-recovery audit verify`,
//      vs the bound: SQLite stepping the same rows and SHA-256 over the same bytes on all cores at
//      once (VerifyBound.swift); the command's peak resident memory (a child process) at the full
//      trail vs the same trail at a tenth;
//   4. a filtered 1,000-row query over the --entries trail vs the same SQL through the C API;
//   5. inclusion and consistency proofs, in process and as `audit prove` / `audit consistency`
//      processes, vs the raw reads and hashing they need and a `sqlite3` point read (ProofBenchmark.swift).
//
//   carbon-bench storage | cluster: against the sandbox's real servers (SandboxBenchmarks.swift).
//   carbon-bench outbox: the notification outbox's enqueue rate and delivery latency (OutboxBenchmark.swift).
//   carbon-bench recovery-seed | recovery: a whole-cluster recovery (RecoveryBenchmark.swift).
//   carbon-bench report [--entries 1000000]: the evidence report over a trail (ReportBenchmark.swift).
//
//   swift run carbon-bench append --db PATH --count N [--tag T] [--hold-ms MS] [--pause-ms MS]
//   swift run carbon-bench lock-wait --db PATH --store audit|outbox --marker PREFIX   (LockWaitProbe.swift)
//
// Append mode is a load generator for the multi-process tests: it appends N attempt/outcome
// pairs (one transaction each) tagged T; with --hold-ms it waits that long between an attempt
// and its outcome, so a test can kill it while an attempt is open; with --pause-ms it waits
// that long after each pair, as a real caller does between operations.
import CSQLite
import CarbonRecovery
import CarbonRecoveryAudit
import Crypto
import Foundation

struct Options {
    var mode = "audit"
    var entries = 1_000_000
    var single = 4_000
    var batch = 1_000
    var keep: String?
    var directory: String?
    var database: String?
    var count = 100
    var tag = "load"
    var holdMilliseconds = 0
    var pauseMilliseconds = 0
    var objects = 100_000
    var backups = 5_000
    var runs = 3
    var prefix = ""
    var namespace = ""
    var store = "audit"
    var marker: String?
    var namespaces = 6
    var backupName = "bench-full"
    var scale = 18
    var segments = 64

    init(_ arguments: [String]) throws {
        var iterator = arguments.makeIterator()
        if let first = arguments.first, !first.hasPrefix("-") {
            mode = first
            _ = iterator.next()
        }
        while let argument = iterator.next() {
            func value() throws -> String {
                guard let value = iterator.next() else { throw BenchError("\(argument) needs a value") }
                return value
            }
            func number() throws -> Int {
                let text = try value()
                guard let number = Int(text), number > 0 else { throw BenchError("\(argument) needs a positive number, not '\(text)'") }
                return number
            }
            switch argument {
            case "--entries": entries = try number()
            case "--single": single = try number()
            case "--batch": batch = try number()
            case "--keep": keep = try value()
            case "--dir": directory = try value()
            case "--db": database = try value()
            case "--count": count = try number()
            case "--tag": tag = try value()
            case "--hold-ms": holdMilliseconds = try number()
            case "--pause-ms": pauseMilliseconds = try number()
            case "--objects": objects = try number()
            case "--backups": backups = try number()
            case "--runs": runs = try number()
            case "--prefix": prefix = try value()
            case "--namespace": namespace = try value()
            case "--store": store = try value()
            case "--marker": marker = try value()
            case "--namespaces": namespaces = try number()
            case "--backup": backupName = try value()
            case "--scale": scale = try number()
            case "--segments": segments = try number()
            case "-h", "--help":
                print("usage: carbon-bench audit [--entries N] [--single N] [--batch N] [--keep PATH] [--dir DIR]")
                print("       carbon-bench append --db PATH --count N [--tag T] [--hold-ms MS] [--pause-ms MS]")
                print("       carbon-bench storage [--objects 100000] [--runs 3]      (needs the sandbox)")
                print("       carbon-bench cluster [--backups 5000] [--runs 3]        (needs the sandbox)")
                print("       carbon-bench wait [--runs 3]                           (needs the sandbox)")
                print("       carbon-bench recovery-seed [--objects 2000] [--namespaces 6]   (the first cluster)")
                print("       carbon-bench recovery [--backup bench-full] [--runs 5]         (the recovery cluster; see scripts/bench)")
                exit(0)
            default: throw BenchError("unknown argument '\(argument)' (try --help)")
            }
        }
        let modes = ["audit", "append", "storage", "cluster", "wait", "usage-once", "list-once", "outbox", "lock-wait", "recovery-seed", "recovery", "postgres", "report"]
        guard modes.contains(mode) else { throw BenchError("unknown mode '\(mode)': use one of \(modes.joined(separator: ", "))") }
        if mode == "append" && database == nil { throw BenchError("append needs --db PATH") }
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try await body()
    let elapsed = start.duration(to: clock.now)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func synchronousSeconds(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    let elapsed = start.duration(to: clock.now)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func format(_ value: Double) -> String {
    value >= 100 ? String(format: "%.0f", value) : String(format: "%.2f", value)
}

func report(_ name: String, measured: Double, unit: String, baseline: Double, baselineName: String, target: String) {
    let ratio = measured / baseline
    print("\(name)")
    print("  carbon-recovery: \(format(measured)) \(unit)")
    print("  baseline (\(baselineName)): \(format(baseline)) \(unit)")
    print("  ratio: \(String(format: "%.2f", ratio))x   target: \(target)")
}

// MARK: - Synthetic records

let operations = ["backup.create", "restore.create", "backup.validate", "backup.delete"]

func syntheticRecords(count: Int, offset: Int) -> [AuditRecord] {
    var records: [AuditRecord] = []
    records.reserveCapacity(count)
    let actor = AuditActor(user: "bench", cluster: "admin@sandbox (https://127.0.0.1:6443)")
    for index in offset..<(offset + count) {
        let pair = index / 2
        let operation = operations[pair % operations.count]
        let target = "\(operation.split(separator: ".")[0])/daily-\(pair % 5000)"
        let correlationID = "bench-\(pair)"
        if index % 2 == 0 {
            records.append(.attempt(
                operation: operation, target: target,
                parameters: ["includedNamespaces": ["data-platform", "vault-prod"], "ttl": "720h0m0s", "wait": true],
                actor: actor, correlationID: correlationID))
        } else {
            let failed = pair % 17 == 0
            records.append(.outcome(
                failed ? .failure : .success, operation: operation, target: target,
                parameters: ["phase": failed ? "PartiallyFailed" : "Completed", "errors": failed ? 3 : 0],
                error: failed ? "backup finished PartiallyFailed with 3 errors" : nil,
                durationMilliseconds: Int64(1000 + pair % 900), actor: actor, correlationID: correlationID))
        }
    }
    return records
}

// MARK: - Audit mode

func runAudit(_ options: Options) async throws {
    // A fresh scratch folder every run (inside --dir when given), removed at the end.
    let directory = (options.directory ?? NSTemporaryDirectory()) + "/carbon-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    print("carbon-bench audit: \(options.entries) entries, \(options.single) single appends, batches of \(options.batch); scratch \(directory)")
    print("")

    // 1. Durable single appends, alternating trail and raw rounds so that neither gains from
    //    going second (file-system warm-up, page cache). Each side's figure is the median of its
    //    rounds' rates: one round that meets a burst of the machine's disk writeback (a build
    //    that just finished) moves a median less than a total.
    let singleTrail = try await SQLiteAuditTrail(path: directory + "/single.db", configuration: .init(checkpointInterval: nil, durability: .full))
    let rawSingle = try await RawDatabase(path: directory + "/raw-single.db", synchronous: "FULL")
    var trailRates: [Double] = []
    var rawRates: [Double] = []
    let rounds = 16
    let perRound = max(1, options.single / rounds)
    for round in 0..<rounds {
        let records = syntheticRecords(count: perRound, offset: round * perRound)
        let trailTime = try await seconds {
            for record in records { _ = try await singleTrail.record(record) }
        }
        let rows = rawEntries(records, startSequence: Int64(round * perRound + 1))
        let rawTime = synchronousSeconds {
            for entry in rows {
                rawSingle.exec("BEGIN IMMEDIATE")
                rawSingle.insert(entry)
                rawSingle.exec("COMMIT")
            }
        }
        trailRates.append(Double(perRound) / trailTime)
        rawRates.append(Double(perRound) / rawTime)
    }
    report(
        "durable single appends (1 entry per transaction, synchronous=FULL; median of \(rounds) alternating rounds of \(perRound))",
        measured: median(trailRates), unit: "appends/s",
        baseline: median(rawRates), baselineName: "raw C-API inserts, same schema and mode", target: ">= 0.80x")
    print("")

    // 2. Batched appends, building the large trail.
    let trailPath = options.keep ?? directory + "/trail.db"
    if options.keep != nil, FileManager.default.fileExists(atPath: trailPath) {
        throw BenchError("\(trailPath) exists already: --keep writes a new trail, pick another path or remove it")
    }
    let signingKey = AuditSigningKey.generate(name: "carbon-bench")
    let trailConfiguration = SQLiteAuditTrail.Configuration(checkpointInterval: 100_000, signingKey: signingKey, durability: .full)
    var trail = try await SQLiteAuditTrail(path: trailPath, configuration: trailConfiguration)
    // The raw baseline inserts the first `rawCount` rows; the trail's rate over the same first
    // rows is what the ratio compares (indexes grow slower as the table grows).
    let rawCount = min(options.entries, 200_000)
    var trailBatchTime = 0.0
    var trailTimeForRawCount = 0.0
    var written = 0
    var verifyMemoryAtTenth: Double?
    while written < options.entries {
        let count = min(options.batch, options.entries - written)
        let records = syntheticRecords(count: count, offset: written)
        trailBatchTime += try await seconds { _ = try await trail.record(contentsOf: records) }
        written += count
        if written == rawCount { trailTimeForRawCount = trailBatchTime }
        if written == options.entries / 10 {
            // Measured on the quiet file (closed: no write-ahead log), as at the end.
            await trail.close()
            verifyMemoryAtTenth = try verifyPeakMemory(trailPath: trailPath)
            trail = try await SQLiteAuditTrail(path: trailPath, configuration: trailConfiguration)
        }
    }
    if trailTimeForRawCount == 0 { trailTimeForRawCount = trailBatchTime }
    let rawBatch = try await RawDatabase(path: directory + "/raw-batch.db", synchronous: "FULL")
    var rawBatchTime = 0.0
    var rawWritten = 0
    while rawWritten < rawCount {
        let count = min(options.batch, rawCount - rawWritten)
        let rows = rawEntries(syntheticRecords(count: count, offset: rawWritten), startSequence: Int64(rawWritten + 1))
        rawBatchTime += synchronousSeconds {
            rawBatch.exec("BEGIN IMMEDIATE")
            for row in rows { rawBatch.insert(row) }
            rawBatch.exec("COMMIT")
        }
        rawWritten += count
    }
    report(
        "batched appends (\(options.batch) entries per transaction, first \(rawCount) entries)",
        measured: Double(rawCount) / trailTimeForRawCount, unit: "entries/s",
        baseline: Double(rawCount) / rawBatchTime, baselineName: "raw batched C-API inserts of the same \(rawCount) rows", target: ">= 0.40x")
    print("  all \(options.entries) entries: \(format(Double(options.entries) / trailBatchTime)) entries/s")
    print("")

    // 3. Verify vs SQLite's own step-through of the same rows (every row and column, in sequence
    //    order), alternating rounds; the median of each side. Raw SHA-256 is printed for scale.
    //    Both on the quiet file, as a reviewer meets it: the trail is closed and opened again
    //    first (its write-ahead log folded in), which is also when the memory is measured.
    await trail.close()
    let fullSizeMemory = try verifyPeakMemory(trailPath: trailPath)
    trail = try await SQLiteAuditTrail(path: trailPath, configuration: trailConfiguration)
    var verifyRates: [Double] = []
    var scanRates: [Double] = []
    var verifyReport: AuditVerificationReport?
    let scanReader = try await RawDatabase(path: trailPath, synchronous: "FULL", createSchema: false)
    for _ in 0..<3 {
        let verifyTime = try await seconds { verifyReport = try await trail.verify() }
        guard let verified = verifyReport, verified.isValid else {
            throw BenchError("the benchmark trail did not verify: \(String(describing: verifyReport?.problem))")
        }
        verifyRates.append(Double(verified.entriesChecked) / verifyTime)
        var scanned = 0
        let scanTime = synchronousSeconds { scanned = scanReader.rows("SELECT * FROM audit_entries ORDER BY seq") }
        scanRates.append(Double(scanned) / scanTime)
    }
    let verified = verifyReport!
    // The bound of issue 18: SQLite stepping the same rows and SHA-256 over the same bytes, on
    // every core at once. The canonical encoding's bytes beyond the members' own (names, quotes,
    // braces) are measured on a sample and hashed as padding.
    let sample = try await trail.entries(matching: AuditQuery(limit: 10_000))
    let canonical = sample.entries.map { $0.canonicalBytes(includingHash: false) }
    let bytesPerEntry = Double(canonical.reduce(0) { $0 + $1.count }) / Double(canonical.count)
    let memberBytes = Double(sample.entries.reduce(0) { total, entry in
        let texts = [entry.time, entry.kind.rawValue, entry.actor, entry.cluster ?? "", entry.operation, entry.target, entry.parameters,
                     entry.outcome?.rawValue ?? "", entry.error ?? "", entry.correlationID, entry.session, entry.previousHash,
                     String(entry.sequence), String(entry.version), entry.durationMilliseconds.map(String.init) ?? ""]
        return total + texts.reduce(0) { $0 + $1.utf8.count }
    }) / Double(sample.entries.count)
    var boundRates: [Double] = []
    var boundSink: UInt8 = 0
    for _ in 0..<3 {
        let (rate, sink) = VerifyBound.entriesPerSecond(path: trailPath, entries: verified.entriesChecked, overhead: Int((bytesPerEntry - memberBytes).rounded()))
        boundRates.append(rate)
        boundSink ^= sink
    }
    let cores = ProcessInfo.processInfo.activeProcessorCount
    // The command a reviewer runs, on the same file, between the same kind of rounds.
    var commandRates: [Double] = []
    for _ in 0..<3 { commandRates.append(Double(verified.entriesChecked) / (try runVerifyCommand(trailPath: trailPath).seconds)) }
    report(
        "`carbon-recovery audit verify` (\(verified.entriesChecked) entries, chain and Merkle tree, the process's start included; median of 3)",
        measured: median(commandRates), unit: "entries/s",
        baseline: median(boundRates), baselineName: "the bound below",
        target: ">= 0.80x")
    report(
        "verify (\(verified.entriesChecked) entries, chain and Merkle tree, \(verified.checkpointsChecked) checkpoints; median of 3 rounds)",
        measured: median(verifyRates), unit: "entries/s",
        baseline: median(boundRates),
        baselineName: "the bound: SQLite stepping the same rows and SHA-256 over the same bytes on all \(cores) cores at once (median of 3; sink \(boundSink))",
        target: ">= 0.80x")
    print("  for scale: SQLite stepping through every row and column in seq order on one core: \(format(median(scanRates))) entries/s")
    var sink: UInt8 = 0
    let hashRounds = max(1, options.entries / canonical.count)
    let hashTime = synchronousSeconds {
        for _ in 0..<hashRounds {
            for bytes in canonical { sink ^= SHA256.hash(data: bytes).withUnsafeBytes { $0[0] } }
        }
    }
    let hashedEntries = Double(hashRounds * canonical.count)
    print("  for scale: SHA-256 alone over the same canonical bytes (\(Int(bytesPerEntry)) B/entry) runs at \(format(hashedEntries / hashTime)) entries/s on one core (sink \(sink))")
    if let smallSize = verifyMemoryAtTenth {
        report(
            "`carbon-recovery audit verify` peak resident memory at \(options.entries) entries",
            measured: fullSizeMemory / 1_048_576, unit: "MiB",
            baseline: smallSize / 1_048_576, baselineName: "the same command on the same trail at \(options.entries / 10) entries",
            target: "<= 1.2x (flat in trail size)")
    }
    print("")

    // 5 (before the queries, on the same quiet file). Proofs.
    try await runProofBenchmarks(trail: trail, trailPath: trailPath, signingKey: signingKey)
    print("")

    // 4. Filtered 1,000-row queries over the big trail, each beside the same SQL through the C API.
    let rawQuery = try await RawDatabase(path: trailPath, synchronous: "FULL", createSchema: false)
    let queries: [(String, AuditQuery, String)] = [
        ("failures, newest 1,000", AuditQuery(outcome: .failure, limit: 1000, newestFirst: true),
         "SELECT * FROM audit_entries WHERE outcome = 'failure' ORDER BY seq DESC LIMIT 1001"),
        ("restore.create in a time range, oldest 1,000", AuditQuery(from: Date().addingTimeInterval(-86_400), operation: "restore.create", limit: 1000),
         "SELECT * FROM audit_entries WHERE time >= '\(RFC3339.format(Date().addingTimeInterval(-86_400)))' AND operation = 'restore.create' ORDER BY seq LIMIT 1001"),
        ("one target's history", AuditQuery(target: "restore/daily-4321", limit: 1000),
         "SELECT * FROM audit_entries WHERE target = 'restore/daily-4321' ORDER BY seq LIMIT 1001"),
    ]
    for (name, query, sql) in queries {
        var timings: [Double] = []
        var returned = 0
        for _ in 0..<7 {
            timings.append(try await seconds { returned = try await trail.entries(matching: query).entries.count })
        }
        var rawTimings: [Double] = []
        for _ in 0..<7 { rawTimings.append(synchronousSeconds { _ = rawQuery.rows(sql) }) }
        timings.sort()
        rawTimings.sort()
        report(
            "query: \(name) (\(returned) rows of \(options.entries); median of 7)",
            measured: timings[3] * 1000, unit: "ms", baseline: rawTimings[3] * 1000, baselineName: "the same SQL through the C API",
            target: "<= 20 ms")
        print("")
    }

    if let keep = options.keep {
        print("")
        print("kept the trail at \(keep) (\(written) entries); public key of its checkpoints:")
        print("  \(signingKey.verifierKey.text)")
        try Data((signingKey.verifierKey.text + "\n").utf8).write(to: URL(fileURLWithPath: keep + ".pub"))
        print("  (also written to \(keep).pub)")
    }
}

/// The peak resident memory (bytes) of `carbon-recovery audit verify` on `trailPath`, run as a
/// child process from beside this executable (`scripts/bench` builds both).
///
/// Read from the child's `/proc/<pid>/status` (`VmHWM`, the high-water mark of its own memory)
/// every few milliseconds until it exits. `wait4`'s `ru_maxrss` would not do: Linux carries the
/// spawning process's peak over into the child at `exec`, so it would report this benchmark's size.
func verifyPeakMemory(trailPath: String) throws -> Double {
    try runVerifyCommand(trailPath: trailPath).peakBytes
}

/// Runs `carbon-recovery audit verify` on `trailPath` as a child process: its wall time (process
/// start included) and its peak resident memory, read as ``verifyPeakMemory(trailPath:)`` says.
func runVerifyCommand(trailPath: String) throws -> (seconds: Double, peakBytes: Double) {
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("carbon-recovery").path
    guard FileManager.default.isExecutableFile(atPath: executable) else {
        throw BenchError("\(executable) is missing: build it with `swift build -c release --static-swift-stdlib --product carbon-recovery` (as scripts/bench does)")
    }
    var pid: pid_t = 0
    var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    let arguments = [executable, "audit", "verify", "--audit-db", trailPath]
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    let started = ContinuousClock.now
    let spawned = posix_spawn(&pid, executable, &actions, nil, &argv, environ)
    guard spawned == 0 else { throw BenchError("cannot start \(executable): \(String(cString: strerror(spawned)))") }
    var peakKilobytes = 0.0
    var status: Int32 = 0
    while true {
        if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        {
            peakKilobytes = max(peakKilobytes, kilobytes)
        }
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid { break }
        if reaped < 0 && errno != EINTR { throw BenchError("waiting for `carbon-recovery audit verify`: \(String(cString: strerror(errno)))") }
        usleep(2_000)
    }
    guard status == 0 else { throw BenchError("`carbon-recovery audit verify` on the benchmark trail exited with status \(status)") }
    let elapsed = ContinuousClock.now - started
    guard peakKilobytes > 0 else { throw BenchError("could not read the memory of `carbon-recovery audit verify` from /proc") }
    return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, peakKilobytes * 1024)
}

// MARK: - Append mode

func runAppend(_ options: Options) async throws {
    let trail = try await SQLiteAuditTrail(path: options.database!, configuration: .init(checkpointInterval: nil))
    let actor = AuditActor(user: "load-\(options.tag)", cluster: "sandbox")
    for index in 0..<options.count {
        let correlationID = "\(options.tag)-\(index)"
        let target = "backup/\(options.tag)-\(index)"
        _ = try await trail.record(.attempt(operation: "backup.create", target: target, parameters: ["index": .integer(Int64(index))], actor: actor, correlationID: correlationID))
        if options.holdMilliseconds > 0 {
            FileHandle.standardOutput.write(Data("open \(correlationID)\n".utf8))
            try await Task.sleep(for: .milliseconds(options.holdMilliseconds))
        }
        _ = try await trail.record(.outcome(.success, operation: "backup.create", target: target, durationMilliseconds: 1, actor: actor, correlationID: correlationID))
        if options.pauseMilliseconds > 0 { try await Task.sleep(for: .milliseconds(options.pauseMilliseconds)) }
    }
    print("appended \(options.count * 2) entries as \(options.tag)")
}

do {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    switch options.mode {
    case "append": try await runAppend(options)
    case "storage": try await runStorage(options)
    case "usage-once": try await runUsageOnce(options)
    case "cluster": try await runCluster(options)
    case "list-once": try await runListOnce(options)
    case "wait": try await runWait(options)
    case "outbox": try await runOutbox(options)
    case "lock-wait": try await runLockWait(options)
    case "recovery-seed": try await runRecoverySeed(options)
    case "recovery": try await runRecovery(options)
    case "postgres": try await runPostgres(options)
    case "report": try await runReport(options)
    default: try await runAudit(options)
    }
} catch {
    FileHandle.standardError.write(Data("carbon-bench: \(error)\n".utf8))
    exit(1)
}
