// VeleroScheduler against the sandbox's kube-apiserver with Velero's real CRDs, in a namespace of
// its own where nothing else acts: plan, apply, idempotency, updates, deletion of managed orphans
// only, and bad policies that change nothing.
import CarbonRecovery
import CarbonRecoveryKubectl
import CarbonRecoveryVelero
import Foundation
import Testing
import TestSupport

@Suite("VeleroScheduler on the sandbox", .timeLimit(.minutes(8)))
struct VeleroSchedulerTests {
    func policy(_ name: String, _ cron: String, paused: Bool = false) throws -> SchedulePolicy {
        SchedulePolicy(
            name: name, cron: try CronSchedule(parsing: cron),
            template: BackupRequest(name: name, includedNamespaces: ["registry"], ttl: .hours(24)), paused: paused)
    }

    @Test("reconcile creates, leaves alone, updates and deletes only what it manages; a dry run and a bad policy change nothing")
    func reconcile() async throws {
        _ = try Sandbox.current()
        let client = try sandboxClient()
        let namespace = uniqueName("velero-sched")
        _ = try await client.apply(KubernetesObject(kind: .namespace, namespace: nil, name: namespace), fieldManager: "carbon-recovery-tests")
        let scheduler = VeleroScheduler(cluster: client, namespace: namespace)
        func live() async throws -> [String: KubernetesObject] {
            Dictionary(uniqueKeysWithValues: try await client.list(.veleroSchedule, namespace: namespace, labelSelector: nil).map { ($0.name ?? "?", $0) })
        }
        // Somebody else's schedule, without our label.
        _ = try await client.apply(VeleroObjects.schedule(try policy("hand-made", "0 5 * * *"), namespace: namespace), fieldManager: "someone-else")

        let wanted = [try policy("daily", "0 2 * * *"), try policy("critical", "*/15 * * * *")]
        let dry = try await scheduler.reconcile(wanted, dryRun: true)
        #expect(dry.steps == [.init(action: .create, schedule: "critical"), .init(action: .create, schedule: "daily")])
        #expect(try await live().keys.sorted() == ["hand-made"], "a dry run changes nothing")
        #expect(try await scheduler.nextRuns(after: Date()).isEmpty, "nothing reconciled yet")

        let applied = try await scheduler.reconcile(wanted, dryRun: false)
        #expect(applied == dry)
        let objects = try await live()
        #expect(objects.keys.sorted() == ["critical", "daily", "hand-made"])
        #expect(objects["daily"]?.spec?["schedule"] == "0 2 * * *" && objects["daily"]?.labels[VeleroDeployment.managedByLabel] == "carbon-recovery")
        #expect(objects["critical"]?.spec?["template"]?["includedNamespaces"] == ["registry"])

        let again = try await scheduler.reconcile(wanted, dryRun: false)
        #expect(again.isEmpty && again.steps.count == 2, "a second reconcile changes nothing: \(again.steps)")

        let reference = try CronSchedule(parsing: "0 2 * * *").nextFire(after: Date(timeIntervalSince1970: 1_800_000_000))
        #expect(try await scheduler.nextRuns(after: Date(timeIntervalSince1970: 1_800_000_000))["daily"] == reference)

        // Pause one, drop the other: update and delete; the hand-made one stays.
        let changed = try await scheduler.reconcile([try policy("daily", "0 2 * * *", paused: true)], dryRun: false)
        #expect(changed.steps == [.init(action: .update, schedule: "daily"), .init(action: .delete, schedule: "critical")])
        let after = try await live()
        #expect(after.keys.sorted() == ["daily", "hand-made"])
        #expect(after["daily"]?.spec?["paused"] == true)
        #expect(try await scheduler.nextRuns(after: Date()).isEmpty, "a paused schedule has no next run")

        // Bad input: one bad policy among good ones, or a name twice — refused, nothing changed.
        let before = try await live().mapValues { $0.json[path: ["metadata", "resourceVersion"]] }
        var bad = try policy("ok-one", "0 3 * * *")
        bad.template.labelSelector = nil
        let invalid = SchedulePolicy(name: "Not_A_Name", cron: try CronSchedule(parsing: "0 1 * * *"), template: BackupRequest(name: "x"))
        for policies in [[bad, invalid], [bad, bad]] {
            do {
                _ = try await scheduler.reconcile(policies, dryRun: false)
                Issue.record("accepted \(policies.map(\.name))")
            } catch let error as RecoveryError {
                #expect(error.code == .invalidInput, "\(error)")
            }
            #expect(try await live().mapValues { $0.json[path: ["metadata", "resourceVersion"]] } == before)
        }
        try await client.delete(try ObjectReference(kind: .namespace, namespace: nil, name: namespace), ignoreNotFound: true)
    }
}
