// The coordinator's scheduled work over the in-memory doubles: RPO checks raise events on
// transitions only (also across a restart, through the audit trail), new backups are validated
// once, and a drill without a backup to restore is a clear, audited failure.
import CarbonRecovery
import CarbonRecoveryTestKit
import Foundation
import Logging
import Synchronization
import Testing

/// A clock the test moves by hand; nothing here sleeps on it.
final class TestTime: WallClock {
    let current: Mutex<Date>
    init(_ start: Date) { current = Mutex(start) }
    func now() -> Date { current.withLock { $0 } }
    func sleep(until deadline: Date) async throws { try Task.checkCancellation() }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 += seconds } }
}

@Suite("Scheduled work of the coordinator")
struct ScheduledWorkTests {
    let objectives = [RecoveryObjective(namespaceClass: "critical", namespaces: ["data-platform", "vault-prod"], rto: .hours(1), rpo: .minutes(15))]

    func coordinator(_ engine: InMemoryBackupEngine, _ audit: InMemoryAuditTrail, _ notifier: RecordingNotifier, _ time: TestTime, storage: InMemoryStorageBackend = InMemoryStorageBackend()) -> RecoveryCoordinator {
        RecoveryCoordinator(
            engine: engine, storage: storage, audit: audit, notifiers: [notifier], clock: time,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    @Test("RPO breaches and recoveries are raised once per transition, also after a restart")
    func rpoTransitions() async throws {
        let time = TestTime(Date(timeIntervalSince1970: 1_790_000_000))
        let engine = InMemoryBackupEngine(clock: time)
        let audit = InMemoryAuditTrail()
        let notifier = RecordingNotifier()
        let coordinator = coordinator(engine, audit, notifier, time)

        let first = try await coordinator.checkRecoveryPoints(objectives)
        #expect(first.breached == ["data-platform", "vault-prod"] && first.newlyBreached == ["data-platform", "vault-prod"])
        #expect(await notifier.delivered.map(\.kind) == [.rpoBreached, .rpoBreached])
        let again = try await coordinator.checkRecoveryPoints(objectives)
        #expect(again.newlyBreached.isEmpty && again.recovered.isEmpty)
        #expect(await notifier.delivered.count == 2, "no repeat while nothing changes")

        _ = try await coordinator.backup(BackupRequest(name: "dp-1", includedNamespaces: ["data-platform"]))
        // A backup narrowed by a selector does not hold vault-prod whole.
        _ = try await coordinator.backup(BackupRequest(name: "vp-db", includedNamespaces: ["vault-prod"], labelSelector: try LabelSelector(parsing: "app=db")))
        time.advance(60)
        let recovered = try await coordinator.checkRecoveryPoints(objectives)
        #expect(recovered.recovered == ["data-platform"] && recovered.breached == ["vault-prod"])
        #expect(recovered.entries.first?.lastBackup == "dp-1" && recovered.entries.first?.age == 60)
        #expect(await notifier.delivered.last?.kind == .rpoRecovered)

        time.advance(15 * 60)
        let stale = try await coordinator.checkRecoveryPoints(objectives)
        #expect(stale.newlyBreached == ["data-platform"])
        #expect(await notifier.delivered.last?.idempotencyKey == "rpo-breached:data-platform:dp-1")

        // A new process (coordinator) over the same trail: the previous check is remembered.
        let restarted = self.coordinator(engine, audit, notifier, time)
        let afterRestart = try await restarted.checkRecoveryPoints(objectives)
        #expect(afterRestart.newlyBreached.isEmpty && afterRestart.recovered.isEmpty)
        #expect(await notifier.delivered.count == 4)
        let checks = try await audit.entries(matching: AuditQuery(operation: "rpo.check", kind: .outcome, limit: 100)).entries
        #expect(checks.count == 5 && checks.allSatisfy { $0.outcome == .success })
    }

    @Test("a backup of every namespace holds each objective namespace it does not exclude")
    func everyNamespaceBackupCounts() async throws {
        let time = TestTime(Date(timeIntervalSince1970: 1_790_000_000))
        let engine = InMemoryBackupEngine(clock: time)
        let coordinator = coordinator(engine, InMemoryAuditTrail(), RecordingNotifier(), time)
        _ = try await coordinator.backup(BackupRequest(name: "full-1", excludedNamespaces: ["vault-prod"]))
        let report = try await coordinator.checkRecoveryPoints(objectives)
        #expect(report.breached == ["vault-prod"], "excluded")
        #expect(report.entries.first { $0.namespace == "data-platform" }?.lastBackup == "full-1")
    }

    @Test("new backups are validated once each, whatever the result; failed and running ones are left alone")
    func validateNewBackupsOnce() async throws {
        let time = TestTime(Date(timeIntervalSince1970: 1_790_000_000))
        let storage = InMemoryStorageBackend()
        let engine = InMemoryBackupEngine(storage: storage, clock: time)
        let audit = InMemoryAuditTrail()
        let coordinator = coordinator(engine, audit, RecordingNotifier(), time, storage: storage)
        _ = try await coordinator.backup(BackupRequest(name: "one", includedNamespaces: ["registry"]))
        _ = try await coordinator.backup(BackupRequest(name: "two", includedNamespaces: ["registry"]))
        await engine.scriptNextBackup(phase: .failed)
        _ = try? await coordinator.backup(BackupRequest(name: "broken", includedNamespaces: ["registry"]))

        let first = try await coordinator.validateNewBackups()
        #expect((first.valid + first.invalid.keys).sorted() == ["one", "two"], "\(first)")
        #expect(first.errors.isEmpty)
        let second = try await coordinator.validateNewBackups()
        #expect(second == NewBackupValidation(), "nothing new: \(second)")
        _ = try await coordinator.backup(BackupRequest(name: "three", includedNamespaces: ["registry"]))
        let third = try await coordinator.validateNewBackups()
        #expect((third.valid + third.invalid.keys) == ["three"])
    }

    @Test("a drill whose schedule has no completed backup fails clearly and is audited")
    func drillWithoutBackup() async throws {
        let time = TestTime(Date(timeIntervalSince1970: 1_790_000_000))
        let audit = InMemoryAuditTrail()
        let coordinator = coordinator(InMemoryBackupEngine(clock: time), audit, RecordingNotifier(), time)
        let drill = DrillPolicy(name: "monthly", cron: try CronSchedule(parsing: "0 4 1 * *"), kind: .restoreTest, schedule: "daily-backup")
        do {
            _ = try await coordinator.runDrill(drill, objectives: objectives)
            Issue.record("a drill with nothing to restore passed")
        } catch let error as RecoveryError {
            #expect(error.code == .notFound && error.message.contains("schedule 'daily-backup' has no Completed backup"), "\(error)")
        }
        let outcomes = try await audit.entries(matching: AuditQuery(operation: "drill.run", kind: .outcome, limit: 10)).entries
        #expect(outcomes.map(\.outcome) == [.failure] && outcomes.first?.target == "drill/monthly")
    }

    @Test("a database's pitr drill is refused by both cluster drill runners, nothing recorded")
    func pitrDrillRefused() async throws {
        let time = TestTime(Date(timeIntervalSince1970: 1_790_000_000))
        let audit = InMemoryAuditTrail()
        let coordinator = coordinator(InMemoryBackupEngine(clock: time), audit, RecordingNotifier(), time)
        let drill = DrillPolicy(name: "db", cron: try CronSchedule(parsing: "0 5 * * 1"), kind: .pitr, schedule: "", database: "platform-db")
        await #expect(throws: RecoveryError.self) { _ = try await coordinator.runDrill(drill, objectives: objectives) }
        let error = await #expect(throws: RecoveryError.self) { _ = try await coordinator.runRecoveryDrill(drill, objectives: objectives, production: nil) }
        #expect(error?.code == .invalidInput && error?.message.contains("PointInTimeRecovery.drill") == true, "\(String(describing: error))")
        #expect(try await audit.entries(matching: AuditQuery(limit: 10)).entries.isEmpty)
    }
}
