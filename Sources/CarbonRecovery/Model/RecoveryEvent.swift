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

        /// A backup ended `Failed`.
        public static let backupFailed = Kind(rawValue: "backup-failed")
        /// A backup ended `PartiallyFailed`.
        public static let backupPartiallyFailed = Kind(rawValue: "backup-partially-failed")
        /// A backup ended `FailedValidation`, or failed CarbonRecovery's validation.
        public static let backupFailedValidation = Kind(rawValue: "backup-failed-validation")
        /// A backup took longer than the configured threshold.
        public static let backupSlow = Kind(rawValue: "backup-slow")
        /// The newest good backup of a namespace is older than its RPO.
        public static let rpoBreached = Kind(rawValue: "rpo-breached")
        /// A breached RPO is met again.
        public static let rpoRecovered = Kind(rawValue: "rpo-recovered")
        /// A restore ended, successfully or not (with its duration).
        public static let restoreFinished = Kind(rawValue: "restore-finished")
        /// A restore test or DR drill finished.
        public static let drillResult = Kind(rawValue: "drill-result")
        /// A stored artifact changed or vanished since its first validation.
        public static let validationMismatch = Kind(rawValue: "validation-mismatch")
        /// A backup storage location became unavailable.
        public static let storageLocationUnavailable = Kind(rawValue: "storage-location-unavailable")
        /// The audit trail failed verification.
        public static let auditVerificationFailed = Kind(rawValue: "audit-verification-failed")
        /// A writer found that its audit trail does not extend the checkpoints anchored in the
        /// object-lock bucket (a copied, rolled-back or rewritten database) and refuses to write.
        public static let auditForkDetected = Kind(rawValue: "audit-fork-detected")
        /// The API server or the storage refused a call as unauthenticated or forbidden (HTTP
        /// 401/403); details name the `source`, `status`, `identity` and what was `refused`.
        public static let accessDenied = Kind(rawValue: "access-denied")
    }

    /// How urgent the event is.
    public enum Severity: String, Sendable, Hashable, CaseIterable {
        /// For the record.
        case info
        /// Needs attention soon.
        case warning
        /// Needs attention now.
        case critical
    }

    /// What happened.
    public var kind: Kind
    /// How urgent it is.
    public var severity: Severity
    /// What the event is about, e.g. `velero/backup/daily-20261125020000`.
    public var target: String
    /// One line for people.
    public var summary: String
    /// Extra facts (phase, error counts, durations), as strings.
    public var details: [String: String]
    /// When it happened.
    public var occurredAt: Date
    /// Stable across redeliveries: receivers dedupe on it.
    public var idempotencyKey: String
    /// The audit correlation id of the operation that raised the event, if any.
    public var correlationID: String?

    /// Creates an event; without an idempotency key one is derived from kind, target and correlation id (or time).
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
