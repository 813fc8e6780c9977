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
    private let clock: any WallClock

    /// Creates a webhook notifier.
    ///
    /// - Parameters:
    ///   - name: The notifier's name (in logs, the outbox and the audit trail; the URL never is).
    ///   - url: Where to POST.
    ///   - secret: The HMAC key shared with the receiver.
    ///   - timeout: How long one delivery may take before it counts as a temporary failure.
    public init(name: String, url: URL, secret: SecretValue, timeout: Duration = .seconds(10), clock: any WallClock = SystemWallClock()) {
        self.name = name
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.clock = clock
    }

    public func deliver(_ event: RecoveryEvent) async throws {
        let body = Array(event.json.canonicalString.utf8)
        let timestamp = String(Int64(clock.now().timeIntervalSince1970))
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
