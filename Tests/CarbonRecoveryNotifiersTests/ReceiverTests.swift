// The notifiers against real receivers: a local webhook receiver that verifies signatures and
// fails at random (503, timeouts, reset connections), and Debian's real Alertmanager. 1,000
// events go through `carbon-recovery notify flush` processes, one stopped mid-way by SIGTERM and
// one killed, and are counted at the receiver by idempotency key.
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryNotifiers
import CarbonRecoveryPolicy
import Foundation
import Testing
import TestSupport

/// A policy file with one webhook notifier (and optionally an Alertmanager one).
func writePolicy(_ directory: TemporaryDirectory, webhook: WebhookReceiver?, alertmanager: String? = nil, delivery: String) throws -> String {
    var notifiers: [String] = []
    if webhook != nil {
        notifiers.append("  - {name: ops-webhook, type: webhook, settings: {url: env:TEST_WEBHOOK_URL, secret: env:TEST_WEBHOOK_SECRET, \(delivery)}}")
    }
    if alertmanager != nil {
        notifiers.append("  - {name: alertmanager, type: alertmanager, settings: {url: env:TEST_ALERTMANAGER_URL, \(delivery)}}")
    }
    let file = directory.file("policy-\(UUID().uuidString.prefix(6)).yaml")
    try """
        storage:
          endpoint: http://127.0.0.1:9
          bucket: b
          credentials: {environment: {accessKeyID: TEST_S3_ACCESS_KEY, secretAccessKey: TEST_S3_SECRET_KEY}}
        notifiers:
        \(notifiers.joined(separator: "\n"))
        """.write(toFile: file, atomically: true, encoding: .utf8)
    return file
}

@Suite("Notifiers against real receivers", .serialized, .timeLimit(.minutes(20)))
struct ReceiverTests {
    static let secret = "hmac-\(UUID().uuidString)"

    /// Enqueues `count` events through the SDK (the outbox file the CLI then delivers from).
    func enqueue(_ count: Int, policyFile: String, outboxPath: String, environment: [String: String], prefix: String = "e") async throws {
        let policy = try PolicyFile.load(path: policyFile).policy
        let routes = try NotifierRegistry.standard().makeRoutes(for: policy, environment: environment)
        let outbox = try await NotificationOutbox(path: outboxPath, routes: routes)
        let now = Date()
        let events = (0..<count).map { index in
            RecoveryEvent(
                kind: .backupFailed, severity: .critical, target: "backup/\(prefix)-\(index)", summary: "backup \(prefix)-\(index) failed",
                details: ["phase": "Failed", "index": String(index)], occurredAt: now, idempotencyKey: "backup-failed:\(prefix)-\(index)")
        }
        try await outbox.enqueue(contentsOf: events)
    }

    @Test("1,000 events to a receiver failing 30% at random: none lost, none accepted twice, across a SIGTERM restart; signatures verified; no secret anywhere")
    func thousandAcrossRestart() async throws {
        let directory = try TemporaryDirectory()
        let receiver = try await WebhookReceiver(directory: directory, secret: Self.secret, failRate: 0.3, hangSeconds: 1.5)
        defer { receiver.stop() }
        let policy = try writePolicy(
            directory, webhook: receiver, delivery: #"timeoutSeconds: "1", maxAttempts: "40", retryBackoff: 50ms, maxBackoff: 400ms, ratePerMinute: "0""#)
        let environment = [
            "TEST_WEBHOOK_URL": receiver.url, "TEST_WEBHOOK_SECRET": Self.secret, "CARBON_RECOVERY_AUDIT_DB": directory.file("audit.db"),
            "CARBON_RECOVERY_OUTBOX_DB": "",
        ]
        let outboxPath = directory.file("audit.outbox.db")
        try await enqueue(1000, policyFile: policy, outboxPath: outboxPath, environment: environment)

        // First process: stopped by SIGTERM once the receiver has accepted some.
        let first = try CLIProcess(["notify", "flush", "--config", policy, "--timeout", "600"], environment: environment)
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline, (try await receiver.stats()["accepted"]?.integerValue ?? 0) < 300 {
            try await Task.sleep(for: .milliseconds(50))
        }
        let status = try await first.terminate()
        #expect(status == 1, "stopped with work left: exit 1\n\(first.output)")
        let midway = try await receiver.stats()["accepted"]?.integerValue ?? 0
        #expect(midway >= 300 && midway < 1000, "stopped mid-way, at \(midway)")

        // Second process: delivers the rest.
        let second = try CLIProcess(["notify", "flush", "--config", policy, "--timeout", "600"], environment: environment)
        let exit = try await second.waitForExit(timeout: .seconds(300))
        #expect(exit == 0, "\(second.output)")

        let stats = try await receiver.stats()
        #expect(stats["unique"] == 1000, "none lost")
        #expect(stats["accepted"] == 1000 && stats["duplicates"] == 0, "none accepted twice: \(stats["accepted"]?.integerValue ?? -1) accepted")
        #expect(stats["bad_signatures"] == 0 && stats["headers_with_secret"] == 0 && stats["wrong_path"] == 0)
        let failures = stats["failures"]
        let injected = ["503", "timeout", "reset"].map { failures?[$0]?.integerValue ?? 0 }
        #expect(injected.allSatisfy { $0 > 0 }, "every failure mode was exercised: \(injected)")

        // The audit trail holds one successful notify.deliver per event, and failures for the rest.
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"), configuration: .init(readOnly: true))
        let successes = try await trail.statistics(matching: AuditQuery(operation: "notify.deliver", kind: .outcome, outcome: .success))
        #expect(successes.rows.reduce(0) { $0 + $1.count } == 1000)
        #expect(try await trail.verify().isValid)
        // No secret in any output, the outbox, or the audit trail.
        for text in [first.output, second.output] {
            #expect(!text.contains(Self.secret) && !text.contains(receiver.token))
        }
        for file in ["audit.db", "audit.outbox.db"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: directory.file(file)))
            #expect(bytes.range(of: Data(Self.secret.utf8)) == nil && bytes.range(of: Data(receiver.token.utf8)) == nil, "\(file) holds a secret")
        }
    }

    @Test("a killed deliverer loses nothing; its redeliveries carry the same key for the receiver to drop")
    func killed() async throws {
        let directory = try TemporaryDirectory()
        let receiver = try await WebhookReceiver(directory: directory, secret: Self.secret)
        defer { receiver.stop() }
        let policy = try writePolicy(directory, webhook: receiver, delivery: #"retryBackoff: 50ms, maxBackoff: 200ms, ratePerMinute: "0""#)
        let environment = ["TEST_WEBHOOK_URL": receiver.url, "TEST_WEBHOOK_SECRET": Self.secret, "CARBON_RECOVERY_AUDIT_DB": directory.file("audit.db")]
        try await enqueue(400, policyFile: policy, outboxPath: directory.file("audit.outbox.db"), environment: environment)
        let first = try CLIProcess(["notify", "flush", "--config", policy], environment: environment)
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline, (try await receiver.stats()["accepted"]?.integerValue ?? 0) < 100 {
            try await Task.sleep(for: .milliseconds(20))
        }
        first.kill()
        // The killed process's leases (30 s) keep other deliverers off its rows until they expire.
        let routes = try NotifierRegistry.standard().makeRoutes(for: try PolicyFile.load(path: policy).policy, environment: environment)
        let outbox = try await NotificationOutbox(path: directory.file("audit.outbox.db"), routes: routes)
        let result = await outbox.flush(timeout: .seconds(120))
        #expect(result.pending == 0 && result.dead == 0)
        let stats = try await receiver.stats()
        #expect(stats["unique"] == 400, "none lost")
        let redelivered = (stats["accepted"]?.integerValue ?? 0) - 400
        // At most the deliveries in flight when it died (16 at once) come again, each with its key.
        #expect(redelivered >= 0 && redelivered <= 16, "\(redelivered) redelivered")
    }

    @Test("a receiver that rejects (HTTP 400) dead-letters at once; notify list --failed shows it; notify retry replays it once fixed")
    func rejectedThenReplayed() async throws {
        let directory = try TemporaryDirectory()
        let refusing = try await WebhookReceiver(directory: directory, secret: Self.secret, status: 400)
        let policy = try writePolicy(directory, webhook: refusing, delivery: #"ratePerMinute: "0""#)
        var environment = ["TEST_WEBHOOK_URL": refusing.url, "TEST_WEBHOOK_SECRET": Self.secret, "CARBON_RECOVERY_AUDIT_DB": directory.file("audit.db")]
        try await enqueue(3, policyFile: policy, outboxPath: directory.file("audit.outbox.db"), environment: environment)
        let flush = try await run(try executable("carbon-recovery"), ["notify", "flush", "--config", policy], environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
        #expect(flush.status == 1 && flush.standardOutput.contains("delivered 0, failed for good 3, still queued 0"), "\(flush.standardOutput)\(flush.standardError)")
        refusing.stop()
        let list = try await run(try executable("carbon-recovery"), ["notify", "list", "--failed", "--output", "json"], environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
        let dead = try JSONValue(parsing: Array(list.standardOutput.utf8)).arrayValue ?? []
        #expect(dead.count == 3 && dead.allSatisfy { $0["lastError"]?.stringValue == "ops-webhook (webhook) rejected the event with HTTP 400" }, "\(list.standardOutput)")
        #expect(!list.standardOutput.contains(refusing.token))

        // Bad input to retry changes nothing.
        let bad = try await run(try executable("carbon-recovery"), ["notify", "retry", "--config", policy, "424242"], environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
        #expect(bad.status == 1 && bad.standardError.contains("no dead notification with id 424242"))

        let fixed = try await WebhookReceiver(directory: directory, secret: Self.secret)
        defer { fixed.stop() }
        environment["TEST_WEBHOOK_URL"] = fixed.url
        let retry = try await run(try executable("carbon-recovery"), ["notify", "retry", "--config", policy, "--all"], environment: ProcessInfo.processInfo.environment.merging(environment) { $1 })
        #expect(retry.status == 0 && retry.standardOutput.contains("replaying 3 deliveries") && retry.standardOutput.contains("delivered 3"), "\(retry.standardOutput)\(retry.standardError)")
        #expect(try await fixed.stats()["unique"] == 3)
    }

    @Test("Slack: readable blocks (header, summary, fields, context with the key) that a receiver accepts; a refusal is permanent")
    func slack() async throws {
        let directory = try TemporaryDirectory()
        let receiver = try await WebhookReceiver(directory: directory, secret: "unused", unsigned: true)
        defer { receiver.stop() }
        let notifier = SlackNotifier(name: "ops-slack", url: URL(string: receiver.url)!)
        let event = RecoveryEvent(
            kind: .restoreFinished, severity: .info, target: "restore/r-1", summary: "restore r-1 Completed in 42 s", details: ["phase": "Completed", "seconds": "42"],
            occurredAt: Date(), idempotencyKey: "restore-finished:r-1", correlationID: "c-1")
        try await notifier.deliver(event)
        let body = try #require(try await receiver.stats()["bodies"]?.arrayValue?.first)
        #expect(body["text"]?.stringValue == "INFO restore-finished: restore r-1 Completed in 42 s")
        let blocks = body["blocks"]?.arrayValue ?? []
        #expect(blocks.map { $0["type"]?.stringValue ?? "" } == ["header", "section", "section", "context"])
        #expect(blocks[1]["text"]?["text"]?.stringValue?.contains("restore r-1 Completed in 42 s") == true)
        #expect((blocks[2]["fields"]?.arrayValue ?? []).contains { $0["text"]?.stringValue == "*seconds*\n42" })
        #expect(blocks[3]["elements"]?.arrayValue?.first?["text"]?.stringValue?.contains("restore-finished:r-1") == true)

        let refusing = try await WebhookReceiver(directory: directory, secret: "unused", status: 404)
        defer { refusing.stop() }
        let error = await #expect(throws: NotifierError.self) { try await SlackNotifier(name: "ops-slack", url: URL(string: refusing.url)!).deliver(event) }
        #expect(error?.isPermanent == true && error?.message == "ops-slack (slack) rejected the event with HTTP 404")
        let description = error.map { String(describing: $0) } ?? ""
        #expect(!description.contains(refusing.token))
    }

    @Test("Alertmanager: one alert per event however often it is delivered; an RPO recovery resolves the breach", .enabled(if: FileManager.default.isExecutableFile(atPath: AlertmanagerProcess.binary)))
    func alertmanager() async throws {
        let directory = try TemporaryDirectory()
        let alertmanager = try await AlertmanagerProcess(directory: directory)
        defer { alertmanager.stop() }
        let notifier = AlertmanagerNotifier(name: "am", url: URL(string: alertmanager.url)!)
        let now = Date()
        let failed = RecoveryEvent(kind: .backupFailed, severity: .critical, target: "backup/nightly-1", summary: "backup nightly-1 failed", details: ["phase": "Failed"], occurredAt: now)
        try await notifier.deliver(failed)
        try await notifier.deliver(failed)   // a redelivery after a lost answer
        let breach = RecoveryEvent(kind: .rpoBreached, severity: .critical, target: "namespace/data-platform", summary: "stale", occurredAt: now)
        try await notifier.deliver(breach)
        var alerts = try await alertmanager.alerts()
        #expect(alerts.count == 2, "\(alerts)")
        let backupAlert = try #require(alerts.first { $0["labels"]?["alertname"] == "CarbonRecoveryBackupFailed" })
        #expect(backupAlert["labels"]?["target"] == "backup/nightly-1" && backupAlert["labels"]?["severity"] == "critical")
        #expect(backupAlert["annotations"]?["idempotency_key"]?.stringValue == failed.idempotencyKey)
        #expect(alerts.contains { $0["labels"]?["alertname"] == "CarbonRecoveryRpoBreached" })

        try await notifier.deliver(RecoveryEvent(kind: .rpoRecovered, severity: .info, target: "namespace/data-platform", summary: "fresh again", occurredAt: now.addingTimeInterval(1)))
        alerts = try await alertmanager.alerts()
        #expect(alerts.map { $0["labels"]?["alertname"]?.stringValue ?? "" } == ["CarbonRecoveryBackupFailed"], "the breach is resolved: \(alerts)")

        // A payload Alertmanager rejects is a permanent failure.
        let broken = AlertmanagerNotifier(name: "am", url: URL(string: alertmanager.url + "/nowhere")!)
        await #expect(throws: NotifierError.self) { try await broken.deliver(failed) }
    }
}
