// carbon-bench outbox — the notification outbox's enqueue rate and end-to-end delivery latency.
//
//   swift run -c release --static-swift-stdlib carbon-bench outbox [--count 5000] [--runs 500] [--dir DIR]
//
// 1. Enqueue: --count single-event enqueues (one durable transaction each, WAL, synchronous=FULL)
//    through NotificationOutbox.enqueue from one caller, and from 16 concurrent producers (group
//    commit)  vs  raw SQLite C-API inserts of the same JSON, one transaction each, same mode.
//    Target: ≥ 2,000 events/s.
// 2. Delivery latency to a healthy local receiver (Tests/Fixtures/webhook_receiver.py on
//    127.0.0.1, verifying every signature): --runs events enqueued one at a time while the
//    outbox's delivery loop runs, each timed from enqueue to the notifier's return  vs  the same
//    signed POST made directly with WebhookNotifier.deliver. Target: p95 ≤ 50 ms.
import CSQLite
import CarbonRecovery
import CarbonRecoveryNotifiers
import Foundation
import Logging
import Synchronization

/// Times each delivery's completion by idempotency key.
final class TimedNotifier: Notifier {
    let name = "bench-webhook"
    let inner: WebhookNotifier
    let finished = Mutex<[String: ContinuousClock.Instant]>([:])

    init(_ inner: WebhookNotifier) { self.inner = inner }

    func deliver(_ event: RecoveryEvent) async throws {
        try await inner.deliver(event)
        let now = ContinuousClock.now
        finished.withLock { $0[event.idempotencyKey] = now }
    }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

func runOutbox(_ options: Options) async throws {
    let directory = options.directory ?? NSTemporaryDirectory() + "carbon-bench-outbox-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { if options.directory == nil { try? FileManager.default.removeItem(atPath: directory) } }
    let count = options.count == 100 ? 5_000 : options.count
    let runs = options.runs == 3 ? 500 : options.runs
    let at = Date()
    func event(_ index: Int, _ tag: String) -> RecoveryEvent {
        RecoveryEvent(
            kind: .backupFailed, severity: .critical, target: "backup/\(tag)-\(index)", summary: "backup \(tag)-\(index) failed",
            details: ["phase": "Failed", "errors": "1"], occurredAt: at, idempotencyKey: "backup-failed:\(tag)-\(index)")
    }

    // 1. Enqueue.
    let sink = LogNotifier(name: "sink", logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
    let outbox = try await NotificationOutbox(path: directory + "/enqueue.outbox.db", routes: [.init(sink, delivery: .init(dedupeWindow: .seconds(600)))])
    let clock = ContinuousClock()
    var started = clock.now
    for index in 0..<count { try await outbox.enqueue(event(index, "enqueue")) }
    let sdkSeconds = seconds(started.duration(to: clock.now))
    // The same number of events from 16 concurrent producers (operations finishing at once, or a
    // scheduler's tasks): each still returns only once its own event is committed.
    let producers = 16
    started = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for producer in 0..<producers {
            group.addTask {
                for index in stride(from: producer, to: count, by: producers) { try await outbox.enqueue(event(index, "concurrent")) }
            }
        }
        try await group.waitForAll()
    }
    let concurrentSeconds = seconds(started.duration(to: clock.now))

    var database: OpaquePointer?
    sqlite3_open(directory + "/raw.db", &database)
    sqlite3_exec(database, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, body TEXT)", nil, nil, nil)
    var insert: OpaquePointer?
    sqlite3_prepare_v2(database, "INSERT INTO t (k, body) VALUES (?, ?)", -1, &insert, nil)
    let transient = unsafeBitCast(Int(-1), to: sqlite3_destructor_type.self)
    started = clock.now
    for index in 0..<count {
        let e = event(index, "raw")
        let body = e.json.canonicalString
        sqlite3_exec(database, "BEGIN IMMEDIATE", nil, nil, nil)
        sqlite3_bind_text(insert, 1, e.idempotencyKey, -1, transient)
        sqlite3_bind_text(insert, 2, body, -1, transient)
        sqlite3_step(insert)
        sqlite3_reset(insert)
        sqlite3_exec(database, "COMMIT", nil, nil, nil)
    }
    let rawSeconds = seconds(started.duration(to: clock.now))
    sqlite3_finalize(insert)
    sqlite3_close(database)
    let sdkRate = Double(count) / sdkSeconds
    let rawRate = Double(count) / rawSeconds
    print("enqueue, \(count) events, one durable transaction each (WAL, synchronous=FULL):")
    print(String(format: "  outbox.enqueue   %8.0f events/s", sdkRate))
    print(String(format: "  raw SQLite       %8.0f events/s   (baseline)", rawRate))
    let concurrentRate = Double(count) / concurrentSeconds
    print(String(format: "  ratio            %8.2f×            (one caller: every event waits for its own disk flush)", sdkRate / rawRate))
    print(String(format: "  16 producers     %8.0f events/s   ratio to raw %.2f×   target ≥ 2,000 events/s: %@", concurrentRate, concurrentRate / rawRate, concurrentRate >= 2_000 ? "met" : "NOT met"))

    // 2. Delivery latency.
    let secretFile = directory + "/secret"
    try "bench-secret".write(toFile: secretFile, atomically: true, encoding: .utf8)
    let receiver = Process()
    receiver.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Tests/Fixtures/webhook_receiver.py").path
    receiver.arguments = ["python3", fixture, "--secret-file", secretFile, "--path", "/hook"]
    let pipe = Pipe()
    receiver.standardOutput = pipe
    try receiver.run()
    defer {
        kill(receiver.processIdentifier, SIGKILL)   // by PID; SIGKILL, so that nothing holds our output pipe open
        receiver.waitUntilExit()
    }
    var portText = ""
    while !portText.contains("\n") {
        let data = pipe.fileHandleForReading.availableData
        guard !data.isEmpty else { throw BenchError("the receiver did not start") }
        portText += String(decoding: data, as: UTF8.self)
    }
    let url = URL(string: "http://127.0.0.1:\(portText.trimmingCharacters(in: .whitespacesAndNewlines))/hook")!
    let webhook = WebhookNotifier(name: "bench-webhook", url: url, secret: SecretValue("bench-secret"))

    var direct: [Double] = []
    for index in 0..<runs {
        let start = clock.now
        try await webhook.deliver(event(index, "direct"))
        direct.append(seconds(start.duration(to: clock.now)) * 1000)
    }

    let timed = TimedNotifier(webhook)
    let delivering = try await NotificationOutbox(
        path: directory + "/deliver.outbox.db", routes: [.init(timed, delivery: .init(ratePerMinute: nil))],
        audit: nil)
    let loop = Task { try await delivering.run() }
    var enqueuedAt: [String: ContinuousClock.Instant] = [:]
    for index in 0..<runs {
        let e = event(index, "outbox")
        enqueuedAt[e.idempotencyKey] = clock.now
        try await delivering.enqueue(e)
        try await Task.sleep(for: .milliseconds(5))
    }
    let deadline = clock.now.advanced(by: .seconds(60))
    while timed.finished.withLock({ $0.count }) < runs, clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    loop.cancel()
    let finished = timed.finished.withLock { $0 }
    let latencies = enqueuedAt.compactMap { key, start in finished[key].map { seconds(start.duration(to: $0)) * 1000 } }
    print("delivery to a healthy local receiver, \(runs) events (signed webhook, receiver verifies):")
    print(String(format: "  outbox, enqueue → accepted   p50 %6.2f ms   p95 %6.2f ms   (%d delivered)", percentile(latencies, 0.5), percentile(latencies, 0.95), latencies.count))
    print(String(format: "  direct POST (baseline)       p50 %6.2f ms   p95 %6.2f ms", percentile(direct, 0.5), percentile(direct, 0.95)))
    print(String(format: "  ratio p95                    %6.2f×        target p95 ≤ 50 ms: %@", percentile(latencies, 0.95) / percentile(direct, 0.95), percentile(latencies, 0.95) <= 50 ? "met" : "NOT met"))
}

private func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

