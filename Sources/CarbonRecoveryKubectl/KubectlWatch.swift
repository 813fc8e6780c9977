import CarbonRecovery
import Foundation
import Logging
import Subprocess

/// An informer-style watch over kubectl: list, then watch from the list's resource version,
/// reconnecting from the last version seen; re-list when that version is gone.
///
/// The consumer sees every current object once as `added`, then each change once. After an
/// outage it sees what changed meanwhile — `added`, `modified` or `deleted` — not a second copy
/// of everything. Unauthorized, forbidden and unknown-resource errors end the stream (retrying
/// would not help); an unreachable or restarting API server is retried with a doubling delay,
/// and so is an unknown resource within a minute of such an outage (a restarted API server
/// serves custom resources only once it has read their CRDs again).
struct KubectlWatch: Sendable {
    let client: KubectlClusterClient
    let kind: ResourceKind
    let namespace: String?
    let labelSelector: LabelSelector?
    /// Only this object (a field selector), when set.
    let name: String?
    /// A state the consumer already holds: the watch starts from its resource version, without a list.
    let initial: KubernetesObject?
    /// How long the API server keeps one watch request open before we reconnect (normal).
    static let serverTimeoutSeconds = 300

    func start() -> AsyncThrowingStream<WatchEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent.self)
        let task = Task {
            do {
                try await run(continuation)
                continuation.finish()
            } catch is CancellationError {
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func key(_ object: KubernetesObject) -> String { "\(object.namespace ?? "")/\(object.name ?? "")" }

    private func run(_ continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation) async throws {
        var known: [String: KubernetesObject] = [:]
        var resourceVersion: String?
        if let initial, let version = initial.resourceVersion {
            known[key(initial)] = initial
            resourceVersion = version
        }
        var delay = client.configuration.watchRetryMinimum
        // When the connection was lost: a restarted API server answers NotFound for custom
        // resources until it serves their CRDs again, which is retried for a while after an outage.
        var interruptedAt: ContinuousClock.Instant?
        let target = "\(namespace.map { "\($0)/" } ?? "")\(kind.resource)"
        while !Task.isCancelled {
            do {
                if resourceVersion == nil {
                    let (items, version) = try await client.listWithVersion(kind, namespace: namespace, labelSelector: labelSelector, name: name)
                    var seen = Set<String>()
                    for item in items {
                        let itemKey = key(item)
                        seen.insert(itemKey)
                        if let previous = known[itemKey] {
                            if previous.resourceVersion != item.resourceVersion { continuation.yield(WatchEvent(kind: .modified, object: item)) }
                        } else {
                            continuation.yield(WatchEvent(kind: .added, object: item))
                        }
                        known[itemKey] = item
                    }
                    for (itemKey, object) in known where !seen.contains(itemKey) {
                        known[itemKey] = nil
                        continuation.yield(WatchEvent(kind: .deleted, object: object))
                    }
                    guard let version else {
                        throw RecoveryError(.invalidObject, "the API server's list has no resourceVersion to watch from", operation: "watch", target: target)
                    }
                    resourceVersion = version
                }
                let outcome = try await streamEvents(from: resourceVersion!, known: &known, resourceVersion: &resourceVersion, continuation, target: target)
                if outcome == .expired {
                    client.logger.info("watch resource version expired; re-listing", metadata: ["target": "\(target)"])
                    resourceVersion = nil
                }
                delay = client.configuration.watchRetryMinimum
                interruptedAt = nil
            } catch let error as RecoveryError where Self.isRetryable(error) {
                if Task.isCancelled { return }
                if interruptedAt == nil { interruptedAt = .now }
                client.logger.warning("watch interrupted; reconnecting", metadata: ["target": "\(target)", "error": "\(error.code)", "delay": "\(delay)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, client.configuration.watchRetryMaximum)
            } catch let error as RecoveryError where error.code == .notFound && interruptedAt.map({ $0.duration(to: .now) < .seconds(60) }) == true {
                if Task.isCancelled { return }
                client.logger.warning("the API server is back but does not serve the resource yet; retrying", metadata: ["target": "\(target)", "delay": "\(delay)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, client.configuration.watchRetryMaximum)
            }
        }
    }

    static func isRetryable(_ error: RecoveryError) -> Bool {
        [.unreachable, .timeout, .kubectlFailed].contains(error.code)
    }

    enum Outcome { case ended, expired }

    /// Runs one `kubectl get --raw …?watch=1` and forwards its events until it ends.
    private func streamEvents(
        from version: String, known: inout [String: KubernetesObject], resourceVersion: inout String?,
        _ continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation, target: String
    ) async throws -> Outcome {
        let path = try APIPath.collection(kind, namespace: namespace, labelSelector: labelSelector, name: name, watch: (version, Self.serverTimeoutSeconds))
        let runner = client.runner
        let arguments = runner.globalArguments(requestTimeout: nil) + ["get", "--raw=\(path)"]
        var state = WatchState(known: known, resourceVersion: version)
        let result: ExecutionResult<WatchState, SequenceOutput, BytesOutput>
        do {
            result = try await Subprocess.run(
                runner.executable, arguments: Arguments(arguments), platformOptions: runner.platformOptions,
                input: .none, output: .sequence, error: .bytes(limit: 1 << 20)
            ) { [state] execution in
                var state = state
                var pending: [UInt8] = []
                for try await buffer in execution.standardOutput {
                    buffer.withUnsafeBytes { pending.append(contentsOf: $0) }
                    var start = 0
                    while let newline = pending[start...].firstIndex(of: 0x0A) {
                        let line = pending[start..<newline]
                        start = newline + 1
                        if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { continue }
                        try handle(line: line, state: &state, continuation, target: target)
                        if state.expired { return state }
                    }
                    pending.removeFirst(start)
                }
                return state
            }
        } catch let error as SubprocessError {
            throw runner.launchError(error, operation: "watch", target: target)
        }
        state = result.closureResult
        known = state.known
        resourceVersion = state.resourceVersion
        if state.expired { return .expired }
        if !result.terminationStatus.isSuccess {
            throw KubectlErrorMapper.error(
                status: result.terminationStatus, standardError: result.standardError, verb: "get --raw (watch)",
                tailBytes: client.configuration.errorTailBytes, operation: "watch", target: target)
        }
        return .ended
    }

    struct WatchState: Sendable {
        var known: [String: KubernetesObject]
        var resourceVersion: String
        var expired = false
    }

    private func handle(
        line: ArraySlice<UInt8>, state: inout WatchState,
        _ continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation, target: String
    ) throws {
        let event = try JSONValue(parsing: line)
        guard let type = event["type"]?.stringValue, case .object? = event["object"], var json = event["object"] else {
            throw RecoveryError(.invalidObject, "a watch event without type or object", operation: "watch", target: target)
        }
        switch type {
        case "ADDED", "MODIFIED", "DELETED":
            APIPath.fillTypeMeta(&json, kind: kind)
            let object = KubernetesObject(json)
            if let version = object.resourceVersion { state.resourceVersion = version }
            let itemKey = key(object)
            if type == "DELETED" {
                state.known[itemKey] = nil
                continuation.yield(WatchEvent(kind: .deleted, object: object))
            } else {
                let isNew = state.known[itemKey] == nil
                state.known[itemKey] = object
                continuation.yield(WatchEvent(kind: isNew ? .added : .modified, object: object))
            }
        case "BOOKMARK":
            if let version = json[path: ["metadata", "resourceVersion"]]?.stringValue { state.resourceVersion = version }
        case "ERROR":
            // A Status object; 410 Gone means our resource version was compacted away.
            if json["code"]?.integerValue == 410 {
                state.expired = true
                return
            }
            let message = json["message"]?.stringValue ?? "unknown"
            throw RecoveryError(.kubectlFailed, "the watch failed: \(AuditRedaction.redact(text: message))", operation: "watch", target: target)
        default:
            throw RecoveryError(.invalidObject, "a watch event of unknown type \(String(reflecting: type))", operation: "watch", target: target)
        }
    }
}
