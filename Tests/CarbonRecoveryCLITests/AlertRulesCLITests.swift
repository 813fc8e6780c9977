// `carbon-recovery render alerts` as a real process, and what it writes run through Debian's promtool
// (prometheus 2.42): `promtool check rules` on the rules file, and `promtool test rules` with synthetic
// series proving that each alert fires when it must and stays silent when it must not. The guide's
// original rules go through the same harness to show how they misbehave.
//
// promtool is Debian's `prometheus` package; scripts/bootstrap installs it. The tests that
// need it are skipped only when /usr/bin/promtool is missing.
import CarbonRecovery
import CarbonRecoveryPolicy
import Foundation
import Testing
import TestSupport

private let promtool = "/usr/bin/promtool"
private let hasPromtool = FileManager.default.isExecutableFile(atPath: promtool)

/// The guide's two rules exactly as it gives them.
private let guideRules = AlertRulesRenderer.guideRules

/// One alert promtool must see firing: its labels besides `alertname`, and its annotations exactly.
private struct Expected {
    var labels: [String: String]
    var annotations: [String: String]
}

/// One check: at `time`, the alerts named `alert` that fire are exactly `firing` (none when empty).
private struct Check {
    var time: String
    var alert: String
    var firing: [Expected]
}

/// One `tests:` entry of a promtool unit-test file: input series (`series`, `values`) and checks.
private struct Scenario {
    var series: [(String, String)]
    var checks: [Check]
}

/// A promtool unit-test file over `rulesFile`, evaluated every minute.
private func unitTests(_ rulesFile: String, _ scenarios: [Scenario]) -> String {
    func quoted(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
    func flow(_ map: [String: String]) -> String { "{" + map.keys.sorted().map { "\(quoted($0)): \(quoted(map[$0]!))" }.joined(separator: ", ") + "}" }
    var text = "rule_files:\n  - \(quoted(rulesFile))\nevaluation_interval: 1m\ntests:\n"
    for scenario in scenarios {
        text += "  - interval: 1m\n    input_series:\n"
        for (series, values) in scenario.series { text += "      - series: \(quoted(series))\n        values: \(quoted(values))\n" }
        text += "    alert_rule_test:\n"
        for check in scenario.checks {
            text += "      - eval_time: \(check.time)\n        alertname: \(check.alert)\n"
            if check.firing.isEmpty { text += "        exp_alerts: []\n" }
            text += check.firing.isEmpty ? "" : "        exp_alerts:\n"
            for alert in check.firing {
                text += "          - exp_labels: \(flow(alert.labels))\n            exp_annotations: \(flow(alert.annotations))\n"
            }
        }
    }
    return text
}

/// Runs `promtool test rules` on a unit-test file written to `directory`.
private func promtoolTest(_ directory: TemporaryDirectory, _ name: String, _ text: String) async throws -> ProcessResult {
    let file = directory.file(name)
    try text.write(toFile: file, atomically: true, encoding: .utf8)
    return try await run(promtool, ["test", "rules", file], timeout: .seconds(60))
}

// MARK: - The alerts we expect, with the annotations the renderer writes

private func failed(_ schedule: String, _ count: Int, window: String) -> Expected {
    Expected(
        labels: ["schedule": schedule, "severity": "critical"],
        annotations: [
            "summary": "Velero backup of schedule \(schedule) failed",
            "description": "\(count) backup(s) of schedule \(schedule) ended Failed in the last \(window). The alert clears \(window) after the "
                + "last failure; `velero backup get` lists the failed backup.",
        ])
}

private func partiallyFailed(_ schedule: String, _ count: Int, window: String) -> Expected {
    Expected(
        labels: ["schedule": schedule, "severity": "warning"],
        annotations: [
            "summary": "Velero backup of schedule \(schedule) partially failed",
            "description": "\(count) backup(s) of schedule \(schedule) ended PartiallyFailed in the last \(window): some items were not "
                + "backed up. `velero backup describe --details` names them.",
        ])
}

private func lastFailed(_ schedule: String) -> Expected {
    Expected(
        labels: ["schedule": schedule, "severity": "critical"],
        annotations: [
            "summary": "The last Velero backup of schedule \(schedule) failed",
            "description": "velero_backup_last_status has been 0 for schedule \(schedule) for 5m: its latest backup did not complete "
                + "(Failed, PartiallyFailed or FailedValidation) and none has succeeded since. The alert clears when the next backup of "
                + "the schedule succeeds.",
        ])
}

private func tooSlow(_ schedule: String, mean: String, window: String, threshold: String) -> Expected {
    Expected(
        labels: ["schedule": schedule, "severity": "warning"],
        annotations: [
            "summary": "Velero backups of schedule \(schedule) are slow",
            "description": "The backups of schedule \(schedule) that finished in the last \(window) took \(mean) on average, more than "
                + "\(threshold) (alerts.slowBackup).",
        ])
}

private func rpoBreached(_ namespace: String, objective: String, age: String, limit: String) -> Expected {
    Expected(
        labels: ["namespace": namespace, "objective": objective, "severity": "critical"],
        annotations: [
            "summary": "Namespace \(namespace) has no backup within its RPO",
            "description": "The last good backup of namespace \(namespace) finished \(age) ago, more than \(limit).",
        ])
}

private func noBackupMetric(_ namespace: String) -> Expected {
    Expected(
        labels: ["namespace": namespace, "severity": "warning"],
        annotations: [
            "summary": "No last-backup time for namespace \(namespace)",
            "description": "carbon_recovery_namespace_last_backup_timestamp_seconds has had no series for namespace \(namespace) for 15m, "
                + "so its RPO is not being checked. Is `carbon-recovery run` running and scraped, and has the namespace ever been backed up?",
        ])
}

private func storageUnavailable(_ location: String) -> Expected {
    Expected(
        labels: ["location": location, "severity": "critical"],
        annotations: [
            "summary": "Backup storage location \(location) is unavailable",
            "description": "carbon-recovery has found backup storage location \(location) unavailable for 5m: backups to it fail until it "
                + "is reachable again (`velero backup-location get`).",
        ])
}

private func deadLettered(_ notifier: String, _ count: Int) -> Expected {
    Expected(
        labels: ["notifier": notifier, "state": "dead", "severity": "warning"],
        annotations: [
            "summary": "Notifications to \(notifier) were dead-lettered",
            "description": "\(count) notification(s) for notifier \(notifier) exhausted their retries and were not delivered.",
        ])
}

@Suite("carbon-recovery render alerts")
struct AlertRulesCLITests {
    let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Examples/254carbon.yaml").path

    /// Renders `config` into `directory/out` and returns the plain rules file's path, checking the
    /// CLI's output, the PrometheusRule around the same groups, and `promtool check rules`.
    private func render(_ config: String, into directory: TemporaryDirectory, rules count: Int, namespace: String? = nil) async throws -> String {
        let output = directory.file("out")
        let result = try await run(
            try executable("carbon-recovery"), ["render", "alerts", "--config", config, "--output-dir", output] + (namespace.map { ["--namespace", $0] } ?? []))
        let rulesFile = output + "/prometheus/carbon-recovery-alerts.rules.yaml"
        let objectFile = output + "/k8s/monitoring/carbon-recovery-alerts.yaml"
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput == "wrote \(rulesFile) (\(count) rules)\nwrote \(objectFile) (\(count) rules)\n", "\(result.standardOutput)")

        let check = try await run(promtool, ["check", "rules", rulesFile])
        #expect(check.status == 0, "\(check.standardOutput)\(check.standardError)")
        #expect(check.standardOutput.contains("SUCCESS: \(count) rules found"), "\(check.standardOutput)")

        // The PrometheusRule holds the very same groups under spec, two spaces deeper.
        let plain = try String(contentsOfFile: rulesFile, encoding: .utf8)
        let object = try String(contentsOfFile: objectFile, encoding: .utf8)
        let groups = try #require(plain.range(of: "\ngroups:\n")).upperBound
        let indented = "groups:\n" + plain[groups...].split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }
            .joined(separator: "\n")
        #expect(object.hasSuffix("spec:\n  " + indented), "\(object)")
        #expect(object.contains("apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: carbon-recovery-alerts\n"))
        #expect(object.contains("  namespace: \(namespace ?? "velero")\n"))
        #expect(object.contains("    app.kubernetes.io/managed-by: carbon-recovery\n"))
        return rulesFile
    }

    @Test("the guide's example: 8 rules that promtool accepts, each firing when it must and silent when it must not",
          .enabled(if: hasPromtool, "promtool is missing: install Debian's prometheus package"))
    func guideExample() async throws {
        let directory = try TemporaryDirectory()
        let rules = try await render(example, into: directory, rules: 8)
        let text = try String(contentsOfFile: rules, encoding: .utf8)
        #expect(text.contains("expr: increase(velero_backup_failure_total[1h]) > 0\n"))
        #expect(text.contains("time() - carbon_recovery_namespace_last_backup_timestamp_seconds{namespace=~\"data-platform|vault-prod\"} > 900"))

        let window = "1h"
        let failures = Scenario(
            series: [
                // daily-backup fails once at 31m; critical-backup never fails; critical-backup partially fails at 61m.
                ("velero_backup_failure_total{schedule=\"daily-backup\"}", "0x30 1x150"),
                ("velero_backup_failure_total{schedule=\"critical-backup\"}", "0x180"),
                ("velero_backup_partial_failure_total{schedule=\"critical-backup\"}", "0x60 1x120"),
                // daily-backup's last backup failed from 31m to 60m; critical-backup's failed for 3 minutes only.
                ("velero_backup_last_status{schedule=\"daily-backup\"}", "1x30 0x29 1x120"),
                ("velero_backup_last_status{schedule=\"critical-backup\"}", "1x30 0x2 1x147"),
                ("velero_backup_attempt_total{schedule=\"daily-backup\"}", "0x20 1x40 2x120"),
                ("velero_backup_attempt_total{schedule=\"critical-backup\"}", "0x20 1x160"),
                // Velero just (re)started: it sets every schedule's last status to 0 before any backup ran.
                ("velero_backup_last_status{schedule=\"postgresql-backup\"}", "0x180"),
                ("velero_backup_attempt_total{schedule=\"postgresql-backup\"}", "0x180"),
            ],
            checks: [
                Check(time: "20m", alert: "VeleroBackupFailed", firing: []),
                Check(time: "40m", alert: "VeleroBackupFailed", firing: [failed("daily-backup", 1, window: window)]),
                Check(time: "90m", alert: "VeleroBackupFailed", firing: [failed("daily-backup", 1, window: window)]),
                // An hour after the failure the window no longer holds it: silent again, without a restart.
                Check(time: "100m", alert: "VeleroBackupFailed", firing: []),
                Check(time: "50m", alert: "VeleroBackupPartiallyFailed", firing: []),
                Check(time: "70m", alert: "VeleroBackupPartiallyFailed", firing: [partiallyFailed("critical-backup", 1, window: window)]),
                Check(time: "130m", alert: "VeleroBackupPartiallyFailed", firing: []),
                Check(time: "33m", alert: "VeleroBackupLastFailed", firing: []),  // pending: not 5m yet
                // Only daily-backup: not critical-backup (3 minutes), not postgresql-backup (no backup since the start).
                Check(time: "40m", alert: "VeleroBackupLastFailed", firing: [lastFailed("daily-backup")]),
                Check(time: "70m", alert: "VeleroBackupLastFailed", firing: []),  // the next backup succeeded
            ])
        let slow = Scenario(
            series: [
                // A 2-hour backup of daily-backup and a 10-minute one of critical-backup, both finishing at 31m;
                // postgresql-backup finished none (0/0 must not alert).
                ("velero_backup_duration_seconds_sum{schedule=\"daily-backup\"}", "0x30 7200x150"),
                ("velero_backup_duration_seconds_count{schedule=\"daily-backup\"}", "0x30 1x150"),
                ("velero_backup_duration_seconds_sum{schedule=\"critical-backup\"}", "0x30 600x150"),
                ("velero_backup_duration_seconds_count{schedule=\"critical-backup\"}", "0x30 1x150"),
                ("velero_backup_duration_seconds_sum{schedule=\"postgresql-backup\"}", "0x180"),
                ("velero_backup_duration_seconds_count{schedule=\"postgresql-backup\"}", "0x180"),
            ],
            checks: [
                Check(time: "20m", alert: "VeleroBackupTooSlow", firing: []),
                Check(time: "40m", alert: "VeleroBackupTooSlow", firing: [tooSlow("daily-backup", mean: "2h 0m 0s", window: window, threshold: "1h")]),
                Check(time: "100m", alert: "VeleroBackupTooSlow", firing: []),
            ])
        let limit = "the 15m RPO of objective 'critical'"
        let stale = Scenario(
            series: [
                // data-platform was last backed up at 0 (promtool's clock starts at the epoch); vault-prod
                // always just now; scratch is in no objective.
                ("carbon_recovery_namespace_last_backup_timestamp_seconds{namespace=\"data-platform\"}", "0x60"),
                ("carbon_recovery_namespace_last_backup_timestamp_seconds{namespace=\"vault-prod\"}", "0+60x60"),
                ("carbon_recovery_namespace_last_backup_timestamp_seconds{namespace=\"scratch\"}", "0x60"),
            ],
            checks: [
                Check(time: "10m", alert: "CarbonRecoveryRPOBreached", firing: []),
                Check(time: "20m", alert: "CarbonRecoveryRPOBreached", firing: [rpoBreached("data-platform", objective: "critical", age: "20m 0s", limit: limit)]),
                Check(time: "20m", alert: "CarbonRecoveryNoBackupMetric", firing: []),
            ])
        let missing = Scenario(
            series: [("carbon_recovery_namespace_last_backup_timestamp_seconds{namespace=\"data-platform\"}", "0+60x60")],
            checks: [
                Check(time: "10m", alert: "CarbonRecoveryNoBackupMetric", firing: []),  // pending: not 15m yet
                Check(time: "20m", alert: "CarbonRecoveryNoBackupMetric", firing: [noBackupMetric("vault-prod")]),
                Check(time: "20m", alert: "CarbonRecoveryRPOBreached", firing: []),
            ])
        let storage = Scenario(
            series: [
                // default is unavailable from 11m to 21m; secondary for 2 minutes only.
                ("carbon_recovery_storage_location_available{location=\"default\"}", "1x10 0x10 1x20"),
                ("carbon_recovery_storage_location_available{location=\"secondary\"}", "1x10 0x1 1x30"),
            ],
            checks: [
                Check(time: "14m", alert: "CarbonRecoveryStorageUnavailable", firing: []),
                Check(time: "17m", alert: "CarbonRecoveryStorageUnavailable", firing: [storageUnavailable("default")]),
                Check(time: "25m", alert: "CarbonRecoveryStorageUnavailable", firing: []),
            ])
        let deadLetters = Scenario(
            series: [
                ("carbon_recovery_outbox_depth{notifier=\"ops\",state=\"dead\"}", "0x10 2x10"),
                ("carbon_recovery_outbox_depth{notifier=\"ops\",state=\"pending\"}", "5x20"),
                ("carbon_recovery_outbox_depth{notifier=\"slack\",state=\"dead\"}", "0x20"),
            ],
            checks: [
                Check(time: "5m", alert: "CarbonRecoveryNotificationsDeadLettered", firing: []),
                Check(time: "15m", alert: "CarbonRecoveryNotificationsDeadLettered", firing: [deadLettered("ops", 2)]),
            ])
        let result = try await promtoolTest(directory, "example-test.yaml", unitTests(rules, [failures, slow, stale, missing, storage, deadLetters]))
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        #expect(result.standardOutput.contains("SUCCESS"), "\(result.standardOutput)")
    }

    @Test("a policy of our own: its window, threshold and staleAfter are the ones in the rules",
          .enabled(if: hasPromtool, "promtool is missing: install Debian's prometheus package"))
    func ownPolicy() async throws {
        let directory = try TemporaryDirectory()
        let config = directory.file("carbon-recovery.yaml")
        try """
            storage:
              endpoint: https://minio.storage.svc:9000
              bucket: backups
              credentials: {environment: {accessKeyID: VELERO_S3_ACCESS_KEY, secretAccessKey: VELERO_S3_SECRET_KEY}}
            schedules:
              - {name: frequent, cron: "*/10 * * * *", namespaces: [data-platform, registry, monitoring], ttl: 168h0m0s}
            objectives:
              - {class: critical, namespaces: [data-platform], rto: 1h0m0s, rpo: 1h0m0s}
              - {class: standard, namespaces: [registry, monitoring], rto: 4h0m0s, rpo: 24h0m0s}
            alerts: {failureWindow: 10m0s, slowBackup: 20m0s, staleAfter: 30m0s}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let rules = try await render(config, into: directory, rules: 9, namespace: "monitoring")
        let text = try String(contentsOfFile: rules, encoding: .utf8)
        #expect(text.contains("{namespace=\"data-platform\"} > 1800\n"), "\(text)")
        #expect(text.contains("{namespace=~\"registry|monitoring\"} > 1800\n"), "\(text)")

        let window = "10m"
        let scenario = Scenario(
            series: [
                ("velero_backup_failure_total{schedule=\"frequent\"}", "0x30 1x30"),
                ("velero_backup_duration_seconds_sum{schedule=\"frequent\"}", "0x30 1500x30"),  // 25 minutes
                ("velero_backup_duration_seconds_count{schedule=\"frequent\"}", "0x30 1x30"),
                ("velero_backup_duration_seconds_sum{schedule=\"quick\"}", "0x30 900x30"),  // 15 minutes
                ("velero_backup_duration_seconds_count{schedule=\"quick\"}", "0x30 1x30"),
                ("carbon_recovery_namespace_last_backup_timestamp_seconds{namespace=\"data-platform\"}", "0x60"),
                ("carbon_recovery_namespace_last_backup_timestamp_seconds{namespace=\"registry\"}", "0x60"),
                ("carbon_recovery_namespace_last_backup_timestamp_seconds{namespace=\"monitoring\"}", "0+60x60"),
            ],
            checks: [
                Check(time: "35m", alert: "VeleroBackupFailed", firing: [failed("frequent", 1, window: window)]),
                Check(time: "45m", alert: "VeleroBackupFailed", firing: []),  // a 10m window, not the guide's hour
                Check(time: "35m", alert: "VeleroBackupTooSlow", firing: [tooSlow("frequent", mean: "25m 0s", window: window, threshold: "20m")]),
                Check(time: "45m", alert: "VeleroBackupTooSlow", firing: []),
                // staleAfter (30m) replaces both RPOs (1h and 24h).
                Check(time: "25m", alert: "CarbonRecoveryRPOBreached", firing: []),
                Check(time: "40m", alert: "CarbonRecoveryRPOBreached", firing: [
                    rpoBreached("data-platform", objective: "critical", age: "40m 0s", limit: "alerts.staleAfter (30m) for objective 'critical'"),
                    rpoBreached("registry", objective: "standard", age: "40m 0s", limit: "alerts.staleAfter (30m) for objective 'standard'"),
                ]),
                Check(time: "40m", alert: "CarbonRecoveryNoBackupMetric", firing: []),
            ])
        let result = try await promtoolTest(directory, "own-test.yaml", unitTests(rules, [scenario]))
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
    }

    @Test("a policy's databases: the archive lag against each RPO, WAL gaps, and a lag series gone missing",
          .enabled(if: hasPromtool, "promtool is missing: install Debian's prometheus package"))
    func databases() async throws {
        let directory = try TemporaryDirectory()
        let config = directory.file("databases.yaml")
        try """
            storage:
              endpoint: https://minio.storage.svc:9000
              bucket: backups
              credentials: {environment: {accessKeyID: A, secretAccessKey: B}}
            databases:
              - {stanza: platform-db, bucket: platform-pg, rpo: 5m, rto: 1h}
              - {stanza: other-db, bucket: platform-pg, rpo: 1h, rto: 4h}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let rules = try await render(config, into: directory, rules: 12)
        let text = try String(contentsOfFile: rules, encoding: .utf8)
        #expect(text.contains("carbon_recovery_pg_archive_lag_seconds{stanza=\"platform-db\"} > 300\n"), "\(text)")
        #expect(text.contains("carbon_recovery_pg_archive_lag_seconds{stanza=\"other-db\"} > 3600\n"), "\(text)")

        func lag(_ stanza: String, _ value: String, rpo: String) -> Expected {
            Expected(
                labels: ["stanza": stanza, "severity": "critical"],
                annotations: [
                    "summary": "PostgreSQL \(stanza): WAL not archived within its RPO",
                    "description": "The oldest WAL of database \(stanza) not in the archive is about \(value) old, more than its \(rpo) RPO: losing the "
                        + "server now loses that much. `carbon-recovery pg status --stanza \(stanza)` says why (a failing archive_command, archiving "
                        + "off, a stuck upload).",
                ])
        }
        let gap = Expected(
            labels: ["stanza": "platform-db", "severity": "critical"],
            annotations: [
                "summary": "PostgreSQL platform-db: gaps in the WAL archive",
                "description": "The WAL archive of database platform-db has 1 gap(s) after its oldest base backup: no restore can replay across one. "
                    + "`carbon-recovery pg list --stanza platform-db` names the missing segments; take a base backup (`pg base-backup`) so the newest "
                    + "WAL is restorable again.",
            ])
        let missing = Expected(
            labels: ["stanza": "other-db", "severity": "warning"],
            annotations: [
                "summary": "No archive lag for PostgreSQL other-db",
                "description": "carbon_recovery_pg_archive_lag_seconds has had no series for database other-db for 15m, so its RPO is not being "
                    + "checked. Is `carbon-recovery run` running and scraped, and can it reach the server?",
            ])
        // platform-db's lag grows a minute a minute from 10m: 4 minutes at 14m (under its 5m RPO),
        // 7 at 17m (over); a gap appears at 21m. other-db never reports.
        let scenario = Scenario(
            series: [
                ("carbon_recovery_pg_archive_lag_seconds{stanza=\"platform-db\"}", "0x10 60+60x20"),
                ("carbon_recovery_pg_wal_gaps{stanza=\"platform-db\"}", "0x20 1x10"),
            ],
            checks: [
                Check(time: "14m", alert: "CarbonRecoveryPostgresArchiveLag", firing: []),
                Check(time: "17m", alert: "CarbonRecoveryPostgresArchiveLag", firing: [lag("platform-db", "7m 0s", rpo: "5m")]),
                Check(time: "20m", alert: "CarbonRecoveryPostgresWALGap", firing: []),
                Check(time: "22m", alert: "CarbonRecoveryPostgresWALGap", firing: [gap]),
                Check(time: "10m", alert: "CarbonRecoveryPostgresNoLagMetric", firing: []),
                Check(time: "20m", alert: "CarbonRecoveryPostgresNoLagMetric", firing: [missing]),
            ])
        let result = try await promtoolTest(directory, "databases-test.yaml", unitTests(rules, [scenario]))
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
    }

    @Test("a policy without objectives still gets the Velero, storage and notification rules",
          .enabled(if: hasPromtool, "promtool is missing: install Debian's prometheus package"))
    func withoutObjectives() async throws {
        let directory = try TemporaryDirectory()
        let config = directory.file("bare.yaml")
        try """
            storage:
              endpoint: https://minio.storage.svc:9000
              bucket: backups
              credentials: {environment: {accessKeyID: A, secretAccessKey: B}}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let rules = try await render(config, into: directory, rules: 6)
        let text = try String(contentsOfFile: rules, encoding: .utf8)
        #expect(!text.contains("carbon_recovery_namespace_last_backup_timestamp_seconds"))
        for alert in ["VeleroBackupFailed", "VeleroBackupPartiallyFailed", "VeleroBackupLastFailed", "VeleroBackupTooSlow",
                      "CarbonRecoveryStorageUnavailable", "CarbonRecoveryNotificationsDeadLettered"] {
            #expect(text.contains("- alert: \(alert)\n"), "\(alert)")
        }
    }

    @Test("the guide's rules misbehave: a raw counter fires for hours after one failure; the bare histogram name never fires",
          .enabled(if: hasPromtool, "promtool is missing: install Debian's prometheus package"))
    func guideRulesMisbehave() async throws {
        let directory = try TemporaryDirectory()
        let guide = directory.file("guide.rules.yaml")
        try guideRules.write(toFile: guide, atomically: true, encoding: .utf8)
        let check = try await run(promtool, ["check", "rules", guide])
        #expect(check.status == 0 && check.standardOutput.contains("SUCCESS: 2 rules found"), "\(check.standardOutput)\(check.standardError)")

        // One failure at 31m and nothing since; one 2-hour backup finished at 31m, exported as
        // Velero exports a histogram: _bucket, _sum and _count, no bare series.
        let series: [(String, String)] = [
            ("velero_backup_failure_total{schedule=\"daily-backup\"}", "0x30 1x600"),
            ("velero_backup_duration_seconds_bucket{schedule=\"daily-backup\",le=\"3600\"}", "0x630"),
            ("velero_backup_duration_seconds_bucket{schedule=\"daily-backup\",le=\"+Inf\"}", "0x30 1x600"),
            ("velero_backup_duration_seconds_sum{schedule=\"daily-backup\"}", "0x30 7200x600"),
            ("velero_backup_duration_seconds_count{schedule=\"daily-backup\"}", "0x30 1x600"),
        ]
        let guideFailed = Expected(labels: ["schedule": "daily-backup", "severity": "critical"], annotations: [:])
        let wrong = Scenario(
            series: series,
            checks: [
                Check(time: "40m", alert: "VeleroBackupFailed", firing: [guideFailed]),
                // Six and ten hours later, nothing has failed since, and it still fires (until Velero restarts).
                Check(time: "6h", alert: "VeleroBackupFailed", firing: [guideFailed]),
                Check(time: "10h", alert: "VeleroBackupFailed", firing: [guideFailed]),
                // A 2-hour backup against a 1-hour threshold: silent, because the series does not exist.
                Check(time: "45m", alert: "VeleroBackupTooSlow", firing: []),
                Check(time: "2h", alert: "VeleroBackupTooSlow", firing: []),
            ])
        let guideResult = try await promtoolTest(directory, "guide-test.yaml", unitTests(guide, [wrong]))
        #expect(guideResult.status == 0, "\(guideResult.standardOutput)\(guideResult.standardError)")

        // Ours on the same series: the failure alerts within the hour and then clears; the slow backup alerts.
        let ours = try await render(example, into: directory, rules: 8)
        let right = Scenario(
            series: series,
            checks: [
                Check(time: "40m", alert: "VeleroBackupFailed", firing: [failed("daily-backup", 1, window: "1h")]),
                Check(time: "6h", alert: "VeleroBackupFailed", firing: []),
                Check(time: "45m", alert: "VeleroBackupTooSlow", firing: [tooSlow("daily-backup", mean: "2h 0m 0s", window: "1h", threshold: "1h")]),
                Check(time: "2h", alert: "VeleroBackupTooSlow", firing: []),
            ])
        let oursResult = try await promtoolTest(directory, "ours-test.yaml", unitTests(ours, [right]))
        #expect(oursResult.status == 0, "\(oursResult.standardOutput)\(oursResult.standardError)")
    }

    @Test("the harness can fail: a wrong expectation against our rules makes promtool test rules exit non-zero",
          .enabled(if: hasPromtool, "promtool is missing: install Debian's prometheus package"))
    func wrongExpectationFails() async throws {
        let directory = try TemporaryDirectory()
        let rules = try await render(example, into: directory, rules: 8)
        // Claims silence where our rule fires.
        let claim = Scenario(
            series: [("velero_backup_failure_total{schedule=\"daily-backup\"}", "0x30 1x60")],
            checks: [Check(time: "40m", alert: "VeleroBackupFailed", firing: [])])
        let result = try await promtoolTest(directory, "wrong-test.yaml", unitTests(rules, [claim]))
        #expect(result.status != 0)
        #expect((result.standardOutput + result.standardError).contains("FAILED"), "\(result.standardOutput)\(result.standardError)")
        #expect(result.standardError.contains("alertname: VeleroBackupFailed, time: 40m"), "\(result.standardError)")
    }

    @Test("bad input: one error line, exit 1, nothing written", arguments: [
        ("missing", "does not exist"),
        ("output-dir-is-a-file", "is a file, not a folder"),
        ("short-window", "needs at least two samples"),
        ("bad-namespace", "PrometheusRule namespace"),
    ])
    func badInput(kind: String, message: String) async throws {
        let directory = try TemporaryDirectory()
        var config = directory.file("missing.yaml")
        var output = directory.file("out")
        var namespace = "velero"
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        switch kind {
        case "output-dir-is-a-file":
            config = example
            output = directory.file("plain-file")
            try "".write(toFile: output, atomically: true, encoding: .utf8)
        case "short-window":
            config = directory.file("short.yaml")
            try """
                storage:
                  endpoint: https://minio.storage.svc:9000
                  bucket: backups
                  credentials: {environment: {accessKeyID: A, secretAccessKey: B}}
                alerts: {failureWindow: 30s}
                """.write(toFile: config, atomically: true, encoding: .utf8)
        case "bad-namespace":
            config = example
            namespace = "Not_A_Label"
        default:
            break
        }
        let result = try await run(
            try executable("carbon-recovery"), ["render", "alerts", "--config", config, "--output-dir", output, "--namespace", namespace])
        #expect(result.status == 1)
        #expect(result.standardError.hasPrefix("error: ") && result.standardError.contains(message), "\(result.standardError)")
        #expect(result.standardError.split(separator: "\n").count == 1, "\(result.standardError)")
        #expect(result.standardOutput.isEmpty, "\(result.standardOutput)")
        if kind == "output-dir-is-a-file" {
            #expect(try String(contentsOfFile: output, encoding: .utf8).isEmpty)
        } else {
            #expect(try FileManager.default.contentsOfDirectory(atPath: output).isEmpty)
        }
    }
}
