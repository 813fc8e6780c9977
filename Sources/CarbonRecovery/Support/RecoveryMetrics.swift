import Foundation
import Metrics

/// The metrics CarbonRecovery emits through swift-metrics, by name and labels.
///
/// The SDK only uses the swift-metrics API; an application chooses the backend. The CLI's
/// `carbon-recovery run --metrics-port PORT` serves them for Prometheus at
/// `http://127.0.0.1:PORT/metrics`. docs/metrics.md lists them with examples, and the alert
/// rules that `render alerts` writes use them.
package enum RecoveryMetrics {
    /// Counter: operations that ended, by `operation` (`backup.create`, `restore.create`,
    /// `backup.validate`, `restore.test`, `drill.run`, `notify.deliver`, …) and `outcome`
    /// (`success`, `failure`, `abandoned`, `denied`).
    package static let operations = "carbon_recovery_operations_total"
    /// Histogram (seconds): how long operations took, by `operation`.
    package static let operationDuration = "carbon_recovery_operation_duration_seconds"
    /// Gauge (unix seconds): when an operation last succeeded, by `operation`; the last restore
    /// is `operation="restore.create"`, the last drill `operation="drill.run"`.
    package static let lastSuccess = "carbon_recovery_last_success_timestamp_seconds"
    /// Gauge (unix seconds): the completion time of the newest good backup holding a namespace,
    /// by `namespace`; set by each RPO check.
    package static let namespaceLastBackup = "carbon_recovery_namespace_last_backup_timestamp_seconds"
    /// Gauge (seconds): the age of that backup at the last RPO check, by `namespace`.
    package static let namespaceRPOAge = "carbon_recovery_namespace_rpo_age_seconds"
    /// Gauge (seconds): the namespace's recovery point objective, by `namespace`.
    package static let namespaceRPO = "carbon_recovery_namespace_rpo_seconds"
    /// Gauge: bytes stored under a prefix of the backup bucket, by `prefix` (`backups/`, `restores/`).
    package static let storageBytes = "carbon_recovery_storage_bytes"
    /// Gauge: objects stored under a prefix of the backup bucket, by `prefix`.
    package static let storageObjects = "carbon_recovery_storage_objects"
    /// Gauge: 1 when the backup storage answered the last check, 0 when it did not, by `location`.
    package static let storageAvailable = "carbon_recovery_storage_location_available"
    /// Gauge: notifications in the outbox, by `notifier` and `state` (`pending`, `dead`).
    package static let outboxDepth = "carbon_recovery_outbox_depth"
    /// Counter: calls the API server or the storage refused (HTTP 401/403), by `source`
    /// (`kubernetes`, `storage`) and `operation`.
    package static let accessDenied = "carbon_recovery_access_denied_total"

    /// Records an ended operation: the counter, the duration, and the last-success time.
    static func recordOperation(_ operation: String, outcome: AuditOutcome, duration: Duration, at date: Date) {
        Counter(label: operations, dimensions: [("operation", operation), ("outcome", outcome.rawValue)]).increment()
        Metrics.Timer(label: operationDuration, dimensions: [("operation", operation)]).record(duration: duration)
        if outcome == .success {
            Gauge(label: lastSuccess, dimensions: [("operation", operation)]).record(date.timeIntervalSince1970)
        }
    }

    /// Counts a refused call.
    static func recordAccessDenied(source: String, operation: String) {
        Counter(label: accessDenied, dimensions: [("source", source), ("operation", operation)]).increment()
    }
}
