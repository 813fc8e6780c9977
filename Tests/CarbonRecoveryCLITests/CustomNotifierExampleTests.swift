import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import TestSupport
import Testing

/// The custom-notifier example (a PagerDuty Events API v2 notifier) run as a user would run it,
/// against a real HTTP receiver on 127.0.0.1 that stands in for PagerDuty.
@Suite("custom-notifier example")
struct CustomNotifierExampleTests {
    /// The example's sample event's idempotency key: PagerDuty's dedup_key.
    static let idempotencyKey = "backup-failed:backup/daily-20261129020000:custom-notifier-example"

    /// A stand-in for `POST /v2/enqueue`: answers every POST with the status and body given on
    /// its command line, and prints each request as one JSON line after its port.
    static let receiverScript = """
        import json, sys
        from http.server import BaseHTTPRequestHandler, HTTPServer

        status = int(sys.argv[1])
        answer = sys.argv[2].encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace")
                print(json.dumps({"path": self.path, "contentType": self.headers.get("Content-Type"), "body": body}), flush=True)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        server = HTTPServer(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """

    /// One request the receiver got.
    struct Received {
        var path: String
        var contentType: String?
        var body: [String: Any]
    }

    /// Starts the receiver (stopped by PID through `BackgroundServer.stop()`).
    static func startReceiver(in directory: TemporaryDirectory, status: Int, answer: String) async throws -> BackgroundServer {
        let script = directory.file("receiver.py")
        try receiverScript.write(toFile: script, atomically: true, encoding: .utf8)
        return try await BackgroundServer(try python3(), [script, String(status), answer])
    }

    static func parse(_ line: String) throws -> Received {
        let request = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let body = try #require(request["body"] as? String)
        return Received(
            path: try #require(request["path"] as? String), contentType: request["contentType"] as? String,
            body: try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]))
    }

    /// A routing key that cannot occur in the output by accident (32 characters, as PagerDuty's).
    static func routingKey() -> String {
        "R" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(31)
    }

    /// The sample event, as the coordinator raises it when a backup ends `Failed`.
    static let event = RecoveryEvent(
        kind: .backupFailed, severity: .critical, target: "backup/daily-20261129020000",
        summary: "backup 'daily-20261129020000' finished Failed with 3 errors and 0 warnings",
        details: ["phase": "Failed", "errors": "3", "warnings": "0"], occurredAt: Date(), idempotencyKey: idempotencyKey)

    /// The request carbon-recovery writes on the plugin's standard input.
    static var request: [UInt8] { Array(NotifierPlugin.Request(notifier: "oncall", event: event).json.canonicalString.utf8) }

    /// Runs the built example as a notifier plugin against `port`, with `input` on standard input.
    static func runExample(port: Int, routingKey: String, input: [UInt8] = request) async throws -> ProcessResult {
        try await run(
            try executable("custom-notifier"), [],
            environment: [
                // An empty value counts as unset (and overrides one the test process may have).
                "PAGERDUTY_ROUTING_KEY": routingKey,
                "PAGERDUTY_EVENTS_URL": "http://127.0.0.1:\(port)/v2/enqueue",
                "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1",
            ],
            input: input, timeout: .seconds(60))
    }

    @Test("as a plugin it delivers the request's event: exit 0, and PagerDuty gets a trigger keyed by the idempotency key")
    func delivers() async throws {
        let directory = try TemporaryDirectory()
        let receiver = try await Self.startReceiver(
            in: directory, status: 202, answer: #"{"status":"success","message":"Event processed","dedup_key":"x"}"#)
        defer { receiver.stop() }
        let key = Self.routingKey()

        let result = try await Self.runExample(port: receiver.port, routingKey: key)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.isEmpty && result.standardError.isEmpty, "\(result.standardOutput)\(result.standardError)")

        let lines = try await receiver.output(atLeast: 1)
        #expect(lines.count == 1, "one POST: \(lines)")
        let request = try Self.parse(try #require(lines.first))
        #expect(request.path == "/v2/enqueue")
        #expect(request.contentType == "application/json")
        #expect(request.body["routing_key"] as? String == key)
        #expect(request.body["event_action"] as? String == "trigger")
        #expect(request.body["dedup_key"] as? String == Self.idempotencyKey)
        let payload = try #require(request.body["payload"] as? [String: Any])
        #expect(payload["severity"] as? String == "critical")
        #expect(payload["source"] as? String == "backup/daily-20261129020000")
        #expect(payload["component"] as? String == "carbon-recovery")
        #expect((payload["summary"] as? String)?.contains("finished Failed") == true)
        #expect(RFC3339.parse(payload["timestamp"] as? String ?? "") != nil, "timestamp: \(payload["timestamp"] ?? "none")")
        let details = try #require(payload["custom_details"] as? [String: String])
        #expect(details["phase"] == "Failed")
        #expect(details["idempotency_key"] == Self.idempotencyKey)
    }

    @Test("a 400 answer is a permanent failure: exit 1, a line on stderr that says why, and no routing key")
    func rejected() async throws {
        let directory = try TemporaryDirectory()
        let key = Self.routingKey()
        // PagerDuty explains a 400; this receiver even echoes the key, which must not come through.
        let answer = #"{"status":"invalid event","message":"Event object is invalid","errors":["routing_key '\#(key)' is not an integration key"]}"#
        let receiver = try await Self.startReceiver(in: directory, status: 400, answer: answer)
        defer { receiver.stop() }

        let result = try await Self.runExample(port: receiver.port, routingKey: key)
        #expect(result.status == 1)
        #expect(result.standardOutput.isEmpty, "\(result.standardOutput)")
        #expect(result.standardError.contains("HTTP 400: Event object is invalid; routing_key '<redacted>' is not an integration key"), "\(result.standardError)")
        #expect(!result.standardOutput.contains(key) && !result.standardError.contains(key), "the routing key was printed")
        #expect(try await receiver.output(atLeast: 1).count == 1, "one request, not retried by the plugin")
    }

    @Test("429 and 5xx answers ask for a retry: exit 75", arguments: [429, 503])
    func temporary(status: Int) async throws {
        let directory = try TemporaryDirectory()
        let receiver = try await Self.startReceiver(in: directory, status: status, answer: #"{"status":"throttled"}"#)
        defer { receiver.stop() }
        let key = Self.routingKey()

        let result = try await Self.runExample(port: receiver.port, routingKey: key)
        #expect(result.status == NotifierPlugin.ExitStatus.retry.rawValue, "\(result.standardError)")
        #expect(result.standardError.contains("HTTP \(status)"), "\(result.standardError)")
        #expect(!result.standardOutput.contains(key) && !result.standardError.contains(key), "the routing key was printed")
    }

    @Test("a receiver that cannot be reached asks for a retry, without the key")
    func unreachable() async throws {
        let key = Self.routingKey()
        let result = try await Self.runExample(port: try ListeningSocket.unusedPort(), routingKey: key)
        #expect(result.status == NotifierPlugin.ExitStatus.retry.rawValue, "\(result.standardError)")
        #expect(result.standardError.contains("could not be reached"), "\(result.standardError)")
        #expect(!result.standardOutput.contains(key) && !result.standardError.contains(key), "the routing key was printed")
    }

    @Test("without PAGERDUTY_ROUTING_KEY: exit 1, a line naming the variable, and nothing sent")
    func missingRoutingKey() async throws {
        let directory = try TemporaryDirectory()
        let receiver = try await Self.startReceiver(in: directory, status: 202, answer: #"{"status":"success"}"#)
        defer { receiver.stop() }

        let result = try await Self.runExample(port: receiver.port, routingKey: "")
        #expect(result.status == 1)
        #expect(result.standardOutput.isEmpty, "\(result.standardOutput)")
        #expect(result.standardError.hasPrefix("PAGERDUTY_ROUTING_KEY is not set"), "\(result.standardError)")
        #expect(try await receiver.output(atLeast: 1, timeout: .milliseconds(500)).isEmpty, "the receiver got a request")
    }

    @Test("a request it cannot read is a permanent failure, and nothing is sent", arguments: [
        (#"not json"#, "is not JSON"),
        (#"{"apiVersion":"carbon-recovery.dev/notifier-plugin/v9","notifier":"oncall","event":{}}"#, "apiVersion is 'carbon-recovery.dev/notifier-plugin/v9'"),
        (#"{"apiVersion":"carbon-recovery.dev/notifier-plugin/v1","event":{}}"#, "names no notifier"),
        (#"{"apiVersion":"carbon-recovery.dev/notifier-plugin/v1","notifier":"oncall","event":{"kind":"backup-failed"}}"#, "cannot read the request"),
    ])
    func badRequest(input: String, message: String) async throws {
        let directory = try TemporaryDirectory()
        let receiver = try await Self.startReceiver(in: directory, status: 202, answer: #"{"status":"success"}"#)
        defer { receiver.stop() }
        let result = try await Self.runExample(port: receiver.port, routingKey: Self.routingKey(), input: Array(input.utf8))
        #expect(result.status == 1)
        #expect(result.standardError.hasPrefix("cannot read the request") && result.standardError.contains(message), "\(result.standardError)")
        #expect(try await receiver.output(atLeast: 1, timeout: .milliseconds(500)).isEmpty, "the receiver got a request")
    }

    @Test("carbon-recovery delivers through the plugin with no rebuild: by absolute path and by name in the plugin directory, once per event")
    func throughTheCLI() async throws {
        let directory = try TemporaryDirectory()
        let receiver = try await Self.startReceiver(
            in: directory, status: 202, answer: #"{"status":"success","message":"Event processed","dedup_key":"x"}"#)
        defer { receiver.stop() }
        let key = Self.routingKey()
        // A trail that fails verification raises audit-verification-failed to the policy's notifiers.
        let database = directory.file("audit.db")
        let trail = try await SQLiteAuditTrail(path: database)
        for index in 0..<6 {
            _ = try await trail.record(.attempt(operation: "backup.create", target: "backup/b\(index)", actor: AuditActor(user: "u"), correlationID: "c\(index)"))
        }
        await trail.close()
        let edit = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.executescript("DROP TRIGGER audit_entries_no_update; UPDATE audit_entries SET target = 'backup/forged' WHERE seq = 3;")
            db.commit()
            """
        #expect(try await run("/usr/bin/env", ["python3", "-c", edit, database]).status == 0)
        // The plugin directory holds the example under the plugin naming convention.
        let plugins = directory.file("plugins")
        try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        let installed = plugins + "/" + NotifierPlugin.executablePrefix + "pagerduty"
        try FileManager.default.copyItem(atPath: try executable("custom-notifier"), toPath: installed)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: installed)

        let environment = [
            "TEST_PD_KEY": key, "TEST_PD_URL": "http://127.0.0.1:\(receiver.port)/v2/enqueue", "CARBON_RECOVERY_OUTBOX_DB": directory.file("outbox.db"),
            "XDG_STATE_HOME": directory.file("state"),
        ]
        for (index, locate) in ["command: \(try executable("custom-notifier"))", "plugin: pagerduty"].enumerated() {
            let policy = directory.file("policy-\(index).yaml")
            try """
                storage:
                  endpoint: http://127.0.0.1:9
                  bucket: b
                  credentials: {environment: {accessKeyID: A, secretAccessKey: B}}
                notifiers:
                  - name: oncall-\(index)
                    type: process
                    settings:
                      \(locate)
                      env.PAGERDUTY_ROUTING_KEY: env:TEST_PD_KEY
                      env.PAGERDUTY_EVENTS_URL: env:TEST_PD_URL
                """.write(toFile: policy, atomically: true, encoding: .utf8)
            let result = try await run(
                try executable("carbon-recovery"), ["audit", "verify", "--audit-db", database, "--config", policy, "--notifier-plugin-dir", plugins],
                environment: environment)
            #expect(result.status == 1 && result.standardOutput.hasPrefix("FAILED: entry 3: hash-mismatch:"), "\(result.standardOutput)\(result.standardError)")
            #expect(result.standardError.contains("notifications: 1 delivered"), "\(result.standardError)")
            #expect(!result.standardOutput.contains(key) && !result.standardError.contains(key), "the routing key was printed")
        }
        let lines = try await receiver.output(atLeast: 2)
        #expect(lines.count == 2, "one POST per notifier entry: \(lines)")
        for line in lines {
            let request = try Self.parse(line)
            #expect(request.body["routing_key"] as? String == key)
            #expect((request.body["dedup_key"] as? String)?.hasPrefix("audit-verification-failed:") == true)
        }

        // A plugin directory that others may write to is refused before anything is delivered.
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: plugins)
        let refused = try await run(
            try executable("carbon-recovery"), ["audit", "verify", "--audit-db", database, "--config", directory.file("policy-1.yaml"), "--notifier-plugin-dir", plugins],
            environment: environment)
        #expect(refused.status == 1 && refused.standardError.contains("writable by group or others"), "\(refused.standardError)")
        #expect(try await receiver.output(atLeast: 3, timeout: .milliseconds(500)).count == 2, "nothing more was sent")
    }
}
