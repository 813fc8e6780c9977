import Foundation

/// The guide's non-destructive restore test: a whole backup restored into scratch namespaces.
///
/// ```swift
/// let report = try await coordinator.testRestore(RestoreTestRequest(backup: "daily-20261125020000", recoveryTimeObjective: .seconds(3600)))
/// print(report.recoveryTime, report.missing.isEmpty, report.cleanup)
/// ```
public struct RestoreTestRequest: Sendable, Hashable {
    /// The backup to test; it must be `Completed`.
    public var backup: String
    /// The restore's name; by default `<backup>-test-<5 random characters>` (shortened to fit).
    public var restoreName: String?
    /// Appended to each namespace to make its scratch namespace (`<namespace>-<suffix>`);
    /// by default `rt-<5 random characters>`, so that tests never collide.
    public var scratchSuffix: String?
    /// Keep the scratch namespaces for inspection instead of deleting them.
    public var keep: Bool
    /// The recovery time objective to compare the measured recovery time with.
    public var recoveryTimeObjective: Duration?
    /// How long cleanup waits for each scratch namespace to disappear.
    public var cleanupTimeout: Duration

    /// Creates a request.
    public init(
        backup: String, restoreName: String? = nil, scratchSuffix: String? = nil, keep: Bool = false,
        recoveryTimeObjective: Duration? = nil, cleanupTimeout: Duration = .seconds(30)
    ) {
        self.backup = backup
        self.restoreName = restoreName
        self.scratchSuffix = scratchSuffix
        self.keep = keep
        self.recoveryTimeObjective = recoveryTimeObjective
        self.cleanupTimeout = cleanupTimeout
    }

    /// Checks the names and the objective.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput``.
    public func validate() throws {
        try KubernetesName.validateSubdomain(backup, what: "backup name")
        if let restoreName { try KubernetesName.validateSubdomain(restoreName, what: "restore name") }
        if let scratchSuffix {
            try KubernetesName.validateLabel(scratchSuffix, what: "scratch namespace suffix")
            if scratchSuffix.count > 40 {
                throw RecoveryError.invalidInput("scratch namespace suffix '\(scratchSuffix)' is longer than 40 characters; namespaces are limited to 63")
            }
        }
        if let recoveryTimeObjective, recoveryTimeObjective <= .zero {
            throw RecoveryError.invalidInput("the recovery time objective must be positive, not \(recoveryTimeObjective)")
        }
    }
}

/// What a restore test found.
public struct RestoreTestReport: Sendable, Hashable {
    /// What happened to the scratch namespaces afterwards.
    public enum Cleanup: Sendable, Hashable, CustomStringConvertible {
        /// Kept, as asked (`--keep`).
        case kept
        /// Deleted, and gone.
        case deleted
        /// Deletion was requested; these namespaces were still terminating when cleanup stopped
        /// waiting (their finalizer is run by the cluster's namespace controller).
        case pending([String])
        /// Cleanup failed; the scratch namespaces may still exist.
        case failed(String)

        public var description: String {
            switch self {
            case .kept: "kept"
            case .deleted: "deleted"
            case .pending(let namespaces): "deletion requested, still terminating: \(namespaces.joined(separator: ", "))"
            case .failed(let reason): "failed: \(reason)"
            }
        }
    }

    /// The backup tested.
    public var backup: String
    /// The restore's final status.
    public var restore: RestoreStatus
    /// Each namespace of the backup → its scratch namespace.
    public var namespaceMappings: [String: String]
    /// Objects in the backup's resource list that were expected in the scratch namespaces.
    public var expected: Int
    /// Expected objects that were not found after the restore.
    public var missing: [BackupItem]
    /// From asking for the restore to seeing it finished: the measured recovery time.
    public var recoveryTime: Duration
    /// The objective compared with, if any.
    public var recoveryTimeObjective: Duration?
    /// What happened to the scratch namespaces.
    public var cleanup: Cleanup

    /// Creates a report.
    public init(
        backup: String, restore: RestoreStatus, namespaceMappings: [String: String], expected: Int, missing: [BackupItem],
        recoveryTime: Duration, recoveryTimeObjective: Duration?, cleanup: Cleanup
    ) {
        self.backup = backup
        self.restore = restore
        self.namespaceMappings = namespaceMappings
        self.expected = expected
        self.missing = missing
        self.recoveryTime = recoveryTime
        self.recoveryTimeObjective = recoveryTimeObjective
        self.cleanup = cleanup
    }

    /// Whether the measured recovery time is within the objective (`nil` without one).
    public var objectiveMet: Bool? { recoveryTimeObjective.map { recoveryTime <= $0 } }

    /// Whether the restore completed, every object came back, and the objective (if any) was met.
    public var passed: Bool { restore.phase.isSuccess && missing.isEmpty && objectiveMet != false }

    /// Why the test failed, in words; empty when it passed.
    public var problems: [String] {
        var problems: [String] = []
        if !restore.phase.isSuccess { problems.append("the restore finished \(restore.phase) with \(restore.errors) errors") }
        if !missing.isEmpty {
            problems.append("\(missing.count) of \(expected) objects were not restored: " + missing.prefix(10).map(\.description).joined(separator: ", ") + (missing.count > 10 ? ", …" : ""))
        }
        if let objective = recoveryTimeObjective, recoveryTime > objective {
            problems.append("the recovery took \(Self.seconds(recoveryTime)) s, more than the objective of \(Self.seconds(objective)) s")
        }
        return problems
    }

    var auditDetails: JSONValue {
        var details: [String: JSONValue] = [
            "backup": .string(backup), "restore": .string(restore.name), "phase": .string(restore.phase.rawValue),
            "namespaceMappings": .object(namespaceMappings.mapValues { .string($0) }),
            "expected": .integer(Int64(expected)), "missing": .integer(Int64(missing.count)),
            "recoveryTimeSeconds": .string(Self.seconds(recoveryTime)), "cleanup": .string(cleanup.description),
        ]
        if !missing.isEmpty { details["missingItems"] = .array(missing.prefix(50).map { .string($0.description) }) }
        if let objective = recoveryTimeObjective {
            details["recoveryTimeObjectiveSeconds"] = .string(Self.seconds(objective))
            details["objectiveMet"] = .bool(recoveryTime <= objective)
        }
        return .object(details)
    }

    /// Seconds with millisecond precision, e.g. `2.431`.
    public static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f", Double(duration.wholeMilliseconds) / 1000)
    }
}

extension RecoveryCoordinator {
    /// Runs the guide's non-destructive restore test and records the measured recovery time.
    ///
    /// Every namespace in the backup's resource list is mapped to a scratch namespace
    /// (`<namespace>-<suffix>`); production namespaces are never written. The coordinator
    /// restores, waits, checks that each object of the resource list that Velero restores
    /// (``BackupEngine/restores(_:)``) exists in its scratch namespace, and — unless ``RestoreTestRequest/keep`` — deletes what the restore created and
    /// the scratch namespaces. The outcome (`restore.test`, target `backup/<name>`) records the
    /// recovery time, the objective and whether it was met, the counts and the cleanup.
    ///
    /// A test that does not pass is recorded as a failure and still returns its report.
    ///
    /// - Parameters:
    ///   - request: The backup and options; validated first.
    ///   - progress: Called with each status change of the restore.
    /// - Returns: What the test found.
    /// - Throws: ``RecoveryError`` — `invalidInput` (nothing recorded); `unsupported` without a
    ///   cluster client; `notFound` for a missing backup; `conflict` when a scratch namespace
    ///   exists already; `validationFailed` when the backup is not `Completed`.
    public func testRestore(
        _ request: RestoreTestRequest, progress: @escaping @Sendable (RestoreStatus) -> Void = { _ in }
    ) async throws -> RestoreTestReport {
        try request.validate()
        guard let cluster else {
            throw RecoveryError(.unsupported, "a restore test needs a ClusterClient: create the coordinator with `cluster:`")
        }
        let random = String((0..<5).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
        let suffix = request.scratchSuffix ?? "rt-\(random)"
        let restoreName = request.restoreName ?? "\(request.backup.prefix(240))-test-\(random)"
        var parameters: [String: JSONValue] = ["restore": .string(restoreName), "scratchSuffix": .string(suffix), "keep": .bool(request.keep)]
        if let objective = request.recoveryTimeObjective { parameters["recoveryTimeObjectiveSeconds"] = .string(RestoreTestReport.seconds(objective)) }
        let target = "backup/\(request.backup)"
        return try await perform("restore.test", target: target, parameters: .object(parameters)) { correlationID, _ in
            guard let status = try await engine.backupStatus(named: request.backup) else {
                throw RecoveryError(.notFound, "backup '\(request.backup)' does not exist; check the name against the engine's backups (`carbon-recovery backup list`)")
            }
            guard status.phase.isSuccess else {
                throw RecoveryError(.validationFailed, "backup '\(request.backup)' is \(status.phase), not Completed; a restore test needs a completed backup")
            }
            let items = try await engine.backupItems(named: request.backup, in: storage)
            var sourceNamespaces = Set(items.compactMap(\.namespace))
            for item in items where item.namespace == nil && item.kind == "Namespace" { sourceNamespaces.insert(item.name) }
            guard !sourceNamespaces.isEmpty else {
                throw RecoveryError(.validationFailed, "backup '\(request.backup)' holds no namespaced objects, so there is nothing to restore into a scratch namespace")
            }
            var mappings: [String: String] = [:]
            for namespace in sourceNamespaces.sorted() {
                let scratch = "\(namespace.prefix(62 - suffix.count))-\(suffix)"
                try KubernetesName.validateLabel(scratch, what: "scratch namespace")
                if try await cluster.get(try ObjectReference(kind: .namespace, namespace: nil, name: scratch)) != nil {
                    throw RecoveryError(.conflict, "scratch namespace '\(scratch)' exists already (a kept restore test?); delete it or choose another suffix")
                }
                mappings[namespace] = scratch
            }

            let timer = clock.startStopwatch()
            _ = try await engine.startRestore(RestoreRequest(
                name: restoreName, source: .backup(request.backup), includedNamespaces: sourceNamespaces.sorted(), namespaceMappings: mappings))
            let restored = try await engine.waitForRestore(named: restoreName, progress: progress)
            let recoveryTime = timer()

            // Every object of the resource list, in its scratch namespace.
            var expected: [(item: BackupItem, reference: ObjectReference)] = []
            for item in items where engine.restores(item) {
                if let namespace = item.namespace, let scratch = mappings[namespace] {
                    expected.append((item, try ObjectReference(kind: item.resourceKind, namespace: scratch, name: item.name)))
                } else if item.namespace == nil, item.kind == "Namespace", let scratch = mappings[item.name] {
                    expected.append((item, try ObjectReference(kind: .namespace, namespace: nil, name: scratch)))
                }
            }
            var missing: [BackupItem] = []
            var found: [ObjectReference] = []
            for (item, reference) in expected {
                do {
                    if try await cluster.get(reference) != nil { found.append(reference) } else { missing.append(item) }
                } catch let error as RecoveryError where error.code == .notFound {
                    missing.append(item)   // a kind this cluster does not serve
                }
            }

            let cleanup: RestoreTestReport.Cleanup =
                request.keep
                ? .kept
                : await removeCreated(found, namespaces: mappings.values.sorted(), timeout: request.cleanupTimeout, cluster: cluster)
            let report = RestoreTestReport(
                backup: request.backup, restore: restored, namespaceMappings: mappings, expected: expected.count, missing: missing.sorted(),
                recoveryTime: recoveryTime, recoveryTimeObjective: request.recoveryTimeObjective, cleanup: cleanup)
            await notify(RecoveryEvent(
                kind: .drillResult, severity: report.passed ? .info : .critical, target: target,
                summary: report.passed
                    ? "restore test of '\(request.backup)' passed: \(expected.count) objects back in \(RestoreTestReport.seconds(recoveryTime)) s"
                    : "restore test of '\(request.backup)' failed: " + report.problems.joined(separator: "; "),
                details: ["restore": restoreName, "recoveryTimeSeconds": RestoreTestReport.seconds(recoveryTime)],
                occurredAt: now(), correlationID: correlationID))
            guard report.passed else {
                throw ReportedFailure(
                    result: report, details: report.auditDetails,
                    message: "restore test of '\(request.backup)' failed: " + report.problems.joined(separator: "; "))
            }
            return (report, report.auditDetails)
        }
    }

    /// Deletes what a restore test or a recovery drill created — objects first, last created
    /// first, so that nothing depends on a namespace controller, then the namespaces — and
    /// waits for the namespaces to go.
    func removeCreated(
        _ objects: [ObjectReference], namespaces: [String], timeout: Duration, cluster: any ClusterClient
    ) async -> RestoreTestReport.Cleanup {
        do {
            // Objects inside a namespace that goes anyway go with it: one deletion each for the
            // cluster-scoped ones only, so an account that may delete namespaces needs no more.
            let going = Set(namespaces)
            for reference in objects.reversed() where reference.kind != .namespace && !(reference.namespace.map(going.contains) ?? false) {
                try await cluster.delete(reference, ignoreNotFound: true)
            }
            var pending: [String] = []
            for namespace in namespaces {
                let reference = try ObjectReference(kind: .namespace, namespace: nil, name: namespace)
                let events = cluster.watch(reference)
                try await cluster.delete(reference, ignoreNotFound: true)
                let gone: Bool
                do {
                    gone = try await withTimeLimit(timeout) {
                        for try await event in events where event.kind == .deleted { return true }
                        return false
                    }
                } catch is TimeLimitExceeded {
                    gone = try await cluster.get(reference) == nil
                }
                if !gone { pending.append(namespace) }
            }
            return pending.isEmpty ? .deleted : .pending(pending)
        } catch {
            logger.warning("cleanup after a restore test or drill failed", metadata: ["error": "\(error)"])
            return .failed(Self.describe(error))
        }
    }
}
