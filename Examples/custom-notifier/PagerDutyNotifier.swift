import CarbonRecovery
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Opens and resolves PagerDuty incidents through the Events API v2.
///
/// Each event is one `POST` of
///
/// ```json
/// {"routing_key": "…", "event_action": "trigger", "dedup_key": "backup-failed:backup/nightly:…",
///  "payload": {"summary": "…", "source": "backup/nightly", "severity": "critical",
///              "timestamp": "2026-11-29T02:14:03.000Z", "component": "carbon-recovery",
///              "class": "backup-failed", "custom_details": {"phase": "Failed", …}}}
/// ```
///
/// - `dedup_key` is the event's ``RecoveryEvent/idempotencyKey``: when the same event is
///   delivered twice (a retry after a time-out, a crash mid-delivery), PagerDuty adds it to the
///   open incident instead of paging twice.
/// - An RPO breach and its recovery share one key, `rpo-breached:<target>`: the breach triggers
///   the incident and `rpo-recovered` resolves that same incident.
/// - HTTP 2xx (PagerDuty answers 202) is success; 400 (the event was rejected) is a permanent
///   failure; 429 and 5xx, a time-out or a refused connection are temporary, so the outbox retries.
/// - The routing key is a ``SecretValue``: it is in the request body only, never in an error.
struct PagerDutyNotifier: Notifier {
    /// PagerDuty's Events API v2 endpoint.
    static let eventsAPI = URL(string: "https://events.pagerduty.com/v2/enqueue")!

    let name: String
    /// The integration key of an "Events API v2" integration on a PagerDuty service.
    private let routingKey: SecretValue
    private let endpoint: URL
    private let timeout: TimeInterval

    /// Creates a notifier.
    ///
    /// - Parameters:
    ///   - name: The name in log lines, the outbox and the audit trail.
    ///   - routingKey: The integration key; never logged.
    ///   - url: The Events API endpoint; another one only for tests or an egress proxy.
    ///   - timeout: How long one request may take.
    init(name: String, routingKey: SecretValue, url: URL = Self.eventsAPI, timeout: TimeInterval = 10) {
        self.name = name
        self.routingKey = routingKey
        self.endpoint = url
        self.timeout = timeout
    }

    /// Creates a notifier from a policy entry: `routingKey` (required, a secret: `env:NAME` or
    /// `file:/path`), `url` (optional) and `timeoutSeconds` (optional, 10 by default).
    ///
    /// - Throws: ``RecoveryError`` naming the setting (never its value) when one is missing or wrong.
    init(configuration: NotifierConfiguration) throws {
        let url = configuration.settings["url"] == nil ? Self.eventsAPI : try configuration.url("url")
        let timeout = try configuration.number("timeoutSeconds", default: 10)
        guard timeout > 0 else {
            throw RecoveryError.invalidInput("notifier '\(configuration.name)': settings.timeoutSeconds must be more than 0")
        }
        self.init(name: configuration.name, routingKey: try configuration.secret("routingKey"), url: url, timeout: timeout)
    }

    func deliver(_ event: RecoveryEvent) async throws {
        var request = URLRequest(url: endpoint, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try body(for: event)

        let receiver = "pagerduty '\(name)'"
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // Worth retrying. Say what happened, not which key or URL it happened with.
            throw NotifierError.temporary("\(receiver) could not be reached: \(Self.describe(error))")
        }
        guard let status = (response as? HTTPURLResponse)?.statusCode else {
            throw NotifierError.temporary("\(receiver) answered with something that is not HTTP")
        }
        switch status {
        case 200..<300:
            return
        case 400:
            // The event is invalid (often: a wrong routing key). Sending it again cannot help.
            throw NotifierError.permanent("\(receiver) rejected the event with HTTP 400\(explanation(in: data))")
        case 429:
            throw NotifierError.temporary("\(receiver) is throttling events (HTTP 429)")
        case 500..<600:
            throw NotifierError.temporary("\(receiver) answered HTTP \(status)")
        default:
            // 408 and 425 are temporary, any other answer permanent.
            throw NotifierError.forHTTPStatus(status, receiver: receiver) ?? NotifierError.permanent("\(receiver) answered HTTP \(status)")
        }
    }

    // MARK: - The request

    /// `trigger` for everything but a recovered RPO, which resolves the breach's incident.
    static func action(for event: RecoveryEvent) -> String {
        event.kind == .rpoRecovered ? "resolve" : "trigger"
    }

    /// The event's idempotency key, except for an RPO breach and its recovery, which share
    /// `rpo-breached:<target>` so that the recovery resolves the breach's incident.
    static func dedupKey(for event: RecoveryEvent) -> String {
        switch event.kind {
        case .rpoBreached, .rpoRecovered: "\(RecoveryEvent.Kind.rpoBreached.rawValue):\(event.target)"
        default: event.idempotencyKey
        }
    }

    /// The JSON body PagerDuty is sent.
    func body(for event: RecoveryEvent) throws -> Data {
        var details = event.details
        details["idempotency_key"] = event.idempotencyKey
        if let correlationID = event.correlationID { details["correlation_id"] = correlationID }
        let body = EventBody(
            routingKey: routingKey.value, eventAction: Self.action(for: event), dedupKey: Self.dedupKey(for: event),
            payload: .init(
                summary: String(event.summary.prefix(1024)), source: event.target, severity: event.severity.rawValue,
                timestamp: RFC3339.format(event.occurredAt), component: "carbon-recovery", class: event.kind.rawValue,
                customDetails: details))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(body)
    }

    /// The Events API v2 request body.
    struct EventBody: Encodable {
        var routingKey: String
        var eventAction: String
        var dedupKey: String
        var payload: Payload

        struct Payload: Encodable {
            var summary: String
            var source: String
            /// `critical`, `warning` or `info` (PagerDuty also knows `error`).
            var severity: String
            var timestamp: String
            var component: String
            var `class`: String
            var customDetails: [String: String]

            enum CodingKeys: String, CodingKey {
                case summary, source, severity, timestamp, component, `class`
                case customDetails = "custom_details"
            }
        }

        enum CodingKeys: String, CodingKey {
            case routingKey = "routing_key"
            case eventAction = "event_action"
            case dedupKey = "dedup_key"
            case payload
        }
    }

    // MARK: - Errors without secrets

    /// PagerDuty's reasons from a 400 answer (`{"message": …, "errors": […]}`), shortened, with
    /// the routing key blanked out should the receiver have echoed it.
    private func explanation(in data: Data) -> String {
        struct Rejection: Decodable {
            var message: String?
            var errors: [String]?
        }
        guard let rejection = try? JSONDecoder().decode(Rejection.self, from: data) else { return "" }
        let reasons = ([rejection.message].compactMap { $0 } + (rejection.errors ?? [])).joined(separator: "; ")
        guard !reasons.isEmpty else { return "" }
        let redacted = routingKey.value.isEmpty ? reasons : reasons.replacingOccurrences(of: routingKey.value, with: "\(routingKey)")
        return ": " + String(redacted.prefix(300))
    }

    /// A transport failure in a few words; `URLError`'s own description can carry the URL.
    private static func describe(_ error: any Error) -> String {
        guard let error = error as? URLError else { return "\(type(of: error))" }
        switch error.code {
        case .timedOut: return "the request timed out"
        case .cannotConnectToHost: return "the connection was refused"
        case .cannotFindHost, .dnsLookupFailed: return "the host name did not resolve"
        case .networkConnectionLost: return "the connection was lost"
        case .notConnectedToInternet: return "there is no network"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid:
            return "the TLS handshake failed"
        default: return "URL error \(error.code.rawValue)"
        }
    }
}
