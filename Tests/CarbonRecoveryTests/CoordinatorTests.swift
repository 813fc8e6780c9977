import CarbonRecovery
import CarbonRecoveryTestKit
import Foundation
import Logging
import Testing

/// An engine that checks, at the moment of each side effect, that the attempt is already in the trail.
actor OrderCheckingEngine: BackupEngine {
    let inner: InMemoryBackupEngine
    let trail: InMemoryAuditTrail
    private(set) var attemptsSeenAtSideEffect: [Int] = []

    init(inner: InMemoryBackupEngine, trail: InMemoryAuditTrail) {
        self.inner = inner
        self.trail = trail
    }

    private func noteSideEffect() async {
        let attempts = await trail.allEntries.filter { $0.kind == .attempt }.count
        let outcomes = await trail.allEntries.filter { $0.kind == .outcome }.count
        attemptsSeenAtSideEffect.append(attempts - outcomes)
    }

    func startBackup(_ request: BackupRequest) async throws -> BackupStatus {
        await noteSideEffect()
        return try await inner.startBackup(request)
    }
    func backupStatus(named name: String) async throws -> BackupStatus? { try await inner.backupStatus(named: name) }
    func waitForBackup(named name: String, progress: @escaping @Sendable (BackupStatus) -> Void) async throws -> BackupStatus {
        try await inner.waitForBackup(named: name, progress: progress)
    }
    func listBackups() async throws -> [BackupStatus] { try await inner.listBackups() }
    func deleteBackup(named name: String) async throws {
        await noteSideEffect()
        try await inner.deleteBackup(named: name)
    }
    func storagePrefix(ofBackup name: String) async throws -> String { try await inner.storagePrefix(ofBackup: name) }
    func inspectBackup(named name: String, in storage: any StorageBackend) async throws -> BackupInspection {
        try await inner.inspectBackup(named: name, in: storage)
    }
    func startRestore(_ request: RestoreRequest) async throws -> RestoreStatus {
        await noteSideEffect()
        return try await inner.startRestore(request)
    }
    func restoreStatus(named name: String) async throws -> RestoreStatus? { try await inner.restoreStatus(named: name) }
    func waitForRestore(named name: String, progress: @escaping @Sendable (RestoreStatus) -> Void) async throws -> RestoreStatus {
        try await inner.waitForRestore(named: name, progress: progress)
    }
}

/// An engine whose wait never finishes until cancelled.
struct HangingEngine: BackupEngine {
    func startBackup(_ request: BackupRequest) async throws -> BackupStatus { BackupStatus(name: request.name, phase: .new) }
    func backupStatus(named name: String) async throws -> BackupStatus? { nil }
    func waitForBackup(named name: String, progress: @escaping @Sendable (BackupStatus) -> Void) async throws -> BackupStatus {
        try await Task.sleep(for: .seconds(3600))
        return BackupStatus(name: name, phase: .completed)
    }
    func listBackups() async throws -> [BackupStatus] { [] }
    func deleteBackup(named name: String) async throws {}
    func storagePrefix(ofBackup name: String) async throws -> String { "backups/\(name)/" }
    func startRestore(_ request: RestoreRequest) async throws -> RestoreStatus { RestoreStatus(name: request.name, phase: .new) }
    func restoreStatus(named name: String) async throws -> RestoreStatus? { nil }
    func waitForRestore(named name: String, progress: @escaping @Sendable (RestoreStatus) -> Void) async throws -> RestoreStatus {
        RestoreStatus(name: name, phase: .completed)
    }
}

struct Fixture {
    let storage = InMemoryStorageBackend()
    let trail = InMemoryAuditTrail()
    let notifier = RecordingNotifier()
    let inner: InMemoryBackupEngine
    let engine: OrderCheckingEngine
    let coordinator: RecoveryCoordinator

    init(clock: any WallClock = SystemWallClock()) {
        inner = InMemoryBackupEngine(storage: storage, clock: clock)
        engine = OrderCheckingEngine(inner: inner, trail: trail)
        coordinator = RecoveryCoordinator(
            engine: engine, storage: storage, audit: trail, cluster: InMemoryClusterClient(), notifiers: [notifier],
            clock: clock, logger: Logger(label: "test"))
    }
}

@Suite("RecoveryCoordinator")
struct CoordinatorTests {
    @Test("a backup records its attempt before the side effect and its outcome after")
    func backupOrdering() async throws {
        let fixture = Fixture()
        let progress = ProgressLog()
        let status = try await fixture.coordinator.backup(
            BackupRequest(name: "smoke-1", includedNamespaces: ["data-platform"], ttl: .hours(24))
        ) { progress.add($0.phase) }
        #expect(status.phase == .completed)
        #expect(await fixture.engine.attemptsSeenAtSideEffect == [1])
        let entries = await fixture.trail.allEntries
        #expect(entries.map(\.kind) == [.attempt, .outcome])
        #expect(entries.map(\.operation) == ["backup.create", "backup.create"])
        #expect(entries[0].correlationID == entries[1].correlationID)
        #expect(entries[1].outcome == .success)
        #expect(entries[1].durationMilliseconds != nil)
        #expect(entries[0].actor.isEmpty == false)
        #expect(entries[0].cluster == "test-admin@in-memory (memory://)")
        #expect(entries[0].parameters.contains("\"includedNamespaces\":[\"data-platform\"]"))
        #expect(entries[0].parameters.contains("\"ttl\":\"24h0m0s\""))
        #expect(progress.phases.contains(.inProgress))
        #expect(try await fixture.trail.verify().isValid)
    }

    @Test("a failed backup is recorded as a failure, notified, then rethrown", arguments: [
        (BackupPhase.failed, RecoveryEvent.Kind.backupFailed),
        (.partiallyFailed, .backupPartiallyFailed),
        (.failedValidation, .backupFailedValidation),
    ])
    func failedBackup(phase: BackupPhase, event: RecoveryEvent.Kind) async throws {
        let fixture = Fixture()
        await fixture.inner.scriptNextBackup(phase: phase, errors: 3)
        let error = await #expect(throws: RecoveryError.self) {
            try await fixture.coordinator.backup(BackupRequest(name: "doomed", includedNamespaces: ["vault-prod"]))
        }
        #expect(error?.code == .backupFailed)
        #expect(error?.message.contains("finished \(phase.rawValue) with 3 errors") == true)
        let entries = await fixture.trail.allEntries
        #expect(entries.map(\.kind) == [.attempt, .outcome])
        #expect(entries[1].outcome == .failure)
        #expect(entries[1].error?.contains("[backup-failed]") == true)
        #expect(await fixture.notifier.delivered.map(\.kind) == [event])
        #expect(await fixture.notifier.delivered.first?.correlationID == entries[0].correlationID)
    }

    @Test("an engine error is recorded, then rethrown with the operation and target")
    func engineError() async throws {
        let fixture = Fixture()
        await fixture.inner.failNextStart(with: RecoveryError(.unreachable, "the API server did not answer"))
        let error = await #expect(throws: RecoveryError.self) {
            try await fixture.coordinator.backup(BackupRequest(name: "b1"))
        }
        #expect(error?.code == .unreachable)
        #expect(error?.operation == "backup.create")
        #expect(error?.target == "backup/b1")
        let entries = await fixture.trail.allEntries
        #expect(entries.last?.outcome == .failure)
        #expect(entries.last?.error == "[unreachable] the API server did not answer")
    }

    @Test("invalid input is rejected before anything is recorded or changed", arguments: [
        BackupRequest(name: "Bad_Name"),
        BackupRequest(name: "ok", includedNamespaces: ["Data_Platform"]),
        BackupRequest(name: "ok", excludedNamespaces: ["--kubeconfig=/x"]),
        BackupRequest(name: "ok", includedResources: ["Deployments"]),
        BackupRequest(name: "ok", ttl: GoDuration(nanoseconds: -1)),
        BackupRequest(name: "ok", storageLocation: "$(id)"),
    ])
    func invalidBackup(request: BackupRequest) async throws {
        let fixture = Fixture()
        let error = await #expect(throws: RecoveryError.self) { try await fixture.coordinator.backup(request) }
        #expect(error?.code == .invalidInput)
        #expect(await fixture.trail.allEntries.isEmpty)
        #expect(await fixture.inner.events.isEmpty)
    }

    @Test("when the attempt cannot be recorded the operation never starts")
    func auditFailureBlocksOperation() async throws {
        let fixture = Fixture()
        await fixture.trail.failAppends(with: RecoveryError(.auditFailure, "disk full"))
        let error = await #expect(throws: RecoveryError.self) { try await fixture.coordinator.backup(BackupRequest(name: "b1")) }
        #expect(error?.code == .auditFailure)
        #expect(await fixture.inner.events.isEmpty)
    }

    @Test("a cancelled wait is recorded as abandoned")
    func cancellation() async throws {
        let trail = InMemoryAuditTrail()
        let coordinator = RecoveryCoordinator(
            engine: HangingEngine(), storage: InMemoryStorageBackend(), audit: trail, logger: Logger(label: "test"))
        let task = Task { try await coordinator.backup(BackupRequest(name: "slow")) }
        for _ in 0..<200 where await trail.allEntries.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        _ = await task.result
        let entries = await trail.allEntries
        #expect(entries.map(\.kind) == [.attempt, .outcome])
        #expect(entries.last?.outcome == .abandoned)
        #expect(entries.last?.error == "cancelled by the caller")
    }

    @Test("a restore records its duration and raises a restore-finished event")
    func restore() async throws {
        let fixture = Fixture()
        try await fixture.coordinator.backup(BackupRequest(name: "daily-1", includedNamespaces: ["data-platform"]))
        let status = try await fixture.coordinator.restore(RestoreRequest(
            name: "restore-test-1", source: .backup("daily-1"), namespaceMappings: ["data-platform": "data-platform-restore-test"]))
        #expect(status.phase == .completed)
        #expect(status.backupName == "daily-1")
        let entries = await fixture.trail.allEntries
        #expect(entries.suffix(2).map(\.operation) == ["restore.create", "restore.create"])
        #expect(entries[2].parameters.contains("\"namespaceMappings\":{\"data-platform\":\"data-platform-restore-test\"}"))
        #expect(entries[3].outcome == .success)
        #expect(await fixture.notifier.delivered.map(\.kind) == [.restoreFinished])
        #expect(await fixture.engine.attemptsSeenAtSideEffect == [1, 1])
    }

    @Test("a restore that ends PartiallyFailed throws restore-failed after recording it")
    func failedRestore() async throws {
        let fixture = Fixture()
        try await fixture.coordinator.backup(BackupRequest(name: "daily-1"))
        await fixture.inner.scriptNextRestore(phase: .partiallyFailed)
        let error = await #expect(throws: RecoveryError.self) {
            try await fixture.coordinator.restore(RestoreRequest(name: "r1", source: .backup("daily-1")))
        }
        #expect(error?.code == .restoreFailed)
        #expect(await fixture.trail.allEntries.last?.outcome == .failure)
    }

    @Test("restore requests are validated", arguments: [
        RestoreRequest(name: "r", source: .backup("UPPER")),
        RestoreRequest(name: "r", source: .schedule("a;b")),
        RestoreRequest(name: "r", source: .backup("b"), namespaceMappings: ["data-platform": "Bad"]),
        RestoreRequest(name: "r", source: .backup("b"), namespaceMappings: ["a": "x", "b": "x"]),
        RestoreRequest(name: "-r", source: .backup("b")),
    ])
    func invalidRestore(request: RestoreRequest) async throws {
        let fixture = Fixture()
        let error = await #expect(throws: RecoveryError.self) { try await fixture.coordinator.restore(request) }
        #expect(error?.code == .invalidInput)
        #expect(await fixture.trail.allEntries.isEmpty)
    }

    @Test("delete goes through the engine, and a missing backup is a recorded not-found")
    func delete() async throws {
        let fixture = Fixture()
        try await fixture.coordinator.backup(BackupRequest(name: "old-1"))
        #expect(await fixture.storage.keys.count == 2)
        try await fixture.coordinator.deleteBackup(named: "old-1")
        #expect(await fixture.storage.keys.isEmpty)
        #expect(await fixture.inner.events.contains("deleteBackup:old-1"))
        let error = await #expect(throws: RecoveryError.self) { try await fixture.coordinator.deleteBackup(named: "old-1") }
        #expect(error?.code == .notFound)
        let entries = await fixture.trail.allEntries
        #expect(entries.suffix(4).map(\.operation) == Array(repeating: "backup.delete", count: 4))
        #expect(entries.suffix(4).compactMap(\.outcome) == [.success, .failure])
    }

    @Test("validation passes on a good backup and fails, recorded, when an artifact is missing")
    func validation() async throws {
        let fixture = Fixture()
        try await fixture.coordinator.backup(BackupRequest(name: "daily-1", ttl: .hours(24)))
        let good = try await fixture.coordinator.validateBackup(named: "daily-1")
        #expect(good.isValid, "\(good.problems)")
        #expect(good.artifacts.count == 2)
        try await fixture.storage.delete("backups/daily-1/daily-1.tar.gz")
        let bad = try await fixture.coordinator.validateBackup(named: "daily-1")
        #expect(!bad.isValid)
        // Missing now, and gone since the first validation recorded its digest: a mismatch.
        #expect(bad.problems.first == "backups/daily-1/daily-1.tar.gz is missing from storage")
        #expect(bad.checks.filter { !$0.passed }.map(\.name) == ["artifact:daily-1.tar.gz", "digests:vanished"])
        let entries = await fixture.trail.allEntries
        #expect(entries.suffix(4).compactMap(\.outcome) == [.success, .failure])
        #expect(entries.last?.error?.contains("daily-1.tar.gz is missing") == true)
        #expect(await fixture.notifier.delivered.map(\.kind) == [.validationMismatch])
    }

    @Test("an engine that cannot inspect its artifacts: validation reports 'not inspected', a failure, never a pass")
    func validationWithoutInspection() async throws {
        /// Forwards everything but inspection, so the protocol's default answers for it.
        struct UninspectingEngine: BackupEngine {
            let inner: InMemoryBackupEngine
            func startBackup(_ request: BackupRequest) async throws -> BackupStatus { try await inner.startBackup(request) }
            func backupStatus(named name: String) async throws -> BackupStatus? { try await inner.backupStatus(named: name) }
            func waitForBackup(named name: String, progress: @escaping @Sendable (BackupStatus) -> Void) async throws -> BackupStatus {
                try await inner.waitForBackup(named: name, progress: progress)
            }
            func listBackups() async throws -> [BackupStatus] { try await inner.listBackups() }
            func deleteBackup(named name: String) async throws { try await inner.deleteBackup(named: name) }
            func storagePrefix(ofBackup name: String) async throws -> String { try await inner.storagePrefix(ofBackup: name) }
            func startRestore(_ request: RestoreRequest) async throws -> RestoreStatus { try await inner.startRestore(request) }
            func restoreStatus(named name: String) async throws -> RestoreStatus? { try await inner.restoreStatus(named: name) }
            func waitForRestore(named name: String, progress: @escaping @Sendable (RestoreStatus) -> Void) async throws -> RestoreStatus {
                try await inner.waitForRestore(named: name, progress: progress)
            }
        }
        let storage = InMemoryStorageBackend()
        let trail = InMemoryAuditTrail()
        let notifier = RecordingNotifier()
        let coordinator = RecoveryCoordinator(
            engine: UninspectingEngine(inner: InMemoryBackupEngine(storage: storage)), storage: storage, audit: trail, notifiers: [notifier],
            logger: Logger(label: "test"))
        try await coordinator.backup(BackupRequest(name: "daily-1", ttl: .hours(24)))
        let report = try await coordinator.validateBackup(named: "daily-1")
        #expect(!report.isValid)
        let inspection = try #require(report.checks.first { $0.name == "inspection" })
        #expect(inspection.status == .notChecked && !inspection.passed)
        #expect(report.problems.contains { $0.hasPrefix("not inspected:") }, "\(report.problems)")
        #expect(report.digests.isEmpty)
        let outcome = try #require(await trail.allEntries.last)
        #expect(outcome.outcome == .failure && outcome.error?.contains("not inspected") == true, "\(outcome)")
        #expect(outcome.parameters.contains(#""status":"not-checked""#), "\(outcome.parameters)")
        #expect(await notifier.delivered.map(\.kind) == [.backupFailedValidation])
    }

    @Test("validation fails an expired backup and a PartiallyFailed one")
    func validationOfExpiredBackup() async throws {
        let fixture = Fixture()
        await fixture.inner.addBackup(BackupStatus(
            name: "stale", phase: .partiallyFailed, errors: 2, expiration: Date().addingTimeInterval(-60)))
        try await fixture.storage.put("backups/stale/velero-backup.json", data: [1])
        try await fixture.storage.put("backups/stale/stale.tar.gz", data: [1])
        let report = try await fixture.coordinator.validateBackup(named: "stale")
        #expect(report.checks.filter { !$0.passed }.map(\.name) == ["phase", "errors", "expiration"])
    }

    @Test("a secret in the parameters never reaches the trail")
    func redactionThroughCoordinator() async throws {
        let fixture = Fixture()
        _ = try await fixture.coordinator.perform(
            "drill.run", target: "drill/monthly",
            parameters: ["webhookURL": "https://hooks.example/T0/B0/secret-token", "notes": "token=abc123 and https://user:pw@minio:9000/b"]
        ) { _, _ in (1, ["accessKey": "AKIA-LIVE-KEY"]) }
        let text = await fixture.trail.allEntries.map(\.parameters).joined()
        #expect(!text.contains("secret-token"))
        #expect(!text.contains("abc123"))
        #expect(!text.contains("user:pw"))
        #expect(!text.contains("AKIA-LIVE-KEY"))
        #expect(text.contains("[REDACTED]"))
    }
}

/// Collects progress callbacks (which may come from any task).
final class ProgressLog: Sendable {
    private let storage = Mutex<[BackupPhase]>([])
    func add(_ phase: BackupPhase) { storage.withLock { $0.append(phase) } }
    var phases: [BackupPhase] { storage.withLock { $0 } }
}

import Synchronization
