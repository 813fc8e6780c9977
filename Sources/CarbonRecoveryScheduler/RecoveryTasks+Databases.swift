import CarbonRecovery
import CarbonRecoveryPostgres
import Foundation

extension RecoveryTasks {
    /// Opens the point-in-time recovery of one of the policy's databases: its archive (the
    /// storage of its `bucket`, its prefix and compression) and PostgreSQL's programs.
    public typealias DatabaseRecoveryFactory = @Sendable (DatabasePolicy) throws -> PointInTimeRecovery

    /// The connection a database entry names; its password comes from its password file.
    public static func connection(of database: DatabasePolicy) -> PostgresTools.Connection {
        PostgresTools.Connection(host: database.host, port: database.port, user: database.user, passwordFile: database.passwordFile)
    }

    static func open(_ database: DatabasePolicy, with factory: DatabaseRecoveryFactory?) throws -> PointInTimeRecovery {
        guard let factory else {
            throw RecoveryError(.unsupported, "database '\(database.stanza)' is in the policy, but this scheduler cannot open its archive")
        }
        return try factory(database)
    }

    /// `pg-check/<stanza>`: the archive lag (every run) and the archive's window (a listing of
    /// the whole archive, at most every ``DatabaseWindows/maximumAge``), recorded as metrics.
    /// The run fails, naming why, when the lag is over the RPO, the archive has a gap, or
    /// archiving has a problem: each loses data a restore would need.
    static func checkDatabase(_ database: DatabasePolicy, recovery: PointInTimeRecovery, windows: DatabaseWindows, now: Date) async throws -> JSONValue {
        let status = try await recovery.archiveStatus(of: connection(of: database))
        status.recordMetrics(stanza: database.stanza)
        let (window, windowReadAt) = try await windows.window(of: database.stanza, now: now) { try await recovery.window() }
        window.recordMetrics(stanza: database.stanza)
        var problems = status.problems
        if status.lagSeconds > database.rpo.timeInterval {
            problems.append("the archive lag \(Int(status.lagSeconds.rounded())) s is over the RPO \(database.rpo)")
        }
        if !window.gaps.isEmpty {
            problems.append(
                "the WAL archive has \(window.gaps.count) gap(s), first \(window.gaps[0].first): no restore replays across one; take a base backup")
        }
        if window.backups.isEmpty { problems.append("no base backup: nothing can be restored; take one with `pg base-backup`") }
        guard problems.isEmpty else {
            throw RecoveryError(.validationFailed, "database '\(database.stanza)': " + problems.joined(separator: "; "), target: "postgres/\(database.stanza)")
        }
        return .object([
            "lagSeconds": .integer(Int64(status.lagSeconds.rounded())),
            "unarchivedBytes": status.unarchivedBytes.map { .integer(Int64($0)) } ?? .null,
            "newestArchived": status.newestArchived.map { .string($0) } ?? .null,
            "baseBackups": .integer(Int64(window.backups.count)),
            "gaps": .integer(Int64(window.gaps.count)),
            "windowReadAt": .string(RFC3339.format(windowReadAt)),
        ])
    }

    /// `pg-base-backup/<stanza>`: a base backup, audited as `pg.base-backup` like the CLI's.
    static func baseBackup(
        _ database: DatabasePolicy, recovery: PointInTimeRecovery, coordinator: RecoveryCoordinator, windows: DatabaseWindows, now: Date
    ) async throws -> JSONValue {
        let server = connection(of: database)
        let backup = try await coordinator.perform(
            "pg.base-backup", target: "postgres/\(database.stanza)",
            parameters: ["server": .string("\(server.host):\(server.port)"), "user": .string(server.user)]
        ) { _, _ in
            let backup = try await recovery.baseBackup(of: server)
            return (backup, backup.json)
        }
        // The gauge moves at once, not at the next check.
        if let window = try? await recovery.window() {
            window.recordMetrics(stanza: database.stanza)
            windows.store(window, of: database.stanza, readAt: now)
        }
        return .object(["backup": .string(backup.id), "bytes": .integer(Int64(backup.bytes)), "stopLSN": .string(backup.stopLSN.description)])
    }

    /// `drill/<name>` of a `pitr` drill: ``PointInTimeRecovery/drill(_:)`` against the
    /// database's RTO, audited as `drill.run` (target `drill/<name>`) with the report's figures;
    /// a drill whose restored data did not match, or that missed the RTO, is a failed run.
    static func drillDatabase(
        _ drill: DrillPolicy, policy: RecoveryPolicy, factory: DatabaseRecoveryFactory?, coordinator: RecoveryCoordinator
    ) async throws -> JSONValue {
        guard let stanza = drill.database, let database = policy.databases.first(where: { $0.stanza == stanza }) else {
            throw RecoveryError(.invalidInput, "drill '\(drill.name)' restores database '\(drill.database ?? "")', which the policy does not define")
        }
        let recovery = try open(database, with: factory)
        var request = PointInTimeRecovery.DrillRequest(connection: connection(of: database), port: drill.scratchPort, rto: .nanoseconds(database.rto.nanoseconds))
        if let folder = drill.scratchDirectory { request.scratchDirectory = folder }
        let parameters: JSONValue = .object(["kind": .string(drill.kind.rawValue), "database": .string(stanza)])
        let report = try await coordinator.perform("drill.run", target: "drill/\(drill.name)", parameters: parameters) { _, _ in
            let report = try await recovery.drill(request)
            guard report.passed else {
                throw ReportedFailure(result: report, details: report.json, message: "drill '\(drill.name)' failed: " + report.problems.joined(separator: "; "))
            }
            return (report, report.json)
        }
        guard report.passed else { throw RecoveryError(.validationFailed, "drill '\(drill.name)' failed: " + report.problems.joined(separator: "; ")) }
        return report.json
    }

    /// `pg-cleanup/<stanza>`: the newest `keepBaseBackups` base backups and the WAL they need
    /// are kept, the rest deleted, audited as `pg.cleanup` like the CLI's.
    static func cleanUp(_ database: DatabasePolicy, recovery: PointInTimeRecovery, coordinator: RecoveryCoordinator) async throws -> JSONValue {
        let keep = database.keepBaseBackups ?? Int.max
        let plan = try await recovery.planRetention(keep: keep)
        let details: JSONValue = .object([
            "expired": .array(plan.expired.map { .string($0.id) }), "walDeleted": .integer(Int64(plan.wal.count)),
            "firstNeededSegment": plan.firstNeededSegment.map { .string($0) } ?? .null, "storedBytes": .integer(plan.storedBytes),
        ])
        guard !plan.expired.isEmpty || !plan.unfinished.isEmpty || !plan.wal.isEmpty else { return details }
        try await coordinator.perform("pg.cleanup", target: "postgres/\(database.stanza)", parameters: ["keep": .integer(Int64(keep))]) { _, _ in
            try await recovery.applyRetention(plan)
            return ((), details)
        }
        return details
    }
}
