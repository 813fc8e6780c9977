import Foundation

extension RecoveryCoordinator {
    /// Runs a recovery drill — the guide's quarterly full recovery test (`full-recovery`) or
    /// its annual exercise (`annual-exercise`) — on the DR cluster this coordinator reaches.
    ///
    /// Create this coordinator for the drill's ``DrillPolicy/drCluster`` (its Velero reads the
    /// backups' location, read-only) with the production coordinator's audit trail and storage.
    /// The drill:
    /// 1. refuses to run when the DR cluster is `production` (same API server): a drill must
    ///    never restore over the platform it tests;
    /// 2. for the annual exercise, validates every `Completed` backup never validated and
    ///    checks every objective's RPO (``validateNewBackups()``, ``checkRecoveryPoints(_:)``);
    /// 3. recovers (``recoverCluster(_:progress:)``, audited as its own `cluster.recover`): the
    ///    cluster resources from `recovery.clusterResourcesSchedule` (else the drill's
    ///    schedule), and the objectives' namespaces (quarterly) or every namespace (annual);
    /// 4. verifies every object, then deletes what it restored
    ///    (``ClusterRecoveryRequest/removesAfterVerification``).
    ///
    /// The outcome, `drill.run` on `drill/<name>`, records the measured RTO
    /// (`recoveryTimeSeconds`), the achieved RPO (`achievedRPOSeconds`: the largest data-loss
    /// window among the recovery points), each phase against its class's RTO, and the cleanup.
    /// A drill that does not pass is recorded as a failure and still returns its report.
    ///
    /// - Parameters:
    ///   - drill: A `full-recovery` or `annual-exercise` drill.
    ///   - objectives: The policy's objectives.
    ///   - recovery: The policy's recovery settings.
    ///   - production: The production cluster's identity, to refuse a DR cluster that is the same.
    /// - Returns: The recovery's report.
    /// - Throws: ``RecoveryError`` — `invalidInput` for a restore-test or `pitr` drill (nothing recorded);
    ///   `unsupported` without a cluster client; `conflict` when the DR cluster is production;
    ///   what the recovery threw.
    public func runRecoveryDrill(
        _ drill: DrillPolicy, objectives: [RecoveryObjective], recovery: ClusterRecoveryPolicy = ClusterRecoveryPolicy(), production: ClusterIdentity?
    ) async throws -> ClusterRecoveryReport {
        guard drill.kind != .restoreTest else {
            throw RecoveryError.invalidInput("drill '\(drill.name)' is a restore test; run it with runDrill(_:objectives:)")
        }
        guard drill.kind != .pitr else {
            throw RecoveryError.invalidInput("drill '\(drill.name)' is a database's point-in-time recovery drill; run it with PointInTimeRecovery.drill")
        }
        guard let cluster else {
            throw RecoveryError(.unsupported, "a recovery drill needs the DR cluster's ClusterClient: create the coordinator with `cluster:`")
        }
        let stamp = String(RFC3339.format(now()).prefix(19)).filter(\.isNumber)
        var request = ClusterRecoveryRequest(
            name: "drill-\(drill.name.prefix(28))-\(stamp.suffix(14))".lowercased(), objectives: objectives,
            maximumDataLoss: recovery.maximumDataLoss.map { .nanoseconds($0.nanoseconds) })
        request.clusterSchedule = recovery.clusterResourcesSchedule ?? drill.schedule
        if drill.kind == .fullRecovery { request.namespaces = Array(Set(objectives.flatMap(\.namespaces))).sorted() }
        request.removesAfterVerification = true
        try request.validate()
        var parameters: [String: JSONValue] = ["kind": .string(drill.kind.rawValue), "schedule": .string(drill.schedule), "recovery": .string(request.name)]
        if let dr = drill.drCluster { parameters["drContext"] = .string(dr.context) }
        return try await perform("drill.run", target: "drill/\(drill.name)", parameters: .object(parameters)) { correlationID, _ in
            let target = try await cluster.identity()
            if let production, let server = production.server, server == target.server {
                throw RecoveryError(
                    .conflict,
                    "drill '\(drill.name)': the DR cluster (\(target.context ?? "?") at \(server)) is the production cluster; a recovery drill restores only into a separate cluster")
            }
            var exercise: [String: JSONValue] = [:]
            if drill.kind == .annualExercise {
                let validation = try await validateNewBackups()
                exercise["validated"] = .integer(Int64(validation.valid.count))
                exercise["invalid"] = .array(validation.invalid.keys.sorted().map { .string($0) })
                if !objectives.isEmpty {
                    let points = try await checkRecoveryPoints(objectives)
                    exercise["rpoBreached"] = .array(points.breached.map { .string($0) })
                }
            }
            let report = try await recoverCluster(request)
            var details = report.auditDetails
            details["recovery"] = .string(request.name)
            details["drCluster"] = .string(target.description)
            for (key, value) in exercise { details[key] = value }
            var problems = report.problems
            if case .failed(let reason)? = report.cleanup { problems.append("cleanup failed: \(reason)") }
            if let invalid = exercise["invalid"]?.arrayValue, !invalid.isEmpty {
                problems.append("\(invalid.count) backup(s) failed validation")
            }
            if let breached = exercise["rpoBreached"]?.arrayValue, !breached.isEmpty {
                problems.append("RPO breached for \(breached.compactMap(\.stringValue).joined(separator: ", "))")
            }
            await notify(RecoveryEvent(
                kind: .drillResult, severity: problems.isEmpty ? .info : .critical, target: "drill/\(drill.name)",
                summary: problems.isEmpty
                    ? "\(drill.kind.rawValue) drill '\(drill.name)' passed: recovered and verified in \(RestoreTestReport.seconds(report.totalTime)) s"
                    : "\(drill.kind.rawValue) drill '\(drill.name)' failed: " + problems.joined(separator: "; "),
                details: ["recoveryTimeSeconds": RestoreTestReport.seconds(report.totalTime)], occurredAt: now(), correlationID: correlationID))
            guard problems.isEmpty else {
                details["problems"] = .array(problems.prefix(20).map { .string($0) })
                throw ReportedFailure(result: report, details: details, message: "drill '\(drill.name)' failed: " + problems.joined(separator: "; "))
            }
            return (report, details)
        }
    }
}
