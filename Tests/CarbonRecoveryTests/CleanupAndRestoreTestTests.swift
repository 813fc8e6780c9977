// The coordinator's logic for cleanup and the restore test, over the test kit's doubles. The
// same verbs run end to end against the sandbox in the integration and CLI tests.
import CarbonRecovery
import CarbonRecoveryTestKit
import CarbonRecoveryVelero
import Foundation
import Logging
import Testing

@Suite("Cleanup and restore-test logic")
struct CleanupAndRestoreTestTests {
    static let now = Date(timeIntervalSince1970: 1_795_600_000)

    func seeded() async -> Fixture {
        let fixture = Fixture(clock: SimulatedWallClock(start: Self.now))
        let day: TimeInterval = 86_400
        let backups: [BackupStatus] = [
            BackupStatus(name: "fresh", phase: .completed, startTimestamp: Self.now - day, expiration: Self.now + day),
            BackupStatus(name: "expired", phase: .completed, startTimestamp: Self.now - 40 * day, expiration: Self.now - 10 * day),
            BackupStatus(name: "failed", phase: .failed, startTimestamp: Self.now - 3 * day, expiration: Self.now + day),
            BackupStatus(name: "partial", phase: .partiallyFailed, startTimestamp: Self.now - 2 * day, expiration: Self.now + day),
            BackupStatus(name: "rejected", phase: .failedValidation, startTimestamp: Self.now - 4 * day),
            BackupStatus(name: "stuck", phase: .deleting, startTimestamp: Self.now - 50 * day, expiration: Self.now - 20 * day),
            BackupStatus(name: "running", phase: .inProgress, startTimestamp: Self.now),
        ]
        for backup in backups { await fixture.inner.addBackup(backup) }
        return fixture
    }

    @Test("the plan: expired ones, failed ones (three phases), or both, oldest first; Deleting ones skipped; reads only")
    func plan() async throws {
        let fixture = await seeded()
        let expired = try await fixture.coordinator.planCleanup(expired: true, failed: false)
        #expect(expired.entries.map(\.backup.name) == ["expired"])
        #expect(expired.skipped == ["stuck": "already being deleted"])
        let failed = try await fixture.coordinator.planCleanup(expired: false, failed: true)
        #expect(failed.entries.map(\.backup.name) == ["rejected", "failed", "partial"])
        #expect(failed.entries.map(\.reason.description) == ["finished FailedValidation", "finished Failed", "finished PartiallyFailed"])
        let both = try await fixture.coordinator.planCleanup(expired: true, failed: true)
        #expect(both.entries.map(\.backup.name) == ["expired", "rejected", "failed", "partial"])
        #expect(await fixture.trail.allEntries.isEmpty, "planning changes nothing and records nothing")
        #expect(await fixture.inner.events.filter { $0.hasPrefix("deleteBackup") }.isEmpty)
    }

    @Test("asking for neither kind is invalid input: nothing planned, nothing recorded")
    func planNothing() async throws {
        let fixture = await seeded()
        await #expect(throws: RecoveryError.self) { try await fixture.coordinator.planCleanup(expired: false, failed: false) }
        #expect(await fixture.trail.allEntries.isEmpty)
    }

    @Test("cleanup deletes each planned backup through the engine, each audited, inside one audited cleanup")
    func cleanup() async throws {
        let fixture = await seeded()
        let plan = try await fixture.coordinator.planCleanup(expired: true, failed: true)
        let result = try await fixture.coordinator.cleanup(plan)
        #expect(result.deleted == ["expired", "rejected", "failed", "partial"] && result.failed.isEmpty)
        #expect(try await fixture.inner.listBackups().map(\.name).sorted() == ["fresh", "running", "stuck"])
        let entries = await fixture.trail.allEntries
        #expect(entries.first?.operation == "backup.cleanup" && entries.last?.operation == "backup.cleanup" && entries.last?.outcome == .success)
        #expect(entries.filter { $0.operation == "backup.delete" && $0.outcome == .success }.map(\.target) == ["backup/expired", "backup/rejected", "backup/failed", "backup/partial"])
    }

    @Test("a backup gone since planning counts as deleted; the cleanup still succeeds")
    func goneMeanwhile() async throws {
        let fixture = await seeded()
        let plan = try await fixture.coordinator.planCleanup(expired: true, failed: false)
        try await fixture.inner.deleteBackup(named: "expired")
        let result = try await fixture.coordinator.cleanup(plan)
        #expect(result.deleted == ["expired"])
        #expect(await fixture.trail.allEntries.last?.outcome == .success)
    }

    @Test("restore test: bad input and a coordinator without a cluster client change nothing")
    func restoreTestInput() async throws {
        let fixture = await seeded()
        for request in [
            RestoreTestRequest(backup: "Not_A_Name"), RestoreTestRequest(backup: "fresh", scratchSuffix: "UPPER"),
            RestoreTestRequest(backup: "fresh", recoveryTimeObjective: .zero),
            RestoreTestRequest(backup: "fresh", scratchSuffix: String(repeating: "a", count: 41)),
        ] {
            await #expect(throws: RecoveryError.self) { try await fixture.coordinator.testRestore(request) }
        }
        let noCluster = RecoveryCoordinator(engine: fixture.inner, storage: fixture.storage, audit: fixture.trail, logger: Logger(label: "test"))
        let error = await #expect(throws: RecoveryError.self) { try await noCluster.testRestore(RestoreTestRequest(backup: "fresh")) }
        #expect(error?.code == .unsupported)
        #expect(await fixture.trail.allEntries.isEmpty)
        #expect(await fixture.inner.events.filter { $0.hasPrefix("startRestore") }.isEmpty)
    }

    @Test("restore test of a backup that is not Completed, or of an engine that cannot list contents: a recorded failure, no restore")
    func restoreTestRefused() async throws {
        let fixture = await seeded()
        let failed = await #expect(throws: RecoveryError.self) { try await fixture.coordinator.testRestore(RestoreTestRequest(backup: "failed")) }
        #expect(failed?.code == .validationFailed && failed?.message.contains("is Failed, not Completed") == true)
        let unsupported = await #expect(throws: RecoveryError.self) { try await fixture.coordinator.testRestore(RestoreTestRequest(backup: "fresh")) }
        #expect(unsupported?.code == .unsupported)
        #expect(await fixture.trail.allEntries.map { "\($0.operation) \($0.outcome?.rawValue ?? "attempt")" } == [
            "restore.test attempt", "restore.test failure", "restore.test attempt", "restore.test failure",
        ])
        #expect(await fixture.inner.events.filter { $0.hasPrefix("startRestore") }.isEmpty)
    }

    @Test("the resource list parses into items, and a kind's plural is guessed as Kubernetes guesses it")
    func resourceList() throws {
        let items = try VeleroBackupEngine.parseResourceList([
            "v1/ConfigMap": ["data-platform/a", "data-platform/b"], "v1/Namespace": ["data-platform"],
            "apps/v1/Deployment": ["data-platform/api"], "networking.k8s.io/v1/Ingress": ["data-platform/web"],
            "v1/Endpoints": ["data-platform/api"], "policy/v1beta1/PodSecurityPolicy": ["restricted"],
        ])
        #expect(items.count == 7)
        #expect(items.first { $0.kind == "Namespace" }?.namespace == nil)
        let resources = Dictionary(items.map { ($0.kind, $0.resourceKind.resource) }, uniquingKeysWith: { first, _ in first })
        #expect(resources == [
            "ConfigMap": "configmaps", "Namespace": "namespaces", "Deployment": "deployments.apps", "Ingress": "ingresses.networking.k8s.io",
            "Endpoints": "endpoints", "PodSecurityPolicy": "podsecuritypolicies.policy",
        ])
        let velero = VeleroBackupEngine(cluster: InMemoryClusterClient())
        #expect(items.allSatisfy { velero.restores($0) })
        #expect(!velero.restores(BackupItem(apiVersion: "v1", kind: "Event", namespace: "a", name: "e")))
        #expect(!velero.restores(BackupItem(apiVersion: "velero.io/v1", kind: "Backup", namespace: "velero", name: "b")))
        // An engine that says nothing restores every item.
        #expect(InMemoryBackupEngine().restores(BackupItem(apiVersion: "v1", kind: "Event", namespace: "a", name: "e")))
        #expect(throws: RecoveryError.self) { try VeleroBackupEngine.parseResourceList(["v1ConfigMap": ["a"]]) }
        #expect(throws: RecoveryError.self) { try VeleroBackupEngine.parseResourceList(["v1/ConfigMap": [1]]) }
        #expect(throws: RecoveryError.self) { try VeleroBackupEngine.parseResourceList(["not", "an", "object"]) }
    }
}
