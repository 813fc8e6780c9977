import CarbonRecovery
import Foundation
import Logging

extension NotifierRegistry {
    /// A registry with the default notifiers: `webhook` (settings `url`, `secret`, optional
    /// `timeoutSeconds`), `slack` (`url`), `alertmanager` (`url`, optional
    /// `resolveAfterSeconds`), `log`, and `process` — a notifier plugin executable
    /// (``ProcessNotifier``): `command` (an absolute path) or `plugin` (a name, run as
    /// `<pluginDirectory>/carbon-recovery-notifier-<name>`), optional `timeoutSeconds` (30) and
    /// `env.NAME` entries, each a reference (`env:VAR`, `file:/path`) or a value, that become the
    /// plugin's environment variables.
    ///
    /// - Parameters:
    ///   - logger: Where the `log` notifier writes; without one it writes nowhere.
    ///   - pluginDirectory: The one folder `plugin:` names are looked up in; without it, only
    ///     `command:` with an absolute path works.
    public static func standard(
        logger: Logger = Logger(label: "carbon-recovery.notifications", factory: { _ in SwiftLogNoOpLogHandler() }),
        pluginDirectory: String? = nil
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
        registry.register(type: "process") { configuration in
            try ProcessNotifier(name: configuration.name, configuration: try processConfiguration(configuration, pluginDirectory: pluginDirectory))
        }
        return registry
    }

    /// A `process` entry's settings as a ``ProcessNotifier/Configuration``.
    static func processConfiguration(_ configuration: NotifierConfiguration, pluginDirectory: String?) throws -> ProcessNotifier.Configuration {
        let name = configuration.name
        let executable: String
        switch (configuration.settings["command"], configuration.settings["plugin"]) {
        case (let command?, nil):
            executable = command
        case (nil, let plugin?):
            guard !plugin.isEmpty, plugin.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }) else {
                throw RecoveryError.invalidInput("notifier '\(name)': plugin '\(plugin)' is not a plugin name (lower-case letters, digits and '-')")
            }
            guard let pluginDirectory else {
                throw RecoveryError.invalidInput(
                    "notifier '\(name)': plugin '\(plugin)' needs a plugin directory (--notifier-plugin-dir or CARBON_RECOVERY_NOTIFIER_PLUGIN_DIR), or give command: with an absolute path")
            }
            executable = (pluginDirectory as NSString).appendingPathComponent(NotifierPlugin.executablePrefix + plugin)
        case (nil, nil):
            throw RecoveryError.invalidInput("notifier '\(name)' (process) needs settings.command (an absolute path) or settings.plugin (a name)")
        case (.some, .some):
            throw RecoveryError.invalidInput("notifier '\(name)' (process) has both settings.command and settings.plugin; keep one")
        }
        var environment: [String: SecretValue] = [:]
        for key in configuration.settings.keys where key.hasPrefix("env.") {
            environment[String(key.dropFirst(4))] = try configuration.secret(key)
        }
        let seconds = try configuration.number("timeoutSeconds", default: 30)
        guard seconds > 0, seconds <= 3600 else {
            throw RecoveryError.invalidInput("notifier '\(name)': settings.timeoutSeconds must be between 0 and 3600, not \(seconds)")
        }
        return ProcessNotifier.Configuration(executable: executable, environment: environment, timeout: .milliseconds(Int64(seconds * 1000)))
    }

    /// The policy's notifiers with their delivery policies, for a ``NotificationOutbox``.
    public func makeRoutes(for policy: RecoveryPolicy, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [NotificationRoute] {
        let notifiers = try makeNotifiers(for: policy, environment: environment)
        return try zip(notifiers, policy.notifiers).map { notifier, entry in
            NotificationRoute(notifier, delivery: try DeliveryPolicy(configuration: NotifierConfiguration(entry, environment: environment)))
        }
    }
}
