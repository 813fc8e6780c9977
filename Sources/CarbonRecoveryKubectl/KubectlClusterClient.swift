import CarbonRecovery
import Foundation
import Logging

/// The default `ClusterClient`: runs kubectl.
///
/// Every call is one kubectl process started through swift-subprocess with an argument array —
/// never a shell — so nothing in an object name, a label or a value can become a flag or a
/// command. Names and namespaces are validated before they reach the argument list (see
/// `ObjectReference`), the label selector travels percent-encoded inside the API path, and
/// objects to apply travel on standard input.
///
/// - Reads (`get`, `list`, `watch`) ask the API server directly (`kubectl get --raw`), so kubectl
///   neither converts nor pretty-prints thousands of objects; list items get their `apiVersion`
///   and `kind` filled in where the server leaves them out.
/// - Writes use server-side apply with a field manager (`kubectl apply --server-side`) and
///   `kubectl delete`, so kubectl's own validation against the server's schema runs first.
/// - Watches are informer-style: a list, then a watch from the list's `resourceVersion`,
///   reconnecting from the last version seen when the connection or the API server goes away,
///   and re-listing (with synthetic events for what changed meanwhile) when that version has
///   been compacted.
///
/// ```swift
/// let cluster = KubectlClusterClient(configuration: .init(kubeconfig: "/path/kubeconfig"))
/// let backups = try await cluster.list(.veleroBackup, namespace: "velero", labelSelector: nil)
/// ```
///
/// Errors are `RecoveryError`s with codes `RecoveryError.Code.notFound`, `conflict`,
/// `forbidden`, `unauthorized`, `unreachable`, `timeout`, `invalidObject`,
/// `RecoveryError.Code.kubectlFailed` or `RecoveryError.Code.kubectlNotFound`, carrying the exit status and the last lines of
/// kubectl's standard error with anything that looks like a credential removed.
public struct KubectlClusterClient: ClusterClient {
    /// How to run kubectl.
    public struct Configuration: Sendable {
        /// The kubectl executable: a name looked up on `PATH`, or a path. Default `kubectl`.
        public var kubectl: String
        /// The kubeconfig file; `nil` lets kubectl use `$KUBECONFIG` or `~/.kube/config`.
        public var kubeconfig: String?
        /// The kubeconfig context; `nil` uses the current context.
        public var context: String?
        /// kubectl's discovery cache folder (`--cache-dir`); `nil` uses kubectl's default.
        public var cacheDirectory: String?
        /// How long one call may take before it fails with `RecoveryError.Code.timeout`.
        public var requestTimeout: Duration
        /// The most output one call may produce (a guard against a runaway list).
        public var maximumOutputBytes: Int
        /// How many bytes of kubectl's standard error an error message keeps (its tail).
        public var errorTailBytes: Int
        /// How long a watch waits before reconnecting, doubling from ``watchRetryMinimum`` up to this.
        public var watchRetryMaximum: Duration
        /// The first reconnect delay of a watch.
        public var watchRetryMinimum: Duration
        /// How long a discovery result is reused while the server's version, group versions and
        /// custom resource definitions read the same (see ``KubectlClusterClient/discover()``);
        /// zero reads everything every time. Default five minutes, Velero's own refresh period.
        public var discoveryCacheLifetime: Duration

        /// Creates a configuration.
        public init(
            kubectl: String = "kubectl",
            kubeconfig: String? = nil,
            context: String? = nil,
            cacheDirectory: String? = nil,
            requestTimeout: Duration = .seconds(30),
            maximumOutputBytes: Int = 1 << 30,
            errorTailBytes: Int = 2_048,
            watchRetryMinimum: Duration = .milliseconds(200),
            watchRetryMaximum: Duration = .seconds(5),
            discoveryCacheLifetime: Duration = .seconds(300)
        ) {
            self.kubectl = kubectl
            self.kubeconfig = kubeconfig
            self.context = context
            self.cacheDirectory = cacheDirectory
            self.requestTimeout = requestTimeout
            self.maximumOutputBytes = maximumOutputBytes
            self.errorTailBytes = errorTailBytes
            self.watchRetryMinimum = watchRetryMinimum
            self.watchRetryMaximum = watchRetryMaximum
            self.discoveryCacheLifetime = discoveryCacheLifetime
        }

        /// A configuration from the environment: `CARBON_RECOVERY_KUBECTL` (the executable),
        /// `CARBON_RECOVERY_KUBECONFIG` (else kubectl's own `$KUBECONFIG`),
        /// `CARBON_RECOVERY_KUBE_CONTEXT` and `CARBON_RECOVERY_KUBECTL_CACHE_DIR`.
        public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Configuration {
            func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
            return Configuration(
                kubectl: value("CARBON_RECOVERY_KUBECTL") ?? "kubectl",
                kubeconfig: value("CARBON_RECOVERY_KUBECONFIG"),
                context: value("CARBON_RECOVERY_KUBE_CONTEXT"),
                cacheDirectory: value("CARBON_RECOVERY_KUBECTL_CACHE_DIR"))
        }
    }

    /// How this client runs kubectl.
    public let configuration: Configuration
    let runner: KubectlRunner
    let logger: Logger
    /// Shared by copies of this client: what ``discover()`` found last.
    let discoveryCache = DiscoveryCache()

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - configuration: How to run kubectl.
    ///   - logger: Receives one debug line per kubectl call (verb, resource, duration) and
    ///     warnings when a watch reconnects; never a credential. Default: discards everything.
    /// - Throws: `RecoveryError` (`RecoveryError.Code.invalidInput`) when the context name
    ///   or a path could be mistaken for a flag or holds a control character, or when the
    ///   kubeconfig file cannot be read.
    public init(configuration: Configuration = .fromEnvironment(), logger: Logger = Logger(label: "carbon-recovery.kubectl", factory: { _ in SwiftLogNoOpLogHandler() })) throws {
        try KubectlArguments.validateSetting(configuration.kubectl, what: "kubectl executable")
        if let kubeconfig = configuration.kubeconfig {
            try KubectlArguments.validateSetting(kubeconfig, what: "kubeconfig path")
            guard FileManager.default.isReadableFile(atPath: kubeconfig) else {
                throw RecoveryError.invalidInput("the kubeconfig \(kubeconfig) does not exist or cannot be read", target: kubeconfig)
            }
        }
        if let context = configuration.context { try KubectlArguments.validateSetting(context, what: "context name") }
        if let cache = configuration.cacheDirectory { try KubectlArguments.validateSetting(cache, what: "cache directory") }
        self.configuration = configuration
        self.logger = logger
        self.runner = KubectlRunner(configuration: configuration, logger: logger)
    }

    public func apply(_ object: KubernetesObject, fieldManager: String) async throws -> KubernetesObject {
        try await apply(object, fieldManager: fieldManager, force: false)
    }

    /// Server-side apply with `--force-conflicts`.
    public func forceApply(_ object: KubernetesObject, fieldManager: String) async throws -> KubernetesObject {
        try await apply(object, fieldManager: fieldManager, force: true)
    }

    private func apply(_ object: KubernetesObject, fieldManager: String, force: Bool) async throws -> KubernetesObject {
        let reference = try KubectlArguments.reference(of: object)
        try KubectlArguments.validateFieldManager(fieldManager)
        var bytes: [UInt8] = []
        CanonicalJSON.append(object.json, to: &bytes)
        var arguments = ["apply", "--server-side", "--field-manager=\(fieldManager)", "--output=json", "--filename=-"]
        if force { arguments.append("--force-conflicts") }
        let output = try await runner.run(arguments, input: bytes, operation: "apply", target: reference.description)
        let stored = try KubectlRunner.parse(output, operation: "apply", target: reference.description)
        return KubernetesObject(stored)
    }

    /// `kubectl create`: one process; an existing object is a `conflict` (AlreadyExists).
    public func create(_ object: KubernetesObject, fieldManager: String) async throws -> KubernetesObject {
        let reference = try KubectlArguments.reference(of: object)
        try KubectlArguments.validateFieldManager(fieldManager)
        var bytes: [UInt8] = []
        CanonicalJSON.append(object.json, to: &bytes)
        let output = try await runner.run(
            ["create", "--field-manager=\(fieldManager)", "--output=json", "--filename=-"], input: bytes, operation: "create", target: reference.description)
        return KubernetesObject(try KubectlRunner.parse(output, operation: "create", target: reference.description))
    }

    public func get(_ reference: ObjectReference) async throws -> KubernetesObject? {
        let path = try APIPath.object(reference)
        do {
            let output = try await runner.run(["get", "--raw=\(path)"], operation: "get", target: reference.description)
            var json = try KubectlRunner.parse(output, operation: "get", target: reference.description)
            APIPath.fillTypeMeta(&json, kind: reference.kind)
            return KubernetesObject(json)
        } catch let error as RecoveryError where error.code == .notFound && !error.isMissingResourceType {
            return nil
        }
    }

    public func list(_ kind: ResourceKind, namespace: String?, labelSelector: LabelSelector?) async throws -> [KubernetesObject] {
        try await listWithVersion(kind, namespace: namespace, labelSelector: labelSelector).items
    }

    /// A list and the `resourceVersion` it was read at: the point a watch continues from.
    func listWithVersion(_ kind: ResourceKind, namespace: String?, labelSelector: LabelSelector?, name: String? = nil) async throws -> (items: [KubernetesObject], resourceVersion: String?) {
        let path = try APIPath.collection(kind, namespace: namespace, labelSelector: labelSelector, name: name, watch: nil)
        let target = "\(namespace.map { "\($0)/" } ?? "")\(kind.resource)"
        let output = try await runner.run(["get", "--raw=\(path)"], operation: "list", target: target)
        let json = try KubectlRunner.parse(output, operation: "list", target: target)
        guard case .array(let items)? = json["items"] else {
            throw RecoveryError(.invalidObject, "the API server's answer to a list of \(kind.resource) has no items", operation: "list", target: target)
        }
        let objects = items.map { item -> KubernetesObject in
            var item = item
            APIPath.fillTypeMeta(&item, kind: kind)
            return KubernetesObject(item)
        }
        return (objects, json[path: ["metadata", "resourceVersion"]]?.stringValue)
    }

    /// One `kubectl get <plural>.<version>.<group>,… --output=json` for all the kinds: one
    /// process instead of one per kind, as a backup of every resource needs.
    public func list(_ kinds: [ResourceKind], namespace: String?, labelSelector: LabelSelector?) async throws -> [ResourceKind: [KubernetesObject]] {
        var byType: [String: ResourceKind] = [:]
        var names: [String] = []
        for kind in kinds {
            let plural = try APIPath.pluralName(kind)
            try APIPath.validateAPIVersion(kind.apiVersion)
            let parts = kind.apiVersion.split(separator: "/", omittingEmptySubsequences: false)
            let (group, version) = parts.count == 2 ? (String(parts[0]), String(parts[1])) : ("", kind.apiVersion)
            guard byType["\(kind.apiVersion) \(kind.kind)"] == nil else { continue }
            byType["\(kind.apiVersion) \(kind.kind)"] = kind
            names.append("\(plural).\(version).\(group)")
        }
        var lists: [ResourceKind: [KubernetesObject]] = [:]
        for kind in byType.values { lists[kind] = [] }
        guard !names.isEmpty else { return lists }
        if let namespace { try KubernetesName.validateLabel(namespace, what: "namespace") }
        var arguments = ["get", names.joined(separator: ","), "--output=json"]
        arguments.append(namespace.map { "--namespace=\($0)" } ?? "--all-namespaces")
        if let labelSelector, !labelSelector.isEmpty { arguments.append("--selector=\(labelSelector.description)") }
        let target = "\(namespace.map { "\($0)/" } ?? "")\(names.count) resources"
        let output = try await runner.run(arguments, operation: "list", target: target)
        let json = try KubectlRunner.parse(output, operation: "list", target: target)
        guard case .array(let items)? = json["items"] else {
            throw RecoveryError(.invalidObject, "kubectl's list of \(names.count) resources has no items", operation: "list", target: target)
        }
        for item in items {
            let object = KubernetesObject(item)
            guard let kind = byType["\(object.apiVersion ?? "") \(object.kind ?? "")"] else {
                throw RecoveryError(.invalidObject, "kubectl listed a \(object.apiVersion ?? "?") \(object.kind ?? "?") that was not asked for", operation: "list", target: target)
            }
            lists[kind, default: []].append(object)
        }
        return lists
    }

    public func delete(_ reference: ObjectReference, ignoreNotFound: Bool) async throws {
        var arguments = ["delete", reference.kind.resource, reference.name, "--wait=false"]
        if let namespace = reference.namespace { arguments.append("--namespace=\(namespace)") }
        if ignoreNotFound { arguments.append("--ignore-not-found=true") }
        _ = try await runner.run(arguments, operation: "delete", target: reference.description)
    }

    public func watch(_ kind: ResourceKind, namespace: String?, labelSelector: LabelSelector?) -> AsyncThrowingStream<WatchEvent, any Error> {
        KubectlWatch(client: self, kind: kind, namespace: namespace, labelSelector: labelSelector, name: nil, initial: nil).start()
    }

    /// Watches one object through a field selector, so the server sends nothing else.
    public func watch(_ reference: ObjectReference) -> AsyncThrowingStream<WatchEvent, any Error> {
        KubectlWatch(client: self, kind: reference.kind, namespace: reference.namespace, labelSelector: nil, name: reference.name, initial: nil).start()
    }

    /// Watches one object from the state the caller holds: one `kubectl get --raw …?watch=1`
    /// from its resource version, no list first.
    public func watch(_ reference: ObjectReference, after object: KubernetesObject) -> AsyncThrowingStream<WatchEvent, any Error> {
        KubectlWatch(client: self, kind: reference.kind, namespace: reference.namespace, labelSelector: nil, name: reference.name, initial: object).start()
    }

    /// `kubectl create` of a `SubjectAccessReview`: one process; the answer is its status.
    public func reviewAccess(_ review: AccessReview) async throws -> AccessDecision {
        var bytes: [UInt8] = []
        CanonicalJSON.append(review.object, to: &bytes)
        let output = try await runner.run(["create", "--output=json", "--filename=-"], input: bytes, operation: "access-review", target: review.description)
        return AccessDecision(status: try KubectlRunner.parse(output, operation: "access-review", target: review.description)["status"])
    }

    /// `kubectl create` of a `List` of `SubjectAccessReview`s: one process for all of them
    /// (kubectl still sends one request each, in order), the answers in the same order.
    public func reviewAccess(_ reviews: [AccessReview]) async throws -> [AccessDecision] {
        if reviews.isEmpty { return [] }
        if reviews.count == 1 { return [try await reviewAccess(reviews[0])] }
        var bytes: [UInt8] = []
        CanonicalJSON.append(["apiVersion": "v1", "kind": "List", "items": .array(reviews.map(\.object))], to: &bytes)
        let target = "\(reviews.count) access reviews"
        let output = try await runner.run(["create", "--output=json", "--filename=-"], input: bytes, operation: "access-review", target: target)
        // kubectl prints several created objects as one JSON document after another (newer ones
        // as a List): take either.
        let items = try Self.documents(output).flatMap { bytes -> [JSONValue] in
            let json = try KubectlRunner.parse(bytes, operation: "access-review", target: target)
            return json["kind"]?.stringValue == "List" ? json["items"]?.arrayValue ?? [] : [json]
        }
        guard items.count == reviews.count else {
            throw RecoveryError(.kubectlFailed, "kubectl answered \(items.count) of \(reviews.count) access reviews", operation: "access-review", target: target)
        }
        return items.map { AccessDecision(status: $0["status"]) }
    }

    /// Splits JSON values printed one after another (`{…}{…}`, whitespace between) at their
    /// top-level ends, minding strings and escapes; the input's bytes, never parsed here.
    static func documents(_ output: [UInt8]) -> [[UInt8]] {
        var documents: [[UInt8]] = []
        var depth = 0, start = 0, inString = false, escaped = false
        for (index, byte) in output.enumerated() {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if depth == 0 { start = index }
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { documents.append(Array(output[start...index])) }
                if depth < 0 { return [output] }   // not JSON values: let the parser say so
            default: break
            }
        }
        return depth == 0 && !documents.isEmpty ? documents : [output]
    }

    public func identity() async throws -> ClusterIdentity {
        let output = try await runner.run(["config", "view", "--minify", "--output=json"], operation: "identity", target: nil)
        let json = try KubectlRunner.parse(output, operation: "identity", target: nil)
        let context = json["current-context"]?.stringValue
        let user = json["contexts"]?.arrayValue?.first?[path: ["context", "user"]]?.stringValue
        let server = json["clusters"]?.arrayValue?.first?[path: ["cluster", "server"]]?.stringValue
        return ClusterIdentity(context: context, user: user, server: server.map(AuditRedaction.redact(text:)))
    }
}

extension RecoveryError.Code {
    /// kubectl failed in a way that maps to no other code (or could not be started); the
    /// message carries its exit status and the tail of its standard error.
    public static let kubectlFailed = RecoveryError.Code(rawValue: "kubectl-failed")
    /// The kubectl executable could not be found or started; retrying will not help.
    public static let kubectlNotFound = RecoveryError.Code(rawValue: "kubectl-not-found")
}

extension RecoveryError {
    /// Whether a not-found error is about the resource type (a CRD that is not installed)
    /// rather than one object.
    var isMissingResourceType: Bool { message.contains("the server could not find the requested resource") }
}
