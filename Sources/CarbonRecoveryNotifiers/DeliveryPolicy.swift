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

/// A notifier and how the outbox delivers to it.
public struct NotificationRoute: Sendable {
    /// The notifier.
    public var notifier: any Notifier
    /// Its delivery policy.
    public var delivery: DeliveryPolicy

    /// Creates a route.
    public init(_ notifier: any Notifier, delivery: DeliveryPolicy = DeliveryPolicy()) {
        self.notifier = notifier
        self.delivery = delivery
    }
}

extension NotifierRegistry {
    /// A registry with the default notifiers: `webhook` (settings `url`, `secret`, optional
    /// `timeout`), `slack` (`url`), `alertmanager` (`url`, optional `resolveAfter`) and `log`.
    ///
    /// - Parameter logger: Where the `log` notifier writes; without one it writes nowhere.
    public static func standard(
        logger: Logger = Logger(label: "carbon-recovery.notifications", factory: { _ in SwiftLogNoOpLogHandler() })
    ) -> NotifierRegistry {
        var registry = NotifierRegistry()
        @Sendable func timeout(_ configuration: NotifierConfiguration) throws -> Duration {
            .milliseconds(Int64(try configuration.number("timeoutSeconds", default: 10) * 1000))
        }
        registry.register(type: "webhook") { configuration in
            WebhookNotifier(name: configuration.name, url: try configuration.url("url"), secret: try configuration.secret("secret"), timeout: try timeout(configuration))
        }
        registry.register(type: "slack") { configuration in
            SlackNotifier(name: configuration.name, url: try configuration.url("url"), timeout: try timeout(configuration))
        }
        registry.register(type: "alertmanager") { configuration in
            AlertmanagerNotifier(
                name: configuration.name, url: try configuration.url("url"), resolveAfter: try configuration.number("resolveAfterSeconds", default: 3600),
                timeout: try timeout(configuration))
        }
        registry.register(type: "log") { configuration in LogNotifier(name: configuration.name, logger: logger) }
        return registry
    }

    /// The policy's notifiers with their delivery policies, for a ``NotificationOutbox``.
    public func makeRoutes(for policy: RecoveryPolicy, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [NotificationRoute] {
        let notifiers = try makeNotifiers(for: policy, environment: environment)
        return try zip(notifiers, policy.notifiers).map { notifier, entry in
            NotificationRoute(notifier, delivery: try DeliveryPolicy(configuration: NotifierConfiguration(entry, environment: environment)))
        }
    }
}
