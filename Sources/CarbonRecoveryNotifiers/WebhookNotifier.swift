import CarbonRecovery
import Crypto
import Foundation

/// Posts each event as JSON to a URL, signed so the receiver can tell it came from you.
///
/// The body is ``RecoveryEvent/json``. Headers:
/// - `Idempotency-Key`: the event's ``RecoveryEvent/idempotencyKey`` — the same on every
///   redelivery; drop a key you have already processed;
/// - `X-CarbonRecovery-Event`: the event kind;
/// - `X-CarbonRecovery-Timestamp`: the delivery time, unix seconds;
/// - `X-CarbonRecovery-Signature`: `sha256=` and the hex HMAC-SHA256, keyed with the shared
///   secret, of `<timestamp>.<body>`. Recompute it over the raw body, compare in constant time,
///   and refuse timestamps more than a few minutes old (replays).
///
/// Policy entry:
/// ```yaml
/// notifiers:
///   - name: ops-webhook
///     type: webhook
///     settings: {url: env:OPS_WEBHOOK_URL, secret: file:/run/secrets/ops-webhook-hmac}
/// ```
public struct WebhookNotifier: Notifier {
    public let name: String
    private let url: URL
    private let secret: SecretValue
    private let timeout: Duration
    private let now: @Sendable () -> Date

    /// Creates a webhook notifier.
    ///
    /// - Parameters:
    ///   - name: The notifier's name (in logs, the outbox and the audit trail; the URL never is).
    ///   - url: Where to POST.
    ///   - secret: The HMAC key shared with the receiver.
    ///   - timeout: How long one delivery may take before it counts as a temporary failure.
    public init(name: String, url: URL, secret: SecretValue, timeout: Duration = .seconds(10), now: @escaping @Sendable () -> Date = { Date() }) {
        self.name = name
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.now = now
    }

    public func deliver(_ event: RecoveryEvent) async throws {
        let body = Array(event.json.canonicalString.utf8)
        let timestamp = String(Int64(now().timeIntervalSince1970))
        try await HTTPDelivery(receiver: "\(name) (webhook)", url: url, timeout: timeout).post(body, headers: [
            ("Idempotency-Key", event.idempotencyKey),
            ("X-CarbonRecovery-Event", event.kind.rawValue),
            ("X-CarbonRecovery-Timestamp", timestamp),
            ("X-CarbonRecovery-Signature", Self.signature(body: body, timestamp: timestamp, secret: secret)),
        ])
    }

    /// The `X-CarbonRecovery-Signature` value for a body and timestamp: what a receiver recomputes.
    public static func signature(body: [UInt8], timestamp: String, secret: SecretValue) -> String {
        var message = Array(timestamp.utf8)
        message.append(UInt8(ascii: "."))
        message.append(contentsOf: body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.value.utf8)))
        return "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }
}

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
