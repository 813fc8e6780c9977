import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real OS processes (`carbon-bench append`) writing one trail at once, and being killed mid-way.
@Suite("Audit trail across processes", .serialized)
struct MultiProcessTests {
    @Test("four processes appending at once keep one linear chain")
    func concurrentProcesses() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let bench = try executable("carbon-bench")
        await (try await SQLiteAuditTrail(path: path)).close()   // created, then quiet before the writers start
        let results = try await withThrowingTaskGroup(of: ProcessResult.self) { group in
            for tag in ["p1", "p2", "p3", "p4"] {
                // A short pause after each pair, as between real operations: SQLite's busy handler is
                // not fair, and writers in a tight loop would simply take turns in long blocks.
                group.addTask { try await run(bench, ["append", "--db", path, "--count", "250", "--tag", tag, "--pause-ms", "2"]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for result in results { #expect(result.status == 0, "\(result.standardError)") }
        let trail = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
        let report = try await trail.verify()
        #expect(report.isValid, "\(String(describing: report.problem))")
        #expect(report.entriesChecked == 2000)
        for tag in ["p1", "p2", "p3", "p4"] {
            let stats = try await trail.statistics(matching: AuditQuery(actor: "load-\(tag)"))
            #expect(stats.totalEntries == 500)
        }
        // Interleaved, not one process after another (four blocks would switch writers 3 times):
        // the writers really overlapped, and the chain still came out as one line.
        let all = try await trail.entries(matching: AuditQuery(limit: 2000)).entries
        let switches = zip(all, all.dropFirst()).filter { $0.actor != $1.actor }.count
        #expect(switches > 3, "writers switched only \(switches) times: the processes did not overlap")
    }

    @Test("a process killed with SIGKILL during appends leaves a valid chain with no partial entry")
    func killedDuringAppends() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let bench = try executable("carbon-bench")
        await (try await SQLiteAuditTrail(path: path)).close()   // created, then quiet before the writers start
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bench)
        process.arguments = ["append", "--db", path, "--count", "100000", "--tag", "victim"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait until it has written a good number of entries (however slow a loaded machine
        // makes it: a condition, not a time), then kill it without warning.
        let reader = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
        let deadline = ContinuousClock.now + .seconds(180)
        while try await reader.statistics(matching: AuditQuery()).totalEntries <= 300 {
            guard process.isRunning, ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)

        let before = try await reader.verify()
        #expect(before.isValid, "\(String(describing: before.problem))")
        #expect(before.entriesChecked > 300)

        // The next writable open closes the attempt the victim left open, if it left one.
        let writer = try await SQLiteAuditTrail(path: path)
        let after = try await writer.verify()
        #expect(after.isValid)
        let attempts = try await writer.statistics(matching: AuditQuery(kind: .attempt)).totalEntries
        let outcomes = try await writer.statistics(matching: AuditQuery(kind: .outcome)).totalEntries
        #expect(attempts == outcomes)
        #expect(after.entriesChecked == before.entriesChecked + (before.entriesChecked % 2))
    }

    @Test("an attempt left open by a dead process is closed as abandoned; a live one is left alone")
    func abandonedAttempts() async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("audit.db")
        let bench = try executable("carbon-bench")
        await (try await SQLiteAuditTrail(path: path)).close()   // created, then quiet before the writers start
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bench)
        process.arguments = ["append", "--db", path, "--count", "1", "--tag", "held", "--hold-ms", "60000"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let line = try await firstLine(of: output, timeout: .seconds(30))
        #expect(line == "open held-0")

        // While the holder lives, another writer must not close its attempt.
        let other = try await SQLiteAuditTrail(path: path)
        #expect(try await other.entries(matching: AuditQuery(outcome: .abandoned)).entries.isEmpty)

        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let recovering = try await SQLiteAuditTrail(path: path)
        let abandoned = try await recovering.entries(matching: AuditQuery(outcome: .abandoned)).entries
        #expect(abandoned.count == 1)
        #expect(abandoned.first?.correlationID == "held-0")
        #expect(abandoned.first?.target == "backup/held-0")
        #expect(abandoned.first?.actor == "load-held")
        #expect(abandoned.first?.error?.contains("ended before recording an outcome") == true)
        #expect(try await recovering.verify().isValid)

        // Recovery happens once: opening again adds nothing.
        let again = try await SQLiteAuditTrail(path: path)
        #expect(try await again.entries(matching: AuditQuery(outcome: .abandoned)).entries.count == 1)
        #expect(try await again.verify().entriesChecked == 2)
    }

    private func firstLine(of pipe: Pipe, timeout: Duration) async throws -> String {
        let handle = pipe.fileHandleForReading
        return try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask {
                var data = Data()
                while !data.contains(0x0A) {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    data.append(chunk)
                }
                return String(decoding: data.prefix { $0 != 0x0A }, as: UTF8.self)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw RecoveryError(.timeout, "the helper process printed nothing within \(timeout)")
            }
            let line = try await group.next()!
            group.cancelAll()
            return line
        }
    }
}

@Suite("Independent verification of an export")
struct ExportVerificationTests {
    /// The reviewer's script from docs/audit-trail.md, run by a real Python.
    @Test("Python re-verifies a JSON Lines export byte for byte, including awkward text")
    func pythonVerifiesExport() async throws {
        let directory = try TemporaryDirectory()
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"))
        try await fill(trail, pairs: 20)
        _ = try await trail.record(.outcome(
            .failure, operation: "restore.create", target: "restore/ünïcødé \"quoted\"\n\t\\ 😀",
            parameters: ["note": "control \u{01} char, ключ, 鍵", "nested": ["z": 1, "a": [true, nil]]],
            error: "line one\nline two \u{7f}", durationMilliseconds: 0, actor: AuditActor(user: "zoë", cluster: nil),
            correlationID: "odd"))
        var text = ""
        let count = try await trail.export(.jsonl) { text += $0 }
        #expect(count == 41)
        let exportPath = directory.file("export.jsonl")
        try text.write(toFile: exportPath, atomically: true, encoding: .utf8)
        let scriptPath = directory.file("verify.py")
        try documentedExportVerifier().write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let report = try await trail.verify()
        let result = try await run("/usr/bin/env", ["python3", scriptPath, exportPath])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput == "verified 41 entries, head \(report.headHash), tree root \(report.rootHash ?? "?")\n")

        // And the same script fails on an edited export.
        let forged = text.replacingOccurrences(of: "\"actor\":\"zoë\"", with: "\"actor\":\"eve\"")
        #expect(forged != text)
        try forged.write(toFile: exportPath, atomically: true, encoding: .utf8)
        let failed = try await run("/usr/bin/env", ["python3", scriptPath, exportPath])
        #expect(failed.status != 0)
        #expect(failed.standardError.contains("entry 41: hash mismatch"))
    }

    @Test("CSV export has a header and one row per entry that Python's csv module reads back")
    func csvExport() async throws {
        let directory = try TemporaryDirectory()
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"))
        try await fill(trail, pairs: 5)
        _ = try await trail.record(.attempt(operation: "backup.create", target: "backup/x", parameters: ["note": "a,b \"c\"\nd"], actor: AuditActor(user: "u"), correlationID: "csv"))
        var text = ""
        try await trail.export(.csv) { text += $0 }
        let csvPath = directory.file("export.csv")
        try text.write(toFile: csvPath, atomically: true, encoding: .utf8)
        let script = """
            import csv, sys
            rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
            print(len(rows), rows[-1]["seq"], rows[-1]["parameters"], rows[0]["outcome"] == "", sep="|")
            """
        let result = try await run("/usr/bin/env", ["python3", "-c", script, csvPath])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput == "11|11|{\"note\":\"a,b \\\"c\\\"\\nd\"}|True\n")
    }
}
