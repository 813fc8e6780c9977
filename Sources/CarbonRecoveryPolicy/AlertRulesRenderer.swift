import CarbonRecovery
import CarbonRecoveryVelero
import Foundation
import Yams

/// Writes Prometheus alert rules for the backups from a policy's alert thresholds and recovery
/// objectives, correcting the guide's two rules (see `docs/alerts.md`):
///
/// - `prometheus/carbon-recovery-alerts.rules.yaml` — a plain Prometheus rules file, for
///   `rule_files:` and for `promtool check rules` / `promtool test rules`;
/// - `k8s/monitoring/carbon-recovery-alerts.yaml` — the same groups as a Prometheus Operator
///   `PrometheusRule` (`monitoring.coreos.com/v1`).
///
/// The rules, all in the group `carbon-recovery-backup`:
///
/// | Alert | Severity | Fires when |
/// | --- | --- | --- |
/// | `VeleroBackupFailed` | critical | `increase(velero_backup_failure_total[<failureWindow>]) > 0` |
/// | `VeleroBackupPartiallyFailed` | warning | the same on `velero_backup_partial_failure_total` |
/// | `VeleroBackupLastFailed` | critical | `velero_backup_last_status == 0` for 5m, once Velero attempted a backup of the schedule |
/// | `VeleroBackupTooSlow` | warning | the mean duration of the backups that finished within the window is above `slowBackup` |
/// | `CarbonRecoveryRPOBreached` | critical | one per objective: a namespace's last good backup is older than the RPO (or `staleAfter`) |
/// | `CarbonRecoveryNoBackupMetric` | warning | an objective namespace has no last-backup series for 15m |
/// | `CarbonRecoveryStorageUnavailable` | critical | `carbon_recovery_storage_location_available == 0` for 5m |
/// | `CarbonRecoveryNotificationsDeadLettered` | warning | `carbon_recovery_outbox_depth{state="dead"} > 0` |
///
/// ```swift
/// let files = try AlertRulesRenderer(policy: document.policy).render()
/// for file in files { print(file.path, file.rules.count) }
/// ```
public struct AlertRulesRenderer: Sendable {
    /// One Prometheus alerting rule.
    public struct Rule: Sendable, Hashable {
        /// The alert's name, e.g. `VeleroBackupFailed`.
        public var alert: String
        /// The PromQL expression; every series it returns is an alert.
        public var expression: String
        /// How long the expression must hold before the alert fires (Prometheus' `for`), e.g. `5m`; `nil` fires at once.
        public var pendingFor: String?
        /// Labels added to the alert; always holds `severity` (`critical` or `warning`).
        public var labels: [String: String]
        /// `summary` and `description`, Prometheus templates over `$labels` and `$value`.
        public var annotations: [String: String]

        /// Creates a rule.
        public init(alert: String, expression: String, pendingFor: String? = nil, labels: [String: String], annotations: [String: String]) {
            self.alert = alert
            self.expression = expression
            self.pendingFor = pendingFor
            self.labels = labels
            self.annotations = annotations
        }
    }

    /// One file to write.
    public struct File: Sendable, Hashable {
        /// The path relative to the output folder, e.g. `prometheus/carbon-recovery-alerts.rules.yaml`.
        public var path: String
        /// The YAML.
        public var contents: String
        /// The rules in it, in order.
        public var rules: [Rule]
    }

    /// The rule group's name.
    public static let groupName = "carbon-recovery-backup"
    /// Where the plain Prometheus rules file goes, relative to the output folder.
    public static let rulesFilePath = "prometheus/carbon-recovery-alerts.rules.yaml"
    /// Where the `PrometheusRule` goes, relative to the output folder.
    public static let prometheusRulePath = "k8s/monitoring/carbon-recovery-alerts.yaml"
    /// The `PrometheusRule`'s name.
    public static let prometheusRuleName = "carbon-recovery-alerts"
    /// The shortest failure window: `increase()` needs two samples inside the window.
    public static let minimumWindow = GoDuration.minutes(1)

    /// The policy to render.
    public var policy: RecoveryPolicy
    /// The `PrometheusRule`'s namespace.
    public var namespace: String

    /// Creates a renderer.
    ///
    /// - Parameters:
    ///   - policy: The policy whose `alerts` thresholds and `objectives` the rules use.
    ///   - namespace: The `PrometheusRule`'s namespace (Velero's by default).
    public init(policy: RecoveryPolicy, namespace: String = VeleroObjects.defaultNamespace) {
        self.policy = policy
        self.namespace = namespace
    }

    /// The guide's two original rules, as a Prometheus rules file — wrong, kept to show how
    /// (`docs/alerts.md`): the first alerts on a raw counter, so it fires forever after a single
    /// failure; the second selects a histogram's bare name, which has no series, so it never fires.
    public static let guideRules = """
        # The guide's alert rules, exactly as it gives them. Do not deploy: see docs/alerts.md.
        groups:
          - name: velero-guide
            rules:
              - alert: VeleroBackupFailed
                expr: velero_backup_failure_total > 0
                for: 5m
                labels:
                  severity: critical
              - alert: VeleroBackupTooSlow
                expr: velero_backup_duration_seconds > 3600
                for: 10m
                labels:
                  severity: warning

        """

    /// The rules, in a fixed order.
    ///
    /// A policy without objectives still gets the Velero rules and carbon-recovery's storage and
    /// notification rules; each objective adds a staleness rule, and the objectives' namespaces
    /// share one rule for a missing last-backup series.
    ///
    /// - Throws: `RecoveryError.Code.invalidInput` when `alerts.failureWindow` is shorter than
    ///   ``minimumWindow`` or not whole seconds, when a threshold is not positive, or when a
    ///   namespace is not a Kubernetes label.
    public func rules() throws(RecoveryError) -> [Rule] {
        let alerts = policy.alerts
        guard alerts.failureWindow >= Self.minimumWindow else {
            throw RecoveryError.invalidInput(
                "alerts.failureWindow \(alerts.failureWindow) is shorter than 1m: Prometheus' increase() needs at least two samples "
                    + "inside its window, and at the usual 30s to 1m scrape interval a shorter window holds one at most, so no failure "
                    + "would ever be seen; use 1m or more (the guide's corrected window is 1h)",
                target: "alerts.failureWindow")
        }
        guard let window = Self.prometheusDuration(alerts.failureWindow) else {
            throw RecoveryError.invalidInput(
                "alerts.failureWindow \(alerts.failureWindow) is not a whole number of seconds; write it like 1h0m0s or 90m",
                target: "alerts.failureWindow")
        }
        guard alerts.slowBackup.nanoseconds > 0 else {
            throw RecoveryError.invalidInput("alerts.slowBackup \(alerts.slowBackup) must be positive, e.g. 1h0m0s", target: "alerts.slowBackup")
        }
        if let stale = alerts.staleAfter, stale.nanoseconds <= 0 {
            throw RecoveryError.invalidInput(
                "alerts.staleAfter \(stale) must be positive, or left out to use each objective's RPO", target: "alerts.staleAfter")
        }

        var rules: [Rule] = []
        // Velero's counters: a failure is an event, so it counts within the window and clears by itself after it.
        rules.append(
            Rule(
                alert: "VeleroBackupFailed", expression: "increase(velero_backup_failure_total[\(window)]) > 0", labels: ["severity": "critical"],
                annotations: [
                    "summary": "Velero backup of schedule {{ $labels.schedule }} failed",
                    "description": "{{ $value | printf \"%.0f\" }} backup(s) of schedule {{ $labels.schedule }} ended Failed in the last \(window). "
                        + "The alert clears \(window) after the last failure; `velero backup get` lists the failed backup.",
                ]))
        rules.append(
            Rule(
                alert: "VeleroBackupPartiallyFailed", expression: "increase(velero_backup_partial_failure_total[\(window)]) > 0",
                labels: ["severity": "warning"],
                annotations: [
                    "summary": "Velero backup of schedule {{ $labels.schedule }} partially failed",
                    "description": "{{ $value | printf \"%.0f\" }} backup(s) of schedule {{ $labels.schedule }} ended PartiallyFailed in the last "
                        + "\(window): some items were not backed up. `velero backup describe --details` names them.",
                ]))
        // Velero's gauge: 1 when the schedule's last backup completed, 0 when it failed, partially
        // failed or failed validation; it stays 0 until a backup succeeds, however old the failure.
        // But Velero also starts it at 0 for every schedule when its server starts (InitSchedule),
        // so alone it would call every schedule failed after each restart until its next backup
        // (up to a day for a daily one). The attempt counter starts at 0 too and counts the backups
        // this Velero process ran: with it, the alert needs a backup that really ended badly.
        rules.append(
            Rule(
                alert: "VeleroBackupLastFailed",
                expression: """
                    velero_backup_last_status == 0
                    and
                    velero_backup_attempt_total > 0
                    """,
                pendingFor: "5m", labels: ["severity": "critical"],
                annotations: [
                    "summary": "The last Velero backup of schedule {{ $labels.schedule }} failed",
                    "description": "velero_backup_last_status has been 0 for schedule {{ $labels.schedule }} for 5m: its latest backup did "
                        + "not complete (Failed, PartiallyFailed or FailedValidation) and none has succeeded since. The alert clears when "
                        + "the next backup of the schedule succeeds.",
                ]))
        // A histogram has only _bucket, _sum and _count series. The mean duration of the backups that
        // finished within the window is the increase of the sum over the increase of the count;
        // without a finished backup the count did not increase and there is no result (not NaN or +Inf).
        let slow = Self.seconds(alerts.slowBackup)
        rules.append(
            Rule(
                alert: "VeleroBackupTooSlow",
                expression: """
                    (
                      increase(velero_backup_duration_seconds_sum[\(window)])
                        / increase(velero_backup_duration_seconds_count[\(window)])
                    ) > \(slow)
                    and
                    increase(velero_backup_duration_seconds_count[\(window)]) > 0
                    """,
                labels: ["severity": "warning"],
                annotations: [
                    "summary": "Velero backups of schedule {{ $labels.schedule }} are slow",
                    "description": "The backups of schedule {{ $labels.schedule }} that finished in the last \(window) took "
                        + "{{ $value | humanizeDuration }} on average, more than \(Self.readable(alerts.slowBackup)) (alerts.slowBackup).",
                ]))

        // Staleness against the objectives, from carbon-recovery's gauge of each namespace's last good backup.
        var objectiveNamespaces: [String] = []
        for objective in policy.objectives {
            var namespaces: [String] = []
            for namespace in objective.namespaces where !namespaces.contains(namespace) {
                try KubernetesName.validateLabel(namespace, what: "namespace of objective '\(objective.namespaceClass)'")
                namespaces.append(namespace)
            }
            guard !namespaces.isEmpty else { continue }
            objectiveNamespaces += namespaces.filter { !objectiveNamespaces.contains($0) }
            let threshold = alerts.staleAfter ?? objective.rpo
            guard threshold.nanoseconds > 0 else {
                throw RecoveryError.invalidInput(
                    "the RPO \(objective.rpo) of objective '\(objective.namespaceClass)' must be positive", target: "objectives")
            }
            // Namespaces are DNS labels (letters, digits and '-'), so they need no regular-expression escaping.
            let matcher = namespaces.count == 1 ? "namespace=\"\(namespaces[0])\"" : "namespace=~\"\(namespaces.joined(separator: "|"))\""
            let limit =
                alerts.staleAfter.map { "alerts.staleAfter (\(Self.readable($0))) for objective '\(objective.namespaceClass)'" }
                ?? "the \(Self.readable(objective.rpo)) RPO of objective '\(objective.namespaceClass)'"
            rules.append(
                Rule(
                    alert: "CarbonRecoveryRPOBreached",
                    expression: "time() - carbon_recovery_namespace_last_backup_timestamp_seconds{\(matcher)} > \(Self.seconds(threshold))",
                    labels: ["severity": "critical", "objective": objective.namespaceClass],
                    annotations: [
                        "summary": "Namespace {{ $labels.namespace }} has no backup within its RPO",
                        "description": "The last good backup of namespace {{ $labels.namespace }} finished {{ $value | humanizeDuration }} ago, "
                            + "more than \(limit).",
                    ]))
        }
        // Staleness cannot be measured without the series: when the exporter stops, or a namespace
        // was never backed up, the rule above returns nothing and stays silent. So one more rule,
        // one for all objective namespaces (absent() per namespace, joined with `or`) rather than
        // one per namespace: the file stays short however many namespaces the objectives name,
        // and each alert still carries its namespace, which absent() takes from the `=` matcher.
        if !objectiveNamespaces.isEmpty {
            rules.append(
                Rule(
                    alert: "CarbonRecoveryNoBackupMetric",
                    expression: objectiveNamespaces.map { "absent(carbon_recovery_namespace_last_backup_timestamp_seconds{namespace=\"\($0)\"})" }
                        .joined(separator: "\nor\n"),
                    pendingFor: "15m", labels: ["severity": "warning"],
                    annotations: [
                        "summary": "No last-backup time for namespace {{ $labels.namespace }}",
                        "description": "carbon_recovery_namespace_last_backup_timestamp_seconds has had no series for namespace "
                            + "{{ $labels.namespace }} for 15m, so its RPO is not being checked. Is `carbon-recovery run` running and "
                            + "scraped, and has the namespace ever been backed up?",
                    ]))
        }

        rules += try databaseRules()
        rules.append(
            Rule(
                alert: "CarbonRecoveryStorageUnavailable", expression: "carbon_recovery_storage_location_available == 0", pendingFor: "5m",
                labels: ["severity": "critical"],
                annotations: [
                    "summary": "Backup storage location {{ $labels.location }} is unavailable",
                    "description": "carbon-recovery has found backup storage location {{ $labels.location }} unavailable for 5m: "
                        + "backups to it fail until it is reachable again (`velero backup-location get`).",
                ]))
        rules.append(
            Rule(
                alert: "CarbonRecoveryNotificationsDeadLettered", expression: "carbon_recovery_outbox_depth{state=\"dead\"} > 0",
                labels: ["severity": "warning"],
                annotations: [
                    "summary": "Notifications to {{ $labels.notifier }} were dead-lettered",
                    "description": "{{ $value | printf \"%.0f\" }} notification(s) for notifier {{ $labels.notifier }} exhausted their "
                        + "retries and were not delivered.",
                ]))
        return rules
    }

    /// The rules of the policy's databases: the archive lag against each one's RPO, gaps in its
    /// WAL archive, and the lag's series gone missing.
    func databaseRules() throws(RecoveryError) -> [Rule] {
        var rules: [Rule] = []
        for database in policy.databases {
            try KubernetesName.validateLabel(database.stanza, what: "stanza")
            guard database.rpo.nanoseconds > 0 else {
                throw RecoveryError.invalidInput("the RPO \(database.rpo) of database '\(database.stanza)' must be positive", target: "databases")
            }
            // A stanza is a DNS label (letters, digits and '-'): no escaping needed in a matcher.
            let matcher = "{stanza=\"\(database.stanza)\"}"
            rules.append(
                Rule(
                    alert: "CarbonRecoveryPostgresArchiveLag",
                    expression: "carbon_recovery_pg_archive_lag_seconds\(matcher) > \(Self.seconds(database.rpo))",
                    labels: ["severity": "critical", "stanza": database.stanza],
                    annotations: [
                        "summary": "PostgreSQL {{ $labels.stanza }}: WAL not archived within its RPO",
                        "description": "The oldest WAL of database {{ $labels.stanza }} not in the archive is about {{ $value | humanizeDuration }} old, "
                            + "more than its \(Self.readable(database.rpo)) RPO: losing the server now loses that much. "
                            + "`carbon-recovery pg status --stanza \(database.stanza)` says why (a failing archive_command, archiving off, a stuck upload).",
                    ]))
            rules.append(
                Rule(
                    alert: "CarbonRecoveryPostgresWALGap", expression: "carbon_recovery_pg_wal_gaps\(matcher) > 0",
                    labels: ["severity": "critical", "stanza": database.stanza],
                    annotations: [
                        "summary": "PostgreSQL {{ $labels.stanza }}: gaps in the WAL archive",
                        "description": "The WAL archive of database {{ $labels.stanza }} has {{ $value | printf \"%.0f\" }} gap(s) after its oldest base backup: "
                            + "no restore can replay across one. `carbon-recovery pg list --stanza \(database.stanza)` names the missing segments; "
                            + "take a base backup (`pg base-backup`) so the newest WAL is restorable again.",
                    ]))
            rules.append(
                Rule(
                    alert: "CarbonRecoveryPostgresNoLagMetric", expression: "absent(carbon_recovery_pg_archive_lag_seconds\(matcher))", pendingFor: "15m",
                    labels: ["severity": "warning", "stanza": database.stanza],
                    annotations: [
                        "summary": "No archive lag for PostgreSQL \(database.stanza)",
                        "description": "carbon_recovery_pg_archive_lag_seconds has had no series for database \(database.stanza) for 15m, so its RPO is "
                            + "not being checked. Is `carbon-recovery run` running and scraped, and can it reach the server?",
                    ]))
        }
        return rules
    }

    /// The two files, the rules file first.
    ///
    /// - Throws: `RecoveryError.Code.invalidInput` for the reasons ``rules()`` gives, or when the
    ///   `PrometheusRule`'s namespace is not a Kubernetes label.
    public func render() throws -> [File] {
        try KubernetesName.validateLabel(namespace, what: "PrometheusRule namespace")
        let rules = try rules()
        let groups = Node.sequence(
            Node.Sequence([
                mapping([("name", scalar(Self.groupName)), ("rules", .sequence(Node.Sequence(rules.map(node))))])
            ]))
        let header = "# Rendered by carbon-recovery from the recovery policy; edit the policy, not this file.\n"
        let plain = mapping([("groups", groups)])
        let object = mapping([
            ("apiVersion", scalar("monitoring.coreos.com/v1")),
            ("kind", scalar("PrometheusRule")),
            (
                "metadata",
                mapping([
                    ("name", scalar(Self.prometheusRuleName)),
                    ("namespace", scalar(namespace)),
                    ("labels", mapping([("app.kubernetes.io/managed-by", scalar("carbon-recovery"))])),
                ])
            ),
            ("spec", mapping([("groups", groups)])),
        ])
        return [
            File(
                path: Self.rulesFilePath,
                contents: header + "# Check it with: promtool check rules \(Self.rulesFilePath.split(separator: "/").last!)\n"
                    + (try Yams.serialize(node: plain, width: -1)),
                rules: rules),
            File(path: Self.prometheusRulePath, contents: header + (try Yams.serialize(node: object, width: -1)), rules: rules),
        ]
    }

    /// A duration in Prometheus' syntax (`1h`, `15m`, `90s` as `1m30s`, `1h30m`), or `nil` when it
    /// is negative or not a whole number of seconds.
    ///
    /// ```swift
    /// AlertRulesRenderer.prometheusDuration(.minutes(90))   // "1h30m"
    /// ```
    ///
    /// - Parameter duration: The duration.
    /// - Returns: Its Prometheus form.
    public static func prometheusDuration(_ duration: GoDuration) -> String? {
        let perSecond: Int64 = 1_000_000_000
        guard duration.nanoseconds >= 0, duration.nanoseconds % perSecond == 0 else { return nil }
        let total = duration.nanoseconds / perSecond
        guard total > 0 else { return "0s" }
        let parts: [(Int64, String)] = [(total / 3_600, "h"), (total % 3_600 / 60, "m"), (total % 60, "s")]
        return parts.filter { $0.0 > 0 }.map { "\($0.0)\($0.1)" }.joined()
    }

    // MARK: - Formatting

    /// A threshold in seconds as a PromQL number: `3600`, `1.5`.
    private static func seconds(_ duration: GoDuration) -> String {
        duration.nanoseconds % 1_000_000_000 == 0 ? String(duration.nanoseconds / 1_000_000_000) : String(duration.timeInterval)
    }

    /// A duration for people: Prometheus' form when it has one, else Go's.
    private static func readable(_ duration: GoDuration) -> String {
        prometheusDuration(duration) ?? duration.description
    }

    private func node(_ rule: Rule) -> Node {
        var pairs: [(String, Node)] = [("alert", scalar(rule.alert)), ("expr", scalar(rule.expression))]
        if let pendingFor = rule.pendingFor { pairs.append(("for", scalar(pendingFor))) }
        pairs.append(("labels", mapping(rule.labels.keys.sorted().map { ($0, scalar(rule.labels[$0]!)) })))
        // summary before description, as people read them; any other annotation after, sorted.
        let first = ["summary", "description"].filter { rule.annotations[$0] != nil }
        let keys = first + rule.annotations.keys.filter { !first.contains($0) }.sorted()
        pairs.append(("annotations", mapping(keys.map { ($0, scalar(rule.annotations[$0]!)) })))
        return mapping(pairs)
    }

    private func mapping(_ pairs: [(String, Node)]) -> Node {
        .mapping(Node.Mapping(pairs.map { (scalar($0.0), $0.1) }))
    }

    /// A string scalar: a literal block for several lines, plain when YAML reads it back as the
    /// same string, double-quoted otherwise.
    private func scalar(_ text: String) -> Node {
        if text.contains("\n") { return .scalar(Node.Scalar(text, Tag(.str), .literal)) }
        let plain = (try? Yams.load(yaml: text) as? String) == text
        return .scalar(Node.Scalar(text, Tag(.str), plain ? .plain : .doubleQuoted))
    }
}
