/// Tells people about a ``RecoveryEvent``: a webhook, Slack, Alertmanager, a log — or your own.
///
/// A notifier is an ordinary type in any module that depends on `CarbonRecovery`; no fork needed.
///
/// ```swift
/// struct StdoutNotifier: Notifier {
///     let name = "stdout"
///     func deliver(_ event: RecoveryEvent) async throws {
///         print("[\(event.severity)] \(event.summary)")
///     }
/// }
/// ```
///
/// ## Implementation requirements
/// - ``deliver(_:)`` may be called more than once for the same event (after a crash or a
///   timeout): pass ``RecoveryEvent/idempotencyKey`` to the receiver so it can drop duplicates.
/// - Throw ``NotifierError`` with ``NotifierError/isPermanent`` `true` when retrying cannot help
///   (the receiver rejected the payload, a 4xx), and `false` for a temporary failure (5xx,
///   timeout, connection reset). Today the coordinator logs a failed delivery and goes on; the
///   durable delivery planned for the notifier release retries only temporary failures.
/// - Return only after the receiver accepted the event.
/// - Never put a secret (webhook URL with a token, an API key) into an error or log line.
/// - Be safe to call concurrently.
public protocol Notifier: Sendable {
    /// A short, stable name (`slack`, `alertmanager`, `pagerduty`) used in log lines about deliveries.
    var name: String { get }
    /// Delivers one event.
    func deliver(_ event: RecoveryEvent) async throws
}

/// A delivery failure, temporary or permanent.
public struct NotifierError: Error, Sendable, CustomStringConvertible {
    /// Whether retrying cannot succeed.
    public var isPermanent: Bool
    /// What went wrong; never a secret.
    public var message: String

    /// Creates a delivery failure.
    public init(isPermanent: Bool, message: String) {
        self.isPermanent = isPermanent
        self.message = message
    }

    public var description: String { "\(isPermanent ? "permanent" : "temporary") delivery failure: \(message)" }
}
