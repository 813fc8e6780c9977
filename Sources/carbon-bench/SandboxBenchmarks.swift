// Benchmarks against the sandbox's real servers (scripts/sandbox up; eval "$(scripts/sandbox env)").
//
//   carbon-bench storage [--objects 100000] [--runs 3]
//     usage of a prefix holding --objects objects in Velero's layout (backups/<name>/ with 10
//     files each), as whole processes: `carbon-bench usage-once` (MinIOStorageBackend.usage)
//     vs `aws s3 ls --recursive --summarize` (the peer), same server, same run. Both must
//     report the same objects and bytes. Also shown, in process: usage() vs the per-object stream.
//
//   carbon-bench cluster [--backups 5000] [--runs 3]
//     listing --backups velero.io Backup objects, as whole processes: `carbon-bench list-once`
//     (KubectlClusterClient.list, parsed into objects) vs `kubectl get backups -o json` alone
//     (the floor: the same kubectl, its output drained by the benchmark).
//
// The objects are seeded once and reused: storage objects are written straight into the folder
// rclone serves (seeding is not what is measured), Backup objects through kubectl create.
import CarbonRecovery
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryVelero
import Foundation

struct ProcessTiming {
    var seconds: Double
    var output: String
}

/// Runs a process to completion, draining its output, and times it from launch to exit.
func timedProcess(_ executable: String, _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) throws -> ProcessTiming {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.standardError
    let input = Pipe()
    if stdin != nil { process.standardInput = input }
    let clock = ContinuousClock()
    let start = clock.now
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
    }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let elapsed = start.duration(to: clock.now)
    guard process.terminationStatus == 0 else {
        throw BenchError("\(executable) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
    }
    return ProcessTiming(seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, output: String(decoding: data, as: UTF8.self))
}

func which(_ name: String) throws -> String {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
        let path = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw BenchError("\(name) is not on PATH (scripts/sandbox-assets installs it)")
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func environmentValue(_ name: String) throws -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
        throw BenchError("\(name) is not set: run scripts/sandbox up && eval \"$(scripts/sandbox env)\" first")
    }
    return value
}

let veleroFiles = [
    "velero-backup.json", "%@.tar.gz", "%@-logs.gz", "%@-resource-list.json.gz", "%@-volumesnapshots.json.gz",
    "%@-itemoperations.json.gz", "%@-results.gz", "%@-podvolumebackups.json.gz", "%@-csi-volumesnapshots.json.gz",
    "%@-csi-volumesnapshotcontents.json.gz",
]

// MARK: - storage

func runStorage(_ options: Options) async throws {
    let sandbox = try environmentValue("CARBON_RECOVERY_SANDBOX_DIR")
    let endpoint = try environmentValue("CARBON_RECOVERY_S3_ENDPOINT")
    let bucket = try environmentValue("CARBON_RECOVERY_S3_BUCKET")
    let prefix = "bench/usage-\(options.objects)/"
    let root = "\(sandbox)/s3/\(bucket)/\(prefix)"
    let backups = options.objects / veleroFiles.count
    var expectedBytes: Int64 = 0
    let marker = root + ".seeded"
    let seeded = FileManager.default.fileExists(atPath: marker)
    if !seeded { print("seeding \(backups * veleroFiles.count) objects under s3://\(bucket)/\(prefix) (once)") }
    for index in 0..<backups {
        let name = String(format: "bench-backup-%05d", index)
        let directory = "\(root)backups/\(name)"
        if !seeded { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        for (fileIndex, pattern) in veleroFiles.enumerated() {
            let size = 16 + (index * 7 + fileIndex * 13) % 240
            expectedBytes += Int64(size)
            if !seeded {
                let file = directory + "/" + pattern.replacingOccurrences(of: "%@", with: name)
                _ = FileManager.default.createFile(atPath: file, contents: Data(repeating: UInt8(truncatingIfNeeded: index), count: size))
            }
        }
    }
    if !seeded {
        _ = FileManager.default.createFile(atPath: marker, contents: Data())
        // rclone serves its cached directory listings (for up to 5 minutes) and so would not see
        // files written straight into its folder; SIGHUP makes it drop that cache.
        let pidFile = "\(sandbox)/rclone.pid"
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BenchError("cannot read the S3 server's PID from \(pidFile), so it cannot be told to see the seeded objects")
        }
        guard kill(pid, SIGHUP) == 0 else { throw BenchError("cannot signal the S3 server (pid \(pid)): \(String(cString: strerror(errno)))") }
    }
    let expectedObjects = backups * veleroFiles.count
    // The marker is an object too; count it.
    let expected = (objects: expectedObjects + 1, bytes: expectedBytes)

    let aws = try which("aws")
    let bench = CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
    let awsEnvironment = ["AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""]
    var ours: [Double] = []
    var peer: [Double] = []
    for run in 1...options.runs {
        let mine = try timedProcess(bench, ["usage-once", "--prefix", prefix])
        let theirs = try timedProcess(aws, ["s3", "ls", "s3://\(bucket)/\(prefix)", "--recursive", "--summarize", "--endpoint-url", endpoint], environment: awsEnvironment)
        let myFigures = mine.output.split(separator: " ").compactMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let theirObjects = theirs.output.split(separator: "\n").first { $0.contains("Total Objects:") }.flatMap { Int64($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
        let theirBytes = theirs.output.split(separator: "\n").first { $0.contains("Total Size:") }.flatMap { Int64($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
        guard myFigures == [Int64(expected.objects), expected.bytes], theirObjects == Int64(expected.objects), theirBytes == expected.bytes else {
            throw BenchError("the two disagree or miss objects: ours \(myFigures), aws \(String(describing: theirObjects))/\(String(describing: theirBytes)), expected \(expected)")
        }
        ours.append(mine.seconds)
        peer.append(theirs.seconds)
        print(String(format: "  run %d: carbon-recovery %.3f s, aws s3 ls %.3f s (%d objects, %lld bytes, both)", run, mine.seconds, theirs.seconds, expected.objects, expected.bytes))
    }
    print("")
    report(
        "storage usage of \(expected.objects) objects (whole process, median of \(options.runs))", measured: median(ours), unit: "s",
        baseline: median(peer), baselineName: "aws s3 ls --recursive --summarize, same server", target: "<= 0.50x")

    // For the record, in process (no process start-up on either side): usage() against the
    // protocol's default, which sums the per-object stream.
    let storage = try MinIOStorageBackend(configuration: try .fromEnvironment())
    var streamed = 0
    let perObject = try await seconds {
        for try await _ in storage.list(prefix: prefix) { streamed += 1 }
    }
    var usage = StorageUsage(prefix: prefix, objects: 0, bytes: 0)
    let summed = try await seconds { usage = try await storage.usage(prefix: prefix) }
    guard streamed == expected.objects, usage.objects == expected.objects, usage.bytes == expected.bytes else { throw BenchError("in-process listing disagrees") }
    report(
        "in process: usage() summing whole pages", measured: summed, unit: "s",
        baseline: perObject, baselineName: "list() one StorageObject at a time, same client", target: "informational")
}

func runUsageOnce(_ options: Options) async throws {
    let storage = try MinIOStorageBackend(configuration: try .fromEnvironment())
    let usage = try await storage.usage(prefix: options.prefix)
    print("\(usage.objects) \(usage.bytes)")
}

// MARK: - cluster

func runCluster(_ options: Options) async throws {
    let kubeconfig = try environmentValue("CARBON_RECOVERY_KUBECONFIG")
    let cache = try environmentValue("CARBON_RECOVERY_KUBECTL_CACHE_DIR")
    let kubectl = try which("kubectl")
    let namespace = "bench-backups-\(options.backups)"
    let client = try KubectlClusterClient(configuration: .fromEnvironment())
    _ = try await client.apply(KubernetesObject(kind: .namespace, namespace: nil, name: namespace), fieldManager: "carbon-bench")
    let existing = try await client.list(.veleroBackup, namespace: namespace, labelSelector: nil).count
    if existing < options.backups {
        print("seeding \(options.backups - existing) Backup objects in namespace \(namespace) (once)")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("carbon-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let perFile = 250
        var files: [String] = []
        for start in stride(from: existing, to: options.backups, by: perFile) {
            let items: [JSONValue] = (start..<min(start + perFile, options.backups)).map { index in
                let name = String(format: "daily-2026112%d%06d", index % 10, index)
                return KubernetesObject(kind: .veleroBackup, namespace: namespace, name: name, labels: ["velero.io/schedule-name": "daily", "velero.io/storage-location": "default"], body: [
                    "spec": ["includedNamespaces": ["data-platform", "monitoring", "registry", "vault-prod"], "ttl": "720h0m0s", "storageLocation": "default",
                             "excludedResources": ["events"], "snapshotVolumes": false],
                    "status": ["phase": "Completed", "version": 1, "formatVersion": "1.1.0", "startTimestamp": "2026-11-25T02:00:00Z",
                               "completionTimestamp": "2026-11-25T02:03:12Z", "expiration": "2026-12-25T02:00:00Z",
                               "progress": ["itemsBackedUp": .integer(Int64(100 + index % 50)), "totalItems": .integer(Int64(100 + index % 50))], "warnings": 0, "errors": 0],
                ]).json
            }
            let file = scratch.appendingPathComponent("backups-\(start).json").path
            let list: JSONValue = ["apiVersion": "v1", "kind": "List", "items": .array(items)]
            try Data(list.canonicalString.utf8).write(to: URL(fileURLWithPath: file))
            files.append(file)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var pending = files[...]
            func start() {
                guard let file = pending.popFirst() else { return }
                group.addTask {
                    _ = try timedProcess(kubectl, ["--kubeconfig", kubeconfig, "--cache-dir", cache, "create", "-f", file, "-o", "name"])
                }
            }
            for _ in 0..<4 { start() }
            while try await group.next() != nil { start() }
        }
    }
    let bench = CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
    let cli = URL(fileURLWithPath: bench).deletingLastPathComponent().appendingPathComponent("carbon-recovery").path
    let hasCLI = FileManager.default.isExecutableFile(atPath: cli)
    var ours: [Double] = []
    var floor: [Double] = []
    var verb: [Double] = []
    for run in 1...options.runs {
        if hasCLI {
            let listed = try timedProcess(cli, ["backup", "list", "--velero-namespace", namespace, "--output", "json"])
            guard (try JSONValue(parsing: Array(listed.output.utf8))).arrayValue?.count == options.backups else { throw BenchError("carbon-recovery backup list missed backups") }
            verb.append(listed.seconds)
        }
        let mine = try timedProcess(bench, ["list-once", "--namespace", namespace])
        let theirs = try timedProcess(kubectl, ["--kubeconfig", kubeconfig, "--cache-dir", cache, "get", "backups.velero.io", "-n", namespace, "-o", "json"])
        let theirCount = try JSONValue(parsing: Array(theirs.output.utf8))["items"]?.arrayValue?.count ?? -1
        guard Int(mine.output.trimmingCharacters(in: .whitespacesAndNewlines)) == options.backups, theirCount == options.backups else {
            throw BenchError("the two disagree: ours \(mine.output), kubectl \(theirCount), expected \(options.backups)")
        }
        ours.append(mine.seconds)
        floor.append(theirs.seconds)
        print(String(format: "  run %d: carbon-recovery %.3f s, kubectl get -o json %.3f s (%d objects, both)", run, mine.seconds, theirs.seconds, options.backups))
    }
    print("")
    report(
        "list of \(options.backups) Backup objects (whole process, median of \(options.runs))", measured: median(ours), unit: "s",
        baseline: median(floor), baselineName: "kubectl get backups -o json alone (the floor)", target: "<= 1.30x")
    if hasCLI {
        report(
            "carbon-recovery backup list --output json of \(options.backups) backups (the CLI verb, median of \(options.runs))", measured: median(verb), unit: "s",
            baseline: median(floor), baselineName: "kubectl get backups -o json alone (the floor)", target: "<= 1.30x")
    }
    try compareJSONParsers(kubectl: kubectl, kubeconfig: kubeconfig, cache: cache, namespace: namespace, expected: options.backups, runs: options.runs)
}

/// The core's JSON parser against Foundation's on the API server's own bytes: the list of
/// Backups exactly as `kubectl get --raw` returns it (what `KubectlClusterClient` parses).
func compareJSONParsers(kubectl: String, kubeconfig: String, cache: String, namespace: String, expected: Int, runs: Int) throws {
    let raw = try timedProcess(kubectl, ["--kubeconfig", kubeconfig, "--cache-dir", cache, "get", "--raw", "/apis/velero.io/v1/namespaces/\(namespace)/backups"])
    let bytes = Array(raw.output.utf8)
    let data = Data(bytes)
    var ours: [Double] = []
    var serialization: [Double] = []
    var decoder: [Double] = []
    for _ in 0..<max(3, runs) {
        var count = 0
        ours.append(try synchronousSeconds { count = try JSONValue(parsing: bytes)["items"]?.arrayValue?.count ?? -1 })
        guard count == expected else { throw BenchError("JSONValue(parsing:) read \(count) items, expected \(expected)") }
        serialization.append(try synchronousSeconds {
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            count = (object?["items"] as? [Any])?.count ?? -1
        })
        guard count == expected else { throw BenchError("JSONSerialization read \(count) items, expected \(expected)") }
        decoder.append(try synchronousSeconds { count = try JSONDecoder().decode(JSONValue.self, from: data)["items"]?.arrayValue?.count ?? -1 })
        guard count == expected else { throw BenchError("JSONDecoder read \(count) items, expected \(expected)") }
    }
    let megabytes = Double(bytes.count) / 1_000_000
    print("")
    report(
        "parse the API server's list of \(expected) Backups (\(String(format: "%.1f", megabytes)) MB, into JSONValue, median of \(ours.count))",
        measured: median(ours) * 1000, unit: "ms", baseline: median(serialization) * 1000,
        baselineName: "Foundation JSONSerialization.jsonObject, untyped [String: Any]", target: "<= 1.00x")
    report(
        "the same, against Foundation's typed route to the same JSONValue tree", measured: median(ours) * 1000, unit: "ms",
        baseline: median(decoder) * 1000, baselineName: "JSONDecoder().decode(JSONValue.self)", target: "<= 1.00x")
}

func runListOnce(_ options: Options) async throws {
    let engine = VeleroBackupEngine(cluster: try KubectlClusterClient(configuration: .fromEnvironment()), configuration: .init(namespace: options.namespace))
    let backups = try await engine.listBackups()   // parsed into BackupStatus values, sorted newest first
    let completed = backups.filter { $0.phase == .completed }.count
    guard completed == backups.count else { throw BenchError("\(backups.count - completed) backups are not Completed") }
    print(backups.count)
}
