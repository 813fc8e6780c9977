// VeleroObjects and VeleroBackupEngine against the sandbox's kube-apiserver with Velero's real
// CRDs. These tests work in the namespace `velero-manual`, where no Velero (nor the stand-in)
// acts: the test itself writes the status Velero would write, to drive each path exactly.
// The end-to-end tests with the stand-in are in VeleroStandInTests.swift.
import CarbonRecovery
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryTestKit
import CarbonRecoveryVelero
import Foundation
import Testing
import TestSupport

func uniqueName(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

/// A namespace for Velero objects where nothing acts on them but the test.
let manualNamespace = "velero-manual"

func ensureManualNamespace(_ client: KubectlClusterClient) async throws {
    _ = try await client.apply(KubernetesObject(kind: .namespace, namespace: nil, name: manualNamespace), fieldManager: "carbon-recovery-tests")
}

/// Writes a status onto a Velero object as Velero would (the CRDs have no status subresource):
/// the whole object, since kubectl validates an applied object as a whole.
func setStatus(_ client: KubectlClusterClient, _ kind: ResourceKind, _ name: String, _ status: JSONValue, namespace: String = manualNamespace) async throws {
    var object = try #require(try await client.get(try ObjectReference(kind: kind, namespace: namespace, name: name)))
    for field in ["managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"] { object.json["metadata"]?[field] = nil }
    object.json["status"] = status
    _ = try await client.apply(object, fieldManager: "velero-stand-in-test")
}

func manualEngine(_ client: KubectlClusterClient, storage: (any StorageBackend)? = nil, storagePrefix: String = "", deletionTimeout: Duration = .seconds(30)) async throws -> VeleroBackupEngine {
    try await ensureManualNamespace(client)
    return VeleroBackupEngine(cluster: client, storage: storage, configuration: .init(namespace: manualNamespace, storagePrefix: storagePrefix, deletionTimeout: deletionTimeout))
}

/// The sandbox has one replica API server; the tests that stop and start it take turns.
actor ReplicaLock {
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if held { await withCheckedContinuation { waiters.append($0) } } else { held = true }
    }

    func release() {
        if waiters.isEmpty { held = false } else { waiters.removeFirst().resume() }
    }
}

let replicaLock = ReplicaLock()

/// Runs `body` with the replica API server started and to itself; stops the replica afterwards.
func withReplica<T: Sendable>(_ body: (_ kubeconfig: String) async throws -> T) async throws -> T {
    await replicaLock.acquire()
    let sandbox = try Sandbox.current()
    do {
        let result = try await body(try await sandbox.script("replica", "start"))
        _ = try? await sandbox.script("replica", "stop")
        await replicaLock.release()
        return result
    } catch {
        _ = try? await sandbox.script("replica", "stop")
        await replicaLock.release()
        throw error
    }
}

@Suite("Velero objects under Velero's real schema", .timeLimit(.minutes(10)))
struct VeleroObjectsTests {
    @Test("a Backup with every field the SDK sets is accepted and read back unchanged")
    func backup() async throws {
        let client = try sandboxClient()
        let request = BackupRequest(
            name: uniqueName("full"), includedNamespaces: ["data-platform", "vault-prod"], excludedNamespaces: ["kube-system"],
            includedResources: ["*"], excludedResources: ["events", "events.events.k8s.io"], includeClusterResources: false,
            labelSelector: try LabelSelector(parsing: "app=postgresql,tier in (db,cache),!canary,env!=dev"), ttl: .hours(168),
            storageLocation: "default", volumes: VolumeOptions(snapshotVolumes: false, defaultVolumesToFsBackup: true, snapshotLocations: ["default"]),
            labels: ["carbon-recovery/class": "critical"])
        try request.validate()
        try await ensureManualNamespace(client)
        let object = VeleroObjects.backup(request, namespace: manualNamespace)
        let applied = try await client.apply(object, fieldManager: "carbon-recovery-tests")
        #expect(applied.spec == object.spec)
        #expect(applied.spec?["ttl"] == "168h0m0s")
        #expect(applied.spec?[path: ["labelSelector", "matchLabels", "app"]] == "postgresql")
        #expect(applied.spec?[path: ["labelSelector", "matchExpressions"]]?.arrayValue?.count == 3)
        // Read back from the server, the selector means what was asked.
        let decoded = try VeleroObjects.labelSelector(from: try #require(applied.spec?["labelSelector"]))
        for labels in [["app": "postgresql", "tier": "db"], ["app": "postgresql", "tier": "db", "canary": "1"], ["app": "postgresql", "tier": "web"], ["app": "postgresql", "tier": "db", "env": "dev"]] {
            #expect(decoded.matches(labels) == request.labelSelector!.matches(labels), "\(labels)")
        }
        #expect(applied.labels["carbon-recovery/class"] == "critical")
        #expect(try VeleroObjects.backupStatus(applied).phase == .new)
    }

    @Test("Restores from a backup and from a schedule, with mappings and a selector, are accepted unchanged")
    func restores() async throws {
        let client = try sandboxClient()
        var fromBackup = RestoreRequest(name: uniqueName("restore"), source: .backup("daily-20261125020000"))
        fromBackup.includedNamespaces = ["data-platform"]
        fromBackup.namespaceMappings = ["data-platform": "data-platform-restore-test"]
        fromBackup.labelSelector = try LabelSelector(parsing: "app=postgresql")
        fromBackup.existingResourcePolicy = .update
        fromBackup.restorePVs = true
        try fromBackup.validate()
        try await ensureManualNamespace(client)
        let object = VeleroObjects.restore(fromBackup, namespace: manualNamespace)
        let applied = try await client.apply(object, fieldManager: "carbon-recovery-tests")
        #expect(applied.spec == object.spec)
        #expect(applied.spec?[path: ["namespaceMapping", "data-platform"]] == "data-platform-restore-test")
        #expect(applied.labels["velero.io/backup-name"] == "daily-20261125020000")
        let status = try VeleroObjects.restoreStatus(applied)
        #expect(status.phase == .new && status.backupName == "daily-20261125020000")

        let fromSchedule = RestoreRequest(name: uniqueName("restore"), source: .schedule("critical"))
        let scheduled = try await client.apply(VeleroObjects.restore(fromSchedule, namespace: manualNamespace), fieldManager: "carbon-recovery-tests")
        #expect(scheduled.spec?["scheduleName"] == "critical")
        #expect(scheduled.spec?["existingResourcePolicy"] == "none")
    }

    @Test("a Schedule, a DeleteBackupRequest and a MinIO BackupStorageLocation are accepted unchanged")
    func scheduleDeleteRequestAndLocation() async throws {
        let client = try sandboxClient()
        let policy = SchedulePolicy(
            name: uniqueName("critical"), cron: try CronSchedule(parsing: "CRON_TZ=UTC 0 */6 * * *"),
            template: BackupRequest(name: "template", includedNamespaces: ["data-platform", "vault-prod"], ttl: .hours(168)),
            paused: true, skipImmediately: true, useOwnerReferencesInBackup: false)
        try policy.validate()
        try await ensureManualNamespace(client)
        let schedule = VeleroObjects.schedule(policy, namespace: manualNamespace)
        let appliedSchedule = try await client.apply(schedule, fieldManager: "carbon-recovery-tests")
        #expect(appliedSchedule.spec == schedule.spec)
        #expect(appliedSchedule.spec?["schedule"] == "CRON_TZ=UTC 0 */6 * * *")

        let request = VeleroObjects.deleteBackupRequest(backupName: "daily-20261125020000", requestName: uniqueName("delete"), namespace: manualNamespace)
        let appliedRequest = try await client.apply(request, fieldManager: "carbon-recovery-tests")
        #expect(appliedRequest.spec == ["backupName": "daily-20261125020000"])
        #expect(appliedRequest.labels["velero.io/backup-name"] == "daily-20261125020000")

        let location = VeleroObjects.backupStorageLocation(VeleroStorageLocation(
            name: uniqueName("minio"), bucket: "254carbon-backups", prefix: "cluster-a", s3URL: "http://minio.storage.svc:9000", isDefault: false),
            namespace: manualNamespace)
        let appliedLocation = try await client.apply(location, fieldManager: "carbon-recovery-tests")
        #expect(appliedLocation.spec == location.spec)
        #expect(appliedLocation.spec?[path: ["config", "s3ForcePathStyle"]] == "true")
    }

    @Test("a Backup whose spec has labelSelector: null and orLabelSelectors: null reads back with its namespaces, like one without them")
    func explicitNullSelectors() async throws {
        let client = try sandboxClient()
        try await ensureManualNamespace(client)
        let name = uniqueName("nulls")
        var object = VeleroObjects.backup(BackupRequest(name: name, includedNamespaces: ["data-platform", "vault-prod"]), namespace: manualNamespace)
        object.json["spec"]?["labelSelector"] = .null
        object.json["spec"]?["orLabelSelectors"] = .null
        let applied = try await client.apply(object, fieldManager: "carbon-recovery-tests")
        // The API server keeps the explicit nulls (Velero's schema allows them)...
        #expect(applied.json[path: ["spec"]]?.objectValue?["labelSelector"] == .null)
        #expect(applied.json[path: ["spec"]]?.objectValue?.keys.contains("orLabelSelectors") == true)
        // ...and the backup still counts for both namespaces (RPO, retention).
        let engine = try await manualEngine(client)
        let status = try #require(try await engine.backupStatus(named: name))
        #expect(status.namespaces == ["data-platform", "vault-prod"])
    }

    @Test("every Velero backup phase, progress, counts and timestamps are read from the object", arguments: BackupPhase.allKnown)
    func backupPhases(phase: BackupPhase) async throws {
        let client = try sandboxClient()
        let name = uniqueName("phase")
        let engine = try await manualEngine(client)
        _ = try await client.apply(VeleroObjects.backup(BackupRequest(name: name, includedNamespaces: ["registry"]), namespace: manualNamespace), fieldManager: "carbon-recovery-tests")
        try await setStatus(client, .veleroBackup, name, [
            "phase": .string(phase.rawValue), "progress": ["totalItems": 40, "itemsBackedUp": 17], "errors": 2, "warnings": 5,
            "validationErrors": ["spec.ttl is invalid"], "failureReason": "injected", "startTimestamp": "2026-11-25T02:00:00Z",
            "completionTimestamp": "2026-11-25T02:03:12Z", "expiration": "2026-12-25T02:00:00Z",
        ])
        let status = try #require(try await engine.backupStatus(named: name))
        #expect(status.phase == phase)
        #expect(status.progress == OperationProgress(itemsDone: 17, totalItems: 40))
        #expect(status.errors == 2 && status.warnings == 5)
        #expect(status.validationErrors == ["spec.ttl is invalid"] && status.failureReason == "injected")
        #expect(status.duration == 192)
        #expect(status.expiration == RFC3339.parse("2026-12-25T02:00:00Z"))
    }
}

@Suite("VeleroBackupEngine on the sandbox", .timeLimit(.minutes(10)))
struct VeleroBackupEngineTests {
    @Test("start creates the Backup; a second start of the same name is a conflict that changes nothing; bad input creates nothing")
    func start() async throws {
        let client = try sandboxClient()
        let engine = try await manualEngine(client)
        let name = uniqueName("smoke")
        let status = try await engine.startBackup(BackupRequest(name: name, includedNamespaces: ["data-platform"], ttl: .hours(24)))
        #expect(status.name == name && status.phase == .new)
        _ = await expectCode(.conflict) { _ = try await engine.startBackup(BackupRequest(name: name, includedNamespaces: ["monitoring"])) }
        #expect(try await client.get(try ObjectReference(kind: .veleroBackup, namespace: manualNamespace, name: name))?.spec?["includedNamespaces"] == ["data-platform"])
        _ = await expectCode(.invalidInput) { _ = try await engine.startBackup(BackupRequest(name: "Bad_Name", includedNamespaces: ["data-platform"])) }
        #expect(try await engine.backupStatus(named: "bad-name") == nil)
        #expect(try await engine.listBackups().contains { $0.name == name })
    }

    @Test("waiting watches the Backup, reports each change and returns the terminal phase; Failed is a result")
    func waitReportsProgress() async throws {
        let client = try sandboxClient()
        let engine = try await manualEngine(client)
        for terminal in [BackupPhase.completed, .failed] {
            let name = uniqueName("wait")
            _ = try await engine.startBackup(BackupRequest(name: name, includedNamespaces: ["data-platform"]))
            let seen = LockedArray<String>()
            let waiter = Task { try await engine.waitForBackup(named: name) { seen.append("\($0.phase) \($0.progress?.itemsDone ?? -1)") } }
            try await Task.sleep(for: .milliseconds(700))
            try await setStatus(client, .veleroBackup, name, ["phase": "InProgress", "progress": ["totalItems": 10, "itemsBackedUp": 3]])
            try await setStatus(client, .veleroBackup, name, ["phase": "InProgress", "progress": ["totalItems": 10, "itemsBackedUp": 10]])
            try await setStatus(client, .veleroBackup, name, ["phase": .string(terminal.rawValue), "progress": ["totalItems": 10, "itemsBackedUp": 10]])
            let final = try await waiter.value
            #expect(final.phase == terminal)
            #expect(seen.values.suffix(3) == ["InProgress 3", "InProgress 10", "\(terminal) 10"], "\(seen.values)")
        }
    }

    @Test("a wait survives its API server restarting: the phases set while it was down are seen, the terminal one returned")
    func waitSurvivesRestart() async throws {
        try await withReplica { kubeconfig in
            let sandbox = try Sandbox.current()
            let primary = try sandboxClient()
            let throughReplica = try KubectlClusterClient(configuration: .init(
                kubeconfig: kubeconfig, cacheDirectory: sandbox.kubectlCacheDirectory, requestTimeout: .seconds(10),
                watchRetryMinimum: .milliseconds(100), watchRetryMaximum: .milliseconds(500)))
            let engine = try await manualEngine(throughReplica)
            let name = uniqueName("restart")
            _ = try await engine.startBackup(BackupRequest(name: name, includedNamespaces: ["data-platform"]))
            let seen = LockedArray<String>()
            let waiter = Task { try await engine.waitForBackup(named: name) { seen.append($0.phase.rawValue) } }
            try await Task.sleep(for: .seconds(1))
            try await setStatus(primary, .veleroBackup, name, ["phase": "InProgress", "progress": ["totalItems": 4, "itemsBackedUp": 1]])
            try await Task.sleep(for: .milliseconds(500))

            _ = try await sandbox.script("replica", "stop")
            try await setStatus(primary, .veleroBackup, name, ["phase": "Completed", "progress": ["totalItems": 4, "itemsBackedUp": 4]])
            try await Task.sleep(for: .seconds(1))
            _ = try await sandbox.script("replica", "start")

            let final = try await waiter.value
            #expect(final.phase == .completed && final.progress?.itemsDone == 4)
            #expect(seen.values == ["New", "InProgress", "Completed"], "\(seen.values)")
        }
    }

    @Test("cancelling the wait stops the wait, not the backup")
    func cancelStopsWaitOnly() async throws {
        let client = try sandboxClient()
        let engine = try await manualEngine(client)
        let name = uniqueName("cancel")
        _ = try await engine.startBackup(BackupRequest(name: name, includedNamespaces: ["data-platform"]))
        try await setStatus(client, .veleroBackup, name, ["phase": "InProgress"])
        let waiter = Task { try await engine.waitForBackup(named: name) { _ in } }
        try await Task.sleep(for: .seconds(1))
        waiter.cancel()
        let outcome = await waiter.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(try await engine.backupStatus(named: name)?.phase == .inProgress)
    }

    @Test("waiting for a backup that does not exist is a clear not-found error")
    func waitMissing() async throws {
        let engine = try await manualEngine(try sandboxClient())
        _ = await expectCode(.notFound) { _ = try await engine.waitForBackup(named: uniqueName("missing")) { _ in } }
        _ = await expectCode(.notFound) { try await engine.deleteBackup(named: uniqueName("missing")) }
    }

    @Test("deleting goes through a DeleteBackupRequest and is confirmed only when the object and its storage prefix are gone")
    func deleteThroughRequest() async throws {
        let sandbox = try Sandbox.current()
        let client = try sandboxClient()
        let storage = try sandboxStorage()
        let engine = try await manualEngine(client, storage: storage, storagePrefix: "tests/engine-\(UUID().uuidString.prefix(6).lowercased())")
        for leaveOneBehind in [false, true] {
            let name = uniqueName("doomed")
            _ = try await engine.startBackup(BackupRequest(name: name, includedNamespaces: ["registry"]))
            let prefix = try await engine.storagePrefix(ofBackup: name)
            for file in ["velero-backup.json", "\(name).tar.gz", "\(name)-logs.gz"] { try await storage.put(prefix + file, data: Array(file.utf8)) }
            // Velero's part: process the DeleteBackupRequest the engine creates.
            let velero = Task { () async throws -> KubernetesObject? in
                for try await event in client.watch(.veleroDeleteBackupRequest, namespace: manualNamespace, labelSelector: try LabelSelector(parsing: "velero.io/backup-name=\(name)")) {
                    guard event.kind == .added, event.object.spec?["backupName"]?.stringValue == name else { continue }
                    for file in ["velero-backup.json", "\(name).tar.gz", "\(name)-logs.gz"].dropFirst(leaveOneBehind ? 1 : 0) {
                        try await storage.delete(prefix + file)
                    }
                    try await client.delete(try ObjectReference(kind: .veleroBackup, namespace: manualNamespace, name: name), ignoreNotFound: false)
                    return event.object
                }
                return nil
            }
            if leaveOneBehind {
                let error = await expectCode(.storageFailure) { try await engine.deleteBackup(named: name) }
                #expect(error?.message.contains("1 objects remain") == true)
                try await storage.delete(prefix + "velero-backup.json")
            } else {
                try await engine.deleteBackup(named: name)
            }
            let request = try await velero.value
            #expect(request?.kind == "DeleteBackupRequest")
            #expect(try await engine.backupStatus(named: name) == nil)
        }
        _ = sandbox
    }
}

/// A small thread-safe list for callbacks.
final class LockedArray<Element: Sendable>: @unchecked Sendable {
    // @unchecked: `storage` is only touched under `lock`.
    private let lock = NSLock()
    private var storage: [Element] = []
    func append(_ element: Element) { lock.withLock { storage.append(element) } }
    var values: [Element] { lock.withLock { storage } }
}

@Suite("RecoveryCoordinator over Velero on the sandbox", .timeLimit(.minutes(8)))
struct VeleroCoordinatorTests {
    @Test("a backup that ends PartiallyFailed is audited as an attempt and a failure, with the cluster identity")
    func partialFailureIsAudited() async throws {
        let client = try sandboxClient()
        let trail = InMemoryAuditTrail()
        let coordinator = RecoveryCoordinator(
            engine: try await manualEngine(client), storage: try sandboxStorage(), audit: trail, cluster: client,
            logger: .init(label: "test"))
        let name = uniqueName("audited")
        let velero = Task {
            for try await event in client.watch(try ObjectReference(kind: .veleroBackup, namespace: manualNamespace, name: name)) where event.kind == .added {
                try await setStatus(client, .veleroBackup, name, ["phase": "InProgress", "progress": ["totalItems": 4, "itemsBackedUp": 1]])
                try await setStatus(client, .veleroBackup, name, ["phase": "PartiallyFailed", "errors": 1, "progress": ["totalItems": 4, "itemsBackedUp": 4]])
                return
            }
        }
        let error = await expectCode(.backupFailed) {
            _ = try await coordinator.backup(BackupRequest(name: name, includedNamespaces: ["data-platform"], ttl: .hours(24)))
        }
        #expect(error?.message.contains("PartiallyFailed") == true)
        // The hint is the engine's, in the namespace it was given (not the default `velero`).
        #expect(error?.message.contains("(`kubectl -n \(manualNamespace) describe backup \(name)`)") == true, "\(error?.message ?? "")")
        try await velero.value
        let entries = try await trail.entries(matching: AuditQuery(target: "backup/\(name)")).entries
        #expect(entries.map(\.kind) == [.attempt, .outcome])
        #expect(entries.last?.outcome == .failure)
        #expect(entries.first?.cluster?.contains("sandbox-admin") == true, "\(String(describing: entries.first?.cluster))")
    }
}
