// The guide's backup and restore paths end to end on the sandbox: RecoveryCoordinator →
// VeleroBackupEngine → kubectl → kube-apiserver ← velero-stand-in (a real process started by
// scripts/sandbox) → the rclone S3 bucket. Nothing here writes a status by hand.
import CarbonRecovery
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryTestKit
import CarbonRecoveryVelero
import CarbonRecoveryVeleroStandIn
import Foundation
import Testing
import TestSupport

func requireStandIn() throws {
    let sandbox = try Sandbox.current()
    guard FileManager.default.fileExists(atPath: sandbox.directory + "/stand-in.pid") else {
        throw RecoveryError(.invalidInput, "the Velero stand-in is not running in the sandbox: build it (swift build) and run scripts/sandbox stand-in start")
    }
}

struct Rig {
    let client: KubectlClusterClient
    let storage: MinIOStorageBackend
    let engine: VeleroBackupEngine
    let trail: InMemoryAuditTrail
    let coordinator: RecoveryCoordinator
    let notifier = RecordingNotifier()

    init() throws {
        try requireStandIn()
        client = try sandboxClient()
        storage = try sandboxStorage()
        engine = VeleroBackupEngine(cluster: client, storage: storage, configuration: .init(deletionTimeout: .seconds(60)))
        trail = InMemoryAuditTrail()
        coordinator = RecoveryCoordinator(engine: engine, storage: storage, audit: trail, cluster: client, notifiers: [notifier], logger: .init(label: "test"))
    }

    /// A namespace of the test's own with a few objects, so tests do not step on each other.
    func workloadNamespace(_ prefix: String) async throws -> String {
        let namespace = uniqueName(prefix)
        _ = try await client.apply(KubernetesObject(kind: .namespace, namespace: nil, name: namespace, labels: ["carbon-recovery/test": "true"]), fieldManager: "carbon-recovery-tests")
        for index in 0..<3 {
            _ = try await client.apply(KubernetesObject(
                kind: .configMap, namespace: namespace, name: "settings-\(index)", labels: ["app": index == 0 ? "postgresql" : "api"],
                body: ["data": ["index": .string(String(index))]]), fieldManager: "carbon-recovery-tests")
        }
        _ = try await client.apply(KubernetesObject(kind: .secret, namespace: namespace, name: "db-password", labels: ["app": "postgresql"], body: ["stringData": ["password": "sandbox-not-a-secret"]]), fieldManager: "carbon-recovery-tests")
        return namespace
    }

    func configMap(_ namespace: String, _ name: String) async throws -> KubernetesObject? {
        try await client.get(try ObjectReference(kind: .configMap, namespace: namespace, name: name))
    }
}

@Suite("Backups and restores through the Velero stand-in", .timeLimit(.minutes(10)))
struct VeleroStandInTests {
    @Test("backup with wait, artifacts in Velero's layout, objects deleted, namespace restored: all audited")
    func backupDeleteRestore() async throws {
        let rig = try Rig()
        let namespace = try await rig.workloadNamespace("app")
        let name = uniqueName("smoke")
        let updates = LockedArray<String>()
        let status = try await rig.coordinator.backup(BackupRequest(name: name, includedNamespaces: [namespace], ttl: .hours(24))) {
            updates.append($0.phase.rawValue)
        }
        #expect(status.phase == .completed)
        #expect(status.progress == OperationProgress(itemsDone: 5, totalItems: 5), "namespace + 3 ConfigMaps + 1 Secret")
        #expect(updates.values.last == "Completed")
        let prefix = try await rig.engine.storagePrefix(ofBackup: name)
        var keys: [String] = []
        for try await object in rig.storage.list(prefix: prefix) { keys.append(String(object.key.dropFirst(prefix.count))) }
        #expect(Set(keys).isSuperset(of: ["velero-backup.json", "\(name).tar.gz", "\(name)-logs.gz", "\(name)-resource-list.json.gz", "\(name)-results.gz"]))
        let stored = try JSONValue(parsing: try #require(try await rig.storage.get(prefix + "velero-backup.json")))
        #expect(stored[path: ["status", "phase"]] == "Completed")

        try await rig.client.delete(try ObjectReference(kind: .configMap, namespace: namespace, name: "settings-1"), ignoreNotFound: false)
        #expect(try await rig.configMap(namespace, "settings-1") == nil)
        var request = RestoreRequest(name: uniqueName("restore"), source: .backup(name))
        request.includedNamespaces = [namespace]
        let restored = try await rig.coordinator.restore(request)
        #expect(restored.phase == .completed)
        #expect(try await rig.configMap(namespace, "settings-1")?.json[path: ["data", "index"]] == "1")
        #expect(try await rig.configMap(namespace, "settings-1")?.labels["velero.io/restore-name"] == request.name)

        let entries = try await rig.trail.entries(matching: AuditQuery()).entries
        #expect(entries.map { "\($0.operation) \($0.kind.rawValue) \($0.outcome?.rawValue ?? "-")" } == [
            "backup.create attempt -", "backup.create outcome success", "restore.create attempt -", "restore.create outcome success",
        ])
    }

    @Test("a restore into a mapped namespace leaves the source untouched; a label selector restores only what matches")
    func mappedRestore() async throws {
        let rig = try Rig()
        let namespace = try await rig.workloadNamespace("src")
        let name = uniqueName("full")
        try await rig.coordinator.backup(BackupRequest(name: name, includedNamespaces: [namespace]))
        let before = try await rig.client.list(.configMap, namespace: namespace, labelSelector: nil).map { "\($0.name ?? "") \($0.resourceVersion ?? "")" }

        let target = "\(namespace)-test"
        var request = RestoreRequest(name: uniqueName("mapped"), source: .backup(name))
        request.namespaceMappings = [namespace: target]
        request.labelSelector = try LabelSelector(parsing: "app=postgresql")
        let status = try await rig.coordinator.restore(request)
        #expect(status.phase == .completed)
        let restored = try await rig.client.list(.configMap, namespace: target, labelSelector: nil).compactMap(\.name)
        #expect(restored == ["settings-0"], "only app=postgresql")
        #expect(try await rig.client.get(try ObjectReference(kind: .secret, namespace: target, name: "db-password")) != nil)
        let after = try await rig.client.list(.configMap, namespace: namespace, labelSelector: nil).map { "\($0.name ?? "") \($0.resourceVersion ?? "")" }
        #expect(after == before, "the source namespace is untouched")
    }

    @Test("existingResourcePolicy none keeps a changed object, update restores it")
    func existingResourcePolicy() async throws {
        let rig = try Rig()
        let namespace = try await rig.workloadNamespace("policy")
        let name = uniqueName("before-change")
        try await rig.coordinator.backup(BackupRequest(name: name, includedNamespaces: [namespace]))
        _ = try await rig.client.apply(KubernetesObject(kind: .configMap, namespace: namespace, name: "settings-2", labels: ["app": "api"], body: ["data": ["index": "changed"]]), fieldManager: "carbon-recovery-tests")
        var keep = RestoreRequest(name: uniqueName("keep"), source: .backup(name))
        keep.includedNamespaces = [namespace]
        let kept = try await rig.coordinator.restore(keep)
        #expect(kept.phase == .completed && kept.warnings > 0)
        #expect(try await rig.configMap(namespace, "settings-2")?.json[path: ["data", "index"]] == "changed")
        var update = keep
        update.name = uniqueName("update")
        update.existingResourcePolicy = .update
        let updated = try await rig.coordinator.restore(update)
        #expect(updated.phase == .completed)
        #expect(try await rig.configMap(namespace, "settings-2")?.json[path: ["data", "index"]] == "2")
    }

    @Test("deleting through the SDK removes the Backup and its whole storage prefix")
    func deleteRemovesData() async throws {
        let rig = try Rig()
        let namespace = try await rig.workloadNamespace("del")
        let name = uniqueName("doomed")
        try await rig.coordinator.backup(BackupRequest(name: name, includedNamespaces: [namespace]))
        let prefix = try await rig.engine.storagePrefix(ofBackup: name)
        #expect(try await rig.storage.usage(prefix: prefix).objects >= 5)
        try await rig.coordinator.deleteBackup(named: name)
        #expect(try await rig.engine.backupStatus(named: name) == nil)
        #expect(try await rig.storage.usage(prefix: prefix).objects == 0)
        #expect(try await rig.trail.entries(matching: AuditQuery(outcome: .success)).entries.map(\.operation).contains("backup.delete"))
    }

    @Test("a restore whose tarball does not decompress ends Failed with the reason, not InProgress for ever")
    func unreadableTarballFailsRestore() async throws {
        let rig = try Rig()
        let namespace = try await rig.workloadNamespace("garbled")
        let name = uniqueName("garbled")
        try await rig.coordinator.backup(BackupRequest(name: name, includedNamespaces: [namespace]))
        let prefix = try await rig.engine.storagePrefix(ofBackup: name)
        try await rig.storage.put(prefix + "\(name).tar.gz", data: Array("not a gzip stream".utf8))
        let restore = uniqueName("from-garbled")
        let error = await #expect(throws: RecoveryError.self) {
            try await rig.coordinator.restore(RestoreRequest(name: restore, source: .backup(name), namespaceMappings: [namespace: "\(namespace)-back"]))
        }
        #expect(error?.code == .restoreFailed && error?.message.contains("finished Failed") == true, "\(String(describing: error))")
        let status = try #require(try await rig.engine.restoreStatus(named: restore))
        #expect(status.phase == .failed && status.failureReason?.isEmpty == false, "\(status)")
        #expect(try await rig.client.get(try ObjectReference(kind: .namespace, namespace: nil, name: "\(namespace)-back")) == nil, "nothing restored")
    }

    @Test("a location asking for SSE-S3: the stand-in's writes are reported encrypted and validation passes; asked for SSE-KMS afterwards, it fails naming them")
    func encryptedLocation() async throws {
        let rig = try Rig()
        let sandbox = try Sandbox.current()
        // moto records SSE requests and reports them on HEAD (it encrypts nothing); a prefix of
        // its own keeps backup sync from finding anyone else's backups there.
        let name = uniqueName("sse")
        let location = VeleroStorageLocation(
            name: name, bucket: sandbox.bucket, prefix: name, region: "us-east-1", s3URL: sandbox.lockEndpoint, isDefault: false, encryption: .s3Managed)
        _ = try await rig.client.apply(VeleroObjects.backupStorageLocation(location, namespace: "velero"), fieldManager: "carbon-recovery-tests")
        let reference = try ObjectReference(kind: .veleroBackupStorageLocation, namespace: "velero", name: name)
        defer { Task { try? await rig.client.delete(reference, ignoreNotFound: true) } }
        let namespace = try await rig.workloadNamespace("sse")
        let backup = uniqueName("encrypted")
        try await rig.coordinator.backup(BackupRequest(name: backup, includedNamespaces: [namespace], storageLocation: name))

        let moto = try sandboxStorage(
            credentials: .fixed(S3Credentials(accessKeyID: "moto-unauthenticated", secretAccessKey: "unused")), endpoint: sandbox.lockEndpoint)
        let engine = VeleroBackupEngine(cluster: rig.client, storage: moto, configuration: .init(storagePrefix: name))
        let first = try await engine.inspectBackup(named: backup, in: moto)
        let passed = try #require(first.checks.first { $0.name == "encryption" })
        #expect(passed.passed && passed.detail.contains("reported stored with SSE-S3 (AES256)"), "\(passed.detail)")

        var kms = location
        kms.encryption = .kms(keyID: "alias/velero-backups")
        _ = try await rig.client.forceApply(VeleroObjects.backupStorageLocation(kms, namespace: "velero"), fieldManager: "carbon-recovery-tests")
        let second = try await engine.inspectBackup(named: backup, in: moto)
        let failed = try #require(second.checks.first { $0.name == "encryption" })
        #expect(!failed.passed && failed.detail.contains("asks for SSE-KMS (key alias/velero-backups)") && failed.detail.contains("(AES256)"), "\(failed.detail)")
        #expect(failed.detail.contains("8 of 8 artifacts") && failed.detail.contains("backups/\(backup)/"), "\(failed.detail)")
    }

    @Test("validation opens the artifacts, records their digests, and catches one tampered, one corrupted and one missing")
    func validationCatchesTampering() async throws {
        let rig = try Rig()
        let namespace = try await rig.workloadNamespace("val")
        let name = uniqueName("checked")
        try await rig.coordinator.backup(BackupRequest(name: name, includedNamespaces: [namespace]))
        let first = try await rig.coordinator.validateBackup(named: name)
        #expect(first.isValid, "\(first.problems)")
        #expect(Set(first.checks.map(\.name)).isSuperset(of: ["phase", "metadata", "tarball", "resource-list", "logs", "digests"]))
        #expect(first.checks.first { $0.name == "tarball" }?.detail.contains(namespace) == true)
        #expect(first.digests.count >= 5 && first.digests.values.allSatisfy { $0.count == 64 })
        #expect(first.baselineSequence == nil)
        let prefix = try await rig.engine.storagePrefix(ofBackup: name)
        let recorded = try await rig.trail.entries(matching: AuditQuery(operation: "backup.validate", kind: .outcome)).entries
        #expect(recorded.count == 1 && recorded[0].parameters.contains(first.digests[prefix + "\(name).tar.gz"]!))

        let second = try await rig.coordinator.validateBackup(named: name)
        #expect(second.isValid && second.baselineSequence == recorded[0].sequence)

        // Someone rewrites the logs: the digest no longer matches.
        try await rig.storage.put(prefix + "\(name)-logs.gz", data: Array("rewritten\n".utf8))
        let tampered = try await rig.coordinator.validateBackup(named: name)
        #expect(!tampered.isValid)
        #expect(tampered.problems.contains { $0.contains("changed since the first validation") && $0.contains("\(name)-logs.gz") }, "\(tampered.problems)")
        // A stored artifact that changed is a validation mismatch, not an ordinary failed validation.
        let mismatch = try #require(await rig.notifier.delivered.last)
        #expect(mismatch.kind == .validationMismatch && mismatch.target == "backup/\(name)" && mismatch.details["artifacts"]?.contains("\(name)-logs.gz") == true, "\(mismatch)")

        // The tarball replaced by something that is not one; the resource list removed.
        try await rig.storage.put(prefix + "\(name).tar.gz", data: Array("not a tarball".utf8))
        try await rig.storage.delete(prefix + "\(name)-resource-list.json.gz")
        let broken = try await rig.coordinator.validateBackup(named: name)
        #expect(broken.problems.contains { $0.contains("does not open") }, "\(broken.problems)")
        #expect(broken.problems.contains { $0.contains("resource-list.json.gz is missing") })
        #expect(broken.problems.contains { $0.contains("are gone") && $0.contains("resource-list.json.gz") })
        let outcomes = try await rig.trail.entries(matching: AuditQuery(operation: "backup.validate", kind: .outcome)).entries.map { $0.outcome?.rawValue ?? "" }
        #expect(outcomes == ["success", "success", "failure", "failure"])
        try await rig.coordinator.deleteBackup(named: name)
    }

    @Test("restore test: every object back in scratch namespaces, production untouched, RTO measured and audited, scratch removed")
    func restoreTest() async throws {
        let rig = try Rig()
        let namespace = try await rig.workloadNamespace("rt")
        let name = uniqueName("tested")
        try await rig.coordinator.backup(BackupRequest(name: name, includedNamespaces: [namespace]))
        let before = try await rig.client.list(.configMap, namespace: namespace, labelSelector: nil).map { "\($0.name ?? "") \($0.resourceVersion ?? "")" }

        let report = try await rig.coordinator.testRestore(RestoreTestRequest(backup: name, recoveryTimeObjective: .seconds(3600), cleanupTimeout: .seconds(20)))
        #expect(report.passed, "\(report.problems)")
        let scratch = try #require(report.namespaceMappings[namespace])
        #expect(scratch.hasPrefix("\(namespace)-rt-"))
        #expect(report.expected == 5 && report.missing.isEmpty, "namespace + 3 ConfigMaps + 1 Secret")
        #expect(report.objectiveMet == true)
        // The sandbox runs kube-controller-manager's namespace controller unless its binaries
        // came from envtest's KUBEBUILDER_ASSETS (which has none): then namespaces stay Terminating.
        if FileManager.default.fileExists(atPath: try Sandbox.current().directory + "/controller-manager.pid") {
            #expect(report.cleanup == .deleted, "\(report.cleanup)")
            #expect(try await rig.client.get(try ObjectReference(kind: .namespace, namespace: nil, name: scratch)) == nil)
        } else {
            #expect(report.cleanup == .pending([scratch]), "\(report.cleanup)")
        }
        let after = try await rig.client.list(.configMap, namespace: namespace, labelSelector: nil).map { "\($0.name ?? "") \($0.resourceVersion ?? "")" }
        #expect(after == before, "production untouched")
        let outcome = try #require(try await rig.trail.entries(matching: AuditQuery(operation: "restore.test", kind: .outcome)).entries.first)
        #expect(outcome.outcome == .success)
        let details = try JSONValue(parsing: Array(outcome.parameters.utf8))
        #expect(details["recoveryTimeSeconds"]?.stringValue == RestoreTestReport.seconds(report.recoveryTime))
        #expect(details["objectiveMet"] == .bool(true))

        // --keep leaves the scratch namespace; an objective of 1 ms is breached and fails the test.
        let kept = try await rig.coordinator.testRestore(RestoreTestRequest(backup: name, keep: true, recoveryTimeObjective: .milliseconds(1)))
        #expect(!kept.passed && kept.objectiveMet == false && kept.cleanup == .kept)
        #expect(try await rig.configMap(try #require(kept.namespaceMappings[namespace]), "settings-1") != nil)
        #expect(try await rig.trail.entries(matching: AuditQuery(operation: "restore.test", kind: .outcome)).entries.map { $0.outcome?.rawValue ?? "" } == ["success", "failure"])

        // A backup that does not exist, and one that is not Completed: clear errors.
        await #expect(throws: RecoveryError.self) { try await rig.coordinator.testRestore(RestoreTestRequest(backup: "no-such-backup-\(name)")) }
        await #expect(throws: RecoveryError.self) { try await rig.coordinator.testRestore(RestoreTestRequest(backup: name, scratchSuffix: "Not_A_Label")) }
    }

    @Test("fault switches surface as the right outcome, audited, with a clear message", arguments: [
        ("fail", BackupPhase.failed), ("partial", .partiallyFailed), ("fail-validation", .failedValidation),
    ])
    func faults(fault: String, phase: BackupPhase) async throws {
        let rig = try Rig()
        let name = uniqueName("fault")
        // Through the coordinator: the fault rides on the request's labels.
        let request = BackupRequest(name: name, includedNamespaces: ["registry"], labels: [VeleroStandIn.faultAnnotation: fault])
        let error = await #expect(throws: RecoveryError.self) { try await rig.coordinator.backup(request) }
        #expect(error?.code == .backupFailed)
        #expect(error?.message.contains("backup '\(name)' finished \(phase)") == true, "\(String(describing: error?.message))")
        if phase == .failedValidation { #expect(error?.message.contains("validation errors: injected by the stand-in's fault switch") == true) }
        if phase == .failed { #expect(error?.message.contains("fault switch") == true) }
        let status = try #require(try await rig.engine.backupStatus(named: name))
        #expect(status.phase == phase)
        if phase == .partiallyFailed { #expect(status.errors == 1) }
        let outcome = try #require(try await rig.trail.entries(matching: AuditQuery(kind: .outcome)).entries.first)
        #expect(outcome.outcome == .failure && outcome.error?.contains("[backup-failed] backup '\(name)' finished \(phase)") == true, "\(String(describing: outcome.error))")
    }

    @Test("a stalled backup: the caller cancels, the outcome is abandoned, the backup stays in progress")
    func stalled() async throws {
        let rig = try Rig()
        let name = uniqueName("stall")
        let request = BackupRequest(name: name, includedNamespaces: ["registry"], labels: [VeleroStandIn.faultAnnotation: "stall"])
        let failures = LockedArray<String>()
        let waiter = Task {
            do {
                return try await rig.coordinator.backup(request)
            } catch {
                failures.append("\(error)")
                throw error
            }
        }
        try await eventually(within: .seconds(60), "the backup to start") {
            if let failure = failures.values.first, !(waiter.isCancelled) { throw RecoveryError(.internalError, "the backup call failed before the wait: \(failure)") }
            return try await rig.engine.backupStatus(named: name)?.phase == .inProgress ? true : nil
        }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(try await rig.engine.backupStatus(named: name)?.phase == .inProgress, "the backup goes on")
        let outcome = try #require(try await rig.trail.entries(matching: AuditQuery(kind: .outcome)).entries.first)
        #expect(outcome.outcome == .abandoned && outcome.error == "cancelled by the caller")
    }

    @Test("a storage location marked unavailable is reported Unavailable by the stand-in, and doctor fails it")
    func unavailableLocation() async throws {
        let rig = try Rig()
        // In a namespace of its own, with a stand-in of its own (in process), so the sandbox's
        // `velero` namespace — which other tests and doctor read — never sees a broken location.
        let namespace = uniqueName("velero-faults")
        _ = try await rig.client.apply(KubernetesObject(kind: .namespace, namespace: nil, name: namespace), fieldManager: "carbon-recovery-tests")
        let name = uniqueName("broken")
        var location = VeleroObjects.backupStorageLocation(
            VeleroStorageLocation(name: name, bucket: "254carbon-backups", s3URL: "http://127.0.0.1:1", isDefault: false), namespace: namespace)
        location.json["metadata"]?["annotations"] = ["stand-in.carbon-recovery.dev/fault": "unavailable"]
        _ = try await rig.client.apply(location, fieldManager: "carbon-recovery-tests")
        let standIn = VeleroStandIn(cluster: rig.client, storage: rig.storage, namespace: namespace)
        let running = Task { try await standIn.run(intervals: .init(validation: .milliseconds(500), schedules: nil, garbageCollection: nil, sync: nil)) }
        defer { running.cancel() }
        var phase: String?
        for _ in 0..<60 {
            phase = try await rig.client.get(try ObjectReference(kind: .veleroBackupStorageLocation, namespace: namespace, name: name))?.status?["phase"]?.stringValue
            if phase != nil { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(phase == "Unavailable")
        let checks = await RecoveryDoctor(cluster: rig.client, storage: rig.storage, providers: [VeleroBackupEngine(cluster: rig.client, configuration: .init(namespace: namespace))]).run()
        let locations = try #require(checks.first { $0.id == "velero.storage-locations" })
        #expect(locations.status == .fail && locations.detail.contains("\(name) → 254carbon-backups: Unavailable"), "\(locations.detail)")
    }
}
