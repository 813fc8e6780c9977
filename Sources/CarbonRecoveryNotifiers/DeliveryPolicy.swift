import CarbonRecovery
import Foundation
import Logging

/// How the outbox delivers to one notifier: retries, backoff, rate limit and deduplication.
///
/// In a policy file these are optional settings of the notifier entry:
/// ```yaml
/// - name: ops-slack
///   type: slack
///   settings: {url: env:SLACK_WEBHOOK_URL, maxAttempts: "10", retryBackoff: 2s, maxBackoff: 10m, ratePerMinute: "30", dedupeWindow: 15m}
/// ```
public struct DeliveryPolicy: Sendable, Hashable {
    /// Tries before a delivery is dead-lettered (a permanent failure dead-letters at once).
    public var maxAttempts: Int
    /// The wait before the first retry; it doubles with each attempt, up to ``maxBackoff``, and
    /// each wait is drawn at random from its upper half (jitter) so that retries spread out.
    public var retryBackoff: Duration
    /// The longest wait between attempts.
    public var maxBackoff: Duration
    /// At most this many deliveries to the notifier in any minute; later ones wait (nothing is
    /// dropped). `nil`: no limit.
    public var ratePerMinute: Int?
    /// An event identical to one enqueued for the same notifier within this window (same kind,
    /// target, severity and summary, a different idempotency key) is recorded as `suppressed`
    /// and not delivered. `.zero` turns deduplication off.
    public var dedupeWindow: Duration

    /// The setting keys this reads from a notifier entry.
    public static let settingKeys: Set<String> = ["maxAttempts", "retryBackoff", "maxBackoff", "ratePerMinute", "dedupeWindow"]

    /// Creates a delivery policy; the defaults suit chat and paging receivers.
    public init(
        maxAttempts: Int = 8, retryBackoff: Duration = .seconds(2), maxBackoff: Duration = .seconds(600), ratePerMinute: Int? = 60,
        dedupeWindow: Duration = .seconds(600)
    ) {
        self.maxAttempts = maxAttempts
        self.retryBackoff = retryBackoff
        self.maxBackoff = maxBackoff
        self.ratePerMinute = ratePerMinute
        self.dedupeWindow = dedupeWindow
    }

    /// Reads the optional delivery settings of a notifier entry.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` naming the setting.
    public init(configuration: NotifierConfiguration) throws {
        self.init()
        func duration(_ key: String) throws -> Duration? {
            guard let text = try configuration.value(key) else { return nil }
            do {
                let parsed = try GoDuration(parsing: text)
                guard parsed.nanoseconds >= 0 else { throw RecoveryError.invalidInput("negative") }
                return .nanoseconds(parsed.nanoseconds)
            } catch {
                throw RecoveryError.invalidInput("notifier '\(configuration.name)': settings.\(key) must be a duration such as 30s or 10m, not '\(text)'")
            }
        }
        func count(_ key: String, minimum: Int) throws -> Int? {
            guard let text = try configuration.value(key) else { return nil }
            guard let value = Int(text), value >= minimum else {
                throw RecoveryError.invalidInput("notifier '\(configuration.name)': settings.\(key) must be a whole number ≥ \(minimum), not '\(text)'")
            }
            return value
        }
        if let value = try count("maxAttempts", minimum: 1) { maxAttempts = value }
        if let value = try duration("retryBackoff") { retryBackoff = value }
        if let value = try duration("maxBackoff") { maxBackoff = value }
        if let value = try count("ratePerMinute", minimum: 0) { ratePerMinute = value == 0 ? nil : value }
        if let value = try duration("dedupeWindow") { dedupeWindow = value }
        guard maxBackoff >= retryBackoff else {
            throw RecoveryError.invalidInput("notifier '\(configuration.name)': settings.maxBackoff is shorter than settings.retryBackoff")
        }
    }

    /// The wait after `attempts` failed attempts, before jitter: `retryBackoff × 2^(attempts-1)`, capped.
    func backoff(afterAttempts attempts: Int) -> Duration {
        let exponent = min(max(attempts - 1, 0), 30)
        let base = Double(retryBackoff.components.seconds) + Double(retryBackoff.components.attoseconds) / 1e18
        let cap = Double(maxBackoff.components.seconds) + Double(maxBackoff.components.attoseconds) / 1e18
        return .milliseconds(Int64(min(base * pow(2, Double(exponent)), cap) * 1000))
    }
}
