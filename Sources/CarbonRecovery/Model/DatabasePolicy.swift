import Foundation

/// A PostgreSQL cluster recovered to a point in time from its own WAL archive
/// (`CarbonRecoveryPostgres`), with its objectives: the policy's `databases` section.
///
/// Velero's backups of the namespace the database runs in hold its objects and, at best, a
/// volume snapshot as old as the last backup. This is what bounds the database's data loss by
/// minutes instead: continuous WAL archiving, checked against ``rpo``.
///
/// ```yaml
/// databases:
///   - stanza: platform-db
///     port: 5432
///     bucket: 254carbon-pg
///     rpo: 5m
///     rto: 1h
///     baseBackup: "0 1 * * *"
/// ```
public struct DatabasePolicy: Sendable, Hashable {
    /// The cluster's name in its archive (`postgres/<stanza>/`); a DNS label.
    public var stanza: String
    /// The server's address (default 127.0.0.1).
    public var host: String
    /// The server's port (default 5432).
    public var port: Int
    /// The role to connect as: a superuser, or one with REPLICATION and pg_monitor.
    public var user: String
    /// libpq's password file for that role; `nil` uses `PGPASSFILE`. Never the password itself.
    public var passwordFile: String?
    /// PostgreSQL's programs; `nil` uses `CARBON_RECOVERY_PG_BIN`, else `/usr/lib/postgresql/15/bin`.
    public var binDirectory: String?
    /// The OS user PostgreSQL's own programs run as when carbon-recovery runs as root.
    public var runAs: String?
    /// The bucket holding the archive; `nil` for the storage's own bucket. A bucket of its own
    /// is advised: Velero refuses a location whose prefix holds others' folders.
    public var bucket: String?
    /// A folder before `postgres/<stanza>/` in the bucket (empty, or ending in `/`).
    public var prefix: String
    /// How new files are stored: `gzip` or `none`.
    public var compression: String
    /// The most data (as time) that may be lost: the archive lag must stay below it.
    public var rpo: GoDuration
    /// The longest acceptable time to restore the database.
    public var rto: GoDuration
    /// When `carbon-recovery run` takes a base backup; `nil` for never.
    public var baseBackup: CronSchedule?
    /// How many base backups cleanup keeps (the newest ones); `nil` keeps all. WAL older than
    /// the oldest kept backup's start is deleted with them; WAL a kept backup needs never is.
    public var keepBaseBackups: Int?

    /// Creates a database entry.
    public init(
        stanza: String, host: String = "127.0.0.1", port: Int = 5432, user: String = "postgres", passwordFile: String? = nil,
        binDirectory: String? = nil, runAs: String? = nil, bucket: String? = nil, prefix: String = "", compression: String = "gzip",
        rpo: GoDuration, rto: GoDuration, baseBackup: CronSchedule? = nil, keepBaseBackups: Int? = nil
    ) {
        self.stanza = stanza
        self.host = host
        self.port = port
        self.user = user
        self.passwordFile = passwordFile
        self.binDirectory = binDirectory
        self.runAs = runAs
        self.bucket = bucket
        self.prefix = prefix
        self.compression = compression
        self.rpo = rpo
        self.rto = rto
        self.baseBackup = baseBackup
        self.keepBaseBackups = keepBaseBackups
    }

    /// Checks the stanza, port, compression, objectives and retention (the bucket's name is
    /// checked by the storage when it is used).
    ///
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput``.
    public func validate() throws {
        try KubernetesName.validateLabel(stanza, what: "stanza")
        guard (1...65_535).contains(port) else { throw RecoveryError.invalidInput("port \(port) of database '\(stanza)' is not a TCP port (1-65535)") }
        guard ["gzip", "none"].contains(compression) else {
            throw RecoveryError.invalidInput("compression '\(compression)' of database '\(stanza)' is not one of gzip, none")
        }
        if rto.nanoseconds <= 0 { throw RecoveryError.invalidInput("RTO '\(rto)' of database '\(stanza)' must be positive") }
        if rpo.nanoseconds <= 0 { throw RecoveryError.invalidInput("RPO '\(rpo)' of database '\(stanza)' must be positive") }
        if let keepBaseBackups, keepBaseBackups < 1 {
            throw RecoveryError.invalidInput("keepBaseBackups \(keepBaseBackups) of database '\(stanza)' must be at least 1: cleanup never deletes the last base backup")
        }
    }
}
