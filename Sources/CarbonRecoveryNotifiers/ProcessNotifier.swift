import CarbonRecovery
import Foundation
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Delivers through a separate executable — a team's notifier plugin — so that the CLI needs
/// no rebuild for a notifier type it does not know (see ``NotifierPlugin`` for the protocol).
///
/// Each delivery starts the executable once:
/// - with no arguments, and a scrubbed environment: `PATH=/usr/bin:/bin`, `LANG=C.UTF-8`, plus
///   only the variables the policy entry names (`env.NAME: <reference>`), resolved from
///   `env:`/`file:` references — secrets never go on a command line;
/// - with ``NotifierPlugin/Request`` as JSON on standard input;
/// - within ``Configuration/timeout`` (then it is stopped: SIGTERM, SIGKILL 2 s later, and the
///   try counts as a temporary failure);
/// - with standard output discarded and standard error read up to ``Configuration/maximumErrorBytes``.
///
/// Exit 0 is delivered, 75 a temporary failure (retried by the outbox), anything else — a
/// signal included — permanent or temporary as ``NotifierPlugin/ExitStatus`` says; the first
/// line of standard error is the message, with URLs removed.
///
/// The executable is named by absolute path, or by name in one plugin directory
/// (`carbon-recovery-notifier-<name>`), never looked up on `PATH`: a writable folder on `PATH`
/// could otherwise put another program in its place. For the same reason it, and the folder
/// holding it, must not be writable by group or others, and must belong to root or this user.
///
/// ```yaml
/// notifiers:
///   - name: oncall
///     type: process
///     settings:
///       plugin: pagerduty                         # or command: /opt/notifiers/pagerduty
///       timeoutSeconds: "20"
///       env.PAGERDUTY_ROUTING_KEY: env:PD_ROUTING_KEY
/// ```
public struct ProcessNotifier: Notifier {
    /// How the executable is run.
    public struct Configuration: Sendable {
        /// The executable: an absolute path.
        public var executable: String
        /// Variables added to the scrubbed environment (names and values; values may be secrets).
        public var environment: [String: SecretValue]
        /// How long one delivery may take.
        public var timeout: Duration
        /// How much of standard error is read; a plugin that writes more fails the try.
        public var maximumErrorBytes: Int

        /// Creates a configuration.
        public init(executable: String, environment: [String: SecretValue] = [:], timeout: Duration = .seconds(30), maximumErrorBytes: Int = 16 * 1024) {
            self.executable = executable
            self.environment = environment
            self.timeout = timeout
            self.maximumErrorBytes = maximumErrorBytes
        }
    }

    /// The notifier's name (the policy entry's).
    public let name: String
    /// How the executable is run.
    public let configuration: Configuration

    /// Creates the notifier, checking that the executable may be trusted.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when the path is not absolute, the file is
    ///   missing, not a regular executable file, or it or its folder is writable by group or
    ///   others or belongs to another user; or an environment name is not a plain variable name.
    public init(name: String, configuration: Configuration) throws {
        try Self.checkTrusted(configuration.executable, notifier: name)
        for variable in configuration.environment.keys where !Self.isVariableName(variable) {
            throw RecoveryError.invalidInput("notifier '\(name)': '\(variable)' is not an environment variable name (letters, digits and '_', not starting with a digit)")
        }
        guard configuration.timeout > .zero, configuration.maximumErrorBytes > 0 else {
            throw RecoveryError.invalidInput("notifier '\(name)': the time limit and the error output limit must be positive")
        }
        self.name = name
        self.configuration = configuration
    }

    public func deliver(_ event: RecoveryEvent) async throws {
        let request = Array(NotifierPlugin.Request(notifier: name, event: event).json.canonicalString.utf8)
        // Raw `NAME=value` entries, each NUL-terminated: swift-subprocess hands them to strdup.
        var environment: [[UInt8]] = ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"].map { Array($0.utf8) + [0] }
        for (variable, value) in configuration.environment.sorted(by: { $0.key < $1.key }) {
            environment.append(Array("\(variable)=\(value.value)".utf8) + [0])
        }
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(2))]
        let executable = configuration.executable
        let limit = configuration.maximumErrorBytes
        let (variables, platformOptions) = (environment, options)
        // The request goes in as a file (already deleted), not through a pipe: a plugin that exits
        // without reading its input would make writing to a pipe raise SIGPIPE in this process.
        let input = try Self.requestFile(request)
        let finished: (status: TerminationStatus, error: [UInt8])
        do {
            finished = try await withTimeLimit(configuration.timeout) {
                let result = try await Subprocess.run(
                    .path(FilePath(executable)), arguments: [], environment: .custom(variables), platformOptions: platformOptions,
                    input: .fileDescriptor(FileDescriptor(rawValue: input), closeAfterSpawningProcess: false), output: .discarded,
                    error: .bytes(limit: limit))
                return (result.terminationStatus, result.standardError)
            }
            close(input)
        } catch is TimeLimitExceeded {
            close(input)
            throw NotifierError.temporary("the notifier plugin did not finish within \(configuration.timeout); it was stopped")
        } catch let error as SubprocessError {
            close(input)
            if error.code == .outputLimitExceeded {
                throw NotifierError.permanent("the notifier plugin wrote more than \(limit) bytes to standard error")
            }
            throw NotifierError.temporary("the notifier plugin could not be started: \(error.code)")
        }
        let message = Self.firstLine(finished.error)
        switch finished.status {
        case .exited(NotifierPlugin.ExitStatus.delivered.rawValue):
            return
        case .exited(NotifierPlugin.ExitStatus.retry.rawValue):
            throw NotifierError.temporary(message ?? "the notifier plugin asked for a retry (exit 75)")
        case .exited(let code):
            throw NotifierError.permanent(message ?? "the notifier plugin failed with exit status \(code)")
        case .signaled(let signal):
            throw NotifierError.temporary(message ?? "the notifier plugin was stopped by signal \(signal)")
        }
    }

    /// A file holding `bytes`, open for reading at its start and already unlinked (mode 0600
    /// while it had a name), so nothing is left behind whatever happens to the plugin.
    static func requestFile(_ bytes: [UInt8]) throws -> Int32 {
        var template = Array((NSTemporaryDirectory() + "/carbon-recovery-notify-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw NotifierError.temporary("cannot write the plugin's request to a temporary file: \(String(cString: strerror(errno)))")
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard result > 0 else {
                close(descriptor)
                throw NotifierError.temporary("cannot write the plugin's request to a temporary file: \(String(cString: strerror(errno)))")
            }
            written += result
        }
        lseek(descriptor, 0, SEEK_SET)
        return descriptor
    }

    /// The first non-empty line of a plugin's standard error, at most 500 characters.
    static func firstLine(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let line = text.split(whereSeparator: \.isNewline).map({ $0.trimmingCharacters(in: .whitespaces) }).first(where: { !$0.isEmpty }) else {
            return nil
        }
        return String(line.prefix(500))
    }

    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// Refuses an executable that someone else could have put or changed there.
    static func checkTrusted(_ path: String, notifier: String) throws {
        guard path.hasPrefix("/") else {
            throw RecoveryError.invalidInput("notifier '\(notifier)': the plugin '\(path)' is not an absolute path (plugins are never looked up on PATH)")
        }
        func check(_ file: String, what: String, directory: Bool) throws {
            var info = stat()
            guard stat(file, &info) == 0 else {
                throw RecoveryError.invalidInput("notifier '\(notifier)': the plugin \(what) \(file) does not exist or cannot be read")
            }
            let type = info.st_mode & S_IFMT
            guard directory ? type == S_IFDIR : type == S_IFREG else {
                throw RecoveryError.invalidInput("notifier '\(notifier)': \(file) is not a \(directory ? "folder" : "regular file")")
            }
            guard info.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
                throw RecoveryError.invalidInput(
                    "notifier '\(notifier)': the plugin \(what) \(file) is writable by group or others, so anyone could replace it; chmod go-w it")
            }
            guard info.st_uid == 0 || info.st_uid == getuid() else {
                throw RecoveryError.invalidInput("notifier '\(notifier)': the plugin \(what) \(file) belongs to user \(info.st_uid), neither root nor you")
            }
            if !directory {
                guard access(file, X_OK) == 0 else {
                    throw RecoveryError.invalidInput("notifier '\(notifier)': the plugin \(file) is not executable; chmod +x it")
                }
            }
        }
        try check(path, what: "executable", directory: false)
        try check((path as NSString).deletingLastPathComponent, what: "folder", directory: true)
    }
}
