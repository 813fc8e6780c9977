// Helpers shared by the test targets: temporary folders, finding the built executables,
// running real processes with a time limit.
import CarbonRecovery
import Foundation

/// A fresh directory removed when the test ends.
public final class TemporaryDirectory {
    public let path: String

    public init() throws {
        path = NSTemporaryDirectory() + "carbon-recovery-tests-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }
}

/// Where the package's executables were built (beside the test bundle), or `CARBON_RECOVERY_BIN_DIR`.
public func executable(_ name: String) throws -> String {
    var candidates: [String] = []
    if let directory = ProcessInfo.processInfo.environment["CARBON_RECOVERY_BIN_DIR"] { candidates.append(directory) }
    var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for _ in 0..<4 {
        candidates.append(directory.path)
        directory = directory.deletingLastPathComponent()
    }
    for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate + "/" + name) {
        return candidate + "/" + name
    }
    throw RecoveryError(.notFound, "cannot find the '\(name)' executable near \(CommandLine.arguments[0]); build the package first (`swift build`) or set CARBON_RECOVERY_BIN_DIR")
}

/// Output and exit status of a finished process.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String
}

/// Runs a process to completion (argv only, no shell), with a time limit.
///
/// The limit guards against a hang; it is not a performance assertion (those live in
/// carbon-bench). The default is generous because the suite runs its tests in parallel on two
/// cores against one shared sandbox: a CLI waiting for the stand-in took over 120 s on CI.
public func run(
    _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: [UInt8]? = nil, timeout: Duration = .seconds(300)
) async throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    let stdin = input.map { _ in Pipe() }
    if let stdin { process.standardInput = stdin }
    try process.run()
    if let stdin, let input {
        // Written from a Dispatch thread too: a large input blocks until the child reads it.
        DispatchQueue.global().async {
            stdin.fileHandleForWriting.write(Data(input))
            try? stdin.fileHandleForWriting.close()
        }
    }
    // Blocking reads run on Dispatch's threads, never on Swift's cooperative pool (two threads
    // on this machine): tests run in parallel, and a pool blocked by reads starves every timer.
    async let outData = readToEnd(output.fileHandleForReading)
    async let errData = readToEnd(error.fileHandleForReading)
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        if ContinuousClock.now > deadline {
            process.terminate()
            throw RecoveryError(.timeout, "\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)")
        }
        try await Task.sleep(for: .milliseconds(10))
    }
    return ProcessResult(
        status: process.terminationStatus, standardOutput: String(decoding: await outData, as: UTF8.self),
        standardError: String(decoding: await errData, as: UTF8.self))
}

/// Reads a pipe to its end on a Dispatch thread.
func readToEnd(_ handle: FileHandle) async -> Data {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: handle.readDataToEndOfFile()) }
    }
}

/// The running sandbox (`scripts/sandbox up`), as described by the environment that
/// `scripts/sandbox env` prints. `scripts/test` starts the sandbox and exports it; running the
/// integration tests without it fails with the command to run — they never skip silently.
public struct Sandbox: Sendable {
    /// The sandbox's run folder.
    public var directory: String
    /// The admin kubeconfig.
    public var kubeconfig: String
    /// A kubeconfig for `viewer`, an authenticated user without RBAC permissions.
    public var viewerKubeconfig: String
    /// Kubeconfigs for Velero's and carbon-recovery's service accounts (tokens the sandbox
    /// issued, bound to the roles in scripts/sandbox-seed/velero-rbac.yaml), and for the users
    /// `dr-operator` (group platform-dr-operators) and `dr-viewer` (platform-dr-viewers).
    public var veleroKubeconfig: String
    public var controllerKubeconfig: String
    public var operatorKubeconfig: String
    public var drViewerKubeconfig: String
    /// kubectl's discovery cache for the sandbox.
    public var kubectlCacheDirectory: String
    /// The SigV4-checking S3 endpoint (rclone) and its bucket.
    public var s3Endpoint: String
    public var bucket: String
    /// The `[default]` credentials file for the S3 endpoint.
    public var credentialsFile: String
    /// The object-lock S3 endpoint (moto, unauthenticated).
    public var lockEndpoint: String
    /// The SigV4-checking S3 endpoint over TLS (rclone, the same keys, a bucket of its own) and
    /// the PEM file of the private CA that signed its certificate.
    public var tlsEndpoint: String
    public var storageCAFile: String
    /// The API server's audit log (JSON lines, scripts/sandbox-seed/apiserver-audit-policy.yaml).
    public var apiserverAuditLog: String
    /// The sandbox's PostgreSQL 15: its port on 127.0.0.1, its data folder, the bucket its
    /// `archive_command` archives WAL into (stanza `sandbox`), the archiver's own audit trail,
    /// and the password file for the superuser `postgres` (PGPASSFILE).
    public var postgresPort: String
    public var postgresData: String
    public var postgresBucket: String
    public var postgresArchiveAuditDB: String
    public var postgresPassFile: String
    /// The repository root (for `scripts/sandbox replica …`).
    public var repositoryRoot: String

    /// The sandbox from the environment.
    public static func current() throws -> Sandbox {
        let environment = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            guard let value = environment[name], !value.isEmpty else {
                throw RecoveryError(.invalidInput, """
                    \(name) is not set: the integration tests need the sandbox. Run them with scripts/test, or first: \
                    scripts/sandbox up && eval "$(scripts/sandbox env)"
                    """)
            }
            return value
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        return Sandbox(
            directory: try value("CARBON_RECOVERY_SANDBOX_DIR"),
            kubeconfig: try value("CARBON_RECOVERY_KUBECONFIG"),
            viewerKubeconfig: try value("CARBON_RECOVERY_SANDBOX_VIEWER_KUBECONFIG"),
            veleroKubeconfig: try value("CARBON_RECOVERY_SANDBOX_VELERO_KUBECONFIG"),
            controllerKubeconfig: try value("CARBON_RECOVERY_SANDBOX_CONTROLLER_KUBECONFIG"),
            operatorKubeconfig: try value("CARBON_RECOVERY_SANDBOX_OPERATOR_KUBECONFIG"),
            drViewerKubeconfig: try value("CARBON_RECOVERY_SANDBOX_DR_VIEWER_KUBECONFIG"),
            kubectlCacheDirectory: try value("CARBON_RECOVERY_KUBECTL_CACHE_DIR"),
            s3Endpoint: try value("CARBON_RECOVERY_S3_ENDPOINT"),
            bucket: try value("CARBON_RECOVERY_S3_BUCKET"),
            credentialsFile: try value("AWS_SHARED_CREDENTIALS_FILE"),
            lockEndpoint: try value("CARBON_RECOVERY_SANDBOX_LOCK_ENDPOINT"),
            tlsEndpoint: try value("CARBON_RECOVERY_SANDBOX_TLS_ENDPOINT"),
            storageCAFile: try value("CARBON_RECOVERY_SANDBOX_STORAGE_CA"),
            apiserverAuditLog: try value("CARBON_RECOVERY_SANDBOX_APISERVER_AUDIT_LOG"),
            postgresPort: try value("CARBON_RECOVERY_SANDBOX_PG_PORT"),
            postgresData: try value("CARBON_RECOVERY_SANDBOX_PG_DATA"),
            postgresBucket: try value("CARBON_RECOVERY_SANDBOX_PG_BUCKET"),
            postgresArchiveAuditDB: try value("CARBON_RECOVERY_SANDBOX_PG_AUDIT_DB"),
            postgresPassFile: try value("PGPASSFILE"),
            repositoryRoot: root)
    }

    /// Runs SQL on the sandbox's PostgreSQL as `postgres` with psql (`-X -A -t`, stopping at the
    /// first error) and returns its output, one row a line, columns separated by `|`.
    public func psql(_ sql: String, database: String = "postgres") async throws -> String {
        let result = try await run(
            "/usr/bin/psql", ["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", postgresPort, "-U", "postgres", "-d", database, "-c", sql],
            environment: ["PGPASSFILE": postgresPassFile], timeout: .seconds(60))
        guard result.status == 0 else {
            throw RecoveryError(.internalError, "psql failed (\(result.status)) on \(sql.prefix(200)): \(result.standardError)")
        }
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs `scripts/sandbox ARGS…` and returns its standard output.
    ///
    /// The limit is above the sandbox's own readiness waits (the API server's is 90 s, sized
    /// for a loaded machine), so the script reports a slow start itself rather than being cut
    /// off while it still waits.
    public func script(_ arguments: String..., timeout: Duration = .seconds(150)) async throws -> String {
        let result = try await run(repositoryRoot + "/scripts/sandbox", arguments, timeout: timeout)
        guard result.status == 0 else {
            throw RecoveryError(.internalError, "scripts/sandbox \(arguments.joined(separator: " ")) failed: \(result.standardError)")
        }
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket on 127.0.0.1 that listens but never accepts: connections complete in the
/// kernel and then hear nothing, which is how a hung server looks to a client.
public final class ListeningSocket: @unchecked Sendable {
    // @unchecked: the descriptor is written once in init and only closed in deinit.
    public let port: Int
    private let descriptor: Int32

    public init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            close(descriptor)
            throw RecoveryError(.internalError, "could not listen on 127.0.0.1")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }

    /// A port on 127.0.0.1 that nothing listens on, below the ephemeral range so that no
    /// outgoing connection takes it before a server started on it binds it.
    public static func unusedPort() throws -> Int { try LoopbackPort.unused() }
}

/// Copies a SQLite database with its write-ahead log and shared-memory files, the way someone
/// with file access copies (or backs up) it.
public func copyDatabase(_ from: String, to: String) throws {
    for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: from + suffix) {
        try FileManager.default.copyItem(atPath: from + suffix, toPath: to + suffix)
    }
}

/// A helper server started for one test (argv only), stopped by PID when the test ends.
/// It must print its port on the first line of standard output; later lines are kept.
public final class BackgroundServer: @unchecked Sendable {
    // @unchecked: `lines` is only touched under `lock`; the process handle is set once in init.
    private let process = Process()
    private let lock = NSLock()
    private var buffer = ""
    private var lines: [String] = []
    public private(set) var port = 0

    public init(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(20)) async throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock {
                self.buffer += String(decoding: data, as: UTF8.self)
                while let newline = self.buffer.firstIndex(of: "\n") {
                    self.lines.append(String(self.buffer[..<newline]))
                    self.buffer = String(self.buffer[self.buffer.index(after: newline)...])
                }
            }
        }
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while true {
            if let first = lock.withLock({ lines.first }), let port = Int(first) {
                self.port = port
                break
            }
            guard process.isRunning, ContinuousClock.now < deadline else {
                stop()
                throw RecoveryError(.timeout, "\(executable) did not print its port")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The lines printed after the port.
    public var output: [String] { lock.withLock { Array(lines.dropFirst()) } }

    /// The lines printed after the port, once there are at least `count` (or after `timeout`).
    public func output(atLeast count: Int, timeout: Duration = .seconds(5)) async throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        while output.count < count, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        // A little longer, so that a line too many would be seen too.
        try await Task.sleep(for: .milliseconds(100))
        return output
    }

    /// Stops the server (SIGTERM, then SIGKILL after 2 s) and waits for it.
    public func stop() { stopProcess(process) }

    deinit { stop() }
}

/// Stops a helper process by PID: SIGTERM, then SIGKILL after 2 s, and waits for it.
public func stopProcess(_ process: Process) {
    guard process.isRunning else { return }
    process.terminate()
    let deadline = Date().addingTimeInterval(2)
    while process.isRunning, Date() < deadline { usleep(10_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
}

/// The repository's `Tests/Fixtures` folder.
public let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// `python3` on PATH.
public func python3() throws -> String {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
        let candidate = "\(directory)/python3"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw RecoveryError(.internalError, "python3 is not on PATH (scripts/bootstrap installs it)")
}

import Logging

/// A log handler that keeps every message with its metadata, for tests that check what was
/// logged (and that no secret was).
public final class CapturedLog: @unchecked Sendable {
    // @unchecked: `entries` is only touched under `lock`.
    private let lock = NSLock()
    private var entries: [(level: Logger.Level, message: String, metadata: [String: String])] = []

    public init() {}

    /// A logger writing here at `level` and above.
    public func logger(_ label: String = "test", level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: label) { _ in Handler(log: self) }
        logger.logLevel = level
        return logger
    }

    /// Every message so far, with metadata flattened into `key=value`.
    public var lines: [String] {
        lock.withLock { entries.map { entry in ([entry.message] + entry.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }).joined(separator: " ") } }
    }

    public var metadata: [[String: String]] { lock.withLock { entries.map(\.metadata) } }

    fileprivate func append(_ level: Logger.Level, _ message: String, _ metadata: [String: String]) {
        lock.withLock { entries.append((level, message, metadata)) }
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            var merged = metadata
            if let extra = event.metadata { merged.merge(extra) { $1 } }
            log.append(event.level, "\(event.message)", merged.mapValues { "\($0)" })
        }
    }
}

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// GETs a loopback URL and parses the JSON answer.
public func getJSON(_ url: String) async throws -> JSONValue {
    let (data, _) = try await URLSession.shared.data(from: URL(string: url)!)
    return try JSONValue(parsing: Array(data))
}

/// The webhook receiver of `Tests/Fixtures/webhook_receiver.py`, on 127.0.0.1, stopped by PID.
/// It verifies signatures and counts accepted deliveries per idempotency key.
public final class WebhookReceiver: Sendable {
    private let server: BackgroundServer
    /// The secret file it verifies signatures with.
    public let secretFile: String
    /// The URL to configure, with a token in its path (which must never show up anywhere).
    public let url: String
    /// The token in ``url``'s path.
    public let token: String

    /// Starts a receiver; `failRate` of requests fail at random (503, timeout, reset).
    public init(
        directory: TemporaryDirectory, secret: String, failRate: Double = 0, status: Int = 0, seed: Int = 1, hangSeconds: Double = 2, unsigned: Bool = false
    ) async throws {
        secretFile = directory.file("webhook-secret-\(UUID().uuidString.prefix(6))")
        try secret.write(toFile: secretFile, atomically: true, encoding: .utf8)
        token = "tok-" + UUID().uuidString.lowercased()
        server = try await BackgroundServer(try python3(), [
            fixturesDirectory + "/webhook_receiver.py", "--secret-file", secretFile, "--fail-rate", String(failRate), "--seed", String(seed),
            "--status", String(status), "--hang-seconds", String(hangSeconds), "--path", "/hook/\(token)",
        ] + (unsigned ? ["--unsigned"] : []))
        url = "http://127.0.0.1:\(server.port)/hook/\(token)"
    }

    /// What it has seen so far.
    public func stats() async throws -> JSONValue { try await getJSON("http://127.0.0.1:\(server.port)/stats") }

    /// Stops it.
    public func stop() { server.stop() }
}

/// A real Alertmanager (Debian's prometheus-alertmanager) on 127.0.0.1, clustering off, stopped by PID.
public final class AlertmanagerProcess: @unchecked Sendable {
    // @unchecked: the process handle is set once in init.
    private let process = Process()
    /// Its base URL.
    public let url: String

    /// Whether the binary is installed (scripts/bootstrap installs it).
    public static let binary = "/usr/bin/prometheus-alertmanager"

    /// Starts it with a config that routes everything to a receiver that sends nothing.
    public init(directory: TemporaryDirectory) async throws {
        let port = try ListeningSocket.unusedPort()
        let config = directory.file("alertmanager-\(port).yml")
        try """
            route: {receiver: "null", group_wait: 1s, group_interval: 1s, repeat_interval: 1h}
            receivers: [{name: "null"}]
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let storage = directory.file("alertmanager-\(port)-data")
        try FileManager.default.createDirectory(atPath: storage, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = [
            "--config.file=\(config)", "--storage.path=\(storage)", "--web.listen-address=127.0.0.1:\(port)", "--cluster.listen-address=",
            "--log.level=warn",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        url = "http://127.0.0.1:\(port)"
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let (_, response) = try? await URLSession.shared.data(from: URL(string: url + "/-/ready")!), (response as? HTTPURLResponse)?.statusCode == 200 { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        stop()
        throw RecoveryError(.timeout, "Alertmanager did not become ready on \(url)")
    }

    /// The alerts it holds that are not resolved (`GET /api/v2/alerts`).
    public func alerts() async throws -> [JSONValue] { try await getJSON(url + "/api/v2/alerts").arrayValue ?? [] }

    /// Stops it (SIGTERM, then SIGKILL after 2 s).
    public func stop() { stopProcess(process) }

    deinit { stop() }
}

/// A `carbon-recovery` process running in the background, its output (stdout and stderr)
/// collected; stopped by PID.
public final class CLIProcess: @unchecked Sendable {
    // @unchecked: `text` is only touched under `lock`; the process handle is set once in init.
    private let process = Process()
    private let lock = NSLock()
    private var text = ""

    /// Starts `carbon-recovery` with `arguments`, the environment merged over this process's.
    public init(_ arguments: [String], environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: try executable("carbon-recovery"))
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.text += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
    }

    /// Everything printed so far.
    public var output: String { lock.withLock { text } }
    /// The lines printed so far.
    public var lines: [String] { output.split(separator: "\n").map(String.init) }

    /// Waits until a printed line satisfies `predicate`.
    ///
    /// - Throws: ``RecoveryError/Code/timeout`` with the output so far, when none does in time or the process ended.
    public func waitForLine(timeout: Duration = .seconds(90), _ predicate: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let line = lines.first(where: predicate) { return line }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RecoveryError(.timeout, "no such line from carbon-recovery; output so far:\n\(output)")
    }

    /// Waits for the exit status, polling without blocking a cooperative thread; `nil` on timeout.
    public func waitForExit(timeout: Duration) async throws -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        guard !process.isRunning else { return nil }
        try await Task.sleep(for: .milliseconds(100))   // the last output
        return process.terminationStatus
    }

    /// SIGTERM, then the exit status.
    public func terminate(timeout: Duration = .seconds(60)) async throws -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        return try await waitForExit(timeout: timeout)
    }

    /// SIGKILL, and waits for it.
    public func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { kill() }
}

/// A deterministic generator (SplitMix64), so that a failing randomized test can be replayed
/// from its seed.
public struct SplitMix: RandomNumberGenerator {
    public var state: UInt64

    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A sandbox of a test's own, in a run folder of its own, for tests that destroy a cluster
/// (full-cluster loss) and so cannot use the shared one. `script("down")`, or `deinit` when the
/// test ends without it, stops every process by PID.
public final class PrivateSandbox: Sendable {
    /// The run folder.
    public let directory: String
    let repositoryRoot: String

    /// Starts `scripts/sandbox up` in a new folder (about 10 s).
    public init() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        repositoryRoot = root
        directory = NSTemporaryDirectory() + "carbon-recovery-sandbox-" + UUID().uuidString.prefix(8).lowercased()
        _ = try await script("up", timeout: .seconds(180))
    }

    deinit {
        // Best effort if the test did not stop it: synchronous, by PID, as `down` always is.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: repositoryRoot + "/scripts/sandbox")
        process.arguments = ["down"]
        process.environment = ProcessInfo.processInfo.environment.merging(["CARBON_RECOVERY_SANDBOX_DIR": directory]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
        process.waitUntilExit()
    }

    /// Runs `scripts/sandbox ARGS…` for this sandbox and returns its standard output.
    @discardableResult
    public func script(_ arguments: String..., timeout: Duration = .seconds(150)) async throws -> String {
        let result = try await run(repositoryRoot + "/scripts/sandbox", arguments, environment: ["CARBON_RECOVERY_SANDBOX_DIR": directory], timeout: timeout)
        guard result.status == 0 else {
            throw RecoveryError(.internalError, "scripts/sandbox \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.standardError.suffix(2_000))")
        }
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The variables `scripts/sandbox env [--recovery-cluster]` exports, as a dictionary.
    public func environment(recoveryCluster: Bool = false) async throws -> [String: String] {
        let text = recoveryCluster ? try await script("env", "--recovery-cluster") : try await script("env")
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("export ") {
            let assignment = line.dropFirst("export ".count)
            guard let equals = assignment.firstIndex(of: "=") else { continue }
            var value = String(assignment[assignment.index(after: equals)...])
            if value.hasPrefix("'") && value.hasSuffix("'") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            values[String(assignment[..<equals])] = value
        }
        return values
    }
}
