import Foundation

/// Something a notifier should tell people about.
///
/// Every event has an ``idempotencyKey`` that stays the same however often the event is
/// delivered, so a receiver can drop duplicates.
public struct RecoveryEvent: Sendable, Hashable {
    /// What happened. New kinds may be added in any release.
    public struct Kind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let backupFailed = Kind(rawValue: "backup-failed")
        public static let backupPartiallyFailed = Kind(rawValue: "backup-partially-failed")
        public static let backupFailedValidation = Kind(rawValue: "backup-failed-validation")
        public static let backupSlow = Kind(rawValue: "backup-slow")
        public static let rpoBreached = Kind(rawValue: "rpo-breached")
        public static let rpoRecovered = Kind(rawValue: "rpo-recovered")
        public static let restoreFinished = Kind(rawValue: "restore-finished")
        public static let drillResult = Kind(rawValue: "drill-result")
        public static let validationMismatch = Kind(rawValue: "validation-mismatch")
        public static let storageLocationUnavailable = Kind(rawValue: "storage-location-unavailable")
        public static let auditVerificationFailed = Kind(rawValue: "audit-verification-failed")
    }

    /// How urgent the event is.
    public enum Severity: String, Sendable, Hashable, CaseIterable {
        case info, warning, critical
    }

    public var kind: Kind
    public var severity: Severity
    /// What the event is about, e.g. `velero/backup/daily-20261125020000`.
    public var target: String
    /// One line for people.
    public var summary: String
    /// Extra facts (phase, error counts, durations), as strings.
    public var details: [String: String]
    public var occurredAt: Date
    /// Stable across redeliveries: receivers dedupe on it.
    public var idempotencyKey: String
    /// The audit correlation id of the operation that raised the event, if any.
    public var correlationID: String?

    public init(
        kind: Kind, severity: Severity, target: String, summary: String, details: [String: String] = [:],
        occurredAt: Date, idempotencyKey: String? = nil, correlationID: String? = nil
    ) {
        self.kind = kind
        self.severity = severity
        self.target = target
        self.summary = summary
        self.details = details
        self.occurredAt = occurredAt
        self.correlationID = correlationID
        self.idempotencyKey = idempotencyKey ?? "\(kind.rawValue):\(target):\(correlationID ?? String(Int64(occurredAt.timeIntervalSince1970 * 1000)))"
    }
}
