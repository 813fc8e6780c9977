import Foundation

extension RecoveryEvent {
    /// The event as JSON: what a webhook receives, the outbox stores and a notifier plugin
    /// reads (`docs/notifications.md`). Every field of the event; `id` is the idempotency key.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(idempotencyKey),
            "kind": .string(kind.rawValue),
            "severity": .string(severity.rawValue),
            "target": .string(target),
            "summary": .string(summary),
            "details": .object(details.mapValues { .string($0) }),
            "occurredAt": .string(RFC3339.format(occurredAt)),
        ]
        if let correlationID { object["correlationId"] = .string(correlationID) }
        return .object(object)
    }

    /// Reads an event back from ``json``.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when a field is missing.
    public init(json: JSONValue) throws {
        guard let key = json["id"]?.stringValue, let kind = json["kind"]?.stringValue,
            let severity = json["severity"]?.stringValue.flatMap(Severity.init(rawValue:)),
            let target = json["target"]?.stringValue, let summary = json["summary"]?.stringValue,
            let occurred = json["occurredAt"]?.stringValue.flatMap(RFC3339.parse)
        else { throw RecoveryError.invalidInput("the event is incomplete: it needs id, kind, severity, target, summary and an RFC 3339 occurredAt") }
        let details = (json["details"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        self.init(
            kind: Kind(rawValue: kind), severity: severity, target: target, summary: summary, details: details, occurredAt: occurred,
            idempotencyKey: key, correlationID: json["correlationId"]?.stringValue)
    }
}
