import CarbonRecovery
import Foundation
import Logging

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
