// The guide's third disaster, on real parts: a first cluster with the platform (workloads, a
// CRD with custom resources, cluster roles, storage and priority classes, pods) is backed up
// by the stand-in, then lost — its API server and etcd stopped and etcd's data deleted —
// while its storage stays. A second, empty cluster with its own stand-in finds the backups
// through backup sync (its location is read-only), refuses to write to them, and restores
// the platform; every object of the first cluster comes back equal after the normalization
// Velero's restore applies. It runs in a sandbox of its own, since it destroys a cluster.
import CarbonRecovery
import CarbonRecoveryCompression
import CarbonRecoveryAudit
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryVelero
import CarbonRecoveryVeleroStandIn
import Foundation
import Testing
import TestSupport

extension PrivateSandboxTests {
    @Suite("Full cluster loss: the platform rebuilt on a second cluster from the first one's backups", .serialized, .timeLimit(.minutes(20)))
    struct FullClusterLossTests {
        /// Every object a restore could bring back, normalized, by `resource|namespace/name`.
        func export(_ cluster: KubectlClusterClient) async throws -> [String: KubernetesObject] {
            var objects: [String: KubernetesObject] = [:]
            for kind in try await cluster.discover().preferredListable where !VeleroRestoreRules.nonRestorableResources.contains(kind.resource) {
                for object in try await cluster.list(kind, namespace: nil, labelSelector: nil) where VeleroRestoreRules.skipReason(object, resource: kind.resource) == nil {
                    objects["\(kind.resource)|\(object.namespace ?? "")/\(object.name ?? "")"] = VeleroRestoreRules.normalizedForComparison(object, resource: kind.resource)
                }
            }
            return objects
        }

        func create(_ cluster: KubectlClusterClient, _ kind: ResourceKind, _ name: String, spec: JSONValue) async throws {
            var object = KubernetesObject(kind: kind, namespace: "velero", name: name)
            object.json["spec"] = spec
            _ = try await cluster.create(object, fieldManager: "carbon-recovery-tests")
        }

        func phase(_ cluster: KubectlClusterClient, _ kind: ResourceKind, _ name: String, in phases: Set<String>, within timeout: Duration = .seconds(90)) async throws -> KubernetesObject {
            try await eventually(within: timeout, "\(kind.kind) \(name) reaching \(phases.sorted())") {
                let object = try await cluster.get(try ObjectReference(kind: kind, namespace: "velero", name: name))
                return phases.contains(object?.status?["phase"]?.stringValue ?? "") ? object : nil
            }
        }

        func tarballPaths(_ storage: MinIOStorageBackend, _ backup: String) async throws -> (version: String, paths: Set<String>) {
            let bytes = try #require(try await storage.get("backups/\(backup)/\(backup).tar.gz"))
            let entries = try Tar.read(try Gzip.decompress(bytes))
            let version = String(decoding: try #require(entries.first { $0.path == "metadata/version" }).data, as: UTF8.self)
            return (version, Set(entries.map(\.path)))
        }

        @Test("back up, lose the first cluster, keep its storage; the second cluster syncs, refuses to write, restores, and every object matches")
        func rebuild() async throws {
            let sandbox = try await PrivateSandbox()
            let first = try await sandbox.environment()
            let source = try client(first)
            let storage = try storage(first)
            let sourceVersion = try await source.discover().version

            // A full backup (every namespace, cluster resources by default) and a namespace backup.
            try await create(source, .veleroBackup, "platform-full", spec: [:])
            try await create(source, .veleroBackup, "data-platform-only", spec: ["includedNamespaces": ["data-platform"]])
            // Custom resources without their CRD: what a recovery must refuse to restore alone.
            try await create(source, .veleroBackup, "data-platform-no-crds", spec: ["includedNamespaces": ["data-platform"], "includeClusterResources": false])
            let full = try await phase(source, .veleroBackup, "platform-full", in: ["Completed", "PartiallyFailed", "Failed", "FailedValidation"])
            #expect(full.status?["phase"]?.stringValue == "Completed")
            #expect(VeleroRestoreRules.sourceClusterVersion(of: full) == sourceVersion)
            #expect(full.labels["velero.io/storage-location"] == "default")
            _ = try await phase(source, .veleroBackup, "data-platform-only", in: ["Completed"])
            _ = try await phase(source, .veleroBackup, "data-platform-no-crds", in: ["Completed"])

            let (version, paths) = try await tarballPaths(storage, "platform-full")
            #expect(version == "1.1.0\n", "Velero's BackupFormatVersion")
            for expected in [
                "resources/pods/namespaces/data-platform/postgresql-0.json",
                "resources/pods/v1-preferredversion/namespaces/data-platform/postgresql-0.json",
                "resources/pipelines.platform.254carbon.dev/namespaces/data-platform/market-ticks.json",
                "resources/customresourcedefinitions.apiextensions.k8s.io/cluster/pipelines.platform.254carbon.dev.json",
                "resources/clusterroles.rbac.authorization.k8s.io/cluster/254carbon-platform-reader.json",
                "resources/storageclasses.storage.k8s.io/cluster/fast-ssd.json",
                "resources/priorityclasses.scheduling.k8s.io/cluster/platform-critical.json",
                "resources/namespaces/cluster/data-platform.json",
            ] {
                #expect(paths.contains(expected), "\(expected) in the full backup")
            }
            // Only some namespaces, includeClusterResources unset: namespaced objects, their
            // namespaces and the CRDs of their custom resources — no other cluster-scoped object.
            let (_, partial) = try await tarballPaths(storage, "data-platform-only")
            #expect(partial.contains("resources/customresourcedefinitions.apiextensions.k8s.io/cluster/pipelines.platform.254carbon.dev.json"))
            #expect(partial.contains("resources/pipelines.platform.254carbon.dev/namespaces/data-platform/market-ticks.json"))
            #expect(!partial.contains { $0.hasPrefix("resources/clusterroles.") || $0.hasPrefix("resources/storageclasses.") })
            #expect(!partial.contains { $0.contains("/namespaces/monitoring/") })

            let before = try await export(source)
            #expect(before.keys.contains("pipelines.platform.254carbon.dev|data-platform/weather-feeds"))

            // One that expires a minute from now, just before the loss: the new cluster must not collect it.
            try await create(source, .veleroBackup, "short-lived", spec: ["includedNamespaces": ["registry"], "ttl": "1m0s"])
            _ = try await phase(source, .veleroBackup, "short-lived", in: ["Completed"])

            // The first cluster is lost; its storage is kept.
            try await sandbox.script("down", "--keep-storage")
            await #expect(throws: RecoveryError.self) { _ = try await source.list(.namespace, namespace: nil, labelSelector: nil) }
            let storedKeys = try await storage.usage(prefix: "backups/").objects
            #expect(storedKeys >= 16)

            // The second cluster: empty but for Velero, which finds the backups by itself.
            try await sandbox.script("up", "--recovery-cluster", timeout: .seconds(180))
            let second = try await sandbox.environment(recoveryCluster: true)
            let target = try client(second)
            let untouched = Set(try await export(target).keys)
            #expect(!untouched.contains { $0.hasPrefix("namespaces|/data-platform") }, "nothing of the platform on the new cluster")
            let synced = try await phase(target, .veleroBackup, "platform-full", in: ["Completed"], within: .seconds(30))
            #expect(VeleroRestoreRules.sourceClusterVersion(of: synced) == sourceVersion)
            #expect(synced.labels["velero.io/storage-location"] == "default")
            let location = try #require(try await target.get(try ObjectReference(kind: .veleroBackupStorageLocation, namespace: "velero", name: "default")))
            #expect(location.spec?["accessMode"]?.stringValue == "ReadOnly")

            // A read-only location is never written to or deleted from.
            try await create(target, .veleroBackup, "written-by-mistake", spec: [:])
            let refused = try await phase(target, .veleroBackup, "written-by-mistake", in: ["FailedValidation", "Completed"])
            #expect(refused.status?["phase"]?.stringValue == "FailedValidation")
            #expect(refused.status?["validationErrors"]?.arrayValue?.first?.stringValue?.contains("read-only mode") == true)
            try await create(target, .veleroDeleteBackupRequest, "delete-by-mistake", spec: ["backupName": "platform-full"])
            let deletion = try await phase(target, .veleroDeleteBackupRequest, "delete-by-mistake", in: ["Processed"])
            #expect(deletion.status?["errors"]?.arrayValue?.first?.stringValue?.contains("read-only mode") == true)
            #expect(try await storage.usage(prefix: "backups/").objects == storedKeys, "nothing written or deleted under backups/")
            #expect(try await target.get(try ObjectReference(kind: .veleroBackup, namespace: "velero", name: "platform-full")) != nil)
            // Expired, on a read-only location: labelled instead of collected, its data kept.
            let expired = try await eventually(within: .seconds(150), "the expired backup labelled velero.io/gc-failure") {
                let backup = try await target.get(try ObjectReference(kind: .veleroBackup, namespace: "velero", name: "short-lived"))
                return backup?.labels["velero.io/gc-failure"] == "BSLReadOnly" ? backup : nil
            }
            #expect(expired.status?["phase"]?.stringValue == "Completed")
            #expect(try await target.list(.veleroDeleteBackupRequest, namespace: "velero", labelSelector: nil).allSatisfy { $0.spec?["backupName"]?.stringValue != "short-lived" })
            #expect(try await storage.head("backups/short-lived/velero-backup.json") != nil)
            #expect(try await storage.usage(prefix: "backups/").objects == storedKeys)

            // `recover cluster`, through the coordinator, audited in a real SQLite trail.
            let directory = try TemporaryDirectory()
            let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"))
            let targetStorage = try CarbonRecoveryIntegrationTests.storage(second)
            let engine = VeleroBackupEngine(cluster: target, storage: targetStorage)
            let coordinator = RecoveryCoordinator(engine: engine, storage: targetStorage, audit: trail, cluster: target)
            let objectives = [
                RecoveryObjective(namespaceClass: "critical", namespaces: ["data-platform", "vault-prod"], rto: .hours(1), rpo: .hours(1)),
                RecoveryObjective(namespaceClass: "standard", namespaces: ["monitoring"], rto: .hours(4), rpo: .hours(24)),
            ]
            func plan(_ name: String, _ change: (inout ClusterRecoveryRequest) -> Void = { _ in }) async throws -> ClusterRecoveryReport {
                var request = ClusterRecoveryRequest(name: name, objectives: objectives, planOnly: true)
                change(&request)
                return try await coordinator.recoverCluster(request)
            }
            func errors(_ report: ClusterRecoveryReport, _ check: RecoveryPreflight.Finding.Check) -> [RecoveryPreflight.Finding] {
                report.findings.filter { $0.severity == .error && $0.check == check }
            }

            // The plan: every part from a validated backup (validated on the way), nothing changed.
            let planned = try await plan("plan-1")
            #expect(planned.passed, "\(planned.problems)")
            #expect(planned.points.first?.scope == .clusterResources && planned.points.first?.backup?.name == "platform-full")
            #expect(planned.points.dropFirst().map(\.scope.description) == [
                "namespace data-platform", "namespace vault-prod", "namespace monitoring", "namespace default", "namespace registry",
            ], "critical first, then standard, then the rest by name; kube-system and velero left to the new cluster")
            #expect(planned.points.first { $0.scope == .namespace("registry") }?.backup?.name == "platform-full", "the expired short-lived backup fails validation")
            #expect(planned.points.allSatisfy { $0.dataLoss != nil && $0.backup != nil })
            #expect(try await target.list(.veleroRestore, namespace: "velero", labelSelector: nil).isEmpty, "a plan restores nothing")

            // Each refusal: an error with its fix, nothing restored, a failure in the trail.
            _ = try await target.create(KubernetesObject(kind: .namespace, namespace: nil, name: "monitoring"), fieldManager: "carbon-recovery-tests")
            let occupied = try await plan("refused-occupied")
            #expect(errors(occupied, .namespaces).map(\.message).contains { $0.contains("namespace monitoring already exists") })
            try await target.delete(try ObjectReference(kind: .namespace, namespace: nil, name: "monitoring"), ignoreNotFound: false)
            _ = try await eventually(within: .seconds(60), "namespace monitoring gone") {
                try await target.get(try ObjectReference(kind: .namespace, namespace: nil, name: "monitoring")) == nil ? true : nil
            }
            let noClass = try await plan("refused-class") { $0.storageClassMappings = ["fast-ssd": "premium"] }
            #expect(errors(noClass, .storageClasses).first?.message.contains("storage class premium (mapped from fast-ssd)") == true)
            #expect(errors(noClass, .storageClasses).first?.fix.contains("create storage class premium on the target") == true, "the new cluster has no class to map to yet")
            let tooOld = try await plan("refused-old") { $0.maximumDataLoss = .seconds(1) }
            #expect(errors(tooOld, .backup).count == tooOld.points.count, "every part's backup is older than a second")
            let noCRD = try await plan("refused-crd") {
                $0.clusterBackup = "data-platform-no-crds"
                $0.namespaces = ["data-platform"]
            }
            #expect(errors(noCRD, .apiVersions).first?.message.contains("platform.254carbon.dev/v1 Pipeline") == true, "\(noCRD.findings)")
            let annotated = try ObjectReference(kind: .veleroBackup, namespace: "velero", name: "data-platform-no-crds")
            var newer = try #require(try await target.get(annotated))
            let originalAnnotations = newer.json[path: ["metadata", "annotations"]]
            for (key, value) in VeleroRestoreRules.sourceClusterAnnotations(KubernetesVersion(gitVersion: "v1.99.0", major: 1, minor: 99)) {
                newer.json["metadata"]?["annotations"]?[key] = .string(value)
            }
            newer.json["metadata"]?["managedFields"] = nil
            newer.json["metadata"]?["resourceVersion"] = nil
            newer.json["status"] = nil
            _ = try await target.forceApply(newer, fieldManager: "carbon-recovery-tests")
            let tooNew = try await plan("refused-version") {
                $0.clusterBackup = "data-platform-no-crds"
                $0.namespaces = ["data-platform"]
            }
            #expect(errors(tooNew, .kubernetesVersion).first?.message.contains("v1.99.0") == true, "\(tooNew.findings)")
            newer.json["metadata"]?["annotations"] = originalAnnotations
            _ = try await target.forceApply(newer, fieldManager: "carbon-recovery-tests")
            for report in [occupied, noClass, tooOld, noCRD, tooNew] { #expect(report.refused && report.phases.isEmpty && report.verification == nil) }
            #expect(try await target.list(.veleroRestore, namespace: "velero", labelSelector: nil).isEmpty, "a refused recovery restores nothing")
            let outcomes = try await trail.entries(matching: AuditQuery(operation: "cluster.recover", kind: .outcome, limit: 50)).entries
            #expect(outcomes.filter { $0.outcome == .failure }.count == 5 && outcomes.filter { $0.outcome == .success }.count == 1)

            // The recovery: cluster resources, then critical, standard and the rest; fast-ssd mapped
            // to a class the new cluster has.
            var standard = KubernetesObject(kind: ResourceKind(apiVersion: "storage.k8s.io/v1", kind: "StorageClass", resource: "storageclasses.storage.k8s.io", isNamespaced: false), namespace: nil, name: "standard")
            standard.json["provisioner"] = "kubernetes.io/no-provisioner"
            _ = try await target.create(standard, fieldManager: "carbon-recovery-tests")
            let untouchedBeforeRecovery = Set(try await export(target).keys)
            var request = ClusterRecoveryRequest(name: "rebuild", objectives: objectives, recoveryTimeObjective: .seconds(3600))
            request.storageClassMappings = ["fast-ssd": "standard"]
            let report = try await coordinator.recoverCluster(request)
            #expect(report.passed, "\(report.problems)")
            // One restore per class and backup: the critical namespaces may come from two backups
            // (data-platform's newest validated one can be a namespace backup that finished last).
            let classes = report.phases.map(\.name).reduce(into: [String]()) { if $0.last != $1 { $0.append($1) } }
            #expect(classes == ["cluster resources", "critical", "standard", "no objective"], "\(report.phases.map(\.name))")
            #expect(report.phases.map(\.restore.name) == ["rebuild-cluster"] + (1..<report.phases.count).map { "rebuild-\($0)" })
            #expect(report.phases.filter { $0.name == "critical" }.flatMap(\.namespaces).sorted() == ["data-platform", "vault-prod"])
            #expect(report.phases.allSatisfy { $0.restore.phase == .completed })
            #expect(report.phases.compactMap(\.objectiveMet) == Array(repeating: true, count: report.phases.filter { $0.objective != nil }.count))
            let verification = try #require(report.verification)
            #expect(verification.passed && verification.expected > 150 && verification.matched + verification.keptAsFound.count == verification.expected)
            #expect(report.totalTime >= report.phases.map(\.duration).reduce(.zero, +))
            #expect(report.objectiveMet == true)
            let restoreOutcomes = try await trail.entries(matching: AuditQuery(operation: "restore.create", kind: .outcome, limit: 50)).entries
            #expect(Set(restoreOutcomes.map(\.target)) == Set(report.phases.map { "restore/\($0.restore.name)" }))
            #expect(restoreOutcomes.allSatisfy { $0.outcome == .success })
            let claim = try #require(try await target.get(try ObjectReference(kind: ResourceKind(apiVersion: "v1", kind: "PersistentVolumeClaim", resource: "persistentvolumeclaims"), namespace: "data-platform", name: "pipeline-cache")))
            #expect(claim.spec?["storageClassName"]?.stringValue == "standard", "Velero's change-storage-class action")
            #expect(try await trail.verify().isValid)

            // Every object of the first cluster in the recovered namespaces and every cluster-scoped
            // one is on the second, equal after the normalization Velero's restore applies.
            let recovered = Set(report.points.compactMap { if case .namespace(let name) = $0.scope { name } else { nil } })
            let after = try await export(target)
            var missing: [String] = [], different: [String] = []
            for (key, object) in before {
                let namespace = object.namespace ?? (object.kind == "Namespace" ? object.name : nil)
                if let namespace, !recovered.contains(namespace) { continue }
                var expected = object
                RecoveryVerification.renamingStorageClasses(&expected, resource: String(key.prefix { $0 != "|" }), mappings: request.storageClassMappings)
                guard let restored = after[key] else {
                    missing.append(key)
                    continue
                }
                // What the new cluster had before the recovery (its own control plane's objects,
                // Velero's installation) stays as it was, as Velero leaves existing objects.
                if !untouchedBeforeRecovery.contains(key) && restored != expected { different.append(key) }
            }
            #expect(missing.isEmpty, "not restored: \(missing.sorted())")
            #expect(different.isEmpty, "restored but different: \(different.sorted())")
            #expect(before.count > 150, "the comparison covered \(before.count) objects")
            try await sandbox.script("down")
        }
    }
}
