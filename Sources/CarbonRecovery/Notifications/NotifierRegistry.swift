import Foundation

/// A secret read from the environment or a file: printing it shows `<redacted>`.
///
/// Policy files name secrets by reference (`env:NAME`, `file:/path`), never by value; a
/// ``NotifierConfiguration`` resolves the reference when the notifier is built.
public struct SecretValue: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret itself. Use it; never log it.
    public let value: String

    /// Wraps a secret.
    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

/// A notifier entry of a policy, with its references resolvable: what a ``NotifierRegistry``
/// factory is given to build a notifier.
///
/// ```swift
/// registry.register(type: "pagerduty") { configuration in
///     PagerDutyNotifier(name: configuration.name, routingKey: try configuration.secret("routingKey"))
/// }
/// ```
public struct NotifierConfiguration: Sendable {
    /// The entry's name (unique in the policy).
    public let name: String
    /// The entry's type, the key its factory was registered under.
    public let type: String
    /// The settings as written: plain values, or references (`env:NAME`, `file:/path`).
    public let settings: [String: String]
    private let environment: [String: String]

    /// Creates a configuration from a policy entry; references are resolved against `environment`.
    public init(_ policy: NotifierPolicy, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.name = policy.name
        self.type = policy.type
        self.settings = policy.settings
        self.environment = environment
    }

    /// A setting, with `env:NAME` and `file:/path` resolved; `nil` when the setting is absent.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` naming the setting (never its value) when
    ///   the variable is unset or empty, or the file cannot be read.
    public func value(_ key: String) throws -> String? {
        guard let raw = settings[key] else { return nil }
        if raw.hasPrefix("env:") {
            let variable = String(raw.dropFirst(4))
            guard let value = environment[variable], !value.isEmpty else {
                throw RecoveryError.invalidInput("notifier '\(name)': \(key) names the environment variable \(variable), which is not set")
            }
            return value
        }
        if raw.hasPrefix("file:") {
            let path = String(raw.dropFirst(5))
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RecoveryError.invalidInput("notifier '\(name)': \(key) names the file \(path), which cannot be read")
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return raw
    }

    /// A setting that must be present.
    public func required(_ key: String) throws -> String {
        guard let value = try value(key) else {
            throw RecoveryError.invalidInput("notifier '\(name)' (\(type)) needs settings.\(key)")
        }
        return value
    }

    /// A setting that is a secret, wrapped so that printing it shows nothing.
    public func secret(_ key: String) throws -> SecretValue { SecretValue(try required(key)) }

    /// A URL setting (often a secret: webhook URLs carry tokens). Only `http` and `https` are accepted.
    public func url(_ key: String) throws -> URL {
        let text = try required(key)
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil else {
            throw RecoveryError.invalidInput("notifier '\(name)': settings.\(key) is not an http(s) URL")
        }
        return url
    }

    /// A number setting, or `default` when absent.
    public func number(_ key: String, default fallback: Double) throws -> Double {
        guard let text = try value(key) else { return fallback }
        guard let number = Double(text), number.isFinite else {
            throw RecoveryError.invalidInput("notifier '\(name)': settings.\(key) must be a number, not '\(text)'")
        }
        return number
    }
}

/// Builds notifiers from a policy's `notifiers:` entries, by type.
///
/// `CarbonRecoveryNotifiers` registers `webhook`, `slack`, `alertmanager` and `log`; a team adds
/// its own type without forking:
///
/// ```swift
/// var registry = NotifierRegistry.standard()          // from CarbonRecoveryNotifiers
/// registry.register(type: "pagerduty") { try PagerDutyNotifier(configuration: $0) }
/// let notifiers = try registry.makeNotifiers(for: policy)
/// ```
public struct NotifierRegistry: Sendable {
    /// Builds one notifier from its configuration; throws ``RecoveryError`` for bad settings.
    public typealias Factory = @Sendable (NotifierConfiguration) throws -> any Notifier

    private var factories: [String: Factory] = [:]

    /// An empty registry.
    public init() {}

    /// Registers (or replaces) the factory for a type.
    public mutating func register(type: String, _ factory: @escaping Factory) {
        factories[type] = factory
    }

    /// The registered types, sorted.
    public var types: [String] { factories.keys.sorted() }

    /// Builds the notifier of one policy entry.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` for an unknown type or bad settings.
    public func makeNotifier(_ policy: NotifierPolicy, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> any Notifier {
        guard let factory = factories[policy.type] else {
            throw RecoveryError.invalidInput("notifier '\(policy.name)' has type '\(policy.type)', which is not registered (known: \(types.joined(separator: ", ")))")
        }
        return try factory(NotifierConfiguration(policy, environment: environment))
    }

    /// Builds every notifier a policy names, in order; nothing is built when one entry is wrong.
    public func makeNotifiers(for policy: RecoveryPolicy, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [any Notifier] {
        try RecoveryError.requireUnique(policy.notifiers.map(\.name), what: "notifier", because: "the outbox keys deliveries by name")
        return try policy.notifiers.map { try makeNotifier($0, environment: environment) }
    }
}
