// The SQLite layer never blocks Swift's cooperative threads: appends to the audit trail and
// enqueues to the outbox that wait on another process's write lock leave the pool free for
// unrelated tasks. Real SQLite files, a real process holding the lock (python3), and the
// writers in a process of their own (carbon-bench lock-wait).
import CarbonRecovery
import Foundation
import TestSupport
import Testing

@Suite("SQLite waits stay off the cooperative pool")
struct SQLiteOffThePoolTests {
    @Test("while more writers than cores wait on a lock another process holds, an unrelated task keeps counting", arguments: ["audit", "outbox"])
    func unrelatedTasksProgress(_ store: String) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("store.db")
        let marker = directory.file("lock")
        // The writers and the counting task run in a process of their own (carbon-bench
        // lock-wait), so that the other tests running in this one cannot take its threads.
        let probe = Task {
            try await run(try executable("carbon-bench"), ["lock-wait", "--db", path, "--store", store, "--marker", marker], timeout: .seconds(90))
        }
        for _ in 0..<3_000 where !FileManager.default.fileExists(atPath: marker + ".ready") {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(FileManager.default.fileExists(atPath: marker + ".ready"), "the probe did not open its handles")
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: try python3())
        holder.arguments = [fixturesDirectory + "/sqlite_write_lock.py", path, marker, "4"]
        try holder.run()
        defer { stopProcess(holder) }

        let result = try await probe.value
        #expect(result.status == 0, "\(result.standardError)")
        let report = try JSONValue(parsing: Array(result.standardOutput.utf8))
        let ticks = try #require(report["ticks"]?.integerValue)
        // The writers really waited for the other process...
        #expect(report["lockReleased"] == true, "a write finished while the other process still held the lock")
        #expect((report["writers"]?.integerValue ?? 0) > Int64(ProcessInfo.processInfo.activeProcessorCount))
        // ...and meanwhile the unrelated task kept running: writers that block the pool stop it
        // for the whole 4 s the lock is held (1 tick, measured by running the queue's jobs on the
        // caller's thread); with free threads it ticks about every 2 ms.
        #expect(ticks >= 100, "the unrelated task advanced only \(ticks) times while the writers waited")
    }
}
