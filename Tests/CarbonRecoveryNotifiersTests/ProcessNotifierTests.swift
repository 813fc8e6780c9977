// ProcessNotifier with real processes (small shell-script plugins): the request on standard
// input, the scrubbed environment, exit statuses, the time limit, and executables it refuses.
import CarbonRecovery
import CarbonRecoveryNotifiers
import Foundation
import Testing
import TestSupport

@Suite("ProcessNotifier: notifier plugins as processes")
struct ProcessNotifierTests {
    /// Writes an executable shell script (mode 0755) into `directory` and returns its path.
    func plugin(_ directory: TemporaryDirectory, _ name: String, _ body: String, mode: Int = 0o755) throws -> String {
        let path = directory.file(name)
        try ("#!/bin/sh\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    let event = RecoveryEvent(
        kind: .backupFailed, severity: .critical, target: "backup/b-1", summary: "backup b-1 failed", details: ["phase": "Failed"],
        occurredAt: Date(timeIntervalSince1970: 1_795_000_000), idempotencyKey: "backup-failed:b-1")

    @Test("the plugin reads the versioned request on stdin and sees only PATH, LANG and the variables its entry names")
    func requestAndEnvironment() async throws {
        let directory = try TemporaryDirectory()
        let script = try plugin(directory, "capture", """
            cat > "$(dirname "$0")/request.json"
            env | sort > "$(dirname "$0")/environment.txt"
            exit 0
            """)
        setenv("CARBON_TEST_PARENT_SECRET", "parent-only", 1)
        defer { unsetenv("CARBON_TEST_PARENT_SECRET") }
        let notifier = try ProcessNotifier(
            name: "oncall", configuration: .init(executable: script, environment: ["ROUTING_KEY": SecretValue("k-123")]))
        try await notifier.deliver(event)

        let request = try NotifierPlugin.Request(parsing: Array(try Data(contentsOf: URL(fileURLWithPath: directory.file("request.json")))))
        #expect(request.notifier == "oncall")
        #expect(request.event == event)
        let text = try String(contentsOfFile: directory.file("request.json"), encoding: .utf8)
        #expect(text.hasPrefix(#"{"apiVersion":"carbon-recovery.dev/notifier-plugin/v1","#), "\(text)")
        let environment = try String(contentsOfFile: directory.file("environment.txt"), encoding: .utf8).split(separator: "\n").map(String.init)
        let names = Set(environment.compactMap { $0.split(separator: "=", maxSplits: 1).first.map(String.init) })
        #expect(environment.contains("ROUTING_KEY=k-123") && environment.contains("PATH=/usr/bin:/bin") && environment.contains("LANG=C.UTF-8"))
        // sh adds PWD (and may add SHLVL, _) itself; nothing of the parent's environment comes through.
        #expect(names.subtracting(["PWD", "SHLVL", "_"]) == ["ROUTING_KEY", "PATH", "LANG"], "\(environment)")
        #expect(!environment.joined().contains("parent-only"))
    }

    @Test("exit 75 is a temporary failure, another status a permanent one; the first stderr line is the message, without URLs")
    func exitStatuses() async throws {
        let directory = try TemporaryDirectory()
        let retry = try ProcessNotifier(name: "r", configuration: .init(executable: try plugin(directory, "retry", "echo 'throttled by https://hooks.example/T0/SECRET' >&2; echo second >&2; exit 75")))
        let retryError = await #expect(throws: NotifierError.self) { try await retry.deliver(event) }
        #expect(retryError?.isPermanent == false)
        #expect(retryError?.message == "throttled by https://hooks.example/T0/SECRET", "the outbox scrubs it; the notifier passes the first line")
        let fail = try ProcessNotifier(name: "f", configuration: .init(executable: try plugin(directory, "fail", "exit 3")))
        let failError = await #expect(throws: NotifierError.self) { try await fail.deliver(event) }
        #expect(failError?.isPermanent == true && failError?.message == "the notifier plugin failed with exit status 3")
    }

    @Test("a plugin that outlives its time limit is stopped, and the try is temporary")
    func timeLimit() async throws {
        let directory = try TemporaryDirectory()
        let slow = try ProcessNotifier(name: "slow", configuration: .init(executable: try plugin(directory, "slow", "exec sleep 30"), timeout: .milliseconds(300)))
        let started = ContinuousClock.now
        let error = await #expect(throws: NotifierError.self) { try await slow.deliver(event) }
        #expect(error?.isPermanent == false && error?.message.contains("did not finish within") == true, "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(25), "the plugin was not stopped")
    }

    @Test("an executable others could have replaced is refused with a clear error", arguments: ["relative", "missing", "group-writable", "not-executable", "folder"])
    func untrusted(_ kind: String) throws {
        let directory = try TemporaryDirectory()
        let path: String
        switch kind {
        case "relative": path = "bin/notify"
        case "missing": path = directory.file("nothing-here")
        case "group-writable": path = try plugin(directory, "writable", "exit 0", mode: 0o775)
        case "not-executable": path = try plugin(directory, "plain", "exit 0", mode: 0o644)
        default: path = directory.path
        }
        let error = #expect(throws: RecoveryError.self) { try ProcessNotifier(name: "x", configuration: .init(executable: path)) }
        #expect(error?.code == .invalidInput)
        let expected = ["relative": "not an absolute path", "missing": "does not exist", "group-writable": "writable by group or others",
                        "not-executable": "not executable", "folder": "not a regular file"][kind]!
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
    }

    @Test("a policy entry: command or plugin by name in the plugin directory, env.* from references; bad entries are clear errors")
    func registryEntries() throws {
        let directory = try TemporaryDirectory()
        let installed = try plugin(directory, NotifierPlugin.executablePrefix + "pager", "exit 0")
        let registry = NotifierRegistry.standard(pluginDirectory: directory.path)
        let byName = try registry.makeNotifier(
            NotifierPolicy(name: "oncall", type: "process", settings: ["plugin": "pager", "env.KEY": "env:TEST_KEY", "timeoutSeconds": "5"]),
            environment: ["TEST_KEY": "v"])
        let notifier = try #require(byName as? ProcessNotifier)
        #expect(notifier.configuration.executable == installed && notifier.configuration.environment["KEY"]?.value == "v")
        #expect(notifier.configuration.timeout == .seconds(5))
        func message(_ settings: [String: String], registry: NotifierRegistry = registry) -> String {
            do {
                _ = try registry.makeNotifier(NotifierPolicy(name: "n", type: "process", settings: settings), environment: [:])
                return "built"
            } catch {
                return (error as? RecoveryError)?.message ?? "\(error)"
            }
        }
        #expect(message([:]).contains("needs settings.command"))
        #expect(message(["command": installed, "plugin": "pager"]).contains("both"))
        #expect(message(["plugin": "../../bin/sh"]).contains("not a plugin name"))
        #expect(message(["plugin": "pager"], registry: .standard()).contains("needs a plugin directory"))
        #expect(message(["command": installed, "env.KEY": "env:UNSET_VARIABLE"]).contains("UNSET_VARIABLE"))
        #expect(message(["command": installed, "env.1BAD": "x"]).contains("not an environment variable name"))
        #expect(message(["command": installed, "timeoutSeconds": "0"]).contains("timeoutSeconds"))
    }
}
