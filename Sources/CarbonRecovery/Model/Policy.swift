import Foundation

/// A backup schedule: the SDK's form of a Velero `Schedule`.
///
/// ```swift
/// let critical = try SchedulePolicy(
///     name: "critical-backup",
///     cron: CronSchedule(parsing: "0 */6 * * *"),
///     template: BackupRequest(name: "critical-backup", includedNamespaces: ["data-platform", "vault-prod"], ttl: .hours(168)))
/// ```
public struct SchedulePolicy: Sendable, Hashable {
    /// The schedule's name; backups it creates are named `<name>-<yyyyMMddHHmmss>`.
    public var name: String
    /// When it fires.
    public var cron: CronSchedule
    /// The backup each firing creates. Its `name` is ignored; its `ttl` is the retention.
    public var template: BackupRequest
    /// A paused schedule creates no backups.
    public var paused: Bool
    /// Skip the backup Velero would otherwise take right after an unpause or creation.
    public var skipImmediately: Bool?
    /// Owner references from backups to the schedule (deleting the schedule then deletes the objects).
    public var useOwnerReferencesInBackup: Bool?

    /// Creates a schedule; it runs unpaused unless told otherwise.
    public init(
        name: String, cron: CronSchedule, template: BackupRequest, paused: Bool = false, skipImmediately: Bool? = nil,
        useOwnerReferencesInBackup: Bool? = nil
    ) {
        self.name = name
        self.cron = cron
        self.template = template
        self.paused = paused
        self.skipImmediately = skipImmediately
        self.useOwnerReferencesInBackup = useOwnerReferencesInBackup
    }

    /// Checks the name (it becomes a label value, so at most 63 characters) and the template.
    ///
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput``.
    public func validate() throws {
        try KubernetesName.validateLabel(name, what: "schedule name")
        var template = template
        template.name = name
        try template.validate()
    }
}

/// How long backups are kept beyond (or instead of) Velero's per-backup TTL.
public struct RetentionPolicy: Sendable, Hashable {
    /// Velero's TTL on each backup.
    public var ttl: GoDuration?
    /// Keep at least the newest N completed backups.
    public var keepLast: Int?
    /// Keep the newest backup of each of the last N days.
    public var keepDaily: Int?
    /// Keep the newest backup of each of the last N ISO weeks.
    public var keepWeekly: Int?
    /// Keep the newest backup of each of the last N months.
    public var keepMonthly: Int?

    /// Creates a retention policy; `nil` means no rule of that kind.
    public init(ttl: GoDuration? = nil, keepLast: Int? = nil, keepDaily: Int? = nil, keepWeekly: Int? = nil, keepMonthly: Int? = nil) {
        self.ttl = ttl
        self.keepLast = keepLast
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
        self.keepMonthly = keepMonthly
    }

    /// Checks that counts are non-negative and the TTL positive.
    ///
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput``.
    public func validate() throws {
        if let ttl, ttl.nanoseconds <= 0 {
            throw RecoveryError.invalidInput("retention TTL '\(ttl)' must be positive, e.g. 720h0m0s")
        }
        for (field, value) in [("keepLast", keepLast), ("keepDaily", keepDaily), ("keepWeekly", keepWeekly), ("keepMonthly", keepMonthly)] {
            if let value, value < 0 { throw RecoveryError.invalidInput("retention \(field) is \(value): use 0 or more") }
        }
    }
}

/// Recovery objectives for a class of namespaces (the guide: RTO < 1 h, RPO < 15 min for critical data).
public struct RecoveryObjective: Sendable, Hashable {
    /// A name for the class, e.g. `critical`.
    public var namespaceClass: String
    /// The namespaces in the class.
    public var namespaces: [String]
    /// The longest acceptable time to recover.
    public var rto: GoDuration
    /// The most data (as time) that may be lost: the newest good backup must never be older.
    public var rpo: GoDuration

    /// Creates an objective for a class of namespaces.
    public init(namespaceClass: String, namespaces: [String], rto: GoDuration, rpo: GoDuration) {
        self.namespaceClass = namespaceClass
        self.namespaces = namespaces
        self.rto = rto
        self.rpo = rpo
    }

    /// Checks names and that both objectives are positive.
    ///
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput``.
    public func validate() throws {
        try KubernetesName.validateLabel(namespaceClass, what: "namespace class")
        for namespace in namespaces { try KubernetesName.validateLabel(namespace, what: "namespace") }
        if rto.nanoseconds <= 0 { throw RecoveryError.invalidInput("RTO '\(rto)' of class '\(namespaceClass)' must be positive") }
        if rpo.nanoseconds <= 0 { throw RecoveryError.invalidInput("RPO '\(rpo)' of class '\(namespaceClass)' must be positive") }
    }

    /// Whether a backup that finished at `lastBackup` still meets the RPO at `now`.
    public func isRPOMet(lastBackup: Date?, now: Date) -> Bool {
        guard let lastBackup else { return false }
        return now.timeIntervalSince(lastBackup) <= rpo.timeInterval
    }
}
