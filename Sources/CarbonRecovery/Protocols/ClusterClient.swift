/// Reads and changes Kubernetes objects: the SDK's only way into the cluster.
///
/// The default implementation runs kubectl (`CarbonRecoveryKubectl`); `CarbonRecoveryTestKit`
/// has an in-memory one.
///
/// ```swift
/// let configMaps = try await cluster.list(.configMap, namespace: "data-platform", labelSelector: nil)
/// ```
///
/// ## Implementation requirements
/// - Every method is safe to call concurrently from many tasks.
/// - ``apply(_:fieldManager:)`` is server-side apply: idempotent, and it returns the object as
///   the server stored it (defaults filled in, unknown fields pruned).
/// - ``get(_:)`` returns `nil` for a missing object; it throws only when it could not find out.
/// - ``delete(_:ignoreNotFound:)`` throws ``RecoveryError/Code/notFound`` for a missing object
///   unless `ignoreNotFound` is true.
/// - ``watch(_:namespace:labelSelector:)`` first yields the current objects as `added`, then
///   changes; it ends only when the consumer stops or the task is cancelled, reconnecting when
///   the API server restarts. Cancelling the task ends the stream and any process behind it.
/// - Names and namespaces arrive validated (``ObjectReference``); implementations still never
///   build a shell string from them.
/// - Errors are ``RecoveryError`` with codes ``RecoveryError/Code/notFound``, `conflict`,
///   `forbidden`, `unauthorized`, `unreachable`, `timeout` or `invalidObject`, and never carry a
///   credential.
public protocol ClusterClient: Sendable {
    /// Creates or updates an object with server-side apply and returns it as stored.
    func apply(_ object: KubernetesObject, fieldManager: String) async throws -> KubernetesObject
    /// Server-side apply that takes over fields other managers own instead of failing with
    /// ``RecoveryError/Code/conflict`` (kubectl's `--force-conflicts`), as a restore with
    /// `existingResourcePolicy: update` must. The default calls ``apply(_:fieldManager:)``, which
    /// is right for implementations that track no field ownership.
    func forceApply(_ object: KubernetesObject, fieldManager: String) async throws -> KubernetesObject
    /// The object, or `nil` when it does not exist.
    func get(_ reference: ObjectReference) async throws -> KubernetesObject?
    /// Objects of a kind, in one namespace or (with `nil`) all, optionally filtered by labels.
    func list(_ kind: ResourceKind, namespace: String?, labelSelector: LabelSelector?) async throws -> [KubernetesObject]
    /// Objects of several kinds, in one namespace or (with `nil`) all, optionally filtered by
    /// labels: what a backup that walks every resource needs, in as few calls as the client
    /// can make. Cluster-scoped kinds ignore `namespace`. It fails as a whole when one kind
    /// fails (a caller that must know which lists the kinds one by one); every kind asked for
    /// has an entry. The default lists each kind in turn.
    func list(_ kinds: [ResourceKind], namespace: String?, labelSelector: LabelSelector?) async throws -> [ResourceKind: [KubernetesObject]]
    /// Deletes an object.
    func delete(_ reference: ObjectReference, ignoreNotFound: Bool) async throws
    /// The API server's version and every resource it serves (API discovery), as a backup
    /// that walks every listable resource and a restore preflight on a new cluster need.
    /// The default throws ``RecoveryError/Code/unsupported``, so clients written before it keep compiling.
    func discover() async throws -> ClusterDiscovery
    /// Current objects as `added`, then every change, until cancelled.
    func watch(_ kind: ResourceKind, namespace: String?, labelSelector: LabelSelector?) -> AsyncThrowingStream<WatchEvent, any Error>
    /// One object: its current state as `added` (nothing while it does not exist), then every
    /// change, until cancelled. The default filters ``watch(_:namespace:labelSelector:)``;
    /// implementations that can ask the server for one object (a field selector) should.
    func watch(_ reference: ObjectReference) -> AsyncThrowingStream<WatchEvent, any Error>
    /// One object's changes after a state of it the caller has already seen (no `added` for
    /// that state), until cancelled. Saves re-reading what the caller holds; the default
    /// filters ``watch(_:)``.
    func watch(_ reference: ObjectReference, after object: KubernetesObject) -> AsyncThrowingStream<WatchEvent, any Error>
    /// Creates an object that must not exist yet; ``RecoveryError/Code/conflict`` when it does.
    /// The default reads, then applies (two calls; implementations should make it one). With a
    /// Kubernetes API server the fields set here are owned through an *update*, so changing them
    /// later by server-side apply takes ``forceApply(_:fieldManager:)``.
    func create(_ object: KubernetesObject, fieldManager: String) async throws -> KubernetesObject
    /// Who this client acts as, for the audit trail.
    func identity() async throws -> ClusterIdentity
    /// Asks the cluster's authorizer whether someone may do something (a `SubjectAccessReview`),
    /// as `doctor` does for every subject its bindings name. The default throws
    /// ``RecoveryError/Code/unsupported``, so clients written before it keep compiling.
    func reviewAccess(_ review: AccessReview) async throws -> AccessDecision
    /// Asks several questions at once; the answers in the same order. The default asks them one
    /// by one; implementations should batch (kubectl:
    /// one process for all of them instead of one each).
    func reviewAccess(_ reviews: [AccessReview]) async throws -> [AccessDecision]
}

extension ClusterClient {
    public func list(_ kinds: [ResourceKind], namespace: String?, labelSelector: LabelSelector?) async throws -> [ResourceKind: [KubernetesObject]] {
        var lists: [ResourceKind: [KubernetesObject]] = [:]
        for kind in kinds where lists[kind] == nil {
            lists[kind] = try await list(kind, namespace: kind.isNamespaced ? namespace : nil, labelSelector: labelSelector)
        }
        return lists
    }

    public func reviewAccess(_ review: AccessReview) async throws -> AccessDecision {
        throw RecoveryError(.unsupported, "\(type(of: self)) cannot ask the authorizer (ClusterClient.reviewAccess(_:))", operation: "access-review")
    }

    public func reviewAccess(_ reviews: [AccessReview]) async throws -> [AccessDecision] {
        var decisions: [AccessDecision] = []
        for review in reviews { decisions.append(try await reviewAccess(review)) }
        return decisions
    }

    public func discover() async throws -> ClusterDiscovery {
        throw RecoveryError(.unsupported, "\(type(of: self)) does not implement API discovery (ClusterClient.discover())", operation: "discover")
    }

    /// Reads the object, throws ``RecoveryError/Code/conflict`` when it exists, else applies it.
    public func create(_ object: KubernetesObject, fieldManager: String) async throws -> KubernetesObject {
        guard let kind = object.kind, let apiVersion = object.apiVersion, let name = object.name else {
            throw RecoveryError(.invalidObject, "an object to create needs apiVersion, kind and metadata.name")
        }
        let resourceKind = ResourceKind.builtIn.first { $0.kind == kind && $0.apiVersion == apiVersion }
            ?? ResourceKind.guessing(apiVersion: apiVersion, kind: kind, namespaced: object.namespace != nil)
        let reference = try ObjectReference(kind: resourceKind, namespace: object.namespace, name: name)
        if try await get(reference) != nil {
            throw RecoveryError(.conflict, "\(reference) exists already", target: reference.description)
        }
        return try await apply(object, fieldManager: fieldManager)
    }

    /// Filters ``watch(_:)``: drops the `added` event of the state the caller holds, and reports a
    /// newer state first seen as `added` as `modified`.
    public func watch(_ reference: ObjectReference, after object: KubernetesObject) -> AsyncThrowingStream<WatchEvent, any Error> {
        let all = watch(reference)
        let seenVersion = object.resourceVersion
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent.self)
        let task = Task {
            do {
                for try await event in all {
                    guard event.kind == .added else {
                        continuation.yield(event)
                        continue
                    }
                    // The object existed in the state the caller holds: a different current state is a change.
                    if event.object.resourceVersion != seenVersion { continuation.yield(WatchEvent(kind: .modified, object: event.object)) }
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Calls ``apply(_:fieldManager:)``.
    public func forceApply(_ object: KubernetesObject, fieldManager: String) async throws -> KubernetesObject {
        try await apply(object, fieldManager: fieldManager)
    }

    /// Watches the whole kind in the reference's namespace and passes on the events about the
    /// named object.
    public func watch(_ reference: ObjectReference) -> AsyncThrowingStream<WatchEvent, any Error> {
        let all = watch(reference.kind, namespace: reference.namespace, labelSelector: nil)
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchEvent.self)
        let task = Task {
            do {
                for try await event in all where event.object.name == reference.name {
                    continuation.yield(event)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }
}
