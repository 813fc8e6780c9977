// The notifiers end to end on the sandbox: a backup that fails (the stand-in's fault switch)
// reaches a real webhook receiver and a real Alertmanager exactly once; then `run
// --metrics-port` serves the documented series, which `promtool check metrics` accepts.
import CarbonRecovery
import Foundation
import Testing
import TestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite("Notifications and metrics on the sandbox", .timeLimit(.minutes(10)))
struct NotifyCLITests {
    @Test(
        "a failed backup reaches the webhook and Alertmanager exactly once; run --metrics-port serves the documented series",
        .enabled(if: FileManager.default.isExecutableFile(atPath: AlertmanagerProcess.binary)))
    func failedBackupAndMetrics() async throws {
        _ = try Sandbox.current()
        let directory = try TemporaryDirectory()
        let namespace = "velero-nt-\(UUID().uuidString.prefix(6).lowercased())"
        let created = try await run("/usr/bin/env", ["kubectl", "create", "namespace", namespace])
        #expect(created.status == 0, "\(created.standardError)")
        let standIn = try await StandInProcess(namespace: namespace, directory: directory, installLocation: true)
        defer { standIn.stop() }
        let secret = "hmac-\(UUID().uuidString)"
        let receiver = try await WebhookReceiver(directory: directory, secret: secret)
        defer { receiver.stop() }
        let alertmanager = try await AlertmanagerProcess(directory: directory)
        defer { alertmanager.stop() }
        let endpoint = ProcessInfo.processInfo.environment["CARBON_RECOVERY_S3_ENDPOINT"] ?? ""
        let file = directory.file("carbon-recovery.yaml")
        try """
            storage:
              endpoint: \(endpoint)
              bucket: 254carbon-backups
              credentials: {environment: {accessKeyID: TEST_S3_ACCESS_KEY, secretAccessKey: TEST_S3_SECRET_KEY}}
            objectives:
              - {class: standard, namespaces: [\(namespace)], rto: 1h0m0s, rpo: 1h0m0s}
            automation:
              validate: "off"
              rpoCheck: "@every 2s"
              cleanup: "off"
            notifiers:
              - {name: ops-webhook, type: webhook, settings: {url: env:TEST_WEBHOOK_URL, secret: env:TEST_WEBHOOK_SECRET}}
              - {name: alertmanager, type: alertmanager, settings: {url: env:TEST_ALERTMANAGER_URL}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let environment = [
            "XDG_STATE_HOME": directory.file("state"), "CARBON_RECOVERY_AUDIT_DB": "", "TEST_WEBHOOK_URL": receiver.url,
            "TEST_WEBHOOK_SECRET": secret, "TEST_ALERTMANAGER_URL": alertmanager.url,
        ]
        let backup = "nt-fail-\(UUID().uuidString.prefix(6).lowercased())"
        let failed = try await run(try executable("carbon-recovery"), [
            "backup", "create", backup, "--include-namespaces", namespace, "--labels", "stand-in.carbon-recovery.dev/fault=fail", "--wait",
            "--config", file, "--velero-namespace", namespace,
        ], environment: environment)
        #expect(failed.status == 1, "\(failed.standardOutput)\(failed.standardError)")
        #expect(failed.standardError.contains("notifications: 2 delivered"), "\(failed.standardError)")

        var stats = try await receiver.stats()
        #expect(stats["accepted"] == 1 && stats["unique"] == 1 && stats["kinds"]?["backup-failed"] == 1, "\(stats)")
        #expect(stats["bad_signatures"] == 0)
        let body = try #require(stats["bodies"]?.arrayValue?.first)
        #expect(body["target"] == .string("backup/\(backup)") && body["severity"] == "critical")
        var alerts = try await alertmanager.alerts()
        #expect(alerts.count == 1 && alerts.first?["labels"]?["target"] == .string("backup/\(backup)")
            && alerts.first?["labels"]?["alertname"] == "CarbonRecoveryBackupFailed", "\(alerts)")

        // Delivering again finds nothing to send: still exactly once at both.
        let again = try await run(try executable("carbon-recovery"), ["notify", "flush", "--config", file], environment: environment)
        #expect(again.status == 0 && again.standardOutput.contains("delivered 0, failed for good 0, still queued 0"), "\(again.standardOutput)\(again.standardError)")
        stats = try await receiver.stats()
        alerts = try await alertmanager.alerts()
        #expect(stats["accepted"] == 1 && alerts.count == 1)
        for text in [failed.standardOutput, failed.standardError, again.standardOutput] {
            #expect(!text.contains(secret) && !text.contains(receiver.token))
        }

        // A good backup, then the scheduler with metrics.
        let good = try await run(try executable("carbon-recovery"), [
            "backup", "create", "nt-ok-\(backup.suffix(6))", "--include-namespaces", namespace, "--wait", "--velero-namespace", namespace,
        ], environment: environment)
        #expect(good.status == 0, "\(good.standardOutput)\(good.standardError)")
        let scheduler = try CLIProcess(["run", "--config", file, "--velero-namespace", namespace, "--metrics-port", "0"], environment: environment)
        let url = String(try await scheduler.waitForLine(timeout: .seconds(60)) { $0.hasPrefix("metrics: ") }.dropFirst("metrics: ".count))
        _ = try await scheduler.waitForLine(timeout: .seconds(60)) { $0.hasPrefix("ran rpo-check") }
        #expect(url.hasPrefix("http://127.0.0.1:"))
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let exposition = String(decoding: data, as: UTF8.self)
        for series in [
            #"carbon_recovery_operations_total{operation="rpo.check",outcome="success"}"#,
            #"carbon_recovery_operation_duration_seconds_bucket{operation="rpo.check",le="0.5"}"#,
            #"carbon_recovery_operation_duration_seconds_count{operation="rpo.check"}"#,
            #"carbon_recovery_last_success_timestamp_seconds{operation="rpo.check"}"#,
            #"carbon_recovery_namespace_last_backup_timestamp_seconds{namespace="\#(namespace)"}"#,
            #"carbon_recovery_namespace_rpo_age_seconds{namespace="\#(namespace)"}"#,
            #"carbon_recovery_namespace_rpo_seconds{namespace="\#(namespace)"} 3600"#,
            #"carbon_recovery_storage_location_available{location="default"} 1"#,
            #"carbon_recovery_storage_bytes{prefix="backups/"}"#,
            #"carbon_recovery_storage_objects{prefix="backups/"}"#,
            #"carbon_recovery_outbox_depth{notifier="ops-webhook",state="pending"}"#,
        ] {
            #expect(exposition.contains(series), "missing \(series) in:\n\(exposition)")
        }
        let exitStatus = try await scheduler.terminate()
        #expect(exitStatus == 0, "\(scheduler.output)")

        // The exposition is valid Prometheus text (promtool reads it from standard input).
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") {
            let saved = directory.file("metrics.txt")
            try exposition.write(toFile: saved, atomically: true, encoding: .utf8)
            let check = try await run("/bin/sh", ["-c", "/usr/bin/promtool check metrics < '\(saved)'"])
            // swift-metrics has no help text, which promtool's linter reports (exit 3); anything else is a failure.
            let problems = (check.standardOutput + check.standardError).split(separator: "\n").filter { !$0.hasSuffix(" no help text") }
            #expect((check.status == 0 || check.status == 3) && problems.isEmpty, "\(check.standardOutput)\(check.standardError)")
        }
        _ = try? await run("/usr/bin/env", ["kubectl", "delete", "namespace", namespace, "--wait=false"])
    }

    @Test("bad input: a metrics port that is not a port, a policy whose notifier secret is unset — one clear error, nothing queued")
    func badInput() async throws {
        let directory = try TemporaryDirectory()
        let file = directory.file("p.yaml")
        try """
            storage:
              endpoint: http://127.0.0.1:9
              bucket: b
              credentials: {environment: {accessKeyID: A, secretAccessKey: B}}
            automation: {validate: "@every 1m"}
            notifiers:
              - {name: ops-webhook, type: webhook, settings: {url: env:UNSET_HOOK_URL_FOR_TEST, secret: env:UNSET_HOOK_SECRET_FOR_TEST}}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let environment = ["XDG_STATE_HOME": directory.file("state"), "CARBON_RECOVERY_AUDIT_DB": ""]
        let port = try await run(try executable("carbon-recovery"), ["run", "--config", file, "--metrics-port", "70000"], environment: environment)
        #expect(port.status == 1 && port.standardError.contains("--metrics-port 70000 is not a TCP port"), "\(port.standardError)")
        let flush = try await run(try executable("carbon-recovery"), ["notify", "flush", "--config", file], environment: environment)
        #expect(flush.status == 1 && flush.standardError.contains("url names the environment variable UNSET_HOOK_URL_FOR_TEST, which is not set"), "\(flush.standardError)")
        let list = try await run(try executable("carbon-recovery"), ["notify", "list"], environment: environment)
        #expect(list.status == 1 && list.standardError.contains("there is no notification outbox"), "\(list.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("state/carbon-recovery/audit.outbox.db")))
    }
}
