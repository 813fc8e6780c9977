import Foundation

/// A notifier as a separate executable: how `carbon-recovery` delivers through a team's own
/// notifier without being rebuilt, the way kubectl and git find their plugins.
///
/// A policy names the executable (`type: process`, by absolute path or by name in the plugin
/// directory). For each delivery the CLI's outbox starts it with no arguments, a scrubbed
/// environment (plus only the secrets its entry names) and the ``Request`` as JSON on standard
/// input, and reads the answer from its exit status: ``ExitStatus/delivered``,
/// ``ExitStatus/retry`` (a temporary failure, retried with backoff) or anything else (a
/// permanent failure, dead-lettered). The first line of its standard error becomes the
/// failure's message (URLs removed). The schema is in `docs/notifications.md`.
///
/// Turning any ``Notifier`` into such an executable takes a few lines:
///
/// ```swift
/// // main.swift of an executable target that depends on CarbonRecovery only
/// import CarbonRecovery
/// import Foundation
///
/// await NotifierPlugin.serve { name in
///     guard let key = ProcessInfo.processInfo.environment["PAGERDUTY_ROUTING_KEY"] else {
///         throw NotifierError.permanent("PAGERDUTY_ROUTING_KEY is not set")
///     }
///     return PagerDutyNotifier(name: name, routingKey: SecretValue(key))
/// }
/// ```
public enum NotifierPlugin {
    /// The `apiVersion` of the request this SDK writes and reads.
    public static let apiVersion = "carbon-recovery.dev/notifier-plugin/v1"
    /// The most a request may hold; a plugin refuses more (an event is a few kilobytes).
    public static let maximumRequestBytes = 1 << 20
    /// The file name prefix a plugin found by name in the plugin directory carries:
    /// `type: process` with `plugin: pagerduty` runs `<directory>/carbon-recovery-notifier-pagerduty`.
    public static let executablePrefix = "carbon-recovery-notifier-"

    /// What a plugin reads on standard input: one JSON object.
    ///
    /// ```json
    /// {"apiVersion":"carbon-recovery.dev/notifier-plugin/v1","notifier":"oncall","event":{…}}
    /// ```
    /// `event` is ``RecoveryEvent/json``. A plugin refuses an `apiVersion` it does not know.
    public struct Request: Sendable, Hashable {
        /// The notifier entry's name in the policy.
        public var notifier: String
        /// The event to deliver.
        public var event: RecoveryEvent

        /// Creates a request.
        public init(notifier: String, event: RecoveryEvent) {
            self.notifier = notifier
            self.event = event
        }

        /// The request as the plugin reads it.
        public var json: JSONValue {
            ["apiVersion": .string(NotifierPlugin.apiVersion), "notifier": .string(notifier), "event": event.json]
        }

        /// Reads a request.
        ///
        /// - Throws: ``RecoveryError/Code/invalidInput`` for input that is not JSON, too large,
        ///   of another `apiVersion`, or without a notifier name or a readable event.
        public init(parsing bytes: [UInt8]) throws {
            guard bytes.count <= NotifierPlugin.maximumRequestBytes else {
                throw RecoveryError.invalidInput("the request has \(bytes.count) bytes, more than the \(NotifierPlugin.maximumRequestBytes) a notifier plugin reads")
            }
            let json: JSONValue
            do {
                json = try JSONValue(parsing: bytes)
            } catch {
                throw RecoveryError.invalidInput("the request is not JSON: \(error)")
            }
            guard let version = json["apiVersion"]?.stringValue else {
                throw RecoveryError.invalidInput("the request has no apiVersion")
            }
            guard version == NotifierPlugin.apiVersion else {
                throw RecoveryError.invalidInput("the request's apiVersion is '\(version)', but this plugin reads '\(NotifierPlugin.apiVersion)'")
            }
            guard let notifier = json["notifier"]?.stringValue, !notifier.isEmpty else {
                throw RecoveryError.invalidInput("the request names no notifier")
            }
            guard let event = json["event"] else { throw RecoveryError.invalidInput("the request holds no event") }
            self.notifier = notifier
            self.event = try RecoveryEvent(json: event)
        }
    }

    /// What a plugin's exit status means.
    public enum ExitStatus: Int32, Sendable, CaseIterable {
        /// The receiver accepted the event.
        case delivered = 0
        /// A permanent failure (also any other status but ``retry``): dead-lettered, not retried.
        case permanentFailure = 1
        /// A temporary failure (`EX_TEMPFAIL`): retried with backoff.
        case retry = 75
    }

    /// Reads one ``Request`` from standard input, builds the notifier for its name with `make`,
    /// delivers the event, and exits with the matching ``ExitStatus`` — writing one line on
    /// standard error when it did not deliver. Never returns.
    ///
    /// - `make` throwing a ``NotifierError`` exits as that error says; any other error (a
    ///   missing setting) is permanent.
    /// - A ``NotifierError`` from the delivery keeps its kind; any other error is temporary.
    /// - A request that cannot be read is a permanent failure.
    public static func serve(_ make: @Sendable (_ name: String) throws -> any Notifier) async -> Never {
        var input: [UInt8] = []
        while let chunk = try? FileHandle.standardInput.read(upToCount: 64 * 1024), !chunk.isEmpty {
            input += chunk
            if input.count > maximumRequestBytes { break }
        }
        let status = await answer(input, make: make)
        if let message = status.message {
            FileHandle.standardError.write(Data((message.replacingOccurrences(of: "\n", with: " ") + "\n").utf8))
        }
        exit(status.exit.rawValue)
    }

    /// What ``serve(_:)`` does with one request, without the process around it.
    ///
    /// - Returns: The exit status, and the line to write on standard error when it did not deliver.
    public static func answer(
        _ input: [UInt8], make: @Sendable (_ name: String) throws -> any Notifier
    ) async -> (exit: ExitStatus, message: String?) {
        let request: Request
        do {
            request = try Request(parsing: input)
        } catch let error as RecoveryError {
            return (.permanentFailure, "cannot read the request: \(error.message)")
        } catch {
            return (.permanentFailure, "cannot read the request: \(error)")
        }
        let notifier: any Notifier
        do {
            notifier = try make(request.notifier)
        } catch let error as NotifierError {
            return (error.isPermanent ? .permanentFailure : .retry, error.message)
        } catch {
            return (.permanentFailure, (error as? RecoveryError)?.message ?? "\(error)")
        }
        do {
            try await notifier.deliver(request.event)
            return (.delivered, nil)
        } catch let error as NotifierError {
            return (error.isPermanent ? .permanentFailure : .retry, error.message)
        } catch {
            return (.retry, (error as? RecoveryError)?.message ?? "\(error)")
        }
    }
}
