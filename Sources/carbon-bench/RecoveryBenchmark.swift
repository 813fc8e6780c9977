// carbon-bench recovery-seed [--objects 2000] [--namespaces 6]   (on the first cluster)
// carbon-bench recovery [--backup bench-full] [--runs 5]           (on the recovery cluster)
//
// The whole-cluster recovery of issue 14, as scripts/bench runs it: the seed puts --objects
// ConfigMaps into --namespaces namespaces of the first cluster (besides the sandbox's platform);
// scripts/bench backs the cluster up and validates the backup with the CLI, loses the first
// cluster with its storage kept, and starts the second. Then, on the second:
//
//   1. preflight of the backup (in process, median of --runs): reading its objects as a plan
//      reads them (`VeleroBackupEngine.backupObjects(…, omitting: RecoveryPreflight.unreadFields)`:
//      download, gunzip, untar, parse on every core, check each path)
//      and every check of `RecoveryPreflight` against the target's discovery, beside the
//      baseline of downloading and gunzipping the same tarball (target <= 1.5x). The target's
//      discovery is fetched once beforehand: a fixed cost of the cluster, not of the backup,
//      and part of the command's own time below;
//   2. the recovery itself, as a whole process (`carbon-recovery recover cluster --output json`):
//      the command's own time — everything but the stand-in's restores, as the stand-in
//      measures them itself (`stand-in.carbon-recovery.dev/restore-milliseconds` on each
//      Restore) — as a share of the total (target <= 20 %), with the preflight and the
//      verification shown apart. One run: it fills the cluster.
import CarbonRecovery
import CarbonRecoveryCompression
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryVelero
import CarbonRecoveryVeleroStandIn
import Foundation

func runRecoverySeed(_ options: Options) async throws {
    let kubeconfig = try environmentValue("CARBON_RECOVERY_KUBECONFIG")
    let cache = try environmentValue("CARBON_RECOVERY_KUBECTL_CACHE_DIR")
    let kubectl = try which("kubectl")
    let namespaces = max(options.namespaces, 1)
    let perNamespace = (options.objects + namespaces - 1) / namespaces
    let clock = ContinuousClock()
    let started = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for index in 1...namespaces {
            let namespace = "bench-recovery-\(index)"
            group.addTask {
                var items: [JSONValue] = [["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace), "labels": ["bench": "recovery"]]]]
                for item in 0..<perNamespace {
                    items.append([
                        "apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": ["name": .string("settings-\(item)"), "namespace": .string(namespace), "labels": ["app": .string("app-\(item % 10)")]],
                        "data": ["index": .string(String(item)), "payload": .string(String(repeating: "x", count: 200))],
                    ])
                }
                let list: JSONValue = ["apiVersion": "v1", "kind": "List", "items": .array(items)]
                _ = try timedProcess(kubectl, ["--kubeconfig", kubeconfig, "--cache-dir", cache, "create", "-f", "-", "-o", "name"], stdin: list.canonicalString)
            }
            if index % 2 == 0 { try await group.next() }   // two kubectl processes at a time
        }
        try await group.waitForAll()
    }
    let elapsed = started.duration(to: clock.now)
    print("seeded \(perNamespace * namespaces) ConfigMaps in \(namespaces) namespaces in \(elapsed.components.seconds) s")
}

func runRecovery(_ options: Options) async throws {
    let backupName = options.backupName
    let cluster = try KubectlClusterClient(configuration: .fromEnvironment())
    let storage = try MinIOStorageBackend(configuration: try .fromEnvironment())
    let engine = VeleroBackupEngine(cluster: cluster, storage: storage)
    // Backup sync on the new cluster.
    var backup: BackupStatus?
    for _ in 0..<240 where backup == nil {
        backup = try await engine.backupStatus(named: backupName)
        if backup == nil { try await Task.sleep(for: .milliseconds(250)) }
    }
    guard let backup else { throw BenchError("backup \(backupName) did not sync to the recovery cluster within a minute") }

    // 1. Preflight of the backup vs downloading and gunzipping its tarball.
    let key = try await engine.storagePrefix(ofBackup: backupName) + "\(backupName).tar.gz"
    let discovery = try await cluster.discover()
    let context = RecoveryPreflight.Context(
        targetNamespaces: ["default", "kube-system", "kube-public", "kube-node-lease", "velero"], targetStorageClasses: [],
        installedNamespaces: ["default", "kube-system", "kube-public", "kube-node-lease", "velero"], locationIsReadOnly: true,
        now: Date(), isRestorable: { engine.restores($0) })
    let point = RecoveryPoint(scope: .clusterResources, backup: backup, objective: nil, dataLoss: 0)
    var baseline: [Double] = []
    var preflight: [Double] = []
    var objectCount = 0, tarballBytes = 0
    for _ in 0..<max(options.runs, 3) {
        baseline.append(try await seconds {
            guard let bytes = try await storage.get(key) else { throw BenchError("\(key) is missing") }
            tarballBytes = bytes.count
            _ = try Gzip.decompress(bytes)
        })
        preflight.append(try await seconds {
            let objects = try await engine.backupObjects(named: backupName, in: storage, omitting: RecoveryPreflight.unreadFields)
            objectCount = objects.count
            let findings = RecoveryPreflight.check(points: [point], objects: objects, target: discovery, context: context)
            guard !findings.contains(where: { $0.severity == .error }) else { throw BenchError("the preflight refused: \(findings)") }
        })
    }
    // Where the time goes, one part at a time (median of the same number of runs).
    var parts: [String: [Double]] = [:]
    for _ in 0..<preflight.count {
        var bytes: [UInt8] = [], tar: [UInt8] = [], objects: [BackedUpObject] = []
        parts["download", default: []].append(try await seconds { bytes = try await storage.get(key) ?? [] })
        parts["gunzip", default: []].append(try await seconds { tar = try Gzip.decompress(bytes) })
        parts["untar", default: []].append(try await seconds { _ = try Tar.read(tar) })
        parts["read objects (gunzip, untar, parse)", default: []].append(try await seconds { objects = try VeleroBackupEngine.objects(inTarball: bytes, backup: backupName) })
        parts["read objects, preflight fields only (in order, one core)", default: []].append(try await seconds {
            _ = try VeleroBackupEngine.objectEntries(inTarball: bytes, backup: backupName).map { try VeleroBackupEngine.object(from: $0, backup: backupName, omitting: RecoveryPreflight.unreadFields) }
        })
        parts["checks", default: []].append(await seconds { _ = RecoveryPreflight.check(points: [point], objects: objects, target: discovery, context: context) })
    }
    for (name, values) in parts.sorted(by: { $0.key < $1.key }) { print(String(format: "  %@: %.2f ms", name, median(values) * 1000)) }
    guard objectCount >= 2000 else { throw BenchError("the backup holds \(objectCount) objects; the benchmark needs at least 2,000") }
    report(
        "preflight of backup \(backupName): \(objectCount) objects, \(tarballBytes / 1024) KiB gzip'd (read, parse, every check; median of \(preflight.count))",
        measured: median(preflight) * 1000, unit: "ms", baseline: median(baseline) * 1000,
        baselineName: "download and gunzip the same tarball", target: "<= 1.50x")

    // 2. The recovery, as a whole process, against the stand-in's own restore time.
    let bench = CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
    let cli = URL(fileURLWithPath: bench).deletingLastPathComponent().appendingPathComponent("carbon-recovery").path
    let run = try timedProcess(cli, ["recover", "cluster", "--name", "bench", "--rto", "1h", "--output", "json"])
    let result = try JSONValue(parsing: Array(run.output.utf8))
    guard result["passed"] == true else { throw BenchError("the recovery did not pass: \(result["problems"] ?? .null)") }
    var restoreSeconds = 0.0
    var lines: [String] = []
    for phase in result["phases"]?.arrayValue ?? [] {
        guard let name = phase["restore"]?.stringValue,
              let restore = try await cluster.get(try ObjectReference(kind: .veleroRestore, namespace: "velero", name: name)),
              let text = restore.json[path: ["metadata", "annotations", VeleroStandIn.restoreMillisecondsAnnotation]]?.stringValue,
              let milliseconds = Double(text) else { throw BenchError("restore of phase \(phase) has no stand-in timing") }
        restoreSeconds += milliseconds / 1000
        lines.append("    \(name): stand-in \(String(format: "%.2f", milliseconds / 1000)) s, as the command saw it \(phase["seconds"]?.stringValue ?? "?") s")
    }
    let total = run.seconds
    let own = total - restoreSeconds
    let preflightSeconds = Double(result["preflightSeconds"]?.stringValue ?? "") ?? 0
    let verificationSeconds = Double(result["verificationSeconds"]?.stringValue ?? "") ?? 0
    let verified = result["verification"]?["matched"]?.integerValue ?? 0
    let namespaces = (result["points"]?.arrayValue?.count ?? 1) - 1
    print("")
    print("recover cluster: \(verified) objects verified in \(namespaces) namespaces plus the cluster resources (whole process, 1 run)")
    print("  total (the command, start to exit):      \(String(format: "%.2f", total)) s")
    print("  the stand-in's restores (its own clock): \(String(format: "%.2f", restoreSeconds)) s")
    for line in lines { print(line) }
    print("  the command's own time:                  \(String(format: "%.2f", own)) s = preflight \(String(format: "%.2f", preflightSeconds)) s + verification \(String(format: "%.2f", verificationSeconds)) s + waiting, listing and start-up \(String(format: "%.2f", own - preflightSeconds - verificationSeconds)) s")
    print("  share: \(String(format: "%.1f", own / total * 100)) %   target: <= 20 %")
}
