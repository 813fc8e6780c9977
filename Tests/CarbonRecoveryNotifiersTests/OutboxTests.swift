// The durable outbox on real SQLite files (outbox and audit trail), with in-memory notifiers
// for the logic: idempotency, dedupe, backoff, dead letters, replay, rate limits, bad input.
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryNotifiers
import CarbonRecoveryTestKit
import Foundation
import Synchronization
import Testing
import TestSupport

/// A settable wall clock for the outbox, moved by hand with `advance`.
final class TestClock: WallClock {
    private let clock = SimulatedWallClock(start: Date(timeIntervalSince1970: 1_795_000_000))
    func now() -> Date { clock.now() }
    func sleep(until deadline: Date) async throws { try await clock.sleep(until: deadline) }
    func advance(_ seconds: TimeInterval) { clock.set(to: clock.now().addingTimeInterval(seconds)) }
}

func event(_ number: Int, kind: RecoveryEvent.Kind = .backupFailed, summary: String? = nil, at: Date = Date()) -> RecoveryEvent {
    RecoveryEvent(
        kind: kind, severity: .critical, target: "backup/b-\(number)", summary: summary ?? "backup b-\(number) failed", details: ["phase": "Failed"],
        occurredAt: at, idempotencyKey: "backup-failed:b-\(number)")
}

@Suite("NotificationOutbox on real SQLite")
struct OutboxTests {
    @Test("the same event enqueued twice is stored and delivered once")
    func idempotent() async throws {
        let directory = try TemporaryDirectory()
        let notifier = RecordingNotifier(name: "a")
        let outbox = try await NotificationOutbox(path: directory.file("outbox.db"), routes: [.init(notifier)])
        #expect(try await outbox.enqueue(event(1)) == ["a": .queued])
        #expect(try await outbox.enqueue(event(1)) == ["a": .duplicate])
        let result = await outbox.flush(timeout: .seconds(5))
        #expect(result == .init(delivered: 1, dead: 0, pending: 0))
        #expect(await notifier.delivered.map(\.idempotencyKey) == ["backup-failed:b-1"])
        // A second outbox on the same file (another process) knows the key too.
        let again = try await NotificationOutbox(path: directory.file("outbox.db"), routes: [.init(notifier)])
        #expect(try await again.enqueue(event(1)) == ["a": .duplicate])
    }

    @Test("an identical event within the dedupe window is suppressed; after it, delivered")
    func dedupe() async throws {
        let directory = try TemporaryDirectory()
        let clock = TestClock()
        let notifier = RecordingNotifier(name: "a")
        let outbox = try await NotificationOutbox(
            path: directory.file("outbox.db"), routes: [.init(notifier, delivery: .init(dedupeWindow: .seconds(600)))], clock: clock)
        let first = RecoveryEvent(kind: .storageLocationUnavailable, severity: .critical, target: "storage/default", summary: "down", occurredAt: clock.now(), idempotencyKey: "k1")
        var second = first
        second.idempotencyKey = "k2"
        var third = first
        third.idempotencyKey = "k3"
        #expect(try await outbox.enqueue(first) == ["a": .queued])
        #expect(try await outbox.enqueue(second) == ["a": .suppressed])
        clock.advance(601)
        #expect(try await outbox.enqueue(third) == ["a": .queued])
        _ = await outbox.flush(timeout: .seconds(5))
        // Due rows are delivered concurrently, so in no promised order.
        #expect(await notifier.delivered.map(\.idempotencyKey).sorted() == ["k1", "k3"])
        #expect(try await outbox.entries(states: [.suppressed]).map(\.event.idempotencyKey) == ["k2"])
    }

    @Test("temporary failures back off exponentially with jitter, then succeed; every try is audited")
    func backoff() async throws {
        let directory = try TemporaryDirectory()
        let clock = TestClock()
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"))
        let notifier = RecordingNotifier(name: "a")
        await notifier.failNext([.temporary("a answered HTTP 503"), .temporary("a answered HTTP 503"), .temporary("a did not answer")])
        let outbox = try await NotificationOutbox(
            path: directory.file("outbox.db"), routes: [.init(notifier, delivery: .init(maxAttempts: 5, retryBackoff: .seconds(10), maxBackoff: .seconds(25)))],
            audit: trail, clock: clock)
        try await outbox.enqueue(event(1))
        var waits: [TimeInterval] = []
        for _ in 0..<3 {
            let round = await outbox.deliverDue()
            #expect(round == .init(tried: 1, delivered: 0, retrying: 1, dead: 0))
            let next = try #require(try await outbox.entries(states: [.pending]).first).nextAttemptAt
            waits.append(next.timeIntervalSince(clock.now()))
            #expect(await outbox.deliverDue().tried == 0, "not due before its backoff")
            clock.advance(waits.last! + 0.01)
        }
        // 10 s, 20 s, then capped at 25 s; each drawn from the upper half.
        #expect(waits[0] >= 5 && waits[0] <= 10 && waits[1] >= 10 && waits[1] <= 20 && waits[2] >= 12.5 && waits[2] <= 25, "\(waits)")
        #expect(await outbox.deliverDue() == .init(tried: 1, delivered: 1, retrying: 0, dead: 0))
        let entry = try #require(try await outbox.entries(states: [.delivered]).first)
        #expect(entry.attempts == 4 && entry.lastError == nil)
        let outcomes = try await trail.entries(matching: AuditQuery(operation: "notify.deliver", kind: .outcome)).entries
        #expect(outcomes.map(\.outcome) == [.failure, .failure, .failure, .success])
        #expect(outcomes.allSatisfy { $0.target == "notify/a/backup-failed:b-1" })
        #expect(outcomes[0].error == "temporary: a answered HTTP 503")
        let attempts = try await trail.entries(matching: AuditQuery(operation: "notify.deliver", kind: .attempt)).entries
        #expect(attempts.count == 4)
        #expect(try await trail.verify().isValid)
    }

    @Test("a permanent failure dead-letters at once; the last attempt dead-letters; retry replays; unknown ids change nothing")
    func deadLetters() async throws {
        let directory = try TemporaryDirectory()
        let clock = TestClock()
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"))
        let notifier = RecordingNotifier(name: "a")
        let outbox = try await NotificationOutbox(
            path: directory.file("outbox.db"), routes: [.init(notifier, delivery: .init(maxAttempts: 2, retryBackoff: .seconds(1), maxBackoff: .seconds(1)))],
            audit: trail, clock: clock)
        await notifier.failNext([.permanent("a rejected the event with HTTP 400"), .temporary("x"), .temporary("y")])
        try await outbox.enqueue(event(1))
        #expect(await outbox.deliverDue().dead == 1)
        try await outbox.enqueue(event(2))
        #expect(await outbox.deliverDue().retrying == 1)
        clock.advance(2)
        #expect(await outbox.deliverDue().dead == 1)
        let dead = try await outbox.entries(states: [.dead])
        #expect(Set(dead.map(\.event.idempotencyKey)) == ["backup-failed:b-1", "backup-failed:b-2"])
        #expect(dead.first { $0.event.idempotencyKey == "backup-failed:b-1" }?.lastError == "a rejected the event with HTTP 400")

        await #expect(throws: RecoveryError.self) { try await outbox.retry(ids: [dead[0].id, 9999]) }
        #expect(try await outbox.entries(states: [.dead]).count == 2, "a bad id moves nothing")

        let moved = try await outbox.retry(ids: nil)
        #expect(moved.count == 2)
        #expect(await outbox.flush(timeout: .seconds(5)).delivered == 2)
        #expect(try await outbox.entries(states: [.dead]).isEmpty)
        let retries = try await trail.entries(matching: AuditQuery(operation: "notify.retry", kind: .outcome)).entries
        #expect(retries.count == 1 && retries[0].outcome == .success)
    }

    @Test("run() delivers what is enqueued while it sleeps, at once, and ends when cancelled", .timeLimit(.minutes(1)))
    func runLoop() async throws {
        let directory = try TemporaryDirectory()
        let notifier = RecordingNotifier(name: "a")
        var configuration = NotificationOutbox.Configuration()
        configuration.pollInterval = .seconds(30)   // only the enqueue's wake-up can explain a quick delivery
        let outbox = try await NotificationOutbox(path: directory.file("outbox.db"), routes: [.init(notifier, delivery: .init(ratePerMinute: nil))], configuration: configuration)
        let loop = Task { try await outbox.run() }
        for round in 1...50 {
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...3)))
            let clock = ContinuousClock()
            let started = clock.now
            try await outbox.enqueue(event(round))
            while await notifier.delivered.count < round, clock.now - started < .seconds(10) { try await Task.sleep(for: .milliseconds(1)) }
            #expect(await notifier.delivered.count == round, "event \(round) was not delivered within 10 s of its enqueue")
        }
        loop.cancel()
        _ = try? await loop.value   // would hang (and hit the time limit) if the sleeper missed its cancellation
    }

    @Test("a rate limit delays deliveries past it, and drops none")
    func rateLimit() async throws {
        let directory = try TemporaryDirectory()
        let clock = TestClock()
        let notifier = RecordingNotifier(name: "a")
        let outbox = try await NotificationOutbox(path: directory.file("outbox.db"), routes: [.init(notifier, delivery: .init(ratePerMinute: 3))], clock: clock)
        try await outbox.enqueue(contentsOf: (1...5).map { event($0) })
        #expect(await outbox.deliverDue().delivered == 3)
        #expect(await outbox.deliverDue().tried == 0)
        clock.advance(61)
        #expect(await outbox.deliverDue().delivered == 2)
        #expect(await notifier.delivered.count == 5)
    }

    @Test("an error that is not a NotifierError counts as temporary, and URLs in error text are removed")
    func scrubbed() async throws {
        struct Leaky: Notifier {
            let name = "leaky"
            func deliver(_ event: RecoveryEvent) async throws {
                throw NotifierError.temporary("POST https://hooks.example.com/services/T0/B0/SECRETTOKEN failed")
            }
        }
        let directory = try TemporaryDirectory()
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"))
        let outbox = try await NotificationOutbox(path: directory.file("outbox.db"), routes: [.init(Leaky())], audit: trail)
        try await outbox.enqueue(event(1))
        _ = await outbox.deliverDue()
        let entry = try #require(try await outbox.entries().first)
        #expect(entry.lastError == "POST [URL] failed")
        let outcome = try #require(try await trail.entries(matching: AuditQuery(operation: "notify.deliver", kind: .outcome)).entries.first)
        #expect(!(outcome.error ?? "").contains("SECRETTOKEN"))
        for file in ["outbox.db", "audit.db"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: directory.file(file)))
            #expect(bytes.range(of: Data("SECRETTOKEN".utf8)) == nil, "\(file) holds the token")
        }
    }

    @Test("bad input: duplicate notifier names, unknown types, bad delivery settings, unset secrets — clear errors, nothing built")
    func badInput() async throws {
        let directory = try TemporaryDirectory()
        await #expect(throws: RecoveryError.self) {
            try await NotificationOutbox(path: directory.file("o.db"), routes: [.init(RecordingNotifier(name: "a")), .init(RecordingNotifier(name: "a"))])
        }
        let registry = NotifierRegistry.standard()
        func message(_ entries: [NotifierPolicy], environment: [String: String] = [:]) -> String? {
            do {
                _ = try registry.makeRoutes(for: RecoveryPolicy(storage: .init(endpoint: "http://127.0.0.1:9", bucket: "b", credentials: .environment(accessKeyID: "A", secretAccessKey: "B")), notifiers: entries), environment: environment)
                return nil
            } catch let error as RecoveryError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        #expect(message([.init(name: "x", type: "pager")])?.contains("type 'pager', which is not registered (known: alertmanager, log, process, slack, webhook)") == true)
        #expect(message([.init(name: "x", type: "webhook", settings: ["url": "env:HOOK", "secret": "env:S"])])?.contains("names the environment variable HOOK, which is not set") == true)
        #expect(message([.init(name: "x", type: "webhook", settings: ["url": "env:HOOK", "secret": "env:S"])], environment: ["HOOK": "ftp://x/y", "S": "s"])?.contains("is not an http(s) URL") == true)
        #expect(message([.init(name: "x", type: "log", settings: ["maxAttempts": "0"])])?.contains("settings.maxAttempts must be a whole number ≥ 1") == true)
        #expect(message([.init(name: "x", type: "log", settings: ["retryBackoff": "soon"])])?.contains("settings.retryBackoff must be a duration") == true)
        #expect(message([.init(name: "x", type: "log"), .init(name: "x", type: "log")])?.contains("notifier 'x' is defined twice") == true)
        let secretValue = "s3cr3t-\(UUID())"
        let errorText = message([.init(name: "x", type: "webhook", settings: ["url": "env:HOOK", "secret": "env:S"])], environment: ["HOOK": "nope \(secretValue)", "S": "s"]) ?? ""
        #expect(!errorText.contains(secretValue), "an error must not echo a secret value: \(errorText)")
        if FileManager.default.fileExists(atPath: directory.file("o.db")) {
            let entries = try await NotificationOutbox(path: directory.file("o.db")).entries()
            #expect(entries.isEmpty)
        }
    }
}
