import CarbonRecovery
import Logging
import Foundation

/// Writes each event to a swift-log logger: `critical` events at `.critical`, `warning` at
/// `.warning`, `info` at `.info`, with the kind, target and idempotency key as metadata. It never
/// fails, so it is a safe last resort beside the others.
public struct LogNotifier: Notifier {
    public let name: String
    private let logger: Logger

    /// Creates a log notifier.
    public init(name: String = "log", logger: Logger) {
        self.name = name
        self.logger = logger
    }

    public func deliver(_ event: RecoveryEvent) async throws {
        let level: Logger.Level = switch event.severity {
        case .critical: .critical
        case .warning: .warning
        case .info: .info
        }
        var metadata: Logger.Metadata = ["kind": "\(event.kind)", "target": "\(event.target)", "idempotency-key": "\(event.idempotencyKey)"]
        if let correlationID = event.correlationID { metadata["correlation-id"] = "\(correlationID)" }
        for (key, value) in event.details { metadata["detail.\(key)"] = "\(value)" }
        logger.log(level: level, "\(event.summary)", metadata: metadata)
    }
}
