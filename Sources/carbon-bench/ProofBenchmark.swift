import CSQLite
import CarbonRecovery
import CarbonRecoveryAudit
import Crypto
import Foundation

// Audit mode, part 5 (issue 18): inclusion and consistency proofs on the big trail.
//   - in process: SQLiteAuditTrail.inclusionProof / consistencyProof for 200 random entries
//     (sizes)  vs  the raw work those proofs need, timed alone: the same rows read by primary key
//     through the C API and the same number of SHA-256 node hashes;
//   - as a new process: `carbon-recovery audit prove` / `audit consistency`  vs  a `sqlite3`
//     CLI process doing one point read of the same file.

func runProofBenchmarks(trail: SQLiteAuditTrail, trailPath: String, signingKey: AuditSigningKey) async throws {
    let size = try await trail.size()
    guard size >= 2 else { return }
    var random = SystemRandomNumberGenerator()
    let sequences = (0..<200).map { _ in Int64.random(in: 1...size, using: &random) }
    let olderSizes = (0..<200).map { _ in Int64.random(in: 1..<size, using: &random) }

    // What each proof reads (the entry rows holding its nodes) and how many nodes it hashes,
    // recorded from the public MerkleTree functions with a lookup that only counts.
    func plan(_ prove: ((Int, Int64) -> MerkleTree.Hash) -> [MerkleTree.Hash]) -> (rows: [Int64], hashes: Int) {
        var rows: [Int64] = []
        let path = prove { level, index in
            rows.append((index + 1) << level)
            return MerkleTree.emptyTreeHash
        }
        return (rows, rows.count - path.count)
    }
    let inclusionPlans = sequences.map { sequence in plan { MerkleTree.inclusionProof(index: sequence - 1, size: size, node: $0) } }
    let consistencyPlans = olderSizes.map { older in plan { MerkleTree.consistencyProof(oldSize: older, newSize: size, node: $0) } }

    var handle: OpaquePointer?
    guard sqlite3_open_v2(trailPath, &handle, SQLITE_OPEN_READONLY, nil) == SQLITE_OK, let handle else { throw BenchError("cannot open \(trailPath)") }
    defer { sqlite3_close_v2(handle) }
    var treeRead: OpaquePointer?
    var entryRead: OpaquePointer?
    sqlite3_prepare_v2(handle, "SELECT tree FROM audit_entries WHERE seq = ?1", -1, &treeRead, nil)
    sqlite3_prepare_v2(handle, "SELECT * FROM audit_entries WHERE seq = ?1", -1, &entryRead, nil)
    defer { sqlite3_finalize(treeRead); sqlite3_finalize(entryRead) }
    guard let treeRead, let entryRead else { throw BenchError("prepare failed") }
    var sink: UInt8 = 0
    let node = [UInt8](repeating: 1, count: 65)
    func raw(_ plans: [(rows: [Int64], hashes: Int)], entries: [Int64]?) -> Double {
        synchronousSeconds {
            for (position, plan) in plans.enumerated() {
                sqlite3_exec(handle, "BEGIN", nil, nil, nil)
                if let entries {
                    sqlite3_bind_int64(entryRead, 1, entries[position])
                    if sqlite3_step(entryRead) == SQLITE_ROW { sink ^= UInt8(truncatingIfNeeded: sqlite3_column_bytes(entryRead, 4)) }
                    sqlite3_reset(entryRead)
                }
                for row in plan.rows {
                    sqlite3_bind_int64(treeRead, 1, row)
                    if sqlite3_step(treeRead) == SQLITE_ROW, let blob = sqlite3_column_blob(treeRead, 0) {
                        sink ^= blob.load(as: UInt8.self)
                    }
                    sqlite3_reset(treeRead)
                }
                for _ in 0..<plan.hashes { sink ^= SHA256.hash(data: node).withUnsafeBytes { $0[0] } }
                sqlite3_exec(handle, "COMMIT", nil, nil, nil)
            }
        }
    }

    var inclusionTimes: [Double] = [], inclusionRaw: [Double] = []
    var consistencyTimes: [Double] = [], consistencyRaw: [Double] = []
    for _ in 0..<3 {
        inclusionTimes.append(try await seconds { for sequence in sequences { _ = try await trail.inclusionProof(sequence: sequence, size: size) } })
        inclusionRaw.append(raw(inclusionPlans, entries: sequences))
        consistencyTimes.append(try await seconds { for older in olderSizes { _ = try await trail.consistencyProof(from: older, to: size) } })
        consistencyRaw.append(raw(consistencyPlans, entries: nil))
    }
    // For scale: the round trip every call makes to the trail's own SQLite thread (SQLite never
    // runs on the cooperative pool), with the one point read `size()` does.
    var roundTrips: [Double] = []
    for _ in 0..<3 { roundTrips.append(try await seconds { for _ in sequences { _ = try await trail.size() } }) }
    let perProof = { (times: [Double]) in median(times) / Double(sequences.count) * 1e6 }
    let averageRows = Double(inclusionPlans.reduce(0) { $0 + $1.rows.count }) / Double(inclusionPlans.count)
    report(
        "inclusion proof in process (\(size) entries, 200 random entries, ~\(Int(averageRows.rounded())) node rows each; median of 3)",
        measured: perProof(inclusionTimes), unit: "µs/proof",
        baseline: perProof(inclusionRaw), baselineName: "the same rows read by primary key through the C API and the same SHA-256 work (sink \(sink))",
        target: "<= 2.00x")
    report(
        "consistency proof in process (200 random older sizes to \(size); median of 3)",
        measured: perProof(consistencyTimes), unit: "µs/proof",
        baseline: perProof(consistencyRaw), baselineName: "the same rows read by primary key through the C API and the same SHA-256 work",
        target: "<= 2.00x")
    say(String(format: "  for scale: one call's round trip to the trail's queue (SQLiteAuditTrail.size(), a point read): %.2f µs", perProof(roundTrips)))

    // As whole processes. The older checkpoint of the consistency proof is a note file signed
    // here at half the size (the bench trail stores one only every 100,000 entries).
    let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("carbon-recovery").path
    guard let sqlite3 = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw BenchError("the sqlite3 command is missing (scripts/bootstrap installs it)")
    }
    if try await trail.latestCheckpoint()?.size != size { _ = try await trail.checkpoint() }
    let half = size / 2
    let olderNote = FileManager.default.temporaryDirectory.appendingPathComponent("carbon-bench-older-\(getpid()).note").path
    defer { try? FileManager.default.removeItem(atPath: olderNote) }
    let halfHead = try await trail.treeHead(size: half)
    let older = try AuditCheckpoint.sign(
        origin: trail.checkpointOrigin, size: half, headHash: halfHead.rootHash.map { String(format: "%02x", $0) }.joined(), key: signingKey)
    try Data(older.note.utf8).write(to: URL(fileURLWithPath: olderNote))
    let entry = sequences[0]
    var proveTimes: [Double] = [], consistencyCommandTimes: [Double] = [], pointReadTimes: [Double] = [], startTimes: [Double] = []
    for _ in 0..<7 {
        startTimes.append(try spawnTimed([executable, "--version"]))
        proveTimes.append(try spawnTimed([executable, "audit", "prove", "--entry", String(entry), "--audit-db", trailPath]))
        consistencyCommandTimes.append(try spawnTimed([executable, "audit", "consistency", "--from", olderNote, "--to", String(size), "--audit-db", trailPath]))
        pointReadTimes.append(try spawnTimed([sqlite3, "-readonly", trailPath, "SELECT hex(tree) FROM audit_entries WHERE seq = \(entry)"]))
    }
    report(
        "`carbon-recovery audit prove --entry \(entry)` as a new process (\(size) entries; median of 7)",
        measured: median(proveTimes) * 1000, unit: "ms",
        baseline: median(pointReadTimes) * 1000, baselineName: "a `sqlite3` process doing one point read of the same file",
        target: "<= 2.00x")
    report(
        "`carbon-recovery audit consistency --from <note at \(half)> --to \(size)` as a new process (median of 7)",
        measured: median(consistencyCommandTimes) * 1000, unit: "ms",
        baseline: median(pointReadTimes) * 1000, baselineName: "a `sqlite3` process doing one point read of the same file",
        target: "<= 2.00x")
    say(String(format: "  for scale: `carbon-recovery --version` as a new process (the CLI's start alone): %.2f ms", median(startTimes) * 1000))
}

/// Runs `arguments` (argv, no shell) with standard output to /dev/null; its wall time in seconds.
func spawnTimed(_ arguments: [String]) throws -> Double {
    var pid: pid_t = 0
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    let started = ContinuousClock.now
    let spawned = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
    guard spawned == 0 else { throw BenchError("cannot start \(arguments[0]): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    guard status == 0 else { throw BenchError("\(arguments.joined(separator: " ")) exited with status \(status)") }
    let elapsed = ContinuousClock.now - started
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}
