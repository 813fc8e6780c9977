import CarbonRecovery
import Crypto
import Foundation

/// Posts each event to a Slack incoming webhook as readable message blocks: a header with the
/// severity and kind, the summary, the target and details as fields, and a context line with
/// the idempotency key and the audit correlation id. Slack itself does not deduplicate.
///
/// ```yaml
/// notifiers:
///   - {name: ops-slack, type: slack, settings: {url: env:SLACK_WEBHOOK_URL}}
/// ```
public struct SlackNotifier: Notifier {
    public let name: String
    private let url: URL
    private let timeout: Duration

    /// Creates a Slack notifier for an incoming-webhook URL (the URL is the secret).
    public init(name: String, url: URL, timeout: Duration = .seconds(10)) {
        self.name = name
        self.url = url
        self.timeout = timeout
    }

    public func deliver(_ event: RecoveryEvent) async throws {
        let body = Array(Self.message(for: event).canonicalString.utf8)
        try await HTTPDelivery(receiver: "\(name) (slack)", url: url, timeout: timeout).post(body, headers: [])
    }

    /// The Slack message for an event (`text` is the notification fallback).
    public static func message(for event: RecoveryEvent) -> JSONValue {
        let icon = switch event.severity {
        case .critical: ":red_circle:"
        case .warning: ":large_orange_circle:"
        case .info: ":large_green_circle:"
        }
        var fields: [JSONValue] = [["type": "mrkdwn", "text": .string("*Target*\n`\(event.target)`")],
                                   ["type": "mrkdwn", "text": .string("*When*\n\(RFC3339.format(event.occurredAt))")]]
        for (key, value) in event.details.sorted(by: { $0.key < $1.key }).prefix(8) where !value.isEmpty {
            fields.append(["type": "mrkdwn", "text": .string("*\(key)*\n\(value)")])
        }
        var context = "key `\(event.idempotencyKey)`"
        if let correlationID = event.correlationID { context += " · audit correlation `\(correlationID)`" }
        return [
            "text": .string("\(event.severity.rawValue.uppercased()) \(event.kind): \(event.summary)"),
            "blocks": [
                ["type": "header", "text": ["type": "plain_text", "text": .string(String("\(event.severity.rawValue.uppercased()): \(event.kind)".prefix(150)))]],
                ["type": "section", "text": ["type": "mrkdwn", "text": .string("\(icon) \(event.summary)")]],
                ["type": "section", "fields": .array(fields)],
                ["type": "context", "elements": [["type": "mrkdwn", "text": .string(context)]]],
            ],
        ]
    }
}
