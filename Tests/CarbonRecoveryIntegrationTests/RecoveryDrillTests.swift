// The guide's quarterly full recovery test and annual exercise, on real parts: a production
// cluster with the platform and its backup, and a DR cluster (the sandbox's second cluster,
// running alongside) whose Velero reads the same bucket read-only. Each drill recovers there,
// verifies every object, removes what it restored and records its RTO and RPO in a real SQLite
// audit trail; production is never touched, and a DR cluster that is production is refused.
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryScheduler
import CarbonRecoveryVelero
import Foundation
import Testing
import TestSupport

extension PrivateSandboxTests {
    @Suite("Recovery drills into a DR cluster: quarterly and annual, verified, removed, audited", .serialized, .timeLimit(.minutes(20)))
    struct RecoveryDrillTests {
        func namespaces(_ cluster: KubectlClusterClient) async throws -> Set<String> {
            Set(try await cluster.list(.namespace, namespace: nil, labelSelector: nil).compactMap(\.name))
        }

        /// An outcome's details (the entry's `parameters` member holds them for outcomes).
        func recordedDetails(_ entry: AuditEntry) throws -> JSONValue { try JSONValue(parsing: Array(entry.parameters.utf8)) }

        static let crd = ResourceKind(
            apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", resource: "customresourcedefinitions.apiextensions.k8s.io", isNamespaced: false)

        @Test("the quarterly drill through the scheduler's task, then the annual exercise; each leaves the DR cluster as it found it")
        func drills() async throws {
            let sandbox = try await PrivateSandbox()
            let first = try await sandbox.environment()
            let production = try client(first)
            let storage = try storage(first)

            // The nightly schedule's backup (labelled as Velero's `backup create --from-schedule` labels it).
            var backup = KubernetesObject(kind: .veleroBackup, namespace: "velero", name: "nightly-20261204010000", labels: [VeleroObjects.scheduleNameLabel: "nightly"])
            backup.json["spec"] = [:]
            _ = try await production.create(backup, fieldManager: "carbon-recovery-tests")
            _ = try await eventually(within: .seconds(90), "the nightly backup Completed") {
                try await production.get(try ObjectReference(kind: .veleroBackup, namespace: "velero", name: "nightly-20261204010000"))?.status?["phase"]?.stringValue == "Completed" ? true : nil
            }
            let productionBefore = try await namespaces(production)

            // The DR cluster, beside production: Velero only, the location read-only; it syncs the backup.
            try await sandbox.script("up", "--recovery-cluster", timeout: .seconds(180))
            let second = try await sandbox.environment(recoveryCluster: true)
            let dr = try client(second)
            _ = try await eventually(within: .seconds(60), "the backup synced to the DR cluster") {
                try await dr.get(try ObjectReference(kind: .veleroBackup, namespace: "velero", name: "nightly-20261204010000")) != nil ? true : nil
            }
            let drBefore = try await namespaces(dr)

            let directory = try TemporaryDirectory()
            let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"))
            let coordinator = RecoveryCoordinator(engine: VeleroBackupEngine(cluster: production, storage: storage), storage: storage, audit: trail, cluster: production)
            let productionIdentity = try await production.identity()
            let kubeconfig = try #require(second["CARBON_RECOVERY_KUBECONFIG"])
            let drReference = DrillPolicy.DRCluster(context: "sandbox-admin", kubeconfig: kubeconfig)
            let factory: RecoveryTasks.DRCoordinatorFactory = { reference in
                let cluster = try KubectlClusterClient(configuration: .init(
                    kubeconfig: reference.kubeconfig, context: reference.context, cacheDirectory: second["CARBON_RECOVERY_KUBECTL_CACHE_DIR"], requestTimeout: testKubectlTimeout))
                return RecoveryCoordinator(engine: VeleroBackupEngine(cluster: cluster, storage: storage), storage: storage, audit: trail, cluster: cluster)
            }
            let objectives = [RecoveryObjective(namespaceClass: "critical", namespaces: ["data-platform", "vault-prod"], rto: .hours(1), rpo: .hours(24))]
            let quarterly = DrillPolicy(name: "quarterly", cron: try CronSchedule(parsing: "0 5 1 */3 *"), kind: .fullRecovery, schedule: "nightly", drCluster: drReference)
            let annual = DrillPolicy(name: "annual", cron: try CronSchedule(parsing: "0 6 1 1 *"), kind: .annualExercise, schedule: "nightly", drCluster: drReference)
            var policy = RecoveryPolicy(
                storage: StoragePolicy(endpoint: first["CARBON_RECOVERY_S3_ENDPOINT"]!, bucket: first["CARBON_RECOVERY_S3_BUCKET"]!, credentials: .file(path: "/dev/null", profile: "default")),
                objectives: objectives, drills: [quarterly, annual])
            policy.automation = AutomationPolicy(validate: nil, rpoCheck: nil, cleanup: nil)

            // Quarterly, as `carbon-recovery run` runs it: the critical namespaces and the cluster resources.
            let tasks = RecoveryTasks.standard(for: policy, coordinator: coordinator, productionIdentity: productionIdentity, drCoordinator: factory)
            let task = try #require(tasks.first { $0.name == "drill/quarterly" })
            let details = try await task.action(RecoveryTask.Run(scheduledFor: Date()))
            #expect(Double(details["recoveryTimeSeconds"]?.stringValue ?? "") ?? 0 > 0, "\(details)")
            #expect((details["achievedRPOSeconds"]?.integerValue ?? -1) >= 0)
            #expect(details["cleanup"] == "deleted", "\(details)")
            #expect(try await namespaces(dr) == drBefore, "the drill removed the namespaces it restored")
            _ = try await eventually(within: .seconds(60), "the drill's CRD gone from the DR cluster") {
                try await dr.get(try ObjectReference(kind: Self.crd, namespace: nil, name: "pipelines.platform.254carbon.dev")) == nil ? true : nil
            }
            let quarterlyRecovery = try #require(try await trail.entries(matching: AuditQuery(operation: "cluster.recover", kind: .outcome, limit: 10)).entries.last)
            let restored = try #require(try recordedDetails(quarterlyRecovery)["points"]?.arrayValue).compactMap { $0["scope"]?.stringValue }
            #expect(restored == ["cluster resources", "namespace data-platform", "namespace vault-prod"], "only the objectives' namespaces")

            // Annual: every backup validated, every RPO checked, every namespace.
            let report = try await factory(drReference).runRecoveryDrill(annual, objectives: objectives, recovery: policy.recovery, production: productionIdentity)
            #expect(report.passed, "\(report.problems)")
            #expect(report.points.count == 6, "cluster resources and every namespace but the new cluster's own and Velero's: \(report.points.map(\.scope))")
            #expect(report.cleanup == .deleted)
            #expect(try await namespaces(dr) == drBefore)
            let drills = try await trail.entries(matching: AuditQuery(operation: "drill.run", kind: .outcome, limit: 10)).entries
            #expect(drills.map(\.target) == ["drill/quarterly", "drill/annual"] && drills.allSatisfy { $0.outcome == .success })
            for entry in drills {
                let recorded = try recordedDetails(entry)
                #expect(recorded["recoveryTimeSeconds"] != nil && recorded["achievedRPOSeconds"] != nil, "RTO and RPO recorded: \(recorded)")
            }
            #expect(try recordedDetails(try #require(drills.last))["validated"] == 0, "the quarterly drill's recovery validated the backup already")
            #expect(try await trail.entries(matching: AuditQuery(operation: "rpo.check", kind: .outcome, limit: 10)).entries.count == 1)

            // Production is never the DR cluster, and was never touched.
            let refused = await #expect(throws: RecoveryError.self) {
                try await coordinator.runRecoveryDrill(quarterly, objectives: objectives, production: productionIdentity)
            }
            #expect(refused?.code == .conflict && refused?.message.contains("is the production cluster") == true)
            #expect(try await namespaces(production) == productionBefore)
            #expect(try await production.list(.veleroRestore, namespace: "velero", labelSelector: nil).isEmpty)
            #expect(try await trail.verify().isValid)
            try await sandbox.script("down")
        }
    }
}
