import Foundation

extension RecoveryCoordinator {
    /// Rebuilds a lost cluster's platform on the cluster this coordinator reaches, from the
    /// backups its engine finds (for Velero: synced from the old cluster's storage location).
    ///
    /// 1. **Recovery points**: the cluster resources from the newest validated backup that holds
    ///    them (of ``ClusterRecoveryRequest/clusterSchedule`` when given), and each namespace from
    ///    the newest `Completed`, validated backup that holds it. The newest candidate of a
    ///    part that was never validated is validated first (an audited `backup.validate`).
    /// 2. **Preflight** (``RecoveryPreflight/check(points:objects:target:context:)``), changing
    ///    nothing: any error stops the recovery here, and so does ``ClusterRecoveryRequest/planOnly``.
    /// 3. **Restores in order**, each an audited `restore.create`: the cluster-scoped resources
    ///    (namespaces excepted), then the namespaces class by class, the tightest RTO first. A
    ///    restore that ends `PartiallyFailed` does not stop the ones after it.
    /// 4. **Verification**: every object restored, against its backup, in the engine's
    ///    comparable form. Objects the target held before are left as they were and reported.
    ///
    /// The whole is one audited operation, `cluster.recover` on `recovery/<name>`, whose outcome
    /// records the points, findings, each phase's time against its class's RTO, the
    /// verification and the total time. A recovery refused by the preflight, or one that does
    /// not pass, is recorded as a failure and still returns its report.
    ///
    /// - Parameters:
    ///   - request: What to recover; validated first.
    ///   - progress: Called with each step and each restore's status changes.
    /// - Returns: What was chosen, found, done and measured.
    /// - Throws: ``RecoveryError`` — `invalidInput` (nothing recorded); `unsupported` without a
    ///   cluster client or for an engine that cannot read its backups' objects; `notFound` for
    ///   a named cluster backup that does not exist; what the engine, storage or cluster threw.
    public func recoverCluster(
        _ request: ClusterRecoveryRequest, progress: @escaping @Sendable (ClusterRecoveryProgress) -> Void = { _ in }
    ) async throws -> ClusterRecoveryReport {
        try request.validate()
        guard let cluster else {
            throw RecoveryError(.unsupported, "a cluster recovery needs a ClusterClient: create the coordinator with `cluster:`")
        }
        return try await perform("cluster.recover", target: "recovery/\(request.name)", parameters: request.auditParameters) { correlationID, elapsed in
            var plan = try await planRecovery(request, cluster: cluster, progress: progress)
            plan.report.preflightTime = elapsed()
            if plan.report.refused || request.planOnly {
                plan.report.totalTime = elapsed()
                if plan.report.refused {
                    throw ReportedFailure(
                        result: plan.report, details: plan.report.auditDetails,
                        message: "the preflight refused recovery \(request.name): " + plan.report.problems.joined(separator: "; "))
                }
                return (plan.report, plan.report.auditDetails)
            }
            if !request.storageClassMappings.isEmpty {
                progress(.step("mapping storage classes"))
                let mappings = request.storageClassMappings
                let _: Bool = try await perform(
                    "restore.storage-class-mappings", target: "recovery/\(request.name)",
                    parameters: ["mappings": .object(mappings.mapValues { .string($0) })]
                ) { _, _ in
                    try await engine.setStorageClassMappings(mappings)
                    return (true, [:])
                }
            }
            // What the target holds already: only cluster-scoped objects and those in namespaces
            // that exist (the preflight made sure the others are free).
            let preExisting = try await existingKeys(
                of: plan.expected.filter { $0.object.namespace == nil || plan.targetNamespaces.contains($0.object.namespace ?? "") }, cluster: cluster)

            // The restores, in order.
            var report = plan.report
            for (index, phase) in plan.phases.enumerated() {
                try Task.checkCancellation()
                let restoreName = index == 0 && phase.namespaces.isEmpty ? "\(request.name)-cluster" : "\(request.name)-\(index)"
                var restoreRequest = RestoreRequest(name: restoreName, source: .backup(phase.backup))
                if phase.namespaces.isEmpty {
                    restoreRequest.includedResources = phase.clusterResources
                    restoreRequest.includeClusterResources = true
                } else {
                    restoreRequest.includedNamespaces = phase.namespaces
                    restoreRequest.namespaceMappings = request.namespaceMappings.filter { phase.namespaces.contains($0.key) }
                }
                let timer = clock.startStopwatch()
                let status = try await restoreReportingFailure(restoreRequest, timeout: request.restoreTimeout) {
                    progress(.restore(phase: phase.name, status: $0))
                }
                report.phases.append(ClusterRecoveryReport.Phase(
                    name: phase.name, namespaces: phase.namespaces, backup: phase.backup, restore: status, duration: timer(),
                    recoveredAfter: elapsed(), objective: phase.objective))
            }

            // Verification.
            progress(.step("verifying \(plan.expected.count) objects"))
            let verifyTimer = clock.startStopwatch()
            let (found, kinds) = try await currentObjectsAndKinds(of: plan.expected, cluster: cluster)
            let backupEngine = engine
            report.verification = RecoveryVerification.compare(
                expected: plan.expected, found: found, preExisting: preExisting, comparable: { backupEngine.comparableForm(of: $0, resource: $1) })
            report.verificationTime = verifyTimer()
            report.totalTime = elapsed()
            if request.removesAfterVerification {
                progress(.step("removing what the drill restored"))
                report.cleanup = await removeRecovered(plan: plan, request: request, preExisting: preExisting, kinds: kinds, cluster: cluster)
            }

            await notify(RecoveryEvent(
                kind: .restoreFinished, severity: report.passed ? .info : .critical, target: "recovery/\(request.name)",
                summary: report.passed
                    ? "cluster recovery \(request.name) passed: \(report.verification?.matched ?? 0) objects verified in \(RestoreTestReport.seconds(report.totalTime)) s"
                    : "cluster recovery \(request.name) failed: " + report.problems.joined(separator: "; "),
                details: ["recoveryTimeSeconds": RestoreTestReport.seconds(report.totalTime)], occurredAt: now(), correlationID: correlationID))
            guard report.passed else {
                throw ReportedFailure(
                    result: report, details: report.auditDetails,
                    message: "cluster recovery \(request.name) did not pass: " + report.problems.joined(separator: "; "))
            }
            return (report, report.auditDetails)
        }
    }

    /// A recovery's plan: its report so far (points, findings), its phases, and the objects it
    /// is expected to bring back, in their expected form.
    struct RecoveryPlan {
        struct Phase {
            var name: String
            var backup: String
            var namespaces: [String]
            var clusterResources: [String]
            var objective: RecoveryObjective?
        }

        var report: ClusterRecoveryReport
        var phases: [Phase]
        var expected: [BackedUpObject]
        /// The namespaces on the target before the recovery.
        var targetNamespaces: Set<String>
    }

    /// Chooses the points (validating candidates), reads their backups and runs the preflight.
    private func planRecovery(
        _ request: ClusterRecoveryRequest, cluster: any ClusterClient, progress: @Sendable (ClusterRecoveryProgress) -> Void
    ) async throws -> RecoveryPlan {
        progress(.step("choosing recovery points"))
        let backups = try await engine.listBackups()
        var validated = try await validatedBackupNames(successfulOnly: true)
        let everValidated = try await validatedBackupNames(successfulOnly: false)

        /// The newest validated backup among `candidates`, validating the newer ones never validated (at most three).
        func newestValidated(_ candidates: [BackupStatus]) async throws -> BackupStatus? {
            var attempts = 0
            for backup in candidates.filter({ $0.phase == .completed && $0.completionTimestamp != nil })
                .sorted(by: { ($0.completionTimestamp!, $0.name) > ($1.completionTimestamp!, $1.name) }) {
                if validated.contains(backup.name) { return backup }
                guard request.validatesCandidates, !everValidated.contains(backup.name), attempts < 3 else { continue }
                attempts += 1
                progress(.step("validating backup \(backup.name)"))
                if try await validateBackup(named: backup.name).isValid {
                    validated.insert(backup.name)
                    return backup
                }
            }
            return nil
        }

        // The cluster resources' backup, and from it the namespaces to recover.
        var clusterBackup: BackupStatus?
        if let name = request.clusterBackup {
            guard let named = backups.first(where: { $0.name == name }) else {
                throw RecoveryError(.notFound, "backup '\(name)' does not exist" + Self.listHint(engine))
            }
            clusterBackup = named
        } else {
            clusterBackup = try await newestValidated(backups.filter {
                $0.includesClusterResources && (request.clusterSchedule == nil || $0.scheduleName == request.clusterSchedule)
            })
        }
        var objectsByBackup: [String: [BackedUpObject]] = [:]
        func objects(of backup: String) async throws -> [BackedUpObject] {
            if let cached = objectsByBackup[backup] { return cached }
            progress(.step("reading backup \(backup)"))
            // A plan only checks: it reads the backup without what no check reads.
            let read = request.planOnly
                ? try await engine.backupObjects(named: backup, in: storage, omitting: RecoveryPreflight.unreadFields)
                : try await engine.backupObjects(named: backup, in: storage)
            objectsByBackup[backup] = read
            return read
        }
        var namespaces = request.namespaces
        if namespaces.isEmpty, let clusterBackup {
            var held: Set<String> = []
            for entry in try await objects(of: clusterBackup.name) {
                if let namespace = entry.object.namespace, !namespace.isEmpty { held.insert(namespace) }
                if entry.resource == "namespaces", let name = entry.object.name { held.insert(name) }
            }
            namespaces = held.subtracting(request.excludedNamespaces).sorted()
        }
        for namespace in namespaces {
            _ = try await newestValidated(backups.filter { $0.holds(namespace: namespace) })
        }
        var points = RecoveryPoint.select(
            backups: backups, validated: validated, namespaces: namespaces, clusterSchedule: request.clusterSchedule,
            objectives: request.objectives, now: now())
        points[0] = RecoveryPoint(
            scope: .clusterResources, backup: clusterBackup, objective: nil,
            dataLoss: clusterBackup?.completionTimestamp.map { now().timeIntervalSince($0) })

        // The objects each point restores, and the phases.
        let restoring = self.engine
        var restored: [BackedUpObject] = []
        var phases: [RecoveryPlan.Phase] = []
        if let clusterBackup {
            let part = try await objects(of: clusterBackup.name).filter { $0.object.namespace == nil && $0.resource != "namespaces" }
            restored += part
            let resources = Set(part.filter { restoring.restores($0) }.map(\.resource)).sorted()
            if !resources.isEmpty {
                phases.append(.init(name: "cluster resources", backup: clusterBackup.name, namespaces: [], clusterResources: resources))
            }
        }
        for point in points.dropFirst() {
            guard case .namespace(let namespace) = point.scope, let backup = point.backup else { continue }
            restored += try await objects(of: backup.name).filter {
                $0.object.namespace == namespace || ($0.resource == "namespaces" && $0.object.name == namespace)
            }
            let name = point.objective?.namespaceClass ?? "no objective"
            if let last = phases.last, !last.namespaces.isEmpty, last.backup == backup.name, last.name == name {
                phases[phases.count - 1].namespaces.append(namespace)
            } else {
                phases.append(.init(name: name, backup: backup.name, namespaces: [namespace], clusterResources: [], objective: point.objective))
            }
        }

        // The preflight.
        progress(.step("checking the target cluster"))
        let discovery = try await cluster.discover()
        let targetNamespaces = Set(try await cluster.list(.namespace, namespace: nil, labelSelector: nil).compactMap(\.name))
        var targetClasses: Set<String> = []
        if let kind = discovery.resource(apiVersion: "storage.k8s.io/v1", kind: "StorageClass") {
            targetClasses = Set(try await cluster.list(kind, namespace: nil, labelSelector: nil).compactMap(\.name))
        }
        let locations = Set(points.compactMap { $0.backup.map { $0.storageLocation ?? "default" } }).sorted()
        var readOnly: Bool? = locations.isEmpty ? nil : true
        var locationName = locations.first ?? "default"
        for location in locations {
            switch try await restoring.storageLocationIsReadOnly(named: location) {
            case false?:
                readOnly = false
                locationName = location
            case nil where readOnly == true:
                readOnly = nil
                locationName = location
            default:
                break
            }
        }
        let context = RecoveryPreflight.Context(
            targetNamespaces: targetNamespaces, targetStorageClasses: targetClasses,
            installedNamespaces: Set(["default"] + ClusterRecoveryRequest.defaultExcludedNamespaces + request.excludedNamespaces),
            namespaceMappings: request.namespaceMappings, storageClassMappings: request.storageClassMappings,
            locationIsReadOnly: readOnly, locationName: locationName, maximumDataLoss: request.maximumDataLoss.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }, now: now(),
            isRestorable: { restoring.restores($0) })
        var findings = RecoveryPreflight.check(points: points, objects: restored, target: discovery, context: context)
        if namespaces.isEmpty && clusterBackup != nil {
            findings.append(RecoveryPreflight.Finding(
                check: .namespaces, severity: .warning, message: "no namespace to recover: the cluster resources' backup holds none but the excluded ones",
                fix: "name the namespaces to recover"))
        }
        let expected = restored.filter { restoring.restores($0) }.map {
            RecoveryVerification.expectedForm(of: $0, namespaceMappings: request.namespaceMappings, storageClassMappings: request.storageClassMappings)
        }
        let report = ClusterRecoveryReport(
            name: request.name, points: points, findings: findings, planOnly: request.planOnly, preflightTime: .zero, phases: [],
            verification: nil, verificationTime: .zero, totalTime: .zero, recoveryTimeObjective: request.recoveryTimeObjective)
        return RecoveryPlan(report: report, phases: phases, expected: expected, targetNamespaces: targetNamespaces)
    }

    /// Runs an audited restore and returns its final status, also when it did not complete
    /// (the recovery goes on and reports it); gives up waiting after `timeout`.
    private func restoreReportingFailure(
        _ request: RestoreRequest, timeout: Duration, progress: @escaping @Sendable (RestoreStatus) -> Void
    ) async throws -> RestoreStatus {
        do {
            let coordinator = self
            return try await withTimeLimit(timeout) { try await coordinator.restore(request, wait: true, progress: progress) }
        } catch let error as RecoveryError where error.code == .restoreFailed {
            guard let status = try await engine.restoreStatus(named: request.name) else { throw error }
            return status
        } catch is TimeLimitExceeded {
            throw RecoveryError(.timeout, "restore \(request.name) did not finish within \(timeout); it may still be running", target: "restore/\(request.name)")
        }
    }

    /// `resource|namespace/name` of the expected objects that exist on the target now.
    private func existingKeys(of expected: [BackedUpObject], cluster: any ClusterClient) async throws -> Set<String> {
        var keys: Set<String> = []
        for (resource, objects) in try await currentObjects(of: expected, cluster: cluster) {
            for key in objects.keys { keys.insert("\(resource)|\(key)") }
        }
        return keys
    }

    /// A drill's cleanup: the namespaces it restored (they did not exist before: the preflight
    /// saw to it), then the cluster-scoped objects it created, custom resource definitions
    /// last; and the storage class mappings it set.
    private func removeRecovered(
        plan: RecoveryPlan, request: ClusterRecoveryRequest, preExisting: Set<String>, kinds: [String: ResourceKind], cluster: any ClusterClient
    ) async -> RestoreTestReport.Cleanup {
        var created: [ObjectReference] = []
        let clusterScoped = plan.expected.filter { $0.object.namespace == nil && $0.resource != "namespaces" }
        // Deleted in reverse: so CRDs (first here) go last, after their custom resources.
        for entry in clusterScoped.sorted(by: { ($0.resource.hasPrefix("customresourcedefinitions.") ? 0 : 1) < ($1.resource.hasPrefix("customresourcedefinitions.") ? 0 : 1) }) {
            guard let kind = kinds[entry.resource], let name = entry.object.name,
                  !preExisting.contains("\(entry.resource)|\(RecoveryVerification.key(namespace: nil, name: name))"),
                  let reference = try? ObjectReference(kind: kind, namespace: nil, name: name) else { continue }
            created.append(reference)
        }
        let namespaces = plan.phases.flatMap(\.namespaces).map { request.namespaceMappings[$0] ?? $0 }.filter { !plan.targetNamespaces.contains($0) }
        let cleanup = await removeCreated(created, namespaces: namespaces.sorted(), timeout: .seconds(60), cluster: cluster)
        if !request.storageClassMappings.isEmpty {
            do {
                try await engine.setStorageClassMappings([:])
            } catch {
                return .failed("the storage class mappings could not be removed: \(Self.describe(error))")
            }
        }
        return cleanup
    }

    /// What the target holds of each resource the expected objects belong to, by resource and
    /// `namespace/name`: one list per resource, four at a time. A resource the target does not
    /// serve is left out.
    private func currentObjects(of expected: [BackedUpObject], cluster: any ClusterClient) async throws -> [String: [String: KubernetesObject]] {
        try await currentObjectsAndKinds(of: expected, cluster: cluster).objects
    }

    /// ``currentObjects(of:cluster:)``, and the served kind of each resource.
    private func currentObjectsAndKinds(
        of expected: [BackedUpObject], cluster: any ClusterClient
    ) async throws -> (objects: [String: [String: KubernetesObject]], kinds: [String: ResourceKind]) {
        let discovery = try await cluster.discover()
        var kinds: [String: ResourceKind] = [:]
        for entry in expected where kinds[entry.resource] == nil {
            guard let apiVersion = entry.object.apiVersion, let kind = entry.object.kind,
                  let served = discovery.resource(apiVersion: apiVersion, kind: kind) else { continue }
            kinds[entry.resource] = served
        }
        let lists = try await mapConcurrently(kinds.sorted { $0.key < $1.key }, limit: 4) { resource, kind in
            (resource, try await cluster.list(kind, namespace: nil, labelSelector: nil))
        }
        var found: [String: [String: KubernetesObject]] = [:]
        for (resource, objects) in lists {
            var byKey: [String: KubernetesObject] = [:]
            for object in objects { byKey[RecoveryVerification.key(namespace: object.namespace, name: object.name)] = object }
            found[resource] = byKey
        }
        return (found, kinds)
    }
}
