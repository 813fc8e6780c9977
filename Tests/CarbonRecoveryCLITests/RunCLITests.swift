// `carbon-recovery run` as a real process on the sandbox, in a Velero namespace of its own with a
// velero-stand-in of its own: it validates a new backup, reports the RPO breach and its recovery,
// runs a drill, stops cleanly on SIGTERM, and after a restart reports its missed runs once.
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import Testing
import TestSupport

@Suite("carbon-recovery run on the sandbox", .timeLimit(.minutes(20)))
struct RunCLITests {
    @Test("validates new backups, reports an RPO breach and its recovery, drills, stops on SIGTERM, reports missed runs once after a restart")
    func scheduler() async throws {
        _ = try Sandbox.current()
        let directory = try TemporaryDirectory()
        let namespace = "velero-run-\(UUID().uuidString.prefix(6).lowercased())"
        let created = try await run("/usr/bin/env", ["kubectl", "create", "namespace", namespace])
        #expect(created.status == 0, "\(created.standardError)")
        let standIn = try await StandInProcess(namespace: namespace, directory: directory, installLocation: true)
        defer { standIn.stop() }
        let endpoint = ProcessInfo.processInfo.environment["CARBON_RECOVERY_S3_ENDPOINT"] ?? ""
        let file = directory.file("carbon-recovery.yaml")
        try """
            storage:
              endpoint: \(endpoint)
              bucket: 254carbon-backups
              credentials: {environment: {accessKeyID: TEST_S3_ACCESS_KEY, secretAccessKey: TEST_S3_SECRET_KEY}}
            schedules:
              - {name: nightly, cron: "0 2 * * *", namespaces: [registry], ttl: 24h0m0s}
            objectives:
              - {class: standard, namespaces: [registry], rto: 1h0m0s, rpo: 1h0m0s}
            drills:
              - {name: smoke-drill, cron: "@every 30s", kind: restore-test, schedule: nightly}
            automation:
              validate: "@every 4s"
              rpoCheck: "@every 4s"
              cleanup: "off"
            audit:
              checkpointInterval: 8
              checkpointExport: \(directory.file("worm/checkpoints"))
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let signingKey = directory.file("keys/audit.key")
        let environment = [
            "XDG_STATE_HOME": directory.file("state"), "XDG_CONFIG_HOME": directory.file("config"), "CARBON_RECOVERY_AUDIT_DB": "",
            "CARBON_RECOVERY_AUDIT_SIGNING_KEY": signingKey,
        ]
        let keygen = try await run(try executable("carbon-recovery"), ["audit", "keygen"], environment: environment)
        #expect(keygen.status == 0, "\(keygen.standardError)")
        let arguments = ["--config", file, "--velero-namespace", namespace]

        let first = try CLIProcess(["run"] + arguments, environment: environment)
        let started = try await first.waitForLine { $0.hasPrefix("scheduler started:") }
        #expect(started.contains("validate (next") && started.contains("rpo-check (next") && started.contains("drill/smoke-drill (next"))
        #expect(!first.output.contains("missed:"), "the first start ever has nothing to catch up")
        let breached = try await first.waitForLine { $0.hasPrefix("ran rpo-check") }
        #expect(breached.contains(#""newlyBreached":["registry"]"#), "no backup yet: \(breached)")

        // A backup that the schedule would have made (its label), made by hand to save a day.
        let backup = "nightly-\(UUID().uuidString.prefix(6).lowercased())"
        let made = try await run(
            try executable("carbon-recovery"),
            ["backup", "create", backup, "--include-namespaces", "registry", "--labels", "velero.io/schedule-name=nightly", "--wait", "--velero-namespace", namespace],
            environment: environment)
        #expect(made.status == 0, "\(made.standardError)")
        let validated = try await first.waitForLine { $0.hasPrefix("ran validate") && $0.contains(backup) }
        #expect(validated.contains(#""valid":["\#(backup)"]"#), "\(validated)")
        let recovered = try await first.waitForLine { $0.hasPrefix("ran rpo-check") && $0.contains(#""recovered":["registry"]"#) }
        #expect(recovered.contains(#""breached":[]"#))
        // A drill that fired before the backup existed fails (and says why); the next one restores it.
        let drill = try await first.waitForLine(timeout: .seconds(150)) { $0.hasPrefix("ran drill/smoke-drill for") }
        #expect(drill.contains(#""backup":"\#(backup)""#), "\(first.output)")
        #expect(first.lines.filter { $0.hasPrefix("FAILED drill/smoke-drill") }.allSatisfy { $0.contains("has no Completed backup to restore") }, "\(first.output)")
        // Validation of the backup happened once, however many validate runs passed.
        try await Task.sleep(for: .seconds(5))
        #expect(first.lines.filter { $0.hasPrefix("ran validate") && $0.contains(backup) }.count == 1)

        // SIGTERM lets a drill in progress finish (up to 5 minutes); on a loaded 2-core machine a
        // drill's restore test has taken 35 s, so allow well over that.
        let status = try await first.terminate(timeout: .seconds(240))
        #expect(status == 0, "SIGTERM stops it cleanly: \(first.output)")
        // The scheduler stops first; the checkpoint exporter last, with a checkpoint of the trail as it ended.
        let stopped = first.lines.lastIndex { $0.hasPrefix("scheduler stopped after") }
        #expect(stopped != nil, "\(first.output)")
        if let stopped {
            let after = Array(first.lines[(stopped + 1)...])
            #expect(!after.isEmpty && after.allSatisfy { $0.hasPrefix("exported audit checkpoint at ") }, "\(first.output)")
        }

        // Down for a while, then up again: each task's missed fires are reported once, and it runs once.
        try await Task.sleep(for: .seconds(9))
        let second = try CLIProcess(["run"] + arguments, environment: environment)
        _ = try await second.waitForLine { $0.hasPrefix("ran rpo-check") }
        _ = try await second.waitForLine { $0.hasPrefix("ran validate") }
        // Reported at the start, before the catch-up run. (A run that overruns later is reported on
        // its own; exactly-once across restarts is checked over simulated days in the scheduler tests.)
        for task in ["validate", "rpo-check"] {
            let lines = second.lines
            let report = lines.firstIndex { $0.hasPrefix("missed: \(task) did not run at") }
            let ran = lines.firstIndex { $0.hasPrefix("ran \(task) for") }
            #expect(report != nil && ran != nil && report! < ran!, "\(second.output)")
        }
        #expect(try await second.terminate(timeout: .seconds(330)) == 0, "\(second.output)")


        // The audit trail has it all: two scheduler lifetimes that ended well, runs, a validation, transitions.
        let entries = try await auditEntries(environment)
        #expect(entries.filter { $0["operation"] == "scheduler.run" && $0["kind"] == "outcome" }.map { $0["outcome"] } == [.string("success"), .string("success")])
        #expect(entries.filter { $0["operation"] == "backup.validate" && $0["kind"] == "outcome" && $0["target"] == .string("backup/\(backup)") }.count == 1)
        #expect(entries.contains { $0["operation"] == "drill.run" && $0["kind"] == "outcome" && $0["outcome"] == "success" })
        // `parameters` is the canonical JSON text of the recorded parameters.
        func parameters(_ entry: JSONValue) -> JSONValue? { entry["parameters"]?.stringValue.flatMap { try? JSONValue(parsing: Array($0.utf8)) } }
        let catchUps = entries.filter { $0["operation"] == "task.run" && $0["kind"] == "attempt" && parameters($0)?["catchUp"] == true }
        let caughtUp = catchUps.compactMap { $0["target"]?.stringValue }
        #expect(caughtUp.filter { $0 == "task/validate" }.count == 1 && caughtUp.filter { $0 == "task/rpo-check" }.count == 1, "one catch-up each: \(caughtUp)")
        #expect(!catchUps.isEmpty && catchUps.allSatisfy { (parameters($0)?["missedRuns"]?.integerValue ?? 0) >= 1 })
        let verify = try await run(try executable("carbon-recovery"), ["audit", "verify"], environment: environment)
        #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")

        // Checkpoints were signed every 8 entries and one more at each stop, and each was copied
        // out of the trail's folder; the last copy is of the trail as it ended, and verifies.
        let exported = try FileManager.default.contentsOfDirectory(atPath: directory.file("worm/checkpoints")).filter { $0.hasPrefix("checkpoint-") }
        #expect(exported.count >= 3, "\(exported)")
        #expect(first.lines.contains { $0.hasPrefix("exported audit checkpoint at ") } && !first.output.contains("FAILED audit checkpoint"), "\(first.output)")
        let latest = try String(contentsOfFile: directory.file("worm/checkpoints/latest.note"), encoding: .utf8)
        let size = latest.split(separator: "\n")[1]
        #expect(verify.standardOutput.hasPrefix("OK: \(size) entries"), "latest.note (\(size)) is the trail as the second run left it: \(verify.standardOutput)")
        let against = try await run(
            try executable("carbon-recovery"),
            ["audit", "verify", "--public-key", signingKey + ".pub", "--checkpoint", directory.file("worm/checkpoints/latest.note")], environment: environment)
        #expect(against.status == 0, "\(against.standardOutput)\(against.standardError)")
        #expect(against.standardOutput.contains("checkpoints matched"), "\(against.standardOutput)")

        // One task, now, without the scheduler: its own operation is audited, no task.run (the
        // missed-run bookkeeping is the scheduler's), and it exits.
        let taskRunsBefore = entries.filter { $0["operation"] == "task.run" }.count
        let once = try await run(try executable("carbon-recovery"), ["run", "--once", "rpo-check"] + arguments, environment: environment)
        #expect(once.status == 0, "\(once.standardError)")
        #expect(once.standardOutput.hasPrefix("ran rpo-check for ") && once.standardOutput.contains(#""breached":[]"#), "\(once.standardOutput)")
        #expect(!once.standardOutput.contains("scheduler started"), "\(once.standardOutput)")
        let afterOnce = try await auditEntries(environment)
        #expect(afterOnce.filter { $0["operation"] == "task.run" }.count == taskRunsBefore)
        #expect(afterOnce.count > entries.count && afterOnce.last?["operation"] == "rpo.check" && afterOnce.last?["outcome"] == "success")

        _ = try await run(try executable("carbon-recovery"), ["backup", "delete", backup, "--velero-namespace", namespace], environment: environment)
        _ = try await run("/usr/bin/env", ["kubectl", "delete", "namespace", namespace, "--wait=false"])
    }

    /// Every entry of the trail the environment names.
    func auditEntries(_ environment: [String: String]) async throws -> [JSONValue] {
        let audit = try await run(try executable("carbon-recovery"), ["audit", "query", "--output", "json", "--limit", "10000"], environment: environment)
        return try JSONValue(parsing: Array(audit.standardOutput.utf8))["entries"]?.arrayValue ?? []
    }

    @Test("a policy that asks for no scheduled work, a checkpoint export folder inside the trail's or not absolute, a task --once does not know, or a missing file, is a clear error and records nothing")
    func badInput() async throws {
        let directory = try TemporaryDirectory()
        let file = directory.file("empty.yaml")
        try """
            storage:
              endpoint: http://127.0.0.1:9
              bucket: b
              credentials: {environment: {accessKeyID: A, secretAccessKey: B}}
            automation: {validate: "off", rpoCheck: "off", cleanup: "off"}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let environment = ["XDG_STATE_HOME": directory.file("state"), "CARBON_RECOVERY_AUDIT_DB": "", "CARBON_RECOVERY_S3_ENDPOINT": "http://127.0.0.1:9"]
        let empty = try await run(try executable("carbon-recovery"), ["run", "--config", file], environment: environment)
        #expect(empty.status == 1 && empty.standardError.contains("asks for no scheduled work"), "\(empty.standardError)")
        try """
            storage:
              endpoint: http://127.0.0.1:9
              bucket: b
              credentials: {environment: {accessKeyID: A, secretAccessKey: B}}
            audit: {checkpointExport: \(directory.file("state"))/carbon-recovery/checkpoints}
            """.write(toFile: directory.file("inside.yaml"), atomically: true, encoding: .utf8)
        let inside = try await run(try executable("carbon-recovery"), ["run", "--config", directory.file("inside.yaml")], environment: environment)
        #expect(inside.status == 1 && inside.standardError.contains("is inside the audit trail's folder"), "\(inside.standardError)")
        let relative = try await run(
            try executable("carbon-recovery"), ["run", "--config", directory.file("inside.yaml"), "--checkpoint-dir", "checkpoints"], environment: environment)
        #expect(relative.status == 1 && relative.standardError.contains("is not an absolute path"), "\(relative.standardError)")
        let unknown = try await run(try executable("carbon-recovery"), ["run", "--config", directory.file("inside.yaml"), "--once", "rpo-chek"], environment: environment)
        #expect(unknown.status == 1 && unknown.standardError.contains("has no task 'rpo-chek': its tasks are validate"), "\(unknown.standardError)")
        let missing = try await run(try executable("carbon-recovery"), ["run", "--config", directory.file("nope.yaml")], environment: environment)
        #expect(missing.status == 1 && missing.standardError.contains("does not exist"), "\(missing.standardError)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("state") + "/carbon-recovery/audit.db"), "refused before the trail is opened")
        let audit = try await run(try executable("carbon-recovery"), ["audit", "query", "--output", "json"], environment: environment)
        let recorded = audit.status == 0 ? try JSONValue(parsing: Array(audit.standardOutput.utf8))["entries"]?.arrayValue ?? [] : []
        #expect(recorded.isEmpty, "\(audit.standardOutput)")
    }

    @Test("with audit.checkpointEvery, run signs a checkpoint of a trail that grew, on a timer, without an export folder")
    func timedCheckpoints() async throws {
        _ = try Sandbox.current()
        let directory = try TemporaryDirectory()
        let file = try Self.quietPolicy(in: directory, audit: "audit: {checkpointInterval: 1000, checkpointEvery: 2s}")
        let signingKey = directory.file("keys/audit.key")
        let environment = [
            "XDG_STATE_HOME": directory.file("state"), "XDG_CONFIG_HOME": directory.file("config"), "CARBON_RECOVERY_AUDIT_DB": "",
            "CARBON_RECOVERY_AUDIT_SIGNING_KEY": signingKey,
        ]
        #expect(try await run(try executable("carbon-recovery"), ["audit", "keygen"], environment: environment).status == 0)
        let process = try CLIProcess(["run", "--config", file], environment: environment)
        // The scheduler's start is the trail's first entry; nothing else happens, and the timer signs.
        let signed = try await process.waitForLine(timeout: .seconds(60)) { $0.hasPrefix("signed audit checkpoint at ") }
        #expect(signed.hasPrefix("signed audit checkpoint at 1 entries (root "), "\(process.output)")
        try await Task.sleep(for: .seconds(5))
        #expect(process.lines.filter { $0.hasPrefix("signed audit checkpoint at ") }.count == 1, "nothing new, nothing signed: \(process.output)")
        #expect(try await process.terminate(timeout: .seconds(60)) == 0, "\(process.output)")
        // At the stop, one more (the scheduler's outcome).
        #expect(process.lines.last?.hasPrefix("signed audit checkpoint at 2 entries") == true, "\(process.output)")
        let verify = try await run(try executable("carbon-recovery"), ["audit", "verify", "--public-key", signingKey + ".pub"], environment: environment)
        #expect(verify.status == 0 && verify.standardOutput.contains("2 checkpoints"), "\(verify.standardOutput)")
    }

    @Test("with audit.witnesses, run asks the witness to cosign each new checkpoint, and verify --require-cosignatures accepts the trail")
    func witnessedCheckpoints() async throws {
        _ = try Sandbox.current()
        let directory = try TemporaryDirectory()
        let database = directory.file("trail/audit.db")
        let signingKey = directory.file("keys/audit.key")
        let environment = [
            "XDG_STATE_HOME": directory.file("state"), "XDG_CONFIG_HOME": directory.file("config"), "CARBON_RECOVERY_AUDIT_DB": database,
            "CARBON_RECOVERY_AUDIT_SIGNING_KEY": signingKey,
        ]
        let cli = try executable("carbon-recovery")
        #expect(try await run(cli, ["audit", "keygen"], environment: environment).status == 0)
        let trail = try await SQLiteAuditTrail(path: database)
        let origin = trail.checkpointOrigin
        await trail.close()
        let keygen = try await run(cli, ["witness", "keygen", "--key", directory.file("keys/w1.key"), "--name", "witness.test/w1"], environment: environment)
        #expect(keygen.status == 0, "\(keygen.standardError)")
        let port = try ListeningSocket.unusedPort()
        let witness = try CLIProcess(
            ["witness", "serve", "--key", directory.file("keys/w1.key"), "--state", directory.file("w1.db"), "--trail", "\(origin)=\(signingKey).pub", "--port", String(port)],
            environment: environment)
        defer { witness.kill() }
        _ = try await witness.waitForLine(timeout: .seconds(30)) { $0.contains("listening on") }
        let file = try Self.quietPolicy(in: directory, audit: """
            audit:
              checkpointEvery: 2s
              witnesses:
                - {url: "http://127.0.0.1:\(port)/add-checkpoint", publicKey: "\(keygen.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))"}
            """)
        let process = try CLIProcess(["run", "--config", file], environment: environment)
        let cosigned = try await process.waitForLine(timeout: .seconds(60)) { $0.hasPrefix("witness witness.test/w1: ") }
        #expect(cosigned == "witness witness.test/w1: cosigned 1 entries", "\(process.output)")
        #expect(try await process.terminate(timeout: .seconds(60)) == 0, "\(process.output)")
        #expect(process.lines.last == "witness witness.test/w1: cosigned 2 entries", "the stop's checkpoint is cosigned too: \(process.output)")
        let verify = try await run(
            cli, ["audit", "verify", "--public-key", signingKey + ".pub", "--witness-key", directory.file("keys/w1.key.pub"), "--require-cosignatures", "1"],
            environment: environment)
        #expect(verify.status == 0, "\(verify.standardOutput)\(verify.standardError)")
    }

    /// A policy on the sandbox's storage whose scheduler does nothing for hours (validation at
    /// 03:00 only), with `audit` as its audit section; returns the file.
    static func quietPolicy(in directory: TemporaryDirectory, audit: String) throws -> String {
        let file = directory.file("carbon-recovery.yaml")
        let endpoint = ProcessInfo.processInfo.environment["CARBON_RECOVERY_S3_ENDPOINT"] ?? ""
        try """
            storage:
              endpoint: \(endpoint)
              bucket: 254carbon-backups
              credentials: {environment: {accessKeyID: TEST_S3_ACCESS_KEY, secretAccessKey: TEST_S3_SECRET_KEY}}
            automation: {validate: "0 3 * * *", rpoCheck: "off", cleanup: "off"}

            """.appending(audit + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}
