// The SQLite layer never blocks Swift's cooperative threads: appends to the audit trail and
// enqueues to the outbox that wait on another process's write lock leave the pool free for
// unrelated tasks. Real SQLite files, and a real second process (python3) holding the lock.
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryNotifiers
import CarbonRecoveryTestKit
import Foundation
import Synchronization
import TestSupport
import Testing

@Suite("SQLite waits stay off the cooperative pool")
struct SQLiteOffThePoolTests {
    enum Store: String, CaseIterable, CustomTestStringConvertible {
        case auditTrail = "the audit trail"
        case outbox = "the outbox"
        var testDescription: String { rawValue }
    }

    @Test("while more writers than cores wait on a lock another process holds, an unrelated task keeps counting", arguments: Store.allCases)
    func unrelatedTasksProgress(_ store: Store) async throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("store.db")
        // More writers than there are cooperative threads, each with a handle (a connection, and
        // for the outbox an actor) of its own, all opened before the other process takes the lock.
        let writers = ProcessInfo.processInfo.activeProcessorCount * 2 + 2
        var writes: [@Sendable (Int) async throws -> Void] = []
        for _ in 0..<writers {
            switch store {
            case .auditTrail:
                let trail = try await SQLiteAuditTrail(path: path, configuration: .init(checkpointInterval: nil, busyTimeout: .seconds(60)))
                writes.append { index in
                    _ = try await trail.record(.attempt(operation: "backup.create", target: "backup/b-\(index)", actor: AuditActor(user: "test"), correlationID: "c-\(index)"))
                }
            case .outbox:
                let outbox = try await NotificationOutbox(path: path, routes: [.init(RecordingNotifier(name: "a"))])
                writes.append { index in
                    _ = try await outbox.enqueue(contentsOf: [RecoveryEvent(
                        kind: .backupFailed, severity: .critical, target: "backup/b-\(index)", summary: "failed", occurredAt: Date(), idempotencyKey: "k-\(index)")])
                }
            }
        }

        let marker = directory.file("lock")
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: try python3())
        holder.arguments = [fixturesDirectory + "/sqlite_write_lock.py", path, marker, "4"]
        try holder.run()
        defer { stopProcess(holder) }
        for _ in 0..<2_000 where !FileManager.default.fileExists(atPath: marker + ".held") {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(FileManager.default.fileExists(atPath: marker + ".held"), "the other process did not take the lock")

        // An unrelated task that counts as long as it gets a thread.
        let ticks = Counter()
        let ticker = Task {
            while !Task.isCancelled {
                ticks.value.add(1, ordering: .relaxed)
                try? await Task.sleep(for: .milliseconds(2))
            }
        }
        defer { ticker.cancel() }

        // Every writer waits on the lock.
        let firstDone = FirstDone()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, write) in writes.enumerated() {
                group.addTask {
                    try await write(index)
                    let released = FileManager.default.fileExists(atPath: marker + ".released")
                    let count = ticks.value.load(ordering: .relaxed)
                    firstDone.value.withLock { if $0 == nil { $0 = (count, released) } }
                }
            }
            try await group.waitForAll()
        }
        let first = try #require(firstDone.value.withLock { $0 })
        // The writers really waited for the other process...
        #expect(first.lockReleased, "a write finished while the other process still held the lock")
        // ...and meanwhile the unrelated task kept running (blocked threads would have stopped it
        // at 0 or a handful of ticks for the whole time the lock was held).
        #expect(first.ticks >= 50, "the unrelated task advanced only \(first.ticks) times while the writers waited")
    }
}

/// A count that tasks advance and read.
private final class Counter: Sendable {
    let value = Atomic<Int>(0)
}

/// What the unrelated task's count and the lock's state were when the first write finished.
private final class FirstDone: Sendable {
    let value = Mutex<(ticks: Int, lockReleased: Bool)?>(nil)
}
