import CarbonRecovery
import CarbonRecoveryVelero
import Foundation
import Testing

@Suite("Recovery points of a whole-cluster recovery: newest good backup per part, its data loss, in restore order")
struct RecoveryPointsTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    func backup(_ name: String, ago minutes: Double, namespaces: [String] = [], every: Bool = false, cluster: Bool = false, schedule: String? = nil, phase: BackupPhase = .completed) -> BackupStatus {
        BackupStatus(
            name: name, phase: phase, completionTimestamp: Self.now.addingTimeInterval(-minutes * 60), scheduleName: schedule, namespaces: namespaces,
            includesClusterResources: cluster, includesEveryNamespace: every)
    }

    let objectives = [
        RecoveryObjective(namespaceClass: "standard", namespaces: ["monitoring"], rto: .hours(4), rpo: .hours(24)),
        RecoveryObjective(namespaceClass: "critical", namespaces: ["data-platform", "vault-prod"], rto: .hours(1), rpo: .minutes(15)),
    ]

    @Test("cluster first, then critical, standard, and namespaces without an objective; each from its newest validated Completed backup")
    func selection() throws {
        let backups = [
            backup("full-old", ago: 600, every: true, cluster: true, schedule: "full"),
            backup("full-new", ago: 300, every: true, cluster: true, schedule: "full"),
            backup("full-unvalidated", ago: 10, every: true, cluster: true, schedule: "full"),
            backup("critical-1", ago: 12, namespaces: ["data-platform", "vault-prod"], schedule: "critical"),
            backup("critical-failed", ago: 2, namespaces: ["data-platform"], schedule: "critical", phase: .partiallyFailed),
            backup("manual-cluster", ago: 1, cluster: true),
        ]
        let validated: Set = ["full-old", "full-new", "critical-1", "critical-failed", "manual-cluster"]
        let points = RecoveryPoint.select(
            backups: backups, validated: validated, namespaces: ["registry", "monitoring", "vault-prod", "data-platform"],
            clusterSchedule: "full", objectives: objectives, now: Self.now)
        #expect(points.map(\.scope) == [.clusterResources, .namespace("data-platform"), .namespace("vault-prod"), .namespace("monitoring"), .namespace("registry")])
        #expect(points.map { $0.backup?.name } == ["full-new", "critical-1", "critical-1", "full-new", "full-new"])
        #expect(points[1].dataLoss == 12 * 60 && points[1].meetsRPO == true)
        #expect(points[3].meetsRPO == true, "standard: 5 h against 24 h")
        #expect(points[4].objective == nil && points[4].meetsRPO == nil)
        // Without a named schedule, any good backup with cluster resources counts.
        let anyCluster = RecoveryPoint.select(backups: backups, validated: validated, namespaces: [], clusterSchedule: nil, objectives: objectives, now: Self.now)
        #expect(anyCluster.first?.backup?.name == "manual-cluster")
    }

    @Test("a namespace no good backup holds has no point; an excluded namespace is not held by an every-namespace backup")
    func gaps() {
        var full = backup("full", ago: 30, every: true, cluster: true)
        full.excludedNamespaces = ["vault-prod"]
        let points = RecoveryPoint.select(backups: [full], validated: ["full"], namespaces: ["vault-prod", "data-platform"], clusterSchedule: nil, objectives: objectives, now: Self.now)
        #expect(points.map { $0.backup?.name } == ["full", "full", nil])
        #expect(points[1].meetsRPO == false, "30 min against 15 min")
    }

    @Test("a Velero Backup object's namespaces: every namespace unless filtered, its exclusions, and whether it holds cluster resources")
    func veleroScopes() throws {
        func status(_ spec: JSONValue) throws -> BackupStatus {
            var object = KubernetesObject(kind: .veleroBackup, namespace: "velero", name: "b")
            object.json["spec"] = spec
            return try VeleroObjects.backupStatus(object)
        }
        let all = try status(["excludedNamespaces": ["kube-system"]])
        #expect(all.includesEveryNamespace && all.holds(namespace: "data-platform") && !all.holds(namespace: "kube-system"))
        #expect(!all.includesClusterResources, "excluded namespaces make Velero's auto mode leave cluster resources out")
        #expect(try status([:]).includesClusterResources)
        #expect(!(try status(["includedNamespaces": ["a"]]).includesClusterResources))
        #expect(try status(["includedNamespaces": ["a"], "includeClusterResources": true]).includesClusterResources)
        #expect(!(try status(["labelSelector": ["matchLabels": ["app": "x"]]]).includesEveryNamespace))
    }
}
