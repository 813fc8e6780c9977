import CarbonRecovery
import Foundation
import Testing

@Suite("Policy value types")
struct PolicyTests {
    @Test("schedule names become label values, so at most 63 characters")
    func scheduleName() throws {
        let cron = try CronSchedule(parsing: "0 2 * * *")
        try SchedulePolicy(name: "daily-backup", cron: cron, template: BackupRequest(name: "x", includedNamespaces: ["data-platform"])).validate()
        #expect(throws: RecoveryError.self) {
            try SchedulePolicy(name: String(repeating: "a", count: 64), cron: cron, template: BackupRequest(name: "x")).validate()
        }
        #expect(throws: RecoveryError.self) {
            try SchedulePolicy(name: "ok", cron: cron, template: BackupRequest(name: "x", includedNamespaces: ["Bad"])).validate()
        }
    }

    @Test("retention and objectives are checked")
    func retentionAndObjectives() throws {
        try RetentionPolicy(ttl: .hours(720), keepLast: 7, keepDaily: 30).validate()
        #expect(throws: RecoveryError.self) { try RetentionPolicy(ttl: GoDuration(nanoseconds: 0)).validate() }
        #expect(throws: RecoveryError.self) { try RetentionPolicy(keepWeekly: -1).validate() }
        let critical = RecoveryObjective(namespaceClass: "critical", namespaces: ["data-platform", "vault-prod"], rto: .hours(1), rpo: .minutes(15))
        try critical.validate()
        let now = Date()
        #expect(critical.isRPOMet(lastBackup: now.addingTimeInterval(-600), now: now))
        #expect(!critical.isRPOMet(lastBackup: now.addingTimeInterval(-6 * 3600), now: now))
        #expect(!critical.isRPOMet(lastBackup: nil, now: now))
        #expect(throws: RecoveryError.self) {
            try RecoveryObjective(namespaceClass: "critical", namespaces: ["ok"], rto: .hours(1), rpo: GoDuration(nanoseconds: 0)).validate()
        }
    }

    @Test("every Velero phase is known, and exactly four are terminal")
    func phases() {
        #expect(BackupPhase.allKnown.count == 13)
        #expect(BackupPhase.allKnown.filter(\.isTerminal) == [.failedValidation, .completed, .partiallyFailed, .failed])
        #expect(RestorePhase.allKnown.filter(\.isTerminal).count == 4)
        #expect(BackupPhase(rawValue: "SomethingNew").isTerminal == false)
    }
}
