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
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Duration = .seconds(120)) async throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    async let outData = Task.detached { output.fileHandleForReading.readDataToEndOfFile() }.value
    async let errData = Task.detached { error.fileHandleForReading.readDataToEndOfFile() }.value
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
