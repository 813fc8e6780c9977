// The backup and restore verbs as real processes against the sandbox and its Velero stand-in.
import CarbonRecovery
import Foundation
import Testing
import TestSupport

@Suite("carbon-recovery backup and restore on the sandbox", .timeLimit(.minutes(20)))
struct BackupRestoreCLITests {
    /// Restores wait on the one stand-in every parallel test shares: on a loaded two-core CI
    /// machine one has taken nearly three minutes, so the limit is the guard against a hang.
    func cli(_ arguments: [String], state: TemporaryDirectory, timeout: Duration = .seconds(300)) async throws -> ProcessResult {
        _ = try Sandbox.current()
        return try await run(try executable("carbon-recovery"), arguments, environment: ["XDG_STATE_HOME": state.file("state"), "CARBON_RECOVERY_AUDIT_DB": ""], timeout: timeout)
    }

    @Test("backup create --wait, list, describe, validate, restore into another namespace, delete — all audited and verifiable")
    func guideFlow() async throws {
        let state = try TemporaryDirectory()
        let name = "cli-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await cli(["backup", "create", name, "--include-namespaces", "monitoring", "--ttl", "24h0m0s", "--wait"], state: state)
        #expect(created.status == 0, "\(created.standardError)")
        #expect(created.standardOutput.contains("Backup \(name): Completed"))
        #expect(created.standardError.contains("backup \(name): Completed"), "the live progress line")

        let list = try await cli(["backup", "list", "--output", "json"], state: state)
        #expect(try JSONValue(parsing: Array(list.standardOutput.utf8)).arrayValue?.contains { $0["name"] == .string(name) && $0["phase"] == "Completed" } == true)
        let describe = try await cli(["backup", "describe", name], state: state)
        #expect(describe.standardOutput.contains("\(name).tar.gz"))
        #expect(try await cli(["backup", "validate", name], state: state).status == 0)

        let target = "monitoring-\(name)"
        let restored = try await cli(["restore", "create", "\(name)-drill", "--from-backup", name, "--namespace-mappings", "monitoring:\(target)", "--wait"], state: state)
        #expect(restored.status == 0, "\(restored.standardError)")
        #expect(restored.standardOutput.contains("Completed"))
        #expect(try await cli(["restore", "describe", "\(name)-drill"], state: state).standardOutput.contains("Phase:       Completed"))

        let tested = try await cli(["restore", "test", "--from-backup", name, "--rto", "1h0m0s"], state: state)
        #expect(tested.status == 0, "\(tested.standardError)")
        #expect(tested.standardOutput.contains("monitoring -> monitoring-rt-"), "\(tested.standardOutput)")
        #expect(tested.standardOutput.contains("(objective 3600.000 s: met)") && tested.standardOutput.contains("Restore test PASSED."))

        let deleted = try await cli(["backup", "delete", name], state: state)
        #expect(deleted.status == 0, "\(deleted.standardError)")
        #expect(try await cli(["backup", "describe", name], state: state).status == 1)

        let audit = try await cli(["audit", "query", "--output", "json"], state: state)
        let operations = try JSONValue(parsing: Array(audit.standardOutput.utf8))["entries"]?.arrayValue?.map { "\($0["operation"]?.stringValue ?? "") \($0["kind"]?.stringValue ?? "")" } ?? []
        #expect(operations == [
            "backup.create attempt", "backup.create outcome", "backup.validate attempt", "backup.validate outcome",
            "restore.create attempt", "restore.create outcome", "restore.test attempt", "restore.test outcome",
            "backup.delete attempt", "backup.delete outcome",
        ], "\(audit.standardOutput)")
        #expect(try await cli(["audit", "verify"], state: state).status == 0)
    }

    @Test("bad input is one clear error, exit 1, and creates nothing (not even an audit entry)", arguments: [
        ["backup", "create", "Bad_Name", "--include-namespaces", "x"],
        ["backup", "create", "ok-name", "--ttl", "forever"],
        ["backup", "create", "ok-name", "--selector", "app in (("],
        ["backup", "create", "ok-name", "--labels", "novalue"],
        ["restore", "create", "r", "--from-backup", "a", "--from-schedule", "b"],
        ["restore", "create", "r"],
        ["restore", "create", "r", "--from-backup", "a", "--namespace-mappings", "nocolon"],
        ["restore", "create", "r", "--from-backup", "a", "--existing-resource-policy", "overwrite"],
        ["restore", "test", "--from-backup", "Bad_Name"],
        ["restore", "test", "--from-backup", "ok", "--rto", "soon"],
        ["restore", "test", "--from-backup", "ok", "--scratch-suffix", "UPPER"],
        ["cleanup"],
        ["cleanup", "--dry-run"],
        ["cleanup", "--retention"],
        ["cleanup", "--failed", "--config", "Examples/254carbon.yaml"],
        ["recover", "cluster", "--name", "Bad_Name"],
        ["recover", "cluster", "--max-data-loss", "a day"],
        ["recover", "cluster", "--rto=-1h"],
        ["recover", "cluster", "--namespace-mappings", "nocolon"],
        ["recover", "cluster", "--storage-class-mappings", "fast-ssd:standard,fast-ssd:other"],
        ["recover", "cluster", "--include-namespaces", "Not_A_Namespace"],
        ["recover", "cluster", "--cluster-backup", "bad name"],
    ])
    func badInput(arguments: [String]) async throws {
        let state = try TemporaryDirectory()
        let result = try await cli(arguments, state: state)
        #expect(result.status == 1)
        #expect(result.standardError.hasPrefix("error: "), "\(result.standardError)")
        #expect(result.standardOutput.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: state.file("state/carbon-recovery/audit.db")), "no trail was even created")
    }

    @Test("cleanup --failed: the plan first, --dry-run deletes nothing, then each failed backup goes with its data, audited")
    func cleanupFailed() async throws {
        let state = try TemporaryDirectory()
        let name = "cli-failed-\(UUID().uuidString.prefix(8).lowercased())"
        let manifest = state.file("failed-backup.json")
        try Data("""
            {"apiVersion":"velero.io/v1","kind":"Backup","metadata":{"name":"\(name)","namespace":"velero",
             "annotations":{"stand-in.carbon-recovery.dev/fault":"fail"}},"spec":{"includedNamespaces":["registry"]}}
            """.utf8).write(to: URL(fileURLWithPath: manifest))
        let kubectl = try await run("/usr/bin/env", ["kubectl", "apply", "-f", manifest])
        #expect(kubectl.status == 0, "\(kubectl.standardError)")
        var phase = ""
        for _ in 0..<120 where phase != "Failed" {
            let described = try await cli(["backup", "describe", name, "--output", "json"], state: state)
            phase = (try? JSONValue(parsing: Array(described.standardOutput.utf8)))?[path: ["status", "phase"]]?.stringValue ?? ""
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(phase == "Failed")

        let dryRun = try await cli(["cleanup", "--failed", "--dry-run"], state: state)
        #expect(dryRun.status == 0, "\(dryRun.standardError)")
        #expect(dryRun.standardOutput.contains(name) && dryRun.standardOutput.contains("finished Failed"), "\(dryRun.standardOutput)")
        #expect(dryRun.standardOutput.contains("Dry run: nothing deleted."))
        #expect(try await cli(["backup", "describe", name], state: state).status == 0, "still there")

        let cleaned = try await cli(["cleanup", "--failed", "--output", "json"], state: state)
        #expect(cleaned.status == 0, "\(cleaned.standardError)")
        #expect(try JSONValue(parsing: Array(cleaned.standardOutput.utf8))["deleted"]?.arrayValue?.contains(.string(name)) == true, "\(cleaned.standardOutput)")
        #expect(try await cli(["backup", "describe", name], state: state).status == 1, "gone")

        let audit = try await cli(["audit", "query", "--output", "json"], state: state)
        let entries = try JSONValue(parsing: Array(audit.standardOutput.utf8))["entries"]?.arrayValue ?? []
        #expect(entries.first?["operation"] == "backup.cleanup" && entries.last?["operation"] == "backup.cleanup")
        #expect(entries.contains { $0["operation"] == "backup.delete" && $0["target"] == .string("backup/\(name)") && $0["outcome"] == "success" })
        #expect(try await cli(["audit", "verify"], state: state).status == 0)
    }

    @Test("cleanup --retention: keep rules per schedule, the newest validated backup kept whatever they say, the rest deleted")
    func retention() async throws {
        let state = try TemporaryDirectory()
        let schedule = "ret-\(UUID().uuidString.prefix(6).lowercased())"
        let config = state.file("policy.yaml")
        try """
            storage:
              endpoint: http://127.0.0.1:9000
              bucket: 254carbon-backups
              credentials: {environment: {accessKeyID: VELERO_S3_ACCESS_KEY, secretAccessKey: VELERO_S3_SECRET_KEY}}
            schedules:
              - {name: \(schedule), cron: "0 2 1 1 *", namespaces: [registry], retention: {keepLast: 2}}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        for index in 1...4 {
            let made = try await cli(["backup", "create", "\(schedule)-\(index)", "--include-namespaces", "registry", "--labels", "velero.io/schedule-name=\(schedule)", "--wait"], state: state)
            #expect(made.status == 0, "\(made.standardError)")
        }
        #expect(try await cli(["backup", "validate", "\(schedule)-1"], state: state).status == 0)

        let dryRun = try await cli(["cleanup", "--retention", "--config", config, "--dry-run"], state: state)
        #expect(dryRun.status == 0, "\(dryRun.standardError)")
        #expect(dryRun.standardOutput.contains("Plan: delete 1 backup with its data"), "\(dryRun.standardOutput)")
        #expect(dryRun.standardOutput.contains("\(schedule)-2") && dryRun.standardOutput.contains("retention of \(schedule): no keep rule holds it"))
        #expect(dryRun.standardOutput.contains("\(schedule)-1: newest validated backup of registry"))
        #expect(dryRun.standardOutput.contains("\(schedule)-4: last 2") && dryRun.standardOutput.contains("\(schedule)-3: last 2"))

        let cleaned = try await cli(["cleanup", "--retention", "--config", config, "--output", "json"], state: state)
        #expect(cleaned.status == 0, "\(cleaned.standardError)")
        #expect(try JSONValue(parsing: Array(cleaned.standardOutput.utf8))["deleted"] == .array([.string("\(schedule)-2")]), "\(cleaned.standardOutput)")
        #expect(try await cli(["backup", "describe", "\(schedule)-2"], state: state).status == 1)
        for index in [1, 3, 4] { _ = try await cli(["backup", "delete", "\(schedule)-\(index)"], state: state) }
    }
}
