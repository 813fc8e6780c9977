// carbon-bench lock-wait --db PATH --store audit|outbox --marker PREFIX [--count WRITERS]
//
// A probe for the test that SQLite waits stay off Swift's cooperative pool, run as a process of
// its own so that no other test shares its pool. It opens WRITERS handles on PATH (each its own
// connection; for the outbox, its own actor), creates PREFIX.ready, waits until PREFIX.held
// exists (another process then holds the write lock), then starts a task that counts as long as it gets a thread and one
// write per handle, and prints one JSON line when the first write has finished:
//   {"ticks": <count then>, "lockReleased": <whether PREFIX.released existed then>, "writers": N}
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryNotifiers
import Foundation
import Logging
import Synchronization

func runLockWait(_ options: Options) async throws {
    guard let path = options.database, let marker = options.marker else { throw BenchError("lock-wait needs --db PATH and --marker PREFIX") }
    let writers = options.count == 100 ? ProcessInfo.processInfo.activeProcessorCount * 2 + 2 : options.count
    var writes: [@Sendable (Int) async throws -> Void] = []
    for _ in 0..<writers {
        switch options.store {
        case "audit":
            let trail = try await SQLiteAuditTrail(path: path, configuration: .init(checkpointInterval: nil, busyTimeout: .seconds(60)))
            writes.append { index in
                _ = try await trail.record(.attempt(operation: "backup.create", target: "backup/b-\(index)", actor: AuditActor(user: "probe"), correlationID: "c-\(index)"))
            }
        case "outbox":
            let outbox = try await NotificationOutbox(path: path, routes: [.init(LogNotifier(name: "a", logger: .init(label: "probe", factory: { _ in SwiftLogNoOpLogHandler() })))])
            writes.append { index in
                _ = try await outbox.enqueue(contentsOf: [RecoveryEvent(
                    kind: .backupFailed, severity: .critical, target: "backup/b-\(index)", summary: "failed", occurredAt: Date(), idempotencyKey: "k-\(index)")])
            }
        default:
            throw BenchError("--store must be audit or outbox, not '\(options.store)'")
        }
    }
    _ = FileManager.default.createFile(atPath: marker + ".ready", contents: Data())
    for _ in 0..<3_000 where !FileManager.default.fileExists(atPath: marker + ".held") {
        try await Task.sleep(for: .milliseconds(10))
    }
    guard FileManager.default.fileExists(atPath: marker + ".held") else { throw BenchError("nobody took the lock (\(marker).held never appeared)") }
    let probe = Probe()
    let ticker = Task {
        while !Task.isCancelled {
            probe.ticks.add(1, ordering: .relaxed)
            try? await Task.sleep(for: .milliseconds(2))
        }
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
        for (index, write) in writes.enumerated() {
            group.addTask {
                try await write(index)
                let released = FileManager.default.fileExists(atPath: marker + ".released")
                let count = probe.ticks.load(ordering: .relaxed)
                probe.first.withLock { if $0 == nil { $0 = (count, released) } }
            }
        }
        try await group.waitForAll()
    }
    ticker.cancel()
    let first = probe.first.withLock { $0 }!
    print(#"{"ticks":\#(first.ticks),"lockReleased":\#(first.lockReleased),"writers":\#(writers)}"#)
}

private final class Probe: Sendable {
    let ticks = Atomic<Int>(0)
    let first = Mutex<(ticks: Int, lockReleased: Bool)?>(nil)
}
