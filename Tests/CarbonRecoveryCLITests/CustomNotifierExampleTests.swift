import CarbonRecovery
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

    /// Runs the built example against `port`.
    static func runExample(port: Int, routingKey: String) async throws -> ProcessResult {
        try await run(
            try executable("custom-notifier"), [],
            environment: [
                // An empty value counts as unset (and overrides one the test process may have).
                "PAGERDUTY_ROUTING_KEY": routingKey,
                "PAGERDUTY_EVENTS_URL": "http://127.0.0.1:\(port)/v2/enqueue",
                "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1",
            ],
            timeout: .seconds(60))
    }

    @Test("delivers the sample event through the registry and directly; PagerDuty gets trigger events keyed by the idempotency key")
    func delivers() async throws {
        let directory = try TemporaryDirectory()
        let receiver = try await Self.startReceiver(
            in: directory, status: 202, answer: #"{"status":"success","message":"Event processed","dedup_key":"x"}"#)
        defer { receiver.stop() }
        let key = Self.routingKey()

        let result = try await Self.runExample(port: receiver.port, routingKey: key)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput == """
            delivered backup-failed to oncall (pagerduty)
            delivered backup-failed to oncall-direct (pagerduty)

            """)
        #expect(result.standardError.isEmpty, "\(result.standardError)")
        #expect(!result.standardOutput.contains(key) && !result.standardError.contains(key), "the routing key was printed")

        let lines = try await receiver.output(atLeast: 2)
        #expect(lines.count == 2, "one POST per notifier: \(lines)")
        for line in lines {
            let request = try Self.parse(line)
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
    }

    @Test("a 400 answer is a permanent failure: exit 1, an error line that says so, and no routing key")
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
        #expect(result.standardError.hasPrefix("error: could not deliver backup-failed to oncall (pagerduty): permanent delivery failure: "), "\(result.standardError)")
        #expect(result.standardError.contains("HTTP 400: Event object is invalid; routing_key '<redacted>' is not an integration key"), "\(result.standardError)")
        #expect(!result.standardOutput.contains(key) && !result.standardError.contains(key), "the routing key was printed")
        #expect(try await receiver.output(atLeast: 1).count == 1, "the first delivery failed; nothing else was sent")
    }

    @Test("429 and 5xx answers are temporary failures", arguments: [429, 503])
    func temporary(status: Int) async throws {
        let directory = try TemporaryDirectory()
        let receiver = try await Self.startReceiver(in: directory, status: status, answer: #"{"status":"throttled"}"#)
        defer { receiver.stop() }
        let key = Self.routingKey()

        let result = try await Self.runExample(port: receiver.port, routingKey: key)
        #expect(result.status == 1)
        #expect(result.standardError.hasPrefix("error: could not deliver backup-failed to oncall (pagerduty): temporary delivery failure: "), "\(result.standardError)")
        #expect(result.standardError.contains("HTTP \(status)"), "\(result.standardError)")
        #expect(!result.standardOutput.contains(key) && !result.standardError.contains(key), "the routing key was printed")
    }

    @Test("a receiver that cannot be reached is a temporary failure, without the key")
    func unreachable() async throws {
        let key = Self.routingKey()
        let result = try await Self.runExample(port: try ListeningSocket.unusedPort(), routingKey: key)
        #expect(result.status == 1)
        #expect(result.standardError.hasPrefix("error: could not deliver backup-failed to oncall (pagerduty): temporary delivery failure: "), "\(result.standardError)")
        #expect(result.standardError.contains("could not be reached"), "\(result.standardError)")
        #expect(!result.standardOutput.contains(key) && !result.standardError.contains(key), "the routing key was printed")
    }

    @Test("without PAGERDUTY_ROUTING_KEY: exit 1, an error naming the variable, and nothing sent")
    func missingRoutingKey() async throws {
        let directory = try TemporaryDirectory()
        let receiver = try await Self.startReceiver(in: directory, status: 202, answer: #"{"status":"success"}"#)
        defer { receiver.stop() }

        let result = try await Self.runExample(port: receiver.port, routingKey: "")
        #expect(result.status == 1)
        #expect(result.standardOutput.isEmpty, "\(result.standardOutput)")
        #expect(result.standardError.hasPrefix("error: notifier 'oncall': routingKey names the environment variable PAGERDUTY_ROUTING_KEY, which is not set"), "\(result.standardError)")
        #expect(try await receiver.output(atLeast: 1, timeout: .milliseconds(500)).isEmpty, "the receiver got a request")
    }
}
