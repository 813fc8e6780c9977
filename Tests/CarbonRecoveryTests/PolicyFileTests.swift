// The policy file: reading it (errors with file, line and field) and each lint rule firing and
// not firing. The example is the platform guide's strategy as written.
import CarbonRecovery
import CarbonRecoveryPolicy
import Yams
import Foundation
import Testing

func policyFixture(_ name: String) throws -> String {
    try #require(Bundle.module.path(forResource: name, ofType: "yaml", inDirectory: "Policies"))
}

/// The repository's `Examples/254carbon.yaml`.
func guidePolicyPath() -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Examples/254carbon.yaml").path
}

/// A minimal valid document with `extra` appended (YAML at the top level): TLS and SSE-S3 to
/// the storage, and an access section with an operator group unless `extra` has its own (so
/// that the other rules' tests are not about access or encryption).
func policyText(_ extra: String) -> String {
    """
    storage:
      endpoint: https://127.0.0.1:9000
      bucket: 254carbon-backups
      credentials:
        environment: {accessKeyID: VELERO_S3_ACCESS_KEY, secretAccessKey: VELERO_S3_SECRET_KEY}
      encryption: {type: SSE-S3}
    \(extra)
    \(extra.contains("access:") ? "" : "access: {operators: [platform-dr-operators]}")
    """
}

/// A storage section with `extra` lines inside it.
func storageText(_ extra: String, endpoint: String = "https://minio:9000") -> String {
    "storage:\n  endpoint: \(endpoint)\n  bucket: b\n  credentials: {file: {path: /x}}\n  \(extra)\n"
}

func rules(_ text: String) throws -> [String] {
    try PolicyFile.parse(text).lint().map { "\($0.severity.rawValue) \($0.rule) \($0.field)" }
}

@Suite("Policy file and lint")
struct PolicyFileTests {
    @Test("the guide's strategy reads into the SDK's types, and lint reports its own RPO contradiction")
    func guide() throws {
        let document = try PolicyFile.load(path: guidePolicyPath())
        let policy = document.policy
        #expect(policy.schedules.map(\.schedule.name) == ["daily-backup", "critical-backup", "postgresql-backup"])
        #expect(policy.schedules[0].schedule.template.includedNamespaces == ["data-platform", "monitoring", "registry", "vault-prod"])
        #expect(policy.schedules[0].effectiveTTL == .hours(720) && policy.schedules[1].effectiveTTL == .hours(168))
        #expect(policy.schedules[2].schedule.template.labelSelector?.description == "app=postgresql")
        #expect(policy.storage.credentials == .environment(accessKeyID: "VELERO_S3_ACCESS_KEY", secretAccessKey: "VELERO_S3_SECRET_KEY"))
        #expect(policy.manualBackupTTL == .hours(24))
        #expect(policy.objectives.first?.rpo == .minutes(15) && policy.objectives.first?.rto == .hours(1))
        #expect(policy.drills.map(\.kind) == [.restoreTest, .fullRecovery])

        let findings = document.lint()
        #expect(findings.map { "\($0.severity.rawValue) \($0.rule) \($0.field)" } == [
            "error schedule-slower-than-rpo objectives[0].rpo", "error schedule-slower-than-rpo objectives[0].rpo",
            "error alert-longer-than-rpo alerts.slowBackup",
            "warning retention-shorter-than-drill drills[0].cron", "warning drill-without-dr-cluster drills[1]",
            "warning retention-shorter-than-drill drills[1].cron", "warning cluster-resources-not-backed-up schedules",
            "warning storage-not-encrypted storage.encryption", "warning storage-plain-http storage.endpoint",
            "warning velero-access-not-limited access",
        ])
        #expect(findings[0].evidence.contains("'data-platform'") && findings[0].evidence.contains("15m0s") && findings[0].evidence.contains("gaps of up to 6h"))
        #expect(findings[0].fix.contains("*/15 * * * *"))
        #expect(document.location(of: findings[0].field)?.line == 49, "the line of `rpo: 15m0s` in the example")

        // The PostgreSQL pre-backup hook, with the schedule's namespaces and selector by default.
        let hook = try #require(policy.schedules[2].schedule.template.hooks.first)
        #expect(hook.name == "postgresql-consistent-dump" && hook.includedNamespaces == ["data-platform"] && hook.labelSelector?.description == "app=postgresql")
        #expect(hook.pre.first?.container == "postgresql" && hook.pre.first?.onError == .fail && hook.pre.first?.timeout == .minutes(10))
        #expect(hook.pre.first?.command.first == "/bin/sh" && hook.post.isEmpty)
        #expect(policy.automation == AutomationPolicy())
    }

    @Test("a policy that meets its objectives has nothing to report")
    func clean() throws {
        let document = try PolicyFile.load(path: try policyFixture("clean"))
        #expect(document.lint().isEmpty, "\(document.lint())")
        #expect(document.policy.schedules[0].retention == RetentionPolicy(keepLast: 7, keepDaily: 30, keepWeekly: 8, keepMonthly: 3))
        #expect(document.policy.notifiers.first?.settings["url"] == "env:OPS_WEBHOOK_URL")
        #expect(document.policy.storage.credentials == .secret(namespace: "velero", name: "cloud-credentials", key: "cloud"))
        #expect(document.policy.recovery == ClusterRecoveryPolicy(clusterResourcesSchedule: "weekly-full-backup", maximumDataLoss: .hours(24)))
    }

    @Test("each rule fires on its contradiction", arguments: [
        // objective-not-covered: a namespace only a selector schedule touches, and one nothing touches.
        ("""
        schedules:
          - {name: db, cron: "*/5 * * * *", namespaces: [data-platform], selector: app=postgresql, includeClusterResources: true}
        objectives:
          - {class: critical, namespaces: [data-platform, vault-prod], rto: 1h, rpo: 15m}
        alerts: {slowBackup: 5m}
        """, ["error objective-not-covered objectives[0].namespaces", "error objective-not-covered objectives[0].namespaces"]),
        // unknown-schedule and cron-never-fires.
        ("""
        schedules:
          - {name: never, cron: "0 0 30 2 *", namespaces: [registry]}
        drills:
          - {name: drill, cron: "0 4 1 * *", kind: restore-test, schedule: missing}
        """, ["error cron-never-fires schedules[0].cron", "error unknown-schedule drills[0].schedule"]),
        // overlapping-schedules.
        ("""
        schedules:
          - {name: a, cron: "0 2 * * *", namespaces: [registry, monitoring]}
          - {name: b, cron: "0 */2 * * *", namespaces: [registry]}
        """, ["warning overlapping-schedules schedules[1].cron"]),
        // ttl-rejected (no 'd' in Go durations; negative) and ttl-zero.
        ("""
        schedules:
          - {name: a, cron: "0 2 * * *", namespaces: [registry], ttl: 30d}
          - {name: b, cron: "0 3 * * *", namespaces: [registry], ttl: -1h}
          - {name: c, cron: "0 4 * * *", namespaces: [registry], ttl: 0s}
        """, ["error ttl-rejected schedules[0].ttl", "error ttl-rejected schedules[1].ttl", "warning ttl-zero schedules[2].ttl"]),
        // alert-longer-than-rpo (staleness).
        ("""
        schedules:
          - {name: a, cron: "*/10 * * * *", namespaces: [registry], includeClusterResources: true}
        objectives:
          - {class: c, namespaces: [registry], rto: 1h, rpo: 15m}
        alerts: {slowBackup: 5m, staleAfter: 1h}
        """, ["error alert-longer-than-rpo alerts.staleAfter"]),
        // retention-shorter-than-drill.
        ("""
        schedules:
          - {name: a, cron: "0 2 * * *", namespaces: [registry], ttl: 168h, includeClusterResources: true}
        drills:
          - {name: d, cron: "0 4 1 * *", kind: full-recovery, schedule: a, drCluster: {context: dr}}
        """, ["warning retention-shorter-than-drill drills[0].cron"]),
        // rpo-check-slower-than-rpo: hourly checks against a 15-minute RPO, or none at all; an automation cron that never fires.
        ("""
        schedules:
          - {name: a, cron: "*/10 * * * *", namespaces: [registry], includeClusterResources: true}
        objectives:
          - {class: c, namespaces: [registry], rto: 1h, rpo: 15m}
        alerts: {slowBackup: 5m}
        automation: {rpoCheck: "0 * * * *", validate: "0 0 30 2 *"}
        """, ["error cron-never-fires automation.validate", "warning rpo-check-slower-than-rpo automation.rpoCheck"]),
        ("""
        schedules:
          - {name: a, cron: "*/10 * * * *", namespaces: [registry], includeClusterResources: true}
        objectives:
          - {class: c, namespaces: [registry], rto: 1h, rpo: 15m}
        alerts: {slowBackup: 5m}
        automation: {rpoCheck: "off"}
        """, ["warning rpo-check-slower-than-rpo automation.rpoCheck"]),
        // cluster-resources-not-backed-up: the named schedule takes only some namespaces; a
        // schedule of every namespace but kube-system takes no cluster resources either (Velero's
        // auto mode); recovery names a schedule that does not exist.
        ("""
        schedules:
          - {name: a, cron: "0 2 * * *", namespaces: [registry], includeClusterResources: true}
          - {name: b, cron: "0 3 * * *", namespaces: [registry]}
        recovery: {clusterResourcesSchedule: b}
        """, ["error cluster-resources-not-backed-up recovery.clusterResourcesSchedule"]),
        ("""
        schedules:
          - {name: a, cron: "0 2 * * *", namespaces: ["*"], excludeNamespaces: [kube-system], ttl: 2232h}
        drills:
          - {name: d, cron: "0 5 1 */3 *", kind: full-recovery, schedule: a}
        """, ["warning drill-without-dr-cluster drills[0]", "warning cluster-resources-not-backed-up schedules"]),
        ("""
        schedules:
          - {name: a, cron: "0 2 * * *", includeClusterResources: true}
        recovery: {clusterResourcesSchedule: weekly}
        """, ["error unknown-schedule recovery.clusterResourcesSchedule"]),
        // The databases: the archive inside Velero's location, no base-backup cron, a slow lag check.
        ("""
        databases:
          - {stanza: db, rpo: 5m, rto: 1h}
          - {stanza: other, bucket: 254carbon-pg, rpo: 1h, rto: 1h, baseBackup: "0 0 30 2 *"}
        automation: {rpoCheck: "*/10 * * * *"}
        """, [
            "error database-archive-in-velero-location databases[0].bucket", "error cron-never-fires databases[1].baseBackup",
            "warning database-without-base-backup databases[0].baseBackup", "warning database-check-slower-than-rpo automation.rpoCheck",
        ]),
        ("""
        databases:
          - {stanza: db, bucket: 254carbon-pg, rpo: 5m, rto: 1h, baseBackup: "0 1 * * *", keepBaseBackups: 7}
        automation: {rpoCheck: off, cleanup: off}
        """, ["warning database-retention-off databases[0].keepBaseBackups", "warning database-check-slower-than-rpo automation.rpoCheck"]),
        // A pitr drill of a database the policy does not define; the other drill rules leave it alone.
        ("""
        databases:
          - {stanza: db, bucket: 254carbon-pg, rpo: 5m, rto: 1h, baseBackup: "0 1 * * *"}
        automation: {rpoCheck: "* * * * *"}
        drills:
          - {name: p, cron: "0 5 * * 1", kind: pitr, database: other}
        """, ["error unknown-database drills[0].database"]),
    ])
    func ruleFires(yaml: String, expected: [String]) throws {
        #expect(try rules(policyText(yaml)) == expected)
    }

    @Test("and stays silent when the policy is right", arguments: [
        """
        schedules:
          - {name: a, cron: "*/15 * * * *", namespaces: [registry], includeClusterResources: true}
        objectives:
          - {class: c, namespaces: [registry], rto: 1h, rpo: 15m}
        alerts: {slowBackup: 10m}
        """,
        """
        schedules:
          - {name: a, cron: "0 2 * * *", namespaces: [registry]}
          - {name: b, cron: "30 */2 * * *", namespaces: [registry]}
        """,
        """
        schedules:
          - {name: a, cron: "0 2 * * *", namespaces: ["*"], excludeNamespaces: [kube-system], includeClusterResources: true, ttl: 2232h}
        objectives:
          - {class: c, namespaces: [registry], rto: 4h, rpo: 24h}
        drills:
          - {name: d, cron: "0 5 1 */3 *", kind: full-recovery, schedule: a, drCluster: {context: dr}}
        """,
        """
        databases:
          - {stanza: db, bucket: 254carbon-pg, rpo: 5m, rto: 1h, baseBackup: "0 1 * * *"}
        automation: {rpoCheck: "* * * * *"}
        """,
    ])
    func ruleSilent(yaml: String) throws {
        #expect(try rules(policyText(yaml)) == [])
    }

    @Test("bad files fail with the file, line, column and field, and say what is wrong", arguments: [
        ("storage: [", "carbon-recovery.yaml: not valid YAML: line"),
        (policyText("schedule:\n  - {name: a, cron: '0 2 * * *'}"), "carbon-recovery.yaml:7:1: schedule: unknown field 'schedule'; expected one of storage, schedules"),
        (policyText("schedules:\n  - {name: a, cron: '0 2 * * * *'}"), "carbon-recovery.yaml:8:21: schedules[0].cron: cron schedule '0 2 * * * *' is invalid"),
        (policyText("schedules:\n  - {name: Bad_Name, cron: '0 2 * * *'}"), "carbon-recovery.yaml:8:5: schedules[0]: "),
        (policyText("schedules:\n  - {name: a, cron: '0 2 * * *', namespaces: data-platform}"), "schedules[0].namespaces: expected a list"),
        (policyText("schedules:\n  - {name: a, cron: '0 2 * * *', selector: 'app in (('}"), "schedules[0].selector: "),
        (policyText("objectives:\n  - {class: c, namespaces: [a], rto: soon, rpo: 15m}"), "objectives[0].rto: "),
        (policyText("objectives:\n  - {class: c, namespaces: [a], rto: 1h}"), "objectives[0].rpo: missing; it is required"),
        (policyText("drills:\n  - {name: d, cron: '0 4 1 * *', kind: yearly, schedule: a}"), "drills[0].kind: 'yearly' is not a drill kind"),
        (policyText("notifiers:\n  - {name: ops, type: slack, settings: {webhookURL: 'https://hooks.slack.com/services/T0/B0/abc'}}"), "notifiers[0].settings.webhookURL: write a reference"),
        ("storage:\n  endpoint: http://u:p@minio:9000\n  bucket: b\n  credentials: {file: {path: /x}}", "storage.endpoint: 'http://[REDACTED]@minio:9000' is not"),
        ("storage:\n  endpoint: http://minio:9000\n  bucket: b\n  credentials: {accessKey: AKIA, secretKey: s3cr3t}", "storage.credentials.accessKey: unknown field"),
        ("storage:\n  endpoint: http://minio:9000\n  bucket: b\n  credentials: {environment: {accessKeyID: A, secretAccessKey: 'wJal/rXUt+nFEMI'}}", "name the environment variable"),
        ("storage:\n  endpoint: http://minio:9000\n  bucket: b\n  credentials: {}", "give exactly one of environment, file or secret"),
        (policyText("schedules:\n  - {name: a, cron: '0 3 * * *', hooks: [{name: h, pre: [{container: pg}]}]}"), "schedules[0].hooks[0].pre[0].command: missing; it is required"),
        (policyText("schedules:\n  - {name: a, cron: '0 3 * * *', hooks: [{name: h, pre: [{command: [dump], onError: Sometimes}]}]}"), "onError: 'Sometimes' is not Fail or Continue"),
        (policyText("schedules:\n  - {name: a, cron: '0 3 * * *', hooks: [{name: h}]}"), "schedules[0].hooks[0]: backup hook 'h' has no pre or post command"),
        (policyText("schedules:\n  - {name: a, cron: '0 3 * * *', hooks: [{name: h, pre: [{command: [dump], timeout: 0s}]}]}"), "has timeout 0s"),
        (policyText("automation: {validate: 'every day'}"), "automation.validate: cron schedule 'every day' is invalid"),
        (policyText("audit: {signingKey: keys/audit.key}"), "audit.signingKey: write an absolute path"),
        (policyText("audit: {checkpointExport: ./checkpoints}"), "audit.checkpointExport: write an absolute path"),
        (policyText("audit: {checkpointInterval: 0}"), "audit.checkpointInterval: write a whole number of entries, 1 or more"),
        (policyText("audit: {checkpointInterval: often}"), "audit.checkpointInterval: expected a whole number"),
        (policyText("audit: {signingKeyText: 'PRIVATE+KEY+x'}"), "audit.signingKeyText: unknown field"),
        (policyText("audit: {checkpointEvery: 500ms}"), "audit.checkpointEvery: write a duration of 1s or more"),
        (policyText("audit: {checkpointEvery: hourly}"), "audit.checkpointEvery: "),
        (policyText("audit: {witnesses: [{url: ftp://w, publicKey: a+b+c}]}"), "audit.witnesses[0].url: write the witness's add-checkpoint URL"),
        (policyText("audit: {witnesses: [{url: 'http://127.0.0.1:7380/add-checkpoint', publicKey: abc}]}"), "audit.witnesses[0].publicKey: write the witness's public key text"),
        (policyText("audit: {witnesses: [{url: 'http://127.0.0.1:7380/add-checkpoint'}]}"), "audit.witnesses[0].publicKey: missing"),
        (policyText("audit: {witnesses: {url: x}}"), "audit.witnesses: expected a list"),
        (policyText("audit: {anchors: {endpoint: 'http://127.0.0.1:9', bucket: b}}"), "audit.anchors.credentials: missing"),
        (policyText("audit: {anchors: {endpoint: 'ftp://x', bucket: b, credentials: {file: {path: /c}}}}"), "audit.anchors.endpoint: 'ftp://x' is not an http(s)"),
        (policyText("audit: {anchors: {endpoint: 'http://127.0.0.1:9', bucket: b, retention: 1h, credentials: {file: {path: /c}}}}"), "audit.anchors.retention: write a retention of a day or more"),
        (policyText("audit: {anchors: {endpoint: 'http://127.0.0.1:9', bucket: b, credentials: {secret: {name: s}}}}"), "audit.anchors.credentials.secret: unknown field 'secret'"),
        (policyText("audit: {anchors: {endpoint: 'http://127.0.0.1:9', bucket: b, credentials: {environment: {accessKeyID: 'AKIA/x', secretAccessKey: S}}}}"), "audit.anchors.credentials.environment.accessKeyID: name the environment variable"),
        (policyText("recovery: {maximumDataLoss: -1h}"), "recovery.maximumDataLoss: write a positive duration"),
        (policyText("recovery: {maximumDataLoss: a day}"), "recovery.maximumDataLoss: "),
        (policyText("recovery: {clusterResourcesSchedule: Weekly_Full}"), "recovery.clusterResourcesSchedule: "),
        (policyText("recovery: {clusterSchedule: weekly}"), "recovery.clusterSchedule: unknown field"),
        (policyText("drills:\n  - {name: d, cron: '0 6 1 1 *', kind: annual-exercise, schedule: a}"), "drills[0].drCluster: an annual exercise recovers every namespace into a DR cluster"),
        (policyText("drills:\n  - {name: d, cron: '0 6 1 1 *', kind: full-recovery, schedule: a, drCluster: {kubeconfig: /k}}"), "drills[0].drCluster.context: missing; it is required"),
        (policyText("drills:\n  - {name: d, cron: '0 6 1 1 *', kind: full-recovery, schedule: a, drCluster: {context: dr, kubeconfig: k.yaml}}"), "drills[0].drCluster.kubeconfig: write an absolute path"),
        (policyText("drills:\n  - {name: d, cron: '0 6 1 1 *', kind: full-recovery, schedule: a, drCluster: {context: dr, server: x}}"), "drills[0].drCluster.server: unknown field"),
        (policyText("drills:\n  - {name: p, cron: '0 5 * * 1', kind: pitr}"), "drills[0].database: a pitr drill names the stanza of one of the policy's databases"),
        (policyText("drills:\n  - {name: p, cron: '0 5 * * 1', kind: pitr, database: db, schedule: a}"), "drills[0].schedule: a pitr drill restores a database's WAL archive"),
        (policyText("drills:\n  - {name: p, cron: '0 5 * * 1', kind: pitr, database: db, scratchPort: 0}"), "drills[0].scratchPort: 0 is not a TCP port"),
        (policyText("drills:\n  - {name: p, cron: '0 5 * * 1', kind: pitr, database: db, scratchDirectory: tmp}"), "drills[0].scratchDirectory: write an absolute path"),
        (policyText("drills:\n  - {name: d, cron: '0 4 1 * *', kind: restore-test, schedule: a, database: db}"), "drills[0].database: only a pitr drill takes database"),
        (policyText("drills:\n  - {name: d, cron: '0 4 1 * *', kind: restore-test}"), "drills[0].schedule: a restore-test drill names the schedule"),
        (storageText("encryption: {type: AES}"), "storage.encryption.type: 'AES' is not one of none, SSE-S3, SSE-KMS, SSE-C"),
        (storageText("encryption: {type: SSE-KMS}"), "storage.encryption.kmsKeyID: SSE-KMS needs kmsKeyID"),
        (storageText("encryption: {type: SSE-KMS, kmsKeyID: 'alias/with space'}"), "storage.encryption.kmsKeyID: a KMS key id must be"),
        (storageText("encryption: {type: SSE-S3, kmsKeyID: alias/k}"), "storage.encryption.kmsKeyID: kmsKeyID does not go with SSE-S3"),
        (storageText("encryption: {type: SSE-C}"), "storage.encryption.customerKeyFile: SSE-C needs customerKeyFile"),
        (storageText("encryption: {type: SSE-C, customerKeyFile: keys/sse-c.key}"), "must be an absolute path"),
        (storageText("encryption: {type: SSE-C, customerKeyFile: /etc/velero/sse-c.key}", endpoint: "http://minio:9000"), "storage.encryption.type: SSE-C sends the key with every request: the storage endpoint must be https://"),
        (storageText("encryption: {type: SSE-C, customerKey: 's3cr3tkeybytes'}"), "storage.encryption.customerKey: unknown field"),
        (storageText("caFile: ca.pem"), "storage.caFile: 'ca.pem' must be an absolute path"),
        (policyText("databases:\n  - {stanza: db, rto: 1h}"), "databases[0].rpo: missing; it is required"),
        (policyText("databases:\n  - {stanza: Platform_DB, rpo: 5m, rto: 1h}"), "databases[0]: stanza 'Platform_DB'"),
        (policyText("databases:\n  - {stanza: db, rpo: 5m, rto: 1h, port: 70000}"), "databases[0]: port 70000 of database 'db' is not a TCP port"),
        (policyText("databases:\n  - {stanza: db, rpo: 5m, rto: 1h, compression: zstd}"), "compression 'zstd' of database 'db' is not one of gzip, none"),
        (policyText("databases:\n  - {stanza: db, rpo: 0s, rto: 1h}"), "RPO '0s' of database 'db' must be positive"),
        (policyText("databases:\n  - {stanza: db, rpo: 5m, rto: 1h, keepBaseBackups: 0}"), "keepBaseBackups 0 of database 'db' must be at least 1"),
        (policyText("databases:\n  - {stanza: db, rpo: 5m, rto: 1h, passwordFile: pgpass}"), "databases[0].passwordFile: give an absolute path"),
        (policyText("databases:\n  - {stanza: db, rpo: 5m, rto: 1h, password: s3cr3t}"), "databases[0].password: unknown field"),
        (policyText("databases:\n  - {stanza: db, rpo: 5m, rto: 1h, prefix: /abs/}"), "databases[0].prefix: '/abs/' must be empty or a relative folder"),
        (policyText("databases:\n  - {stanza: db, rpo: 5m, rto: 1h, baseBackup: nightly}"), "databases[0].baseBackup: cron schedule 'nightly' is invalid"),
        (policyText("databases:\n  - {stanza: db, rpo: 5m, rto: 1h}\n  - {stanza: db, rpo: 1h, rto: 1h}"), "databases[1].stanza: stanza 'db' is named twice"),
    ])
    func badFile(text: String, message: String) throws {
        let error = #expect(throws: RecoveryError.self) { try PolicyFile.parse(text) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("s3cr3t") == false && error?.message.contains("wJal") == false && error?.message.contains(":p@") == false, "no secret in the message")
    }

    @Test("the audit section names the signing key, the checkpoint interval, the export folder and the time between checkpoints; without it, the defaults")
    func auditSection() throws {
        let policy = try PolicyFile.parse(policyText("""
            audit:
              signingKey: /etc/carbon-recovery/audit-signing.key
              checkpointInterval: 500
              checkpointExport: /mnt/worm/checkpoints
              checkpointEvery: 15m
            """)).policy
        #expect(policy.audit == AuditPolicy(
            signingKey: "/etc/carbon-recovery/audit-signing.key", checkpointInterval: 500, checkpointExport: "/mnt/worm/checkpoints", checkpointEvery: .seconds(900)))
        let defaults = try PolicyFile.parse(policyText("")).policy
        #expect(defaults.audit == AuditPolicy())
        #expect(defaults.audit.checkpointInterval == 10_000 && defaults.audit.signingKey == nil && defaults.audit.checkpointExport == nil)
        #expect(defaults.audit.checkpointEvery == .seconds(3600))
        #expect(try PolicyFile.parse(policyText("audit: {checkpointEvery: \"off\"}")).policy.audit.checkpointEvery == nil)
        let witnessed = try PolicyFile.parse(policyText("audit: {witnesses: [{url: 'http://127.0.0.1:7380/add-checkpoint', publicKey: 'w+01020304+BAAA'}]}")).policy
        #expect(witnessed.audit.witnesses == [AuditWitnessPolicy(url: "http://127.0.0.1:7380/add-checkpoint", publicKey: "w+01020304+BAAA")])
        let anchored = try PolicyFile.parse(policyText(
            "audit: {anchors: {endpoint: 'http://127.0.0.1:9000', bucket: audit-anchors, retention: 48h, credentials: {environment: {accessKeyID: A, secretAccessKey: S}}}}")).policy
        #expect(anchored.audit.anchors == AuditAnchorPolicy(
            endpoint: "http://127.0.0.1:9000", bucket: "audit-anchors", credentials: .environment(accessKeyID: "A", secretAccessKey: "S"), retention: .seconds(172_800)))
    }

    @Test("drills at the guide's three levels; a recovery drill names its DR cluster by context and kubeconfig")
    func drillLevels() throws {
        let policy = try PolicyFile.parse(policyText("""
            schedules:
              - {name: weekly-full, cron: "0 3 * * 0", includeClusterResources: true}
            drills:
              - {name: monthly, cron: "0 4 1 * *", kind: restore-test, schedule: weekly-full}
              - {name: quarterly, cron: "0 5 1 */3 *", kind: full-recovery, schedule: weekly-full, drCluster: {context: dr-admin, kubeconfig: /etc/dr/kubeconfig}}
              - {name: annual, cron: "0 6 1 1 *", kind: annual-exercise, schedule: weekly-full, drCluster: {context: dr-admin}}
            """)).policy
        #expect(policy.drills.map(\.kind) == [.restoreTest, .fullRecovery, .annualExercise])
        #expect(policy.drills[0].drCluster == nil)
        #expect(policy.drills[1].drCluster == DrillPolicy.DRCluster(context: "dr-admin", kubeconfig: "/etc/dr/kubeconfig"))
        #expect(policy.drills[2].drCluster == DrillPolicy.DRCluster(context: "dr-admin"))
    }

    @Test("a pitr drill names its database, and optionally the scratch instance's port and folder; it has no schedule")
    func pitrDrill() throws {
        let policy = try PolicyFile.parse(policyText("""
            databases:
              - {stanza: platform-db, bucket: 254carbon-pg, rpo: 5m, rto: 1h}
            drills:
              - {name: weekly-pitr, cron: "0 5 * * 1", kind: pitr, database: platform-db, scratchPort: 55432, scratchDirectory: /var/tmp/drills}
              - {name: daily-pitr, cron: "0 6 * * *", kind: pitr, database: platform-db}
            """)).policy
        #expect(policy.drills == [
            DrillPolicy(name: "weekly-pitr", cron: try CronSchedule(parsing: "0 5 * * 1"), kind: .pitr, schedule: "", database: "platform-db", scratchPort: 55432, scratchDirectory: "/var/tmp/drills"),
            DrillPolicy(name: "daily-pitr", cron: try CronSchedule(parsing: "0 6 * * *"), kind: .pitr, schedule: "", database: "platform-db"),
        ])
        #expect(PolicyLinter().lint(policy).filter { $0.field.hasPrefix("drills") }.isEmpty, "no schedule rule fires for a pitr drill")
    }

    @Test("the databases section reads every field, with the defaults for those left out")
    func databasesSection() throws {
        let policy = try PolicyFile.parse(policyText("""
            databases:
              - stanza: platform-db
                host: 10.0.0.5
                port: 5433
                user: backup
                passwordFile: /etc/carbon-recovery/pgpass
                bin: /usr/lib/postgresql/16/bin
                runAs: postgres
                bucket: 254carbon-pg
                prefix: databases/
                compression: none
                rpo: 5m
                rto: 1h
                baseBackup: "0 1 * * *"
                keepBaseBackups: 7
              - {stanza: other, rpo: 1h, rto: 4h}
            """)).policy
        #expect(policy.databases == [
            DatabasePolicy(
                stanza: "platform-db", host: "10.0.0.5", port: 5433, user: "backup", passwordFile: "/etc/carbon-recovery/pgpass", binDirectory: "/usr/lib/postgresql/16/bin",
                runAs: "postgres", bucket: "254carbon-pg", prefix: "databases/", compression: "none", rpo: .minutes(5), rto: .hours(1),
                baseBackup: try CronSchedule(parsing: "0 1 * * *"), keepBaseBackups: 7),
            DatabasePolicy(stanza: "other", rpo: .hours(1), rto: .hours(4)),
        ])
        #expect(try PolicyFile.parse(policyText("")).policy.databases.isEmpty)
    }

    @Test("a missing file is not-found, naming it")
    func missingFile() {
        let error = #expect(throws: RecoveryError.self) { try PolicyFile.load(path: "/nonexistent/carbon-recovery.yaml") }
        #expect(error?.code == .notFound && error?.message.contains("/nonexistent/carbon-recovery.yaml") == true)
    }
}

@Suite("Manifests rendered from a policy")
struct ManifestRendererTests {
    @Test("the guide's policy renders its five files: location, three schedules, four restores")
    func guide() throws {
        let files = try ManifestRenderer(policy: try PolicyFile.load(path: guidePolicyPath()).policy).render()
        #expect(files.map(\.path) == [
            "k8s/storage/velero-backup-config.yaml", "k8s/storage/velero-restore-full.yaml", "k8s/storage/velero-restore-namespace.yaml",
            "k8s/storage/velero-restore-app.yaml", "k8s/storage/velero-restore-test.yaml",
        ])
        #expect(files[0].objects.map { "\($0.kind ?? "") \($0.name ?? "")" } == [
            "BackupStorageLocation default", "Schedule daily-backup", "Schedule critical-backup", "Schedule postgresql-backup",
        ])
        #expect(files[0].objects[2].json[path: ["spec", "schedule"]] == "0 */6 * * *")
        #expect(files[0].objects[3].json[path: ["spec", "template", "labelSelector", "matchLabels", "app"]] == "postgresql")
        #expect(files[2].objects[0].json[path: ["spec", "scheduleName"]] == "critical-backup", "the most frequent full backup of data-platform")
        #expect(files[4].objects[0].json[path: ["spec", "namespaceMapping", "vault-prod"]] == "vault-prod-restore-test")
        // The YAML reads back into the same objects.
        for file in files {
            let documents = Array(try Yams.load_all(yaml: file.contents))
            #expect(documents.count == file.objects.count)
        }
        #expect(files[0].contents.contains("s3ForcePathStyle: \"true\""), "strings YAML would read as booleans are quoted")
    }

    @Test("a policy without schedules has nothing to render")
    func empty() throws {
        let policy = RecoveryPolicy(storage: StoragePolicy(endpoint: "http://minio:9000", bucket: "b", credentials: .file(path: "/x", profile: "default")))
        #expect(throws: RecoveryError.self) { try ManifestRenderer(policy: policy).render() }
    }
}
