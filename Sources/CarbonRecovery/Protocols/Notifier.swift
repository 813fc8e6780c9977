/// Tells people about a ``RecoveryEvent``: a webhook, Slack, Alertmanager, a log — or your own.
///
/// A notifier is an ordinary type in any module that depends on `CarbonRecovery`; no fork is
/// needed. Register a factory for it in a ``NotifierRegistry`` so a policy file can name it by
/// type, or hand an instance to ``RecoveryCoordinator`` (usually behind the durable outbox of
/// `CarbonRecoveryNotifiers`, which retries, deduplicates and audits every delivery).
///
/// ```swift
/// struct StdoutNotifier: Notifier {
///     let name = "stdout"
///     func deliver(_ event: RecoveryEvent) async throws {
///         print("[\(event.severity)] \(event.summary) key=\(event.idempotencyKey)")
///     }
/// }
/// ```
///
/// ## What an event carries
/// ``RecoveryEvent/kind`` (what happened), ``RecoveryEvent/severity``, ``RecoveryEvent/target``
/// (what it is about, e.g. `backup/daily-20261125020000`), a one-line ``RecoveryEvent/summary``,
/// ``RecoveryEvent/details`` as strings (phase, error counts, durations), the time, the audit
/// ``RecoveryEvent/correlationID`` of the operation that raised it, and the
/// ``RecoveryEvent/idempotencyKey``.
///
/// ## Implementation requirements
/// - ``deliver(_:)`` may be called more than once for the same event (after a crash, or a timeout
///   after the receiver had already accepted it): pass ``RecoveryEvent/idempotencyKey`` to the
///   receiver (a header, a `dedup_key`, a label) so it can drop duplicates.
/// - Throw ``NotifierError`` with ``NotifierError/isPermanent`` `true` when retrying cannot help
///   (the receiver rejected the payload: most 4xx answers), and `false` for a temporary failure
///   (5xx, 408, 429, a timeout, a reset connection). The outbox retries temporary failures with
///   backoff and moves the delivery to the dead-letter state after a permanent one or after its
///   last attempt; any other error counts as temporary.
/// - Return only after the receiver accepted the event.
/// - Never put a secret (a webhook URL with a token, an API key) into an error or a log line:
///   error messages are written to the audit trail and shown by `notify list`.
/// - Be safe to call concurrently.
public protocol Notifier: Sendable {
    /// A short, stable name (`slack`, `alertmanager`, `pagerduty`) used in log lines, the outbox and the audit trail.
    var name: String { get }
    /// Delivers one event; returns when the receiver accepted it.
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

    /// A failure that a retry may cure (5xx, timeout, reset connection).
    public static func temporary(_ message: String) -> NotifierError { NotifierError(isPermanent: false, message: message) }
    /// A failure that no retry can cure (the receiver rejected the event).
    public static func permanent(_ message: String) -> NotifierError { NotifierError(isPermanent: true, message: message) }

    /// Classifies an HTTP status a receiver answered with: `nil` for 2xx, temporary for 408, 425,
    /// 429 and 5xx, permanent for anything else.
    public static func forHTTPStatus(_ status: Int, receiver: String) -> NotifierError? {
        switch status {
        case 200..<300: return nil
        case 408, 425, 429, 500..<600: return .temporary("\(receiver) answered HTTP \(status)")
        default: return .permanent("\(receiver) rejected the event with HTTP \(status)")
        }
    }

    public var description: String { "\(isPermanent ? "permanent" : "temporary") delivery failure: \(message)" }
}
