// carbon-bench wait [--runs 3]   (needs the sandbox)
//
// The orchestration overhead of a waited backup (`backup create --wait` through the
// RecoveryCoordinator and VeleroBackupEngine, with a real SQLite audit trail), beyond the work
// of whoever runs the backup. In a namespace of its own, a separate shell process plays Velero's
// server with `kubectl patch`: InProgress with progress once a second for D seconds, then
// Completed. The engine's kubectl is a counting shim, so every process the SDK starts is counted.
//
// Measured per waited backup, for D = 2 s and D = 20 s:
//   - kubectl processes started by the SDK (target <= 3, whatever D), beside the baseline of
//     a script that polls `kubectl get` once a second until a terminal phase (the usual way);
//   - SDK CPU time (user+system of this process, which runs no controller) (target <= 150 ms),
//     and the wall-clock overhead: the whole call minus the controller's own time, beside the
//     baseline of one `kubectl get` process (what any single step costs).
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryKubectl
import CarbonRecoveryVelero
import Foundation
import Logging

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func runWait(_ options: Options) async throws {
    let kubeconfig = try environmentValue("CARBON_RECOVERY_KUBECONFIG")
    let cache = try environmentValue("CARBON_RECOVERY_KUBECTL_CACHE_DIR")
    let kubectl = try which("kubectl")
    let namespace = "bench-wait"
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("carbon-bench-wait-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: scratch) }

    // The counting shim: one line per kubectl process the SDK starts.
    let counter = scratch + "/kubectl-count"
    let shim = scratch + "/kubectl"
    try "#!/bin/sh\necho x >> '\(counter)'\nexec '\(kubectl)' \"$@\"\n".write(toFile: shim, atomically: true, encoding: .utf8)
    chmod(shim, 0o755)
    func count() -> Int { ((try? String(contentsOfFile: counter, encoding: .utf8)) ?? "").split(separator: "\n").count }

    var configuration = KubectlClusterClient.Configuration.fromEnvironment()
    configuration.kubectl = shim
    let client = try KubectlClusterClient(configuration: configuration)
    _ = try await KubectlClusterClient(configuration: .fromEnvironment())
        .apply(KubernetesObject(kind: .namespace, namespace: nil, name: namespace), fieldManager: "carbon-bench")
    let engine = VeleroBackupEngine(cluster: client, configuration: .init(namespace: namespace))
    let trail = try await SQLiteAuditTrail(path: scratch + "/audit.db")
    let coordinator = RecoveryCoordinator(
        engine: engine, storage: NoStorage(), audit: trail, actor: AuditActor(user: "bench", cluster: "sandbox"),
        logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
    let base = ["--kubeconfig", kubeconfig, "--cache-dir", cache, "-n", namespace]

    // The controller: a separate process, so none of its work is counted as ours.
    func controllerScript(_ name: String, seconds: Int) -> String {
        let k = ([kubectl] + base).map { "'\($0)'" }.joined(separator: " ")
        return """
            until \(k) get backups.velero.io \(name) -o name >/dev/null 2>&1; do sleep 0.02; done
            date +%s.%N > '\(scratch)/\(name).created'
            for i in $(seq 1 \(seconds)); do
              \(k) patch backups.velero.io \(name) --type merge -p "{\\"status\\":{\\"phase\\":\\"InProgress\\",\\"progress\\":{\\"totalItems\\":\(seconds),\\"itemsBackedUp\\":$i}}}" >/dev/null
              sleep 1
            done
            \(k) patch backups.velero.io \(name) --type merge -p '{"status":{"phase":"Completed","progress":{"totalItems":\(seconds),"itemsBackedUp":\(seconds)}}}' >/dev/null
            date +%s.%N > '\(scratch)/\(name).completed'
            """
    }
    func stamp(_ file: String) throws -> Double {
        guard let value = Double(try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) else { throw BenchError("bad stamp in \(file)") }
        return value
    }

    // Baseline for the process count: a poll once a second until a terminal phase.
    func pollingBaseline(seconds: Int) async throws -> Int {
        let name = "poll-\(seconds)s-\(UUID().uuidString.prefix(6).lowercased())"
        let k = ([kubectl] + base).map { "'\($0)'" }.joined(separator: " ")
        let controller = Process()
        controller.executableURL = URL(fileURLWithPath: "/bin/bash")
        controller.arguments = ["-c", controllerScript(name, seconds: seconds)]
        try controller.run()
        let create = try timedProcess(kubectl, base + ["create", "-f", "-", "-o", "name"], stdin: VeleroObjects.backup(BackupRequest(name: name), namespace: namespace).json.canonicalString)
        _ = create
        let polls = try timedProcess("/bin/bash", ["-c", """
            n=0
            while :; do
              n=$((n+1)); phase=$(\(k) get backups.velero.io \(name) -o jsonpath='{.status.phase}')
              case "$phase" in Completed|PartiallyFailed|Failed|FailedValidation) break ;; esac
              sleep 1
            done
            echo $n
            """])
        controller.waitUntilExit()
        return 1 + (Int(polls.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1)   // the create, then the polls
    }

    var lines: [String] = []
    for seconds in [2, 20] {
        var processes: [Int] = []
        var cpu: [Double] = []
        var overhead: [Double] = []
        var polled: [Int] = []
        for _ in 1...max(1, seconds > 10 ? 1 : options.runs) {
            let name = "wait-\(seconds)s-\(UUID().uuidString.prefix(6).lowercased())"
            let controller = Process()
            controller.executableURL = URL(fileURLWithPath: "/bin/bash")
            controller.arguments = ["-c", controllerScript(name, seconds: seconds)]
            try controller.run()
            try? FileManager.default.removeItem(atPath: counter)
            let cpuBefore = cpuSeconds()
            let wall = try await timed {
                let status = try await coordinator.backup(BackupRequest(name: name, includedNamespaces: ["data-platform"])) { _ in }
                guard status.phase == .completed else { throw BenchError("\(name) ended \(status.phase)") }
            }
            cpu.append(cpuSeconds() - cpuBefore)
            processes.append(count())
            controller.waitUntilExit()
            let controllerTime = try stamp("\(scratch)/\(name).completed") - stamp("\(scratch)/\(name).created")
            overhead.append(wall - controllerTime)
            polled.append(try await pollingBaseline(seconds: seconds))
        }
        let oneGet = median(try (1...3).map { _ in try timedProcess(kubectl, base + ["get", "backups.velero.io", "-o", "name"]).seconds })
        lines.append(String(format: "backup lasting %2d s: %d kubectl processes (polling script: %d, ratio %.2fx; target <= 3), SDK CPU %.0f ms/op (target <= 150 ms), wall overhead %.0f ms/op vs one kubectl get %.0f ms (ratio %.2fx)",
            seconds, processes.max() ?? -1, polled.max() ?? -1, Double(processes.max() ?? 0) / Double(max(1, polled.max() ?? 1)),
            median(cpu) * 1000, median(overhead) * 1000, oneGet * 1000, median(overhead) / oneGet))
        print(lines.last!)
    }
}

func timed(_ body: () async throws -> Void) async throws -> Double { try await seconds(body) }

/// The wait benchmark validates nothing, so it needs no storage.
struct NoStorage: StorageBackend {
    func checkAccess() async throws {}
    func list(prefix: String) -> AsyncThrowingStream<StorageObject, any Error> { AsyncThrowingStream { $0.finish() } }
    func head(_ key: String) async throws -> StorageObject? { nil }
    func get(_ key: String) async throws -> [UInt8]? { nil }
    func put(_ key: String, data: [UInt8]) async throws {}
    func delete(_ key: String) async throws {}
}
