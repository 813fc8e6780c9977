import CarbonRecovery
import Foundation
import Logging
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Starts kubectl processes: global flags, a deadline, output limits, error mapping.
struct KubectlRunner: Sendable {
    let configuration: KubectlClusterClient.Configuration
    let logger: Logger

    /// The global flags every call carries, before the verb's own.
    func globalArguments(requestTimeout: Duration?) -> [String] {
        var arguments: [String] = []
        if let kubeconfig = configuration.kubeconfig { arguments.append("--kubeconfig=\(kubeconfig)") }
        if let context = configuration.context { arguments.append("--context=\(context)") }
        if let cache = configuration.cacheDirectory { arguments.append("--cache-dir=\(cache)") }
        if let requestTimeout {
            let seconds = max(1, Int((Double(requestTimeout.components.seconds) + Double(requestTimeout.components.attoseconds) / 1e18).rounded(.up)))
            arguments.append("--request-timeout=\(seconds)s")
        }
        return arguments
    }

    var executable: Executable {
        configuration.kubectl.contains("/") ? .path(FilePath(configuration.kubectl)) : .name(configuration.kubectl)
    }

    /// Platform options shared by every call: the process gets its own process group so that
    /// a wrapper kubectl (some distributions ship a dispatcher that starts the real one) is
    /// stopped with everything it started.
    var platformOptions: PlatformOptions {
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .milliseconds(500))]
        return options
    }

    /// Runs one kubectl command and returns its standard output.
    ///
    /// - Throws: `RecoveryError` mapped from the exit status and standard error, or
    ///   `RecoveryError.Code.timeout` when the call outlives ``KubectlClusterClient/Configuration/requestTimeout``.
    func run(_ arguments: [String], input: [UInt8]? = nil, operation: String, target: String?) async throws -> [UInt8] {
        let started = ContinuousClock.now
        let timeout = configuration.requestTimeout
        let all = globalArguments(requestTimeout: timeout) + arguments
        let verb = arguments.first ?? "kubectl"
        defer {
            let elapsed = ContinuousClock.now - started
            logger.debug("kubectl call", metadata: [
                "verb": "\(verb)", "operation": "\(operation)", "target": "\(target ?? "-")", "elapsed": "\(elapsed)",
            ])
        }
        let result: Collected
        do {
            result = try await withTimeLimit(timeout + .seconds(2)) {
                try await self.collect(all, input: input)
            }
        } catch is TimeLimitExceeded {
            throw RecoveryError(.timeout, "kubectl \(verb) did not finish within \(timeout)", operation: operation, target: target)
        } catch let error as SubprocessError {
            throw launchError(error, operation: operation, target: target)
        }
        if result.status.isSuccess { return result.output }
        // Cancelled while kubectl ran: the process was stopped on purpose, and the caller asked
        // for that, not for a kubectl failure.
        try Task.checkCancellation()
        throw KubectlErrorMapper.error(
            status: result.status, standardError: result.error, verb: verb, tailBytes: configuration.errorTailBytes,
            operation: operation, target: target)
    }

    struct Collected: Sendable {
        var status: TerminationStatus
        var output: [UInt8]
        var error: [UInt8]
    }

    private func collect(_ arguments: [String], input: [UInt8]?) async throws -> Collected {
        let limit = configuration.maximumOutputBytes
        if let input {
            let result = try await Subprocess.run(
                executable, arguments: Arguments(arguments), platformOptions: platformOptions,
                input: .array(input), output: .bytes(limit: limit), error: .bytes(limit: 4 << 20))
            return Collected(status: result.terminationStatus, output: result.standardOutput, error: result.standardError)
        }
        let result = try await Subprocess.run(
            executable, arguments: Arguments(arguments), platformOptions: platformOptions,
            input: .none, output: .bytes(limit: limit), error: .bytes(limit: 4 << 20))
        return Collected(status: result.terminationStatus, output: result.standardOutput, error: result.standardError)
    }

    func launchError(_ error: SubprocessError, operation: String, target: String?) -> RecoveryError {
        if error.code == .executableNotFound {
            return RecoveryError(
                .kubectlNotFound,
                "kubectl (\(String(reflecting: configuration.kubectl))) was not found: install it or set KubectlClusterClient.Configuration.kubectl (CARBON_RECOVERY_KUBECTL)",
                operation: operation, target: target)
        }
        if error.code == .outputLimitExceeded {
            return RecoveryError(.kubectlFailed, "kubectl produced more than \(configuration.maximumOutputBytes) bytes; narrow the request or raise maximumOutputBytes", operation: operation, target: target)
        }
        return RecoveryError(.kubectlFailed, "kubectl could not be run: \(error)", operation: operation, target: target)
    }

    /// Parses kubectl's JSON output.
    static func parse(_ output: [UInt8], operation: String, target: String?) throws -> JSONValue {
        do {
            return try JSONValue(parsing: output)
        } catch let error as RecoveryError {
            throw RecoveryError(.invalidObject, "kubectl's output is not JSON (\(error.message))", operation: operation, target: target)
        }
    }
}

/// Maps kubectl's exit status and standard error to a `RecoveryError` code.
enum KubectlErrorMapper {
    /// (needle in standard error, code), first match wins. kubectl prints API errors as
    /// `Error from server (Reason): …`; client-side failures have their own wording.
    static let rules: [(String, RecoveryError.Code)] = [
        // An API server's 401 as kubectl words it inside another failure (client-side validation
        // downloading the OpenAPI schema before a create): before "error validating" below.
        ("the server has asked for the client to provide credentials", .unauthorized),
        ("(NotFound)", .notFound),
        ("the server doesn't have a resource type", .notFound),
        ("(AlreadyExists)", .conflict),
        ("(Conflict)", .conflict),
        ("Apply failed with", .conflict),
        ("(Forbidden)", .forbidden),
        ("(Unauthorized)", .unauthorized),
        ("You must be logged in", .unauthorized),
        ("(Invalid)", .invalidObject),
        ("failed to create typed patch object", .invalidObject),
        ("(BadRequest)", .invalidObject),
        ("error validating", .invalidObject),
        ("unknown field", .invalidObject),
        ("strict decoding error", .invalidObject),
        ("error parsing", .invalidObject),
        ("(Timeout)", .timeout),
        ("(ServerTimeout)", .timeout),
        ("deadline exceeded", .timeout),
        ("Client.Timeout", .timeout),
        ("i/o timeout", .timeout),
        ("timed out", .timeout),
        ("connection refused", .unreachable),
        ("The connection to the server", .unreachable),
        ("Unable to connect to the server", .unreachable),
        ("no such host", .unreachable),
        ("connection reset", .unreachable),
        ("x509:", .unreachable),
        ("tls:", .unreachable),
        ("(ServiceUnavailable)", .unreachable),
        ("the server is currently unable", .unreachable),
        (": EOF", .unreachable),
    ]

    static func error(status: TerminationStatus, standardError: [UInt8], verb: String, tailBytes: Int, operation: String, target: String?) -> RecoveryError {
        let text = String(decoding: standardError, as: UTF8.self)
        let code = rules.first { text.contains($0.0) }?.1 ?? .kubectlFailed
        let exit: String
        switch status {
        case .exited(let code): exit = "exit status \(code)"
        case .signaled(let signal): exit = "signal \(signal)"
        }
        let tail = Self.tail(of: text, bytes: tailBytes)
        let hint: String
        switch code {
        case .unauthorized: hint = " — the credentials in the kubeconfig were refused"
        case .forbidden: hint = " — this user may not do this; check its RBAC bindings"
        case .unreachable: hint = " — the API server did not answer; check that it runs and the kubeconfig's server URL"
        default: hint = ""
        }
        let error = RecoveryError(code, "kubectl \(verb) failed (\(exit))\(hint): \(tail)", operation: operation, target: target)
        switch code {
        case .forbidden:
            // The API server names the identity and what it may not do; the audit trail records both.
            let parsed = AccessDenial.kubernetesForbidden(message: text)
            return error.denied(AccessDenial(
                source: .kubernetes, status: 403, isUnauthenticated: false, identity: parsed?.identity,
                refused: parsed?.refused ?? "kubectl \(verb) \(target ?? "")"))
        case .unauthorized:
            // The server knows no identity for refused credentials: the caller fills in the kubeconfig's.
            return error.denied(AccessDenial(source: .kubernetes, status: 401, isUnauthenticated: true, identity: nil, refused: "kubectl \(verb) \(target ?? "")"))
        default:
            return error
        }
    }

    /// The last `bytes` bytes of standard error, whole lines where possible, credentials redacted.
    static func tail(of text: String, bytes: Int) -> String {
        var trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.utf8.count > bytes {
            let suffix = trimmed.utf8.suffix(bytes)
            trimmed = "…" + String(decoding: suffix, as: UTF8.self)
        }
        let redacted = AuditRedaction.redact(text: trimmed)
        return redacted.isEmpty ? "(no error output)" : redacted
    }
}
