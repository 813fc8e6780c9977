// `carbon-recovery deploy` as a real process on the sandbox, in a Velero namespace of its own
// served by a velero-stand-in process of its own (schedules and location validation on; backup
// sync and garbage collection off, so it never touches the shared bucket's backups).
import CarbonRecovery
import Foundation
import Testing
import TestSupport

/// A velero-stand-in process for one namespace, stopped by PID when the test ends.
final class StandInProcess: @unchecked Sendable {
    // @unchecked: the process handle is set once in init and only stopped afterwards.
    let process = Process()
    let log: String

    /// Starts a stand-in for `namespace`. With `installLocation`, first does what installing
    /// Velero there would: the `cloud-credentials` secret (the sandbox's S3 keys) and a
    /// `default` location on the sandbox's bucket — the stand-in, like Velero, finds its storage
    /// only through a `BackupStorageLocation`.
    init(namespace: String, directory: TemporaryDirectory, installLocation: Bool = false) async throws {
        if installLocation { try await Self.installLocation(namespace: namespace) }
        log = directory.file("stand-in.log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: try executable("velero-stand-in"))
        process.arguments = [
            "--namespace", namespace, "--validation-interval-seconds", "1", "--schedule-interval-seconds", "1",
            "--gc-interval-seconds", "0", "--sync-interval-seconds", "0",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try process.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("velero-stand-in watching") {
            guard process.isRunning, ContinuousClock.now < deadline else {
                stop()
                throw RecoveryError(.timeout, "velero-stand-in did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        // What scripts/sandbox does for its own stand-in: the `velero` Deployment object, so
        // that doctor and status find Velero's server (the stand-in does not write it itself).
        let deployment = """
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"velero","namespace":"\(namespace)",
              "annotations":{"carbon-recovery.dev/stand-in":"CarbonRecovery's sandbox stand-in for Velero, not Velero","carbon-recovery.dev/stand-in-pid":"\(process.processIdentifier)"}},
             "spec":{"replicas":1,"selector":{"matchLabels":{"component":"velero"}},
                     "template":{"metadata":{"labels":{"component":"velero"}},"spec":{"containers":[{"name":"velero","image":"carbon-recovery/velero-stand-in:sandbox"}]}}}}
            """
        let recorded = try await run("/usr/bin/env", ["kubectl", "apply", "--server-side", "--field-manager=carbon-recovery-tests", "-f", "-"], input: Array(deployment.utf8))
        guard recorded.status == 0 else {
            stop()
            throw RecoveryError(.internalError, "recording the stand-in's Deployment failed: \(recorded.standardError)")
        }
    }

    static func installLocation(namespace: String) async throws {
        let environment = ProcessInfo.processInfo.environment
        let credentials = try #require(environment["AWS_SHARED_CREDENTIALS_FILE"]), endpoint = try #require(environment["CARBON_RECOVERY_S3_ENDPOINT"])
        let secret = try await run("/usr/bin/env", ["kubectl", "-n", namespace, "create", "secret", "generic", "cloud-credentials", "--from-file=cloud=\(credentials)"])
        guard secret.status == 0 else { throw RecoveryError(.internalError, "creating the credentials secret failed: \(secret.standardError)") }
        let location = """
            {"apiVersion":"velero.io/v1","kind":"BackupStorageLocation","metadata":{"name":"default","namespace":"\(namespace)"},
             "spec":{"provider":"aws","default":true,"accessMode":"ReadWrite","objectStorage":{"bucket":"254carbon-backups"},
                     "credential":{"name":"cloud-credentials","key":"cloud"},"config":{"region":"us-east-1","s3ForcePathStyle":"true","s3Url":"\(endpoint)"}}}
            """
        let applied = try await run("/usr/bin/env", ["kubectl", "apply", "-f", "-"], input: Array(location.utf8))
        guard applied.status == 0 else { throw RecoveryError(.internalError, "creating the storage location failed: \(applied.standardError)") }
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

@Suite("carbon-recovery deploy on the sandbox", .timeLimit(.minutes(10)))
struct DeployCLITests {
    func policy(_ sandbox: Sandbox, schedules: [String]) -> String {
        let endpoint = ProcessInfo.processInfo.environment["CARBON_RECOVERY_S3_ENDPOINT"] ?? ""
        return """
            storage:
              endpoint: \(endpoint)
              bucket: 254carbon-backups
              region: us-east-1
              credentials: {environment: {accessKeyID: TEST_S3_ACCESS_KEY, secretAccessKey: TEST_S3_SECRET_KEY}}
            schedules:
            \(schedules.map { "  - {name: \($0), cron: \"0 2 1 1 *\", namespaces: [registry], ttl: 24h0m0s}" }.joined(separator: "\n"))
            objectives:
              - {class: standard, namespaces: [registry], rto: 4h0m0s, rpo: 8784h0m0s}
            alerts: {slowBackup: 1h0m0s}
            """
    }

    /// The sandbox's S3 keys, from its credentials file.
    func keys() throws -> (id: String, secret: String) {
        let file = try #require(ProcessInfo.processInfo.environment["AWS_SHARED_CREDENTIALS_FILE"])
        let text = try String(contentsOfFile: file, encoding: .utf8)
        func value(_ name: String) -> String? {
            text.split(separator: "\n").first { $0.hasPrefix(name) }?.split(separator: "=", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
        }
        return (try #require(value("aws_access_key_id")), try #require(value("aws_secret_access_key")))
    }

    @Test("plan, apply, Available and Enabled; a second run changes nothing; a dropped schedule is deleted; status shows RPO and RTO; no secret shown")
    func reconcile() async throws {
        let sandbox = try Sandbox.current()
        let directory = try TemporaryDirectory()
        let namespace = "velero-deploy-\(UUID().uuidString.prefix(6).lowercased())"
        let created = try await run("/usr/bin/env", ["kubectl", "create", "namespace", namespace])
        #expect(created.status == 0, "\(created.standardError)")
        let standIn = try await StandInProcess(namespace: namespace, directory: directory)
        defer { standIn.stop() }
        let (id, secret) = try keys()
        let file = directory.file("carbon-recovery.yaml")
        try policy(sandbox, schedules: ["daily-backup", "weekly-backup"]).write(toFile: file, atomically: true, encoding: .utf8)
        var environment = ["XDG_STATE_HOME": directory.file("state"), "CARBON_RECOVERY_AUDIT_DB": "", "TEST_S3_ACCESS_KEY": id, "TEST_S3_SECRET_KEY": secret]
        let deploy = ["deploy", "--config", file, "--velero-namespace", namespace, "--wait-timeout", "60s"]

        let first = try await run(try executable("carbon-recovery"), deploy, environment: environment)
        #expect(first.status == 0, "\(first.standardOutput)\(first.standardError)")
        for line in ["update +Namespace +\(namespace) +metadata.labels", "create +Secret", "create +BackupStorageLocation +\(namespace)/default", "create +Schedule +\(namespace)/weekly-backup"] {
            #expect(first.standardOutput.range(of: line, options: .regularExpression) != nil, "\(line) in \(first.standardOutput)")
        }
        #expect(first.standardOutput.contains("Applied 5 changes.") && first.standardOutput.contains("Storage location Available; 2 schedules Enabled."))

        let second = try await run(try executable("carbon-recovery"), deploy, environment: environment)
        #expect(second.status == 0, "\(second.standardError)")
        #expect(second.standardOutput.contains("Nothing to change: 5 objects as the policy says."), "\(second.standardOutput)")
        #expect(!second.standardOutput.contains("create ") && !second.standardOutput.contains("update "))

        try policy(sandbox, schedules: ["daily-backup"]).write(toFile: file, atomically: true, encoding: .utf8)
        let dryRun = try await run(try executable("carbon-recovery"), deploy + ["--dry-run"], environment: environment)
        #expect(dryRun.standardOutput.range(of: "delete-orphaned +Schedule +\(namespace)/weekly-backup", options: .regularExpression) != nil, "\(dryRun.standardOutput)")
        #expect(dryRun.standardOutput.contains("Dry run: nothing changed."))
        let third = try await run(try executable("carbon-recovery"), deploy, environment: environment)
        #expect(third.status == 0 && third.standardOutput.contains("deleted Schedule/\(namespace)/weekly-backup"), "\(third.standardOutput)\(third.standardError)")

        // status: Available, Enabled, and registry's RPO breached — it has no backup yet.
        let status = ["status", "--config", file, "--velero-namespace", namespace]
        let before = try await run(try executable("carbon-recovery"), status, environment: environment)
        #expect(before.status == 1, "\(before.standardOutput)\(before.standardError)")
        #expect(before.standardOutput.range(of: "default +Available", options: .regularExpression) != nil, "\(before.standardOutput)")
        #expect(before.standardOutput.range(of: "daily-backup +0 2 1 1 \\* +Enabled +no", options: .regularExpression) != nil)
        #expect(before.standardOutput.contains("BREACHED (no backup)") && before.standardOutput.contains("not measured (run restore test)"))
        // A backup and a restore test: both objectives met.
        let backup = "status-\(UUID().uuidString.prefix(6).lowercased())"
        let made = try await run(try executable("carbon-recovery"), ["backup", "create", backup, "--include-namespaces", "registry", "--wait", "--velero-namespace", namespace], environment: environment)
        #expect(made.status == 0, "\(made.standardError)")
        let tested = try await run(try executable("carbon-recovery"), ["restore", "test", "--from-backup", backup, "--velero-namespace", namespace], environment: environment)
        #expect(tested.status == 0, "\(tested.standardOutput)\(tested.standardError)")
        let after = try await run(try executable("carbon-recovery"), status + ["--output", "json"], environment: environment)
        #expect(after.status == 0, "\(after.standardOutput)\(after.standardError)")
        let report = try JSONValue(parsing: Array(after.standardOutput.utf8))
        let registry = try #require(report["namespaces"]?.arrayValue?.first)
        #expect(registry["name"] == "registry" && registry["lastBackup"] == .string(backup) && registry["rpoMet"] == true && registry["rtoMet"] == true, "\(registry)")
        #expect(report["healthy"] == true)
        _ = try await run(try executable("carbon-recovery"), ["backup", "delete", backup, "--velero-namespace", namespace], environment: environment)

        let audit = try await run(try executable("carbon-recovery"), ["audit", "query", "--output", "json", "--limit", "1000"], environment: environment)
        let entries = try JSONValue(parsing: Array(audit.standardOutput.utf8))["entries"]?.arrayValue ?? []
        #expect(entries.filter { $0["operation"] == "deploy.change" && $0["kind"] == "outcome" && $0["outcome"] == "success" }.count == 6, "5 then 1")
        #expect(entries.filter { $0["operation"] == "deploy.apply" && $0["kind"] == "outcome" }.count == 3)
        for output in [first.standardOutput, first.standardError, second.standardOutput, third.standardOutput, audit.standardOutput] {
            #expect(!output.contains(secret), "the secret key never appears")
        }

        // A missing credentials variable: one clear error naming it, and nothing changed.
        environment["TEST_S3_SECRET_KEY"] = nil
        let missing = try await run(try executable("carbon-recovery"), deploy, environment: environment)
        #expect(missing.status == 1 && missing.standardError.contains("set TEST_S3_SECRET_KEY"), "\(missing.standardError)")
        _ = try await run("/usr/bin/env", ["kubectl", "delete", "namespace", namespace, "--wait=false"])
    }

    @Test("a policy whose schedules cannot meet its own RPO is not deployed without --allow-lint-errors: a clear error, nothing changed")
    func lintErrorsStopDeploy() async throws {
        let sandbox = try Sandbox.current()
        let directory = try TemporaryDirectory()
        let namespace = "velero-lint-\(UUID().uuidString.prefix(6).lowercased())"
        let created = try await run("/usr/bin/env", ["kubectl", "create", "namespace", namespace])
        #expect(created.status == 0, "\(created.standardError)")
        defer { Task { _ = try? await run("/usr/bin/env", ["kubectl", "delete", "namespace", namespace, "--wait=false"]) } }
        let (id, secret) = try keys()
        // A yearly schedule for a namespace whose RPO is one hour.
        let file = directory.file("carbon-recovery.yaml")
        try policy(sandbox, schedules: ["daily-backup"]).replacingOccurrences(of: "rpo: 8784h0m0s", with: "rpo: 1h0m0s")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let environment = ["XDG_STATE_HOME": directory.file("state"), "CARBON_RECOVERY_AUDIT_DB": "", "TEST_S3_ACCESS_KEY": id, "TEST_S3_SECRET_KEY": secret]
        let deploy = ["deploy", "--config", file, "--velero-namespace", namespace, "--wait-timeout", "30s"]
        let lint = try await run(try executable("carbon-recovery"), ["policy", "lint", file], environment: environment)
        #expect(lint.status != 0, "the policy was meant to have lint errors: \(lint.standardOutput)")

        let refused = try await run(try executable("carbon-recovery"), deploy, environment: environment)
        #expect(refused.status == 1, "\(refused.standardOutput)\(refused.standardError)")
        #expect(refused.standardError.contains("nothing was deployed") && refused.standardError.contains("--allow-lint-errors"), "\(refused.standardError)")
        let schedules = try await run("/usr/bin/env", ["kubectl", "get", "schedules.velero.io", "-n", namespace, "-o", "name"])
        #expect(schedules.status == 0 && schedules.standardOutput.isEmpty, "nothing created: \(schedules.standardOutput)")
        let locations = try await run("/usr/bin/env", ["kubectl", "get", "backupstoragelocations.velero.io", "-n", namespace, "-o", "name"])
        #expect(locations.status == 0 && locations.standardOutput.isEmpty, "nothing created: \(locations.standardOutput)")
        // A dry run still shows the plan, and says what deploying needs.
        let dryRun = try await run(try executable("carbon-recovery"), deploy + ["--dry-run"], environment: environment)
        #expect(dryRun.status == 0 && dryRun.standardOutput.contains("Dry run: nothing changed."), "\(dryRun.standardOutput)\(dryRun.standardError)")
        #expect(dryRun.standardError.contains("--allow-lint-errors"))
    }
}
