import CarbonRecovery
import Logging
import Foundation

/// Posts each event to Alertmanager's `POST /api/v2/alerts` as an alert, and resolves it when
/// the condition clears.
///
/// Labels: `alertname` (`CarbonRecovery` and the kind in CamelCase, e.g.
/// `CarbonRecoveryBackupFailed`), `severity`, `target` and `source="carbon-recovery"`.
/// Annotations: `summary`, `idempotency_key`, `correlation_id` and the details. Alertmanager
/// identifies an alert by its labels, so a redelivered event updates the same alert instead of
/// adding one.
///
/// - ``RecoveryEvent/Kind/rpoRecovered`` resolves the `CarbonRecoveryRpoBreached` alert of the
///   same namespace: it is sent with that alert's labels and `endsAt` set to now.
/// - An RPO breach stays firing until then (`endsAt` is `conditionTTL` ahead, 24 h by default).
/// - Every other event is a one-off; its alert ends `resolveAfter` (1 h by default) after it
///   happened, so it shows, routes, and then clears by itself.
///
/// ```yaml
/// notifiers:
///   - {name: alertmanager, type: alertmanager, settings: {url: "http://alertmanager.monitoring:9093"}}
/// ```
public struct AlertmanagerNotifier: Notifier {
    public let name: String
    private let endpoint: URL
    private let resolveAfter: TimeInterval
    private let conditionTTL: TimeInterval
    private let timeout: Duration
    private let clock: any WallClock

    /// Creates an Alertmanager notifier.
    ///
    /// - Parameters:
    ///   - url: Alertmanager's base URL, e.g. `http://127.0.0.1:9093`.
    ///   - resolveAfter: How long a one-off event's alert lasts.
    ///   - conditionTTL: How long a breach alert lasts without its recovery.
    public init(
        name: String, url: URL, resolveAfter: TimeInterval = 3600, conditionTTL: TimeInterval = 86_400, timeout: Duration = .seconds(10),
        clock: any WallClock = SystemWallClock()
    ) {
        self.clock = clock
        self.name = name
        self.endpoint = url.appendingPathComponent("api/v2/alerts")
        self.resolveAfter = resolveAfter
        self.conditionTTL = conditionTTL
        self.timeout = timeout
    }

    public func deliver(_ event: RecoveryEvent) async throws {
        let body = Array(JSONValue.array([alert(for: event)]).canonicalString.utf8)
        try await HTTPDelivery(receiver: "\(name) (alertmanager)", url: endpoint, timeout: timeout).post(body, headers: [])
    }

    /// The alert an event becomes.
    public func alert(for event: RecoveryEvent) -> JSONValue {
        var kind = event.kind
        var severity = event.severity
        let endsAt: Date
        switch event.kind {
        case .rpoRecovered:
            kind = .rpoBreached
            severity = .critical
            // Resolved means "ended in the past" to Alertmanager, so never later than now.
            endsAt = min(event.occurredAt, clock.now())
        case .rpoBreached:
            endsAt = event.occurredAt.addingTimeInterval(conditionTTL)
        default:
            endsAt = event.occurredAt.addingTimeInterval(resolveAfter)
        }
        var annotations: [String: JSONValue] = ["summary": .string(event.summary), "idempotency_key": .string(event.idempotencyKey)]
        if let correlationID = event.correlationID { annotations["correlation_id"] = .string(correlationID) }
        for (key, value) in event.details where !value.isEmpty { annotations["detail_\(key)"] = .string(value) }
        var alert: [String: JSONValue] = [
            "labels": [
                "alertname": .string(Self.alertName(kind)), "severity": .string(severity.rawValue),
                "target": .string(event.target), "source": "carbon-recovery",
            ],
            "annotations": .object(annotations),
            "endsAt": .string(RFC3339.format(endsAt)),
        ]
        if event.kind != .rpoRecovered { alert["startsAt"] = .string(RFC3339.format(event.occurredAt)) }
        return .object(alert)
    }

    /// `CarbonRecovery` and the kind in CamelCase: `backup-failed` → `CarbonRecoveryBackupFailed`.
    public static func alertName(_ kind: RecoveryEvent.Kind) -> String {
        "CarbonRecovery" + kind.rawValue.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }
}
