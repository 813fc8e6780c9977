// The stand-in's periodic controllers on the sandbox — schedules, TTL garbage collection and
// backup sync — seen only through the cluster and the bucket, as an operator would see them.
import CarbonRecovery
import CarbonRecoveryVelero
import Foundation
import Testing
import TestSupport

/// Polls `condition` every 250 ms until it returns a value or `timeout` passes.
@discardableResult
func eventually<T>(within timeout: Duration, _ what: String, _ condition: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = try await condition() { return value }
        try await Task.sleep(for: .milliseconds(250))
    }
    throw RecoveryError(.timeout, "\(what) did not happen within \(timeout)")
}

@Suite("The stand-in's schedules, garbage collection and backup sync", .timeLimit(.minutes(10)))
struct VeleroStandInControllerTests {
    @Test("deleting only the Backup object: backup sync brings it back from storage; deleting through the SDK does not")
    func backupSync() async throws {
        let rig = try Rig()
        let namespace = try await rig.workloadNamespace("sync")
        let name = uniqueName("synced")
        try await rig.coordinator.backup(BackupRequest(name: name, includedNamespaces: [namespace]))
        let reference = try ObjectReference(kind: .veleroBackup, namespace: "velero", name: name)
        let original = try #require(try await rig.client.get(reference))

        // The guide's cleanup: `kubectl delete backup` — the object goes, the data stays …
        try await rig.client.delete(reference, ignoreNotFound: false)
        #expect(try await rig.storage.head(try await rig.engine.storagePrefix(ofBackup: name) + "velero-backup.json") != nil)
        // … and the backup comes back.
        let synced = try await eventually(within: .seconds(30), "backup sync") { try await rig.client.get(reference) }
        #expect(synced.status?["phase"]?.stringValue == "Completed")
        #expect(synced.status?["startTimestamp"] == original.status?["startTimestamp"])
        #expect(synced.json[path: ["metadata", "uid"]] != original.json[path: ["metadata", "uid"]], "a new object")

        // Deleting through the SDK removes the data, so nothing comes back.
        try await rig.coordinator.deleteBackup(named: name)
        try await Task.sleep(for: .seconds(7))   // longer than the sandbox's sync interval (5 s)
        #expect(try await rig.client.get(reference) == nil)
        #expect(try await rig.storage.usage(prefix: try await rig.engine.storagePrefix(ofBackup: name)).objects == 0)
    }

    @Test("an expired backup is garbage-collected with its data")
    func ttlGarbageCollection() async throws {
        let rig = try Rig()
        let namespace = try await rig.workloadNamespace("ttl")
        let name = uniqueName("short-lived")
        let status = try await rig.coordinator.backup(BackupRequest(name: name, includedNamespaces: [namespace], ttl: try GoDuration(parsing: "1s")))
        #expect(status.phase == .completed)
        let prefix = try await rig.engine.storagePrefix(ofBackup: name)
        try await eventually(within: .seconds(60), "garbage collection of \(name)") {
            try await rig.engine.backupStatus(named: name) == nil ? true : nil
        }
        #expect(try await rig.storage.usage(prefix: prefix).objects == 0)
    }

    @Test("a Schedule creates <schedule>-<yyyyMMddHHmmss> backups with the schedule label; a restore from the schedule uses its latest")
    func schedule() async throws {
        let rig = try Rig()
        let namespace = try await rig.workloadNamespace("sched")
        let scheduleName = uniqueName("every3s")
        let policy = SchedulePolicy(
            name: scheduleName, cron: try CronSchedule(parsing: "@every 3s"),
            template: BackupRequest(name: scheduleName, includedNamespaces: [namespace], ttl: .hours(1)))
        _ = try await rig.client.apply(VeleroObjects.schedule(policy), fieldManager: "carbon-recovery-tests")
        let scheduleRef = try ObjectReference(kind: .veleroSchedule, namespace: "velero", name: scheduleName)
        let selector = try LabelSelector(matchLabels: [VeleroObjects.scheduleNameLabel: scheduleName])
        // Whatever happens below, the schedule goes and so do its backups: one left firing every
        // 3 s would load the stand-in for the rest of the suite.
        func removeSchedule() async throws {
            try await rig.client.delete(scheduleRef, ignoreNotFound: true)
            for backup in try await rig.client.list(.veleroBackup, namespace: "velero", labelSelector: selector).compactMap(\.name) {
                try await rig.coordinator.deleteBackup(named: backup)
            }
        }
        do {
            // Pause it as soon as it has fired, before it makes more, and only then wait for that
            // backup to finish: under a loaded suite the stand-in may take a while to get to it.
            let fired = try await eventually(within: .seconds(60), "a scheduled backup") {
                try await rig.client.list(.veleroBackup, namespace: "velero", labelSelector: selector).first
            }
            let paused = VeleroObjects.schedule(SchedulePolicy(name: scheduleName, cron: policy.cron, template: policy.template, paused: true))
            _ = try await rig.client.forceApply(paused, fieldManager: "carbon-recovery-tests")
            let name = try #require(fired.name)
            #expect(name.range(of: "^\(scheduleName)-[0-9]{14}$", options: .regularExpression) != nil, "\(name)")
            let reference = try ObjectReference(kind: .veleroBackup, namespace: "velero", name: name)
            try await eventually(within: .seconds(150), "completion of the scheduled backup \(name)") {
                try await rig.client.get(reference)?.status?["phase"]?.stringValue == "Completed" ? true : nil
            }
            let scheduled = try await rig.client.get(scheduleRef)
            #expect(scheduled?.status?["phase"]?.stringValue == "Enabled")
            #expect(scheduled?.status?["lastBackup"]?.stringValue != nil)
            #expect(try await rig.engine.backupStatus(named: name)?.scheduleName == scheduleName)
            // A backup the schedule made in the moment before the pause took must finish too, or
            // "the latest from the schedule" below could be one still in progress.
            try await eventually(within: .seconds(150), "completion of every backup of \(scheduleName)") {
                try await rig.client.list(.veleroBackup, namespace: "velero", labelSelector: selector)
                    .allSatisfy { BackupPhase(rawValue: $0.status?["phase"]?.stringValue ?? "").isTerminal } ? true : nil
            }

            try await rig.client.delete(try ObjectReference(kind: .configMap, namespace: namespace, name: "settings-2"), ignoreNotFound: false)
            let restored = try await rig.coordinator.restore(RestoreRequest(name: uniqueName("from-schedule"), source: .schedule(scheduleName), includedNamespaces: [namespace]))
            #expect(restored.phase == .completed)
            #expect(try await rig.configMap(namespace, "settings-2") != nil)
        } catch {
            try? await removeSchedule()
            throw error
        }
        try await removeSchedule()
    }

    @Test("a Schedule with a cron Velero rejects is FailedValidation and creates nothing")
    func invalidSchedule() async throws {
        let rig = try Rig()
        let name = uniqueName("bad-cron")
        var schedule = KubernetesObject(kind: .veleroSchedule, namespace: "velero", name: name)
        schedule.json["spec"] = ["schedule": "0 0 * * 7", "template": ["includedNamespaces": ["registry"]]]
        _ = try await rig.client.apply(schedule, fieldManager: "carbon-recovery-tests")
        let reference = try ObjectReference(kind: .veleroSchedule, namespace: "velero", name: name)
        let status = try await eventually(within: .seconds(120), "schedule validation") {
            try await rig.client.get(reference)?.status.flatMap { $0["phase"]?.stringValue == "FailedValidation" ? $0 : nil }
        }
        #expect(status["validationErrors"]?.arrayValue?.first?.stringValue?.contains("0 0 * * 7") == true)
        let selector = try LabelSelector(matchLabels: [VeleroObjects.scheduleNameLabel: name])
        #expect(try await rig.client.list(.veleroBackup, namespace: "velero", labelSelector: selector).isEmpty)
        try await rig.client.delete(reference, ignoreNotFound: false)
    }
}
