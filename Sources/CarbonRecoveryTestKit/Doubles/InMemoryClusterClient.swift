import CarbonRecovery
import Foundation

/// A ``ClusterClient`` in memory: an object store with resource versions and watches.
///
/// `apply` replaces what it is given and keeps `status` (as server-side apply of a spec does);
/// ``setStatus(_:_:)`` plays the controller that writes status.
public actor InMemoryClusterClient: ClusterClient {
    private struct Key: Hashable {
        var resource: String
        var namespace: String?
        var name: String
    }

    private var objects: [Key: KubernetesObject] = [:]
    private var version = 0
    private var watchers: [UUID: (kind: ResourceKind, namespace: String?, selector: LabelSelector?, continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation)] = [:]
    private let clusterIdentity: ClusterIdentity
    private var servedKinds: [ResourceKind] = ResourceKind.builtIn
    private var serverVersion = KubernetesVersion(gitVersion: "v1.20.15", major: 1, minor: 20)

    /// Creates an empty cluster.
    public init(identity: ClusterIdentity = ClusterIdentity(context: "in-memory", user: "test-admin", server: "memory://")) {
        self.clusterIdentity = identity
    }

    public func apply(_ object: KubernetesObject, fieldManager: String) async throws -> KubernetesObject {
        let reference = try reference(of: object)
        let key = Key(resource: Self.typeKey(reference.kind), namespace: reference.namespace, name: reference.name)
        var stored = object
        let existing = objects[key]
        if let status = existing?.status, stored.status == nil { stored.json["status"] = status }
        version += 1
        var metadata = stored.json["metadata"]?.objectValue ?? [:]
        metadata["resourceVersion"] = .string(String(version))
        metadata["managedFields"] = [["manager": .string(fieldManager), "operation": "Apply"]]
        stored.json["metadata"] = .object(metadata)
        objects[key] = stored
        if !servedKinds.contains(reference.kind) { servedKinds.append(reference.kind) }
        publish(existing == nil ? .added : .modified, stored, kind: reference.kind)
        return stored
    }

    public func get(_ reference: ObjectReference) async throws -> KubernetesObject? {
        objects[Key(resource: Self.typeKey(reference.kind), namespace: reference.namespace, name: reference.name)]
    }

    public func list(_ kind: ResourceKind, namespace: String?, labelSelector: LabelSelector?) async throws -> [KubernetesObject] {
        objects.filter { key, object in
            key.resource == Self.typeKey(kind) && (namespace == nil || key.namespace == namespace)
                && (labelSelector?.matches(object.labels) ?? true)
        }
        .sorted { ($0.key.namespace ?? "", $0.key.name) < ($1.key.namespace ?? "", $1.key.name) }
        .map(\.value)
    }

    public func delete(_ reference: ObjectReference, ignoreNotFound: Bool) async throws {
        let key = Key(resource: Self.typeKey(reference.kind), namespace: reference.namespace, name: reference.name)
        guard let object = objects.removeValue(forKey: key) else {
            if ignoreNotFound { return }
            throw RecoveryError(.notFound, "\(reference) does not exist", target: reference.description)
        }
        publish(.deleted, object, kind: reference.kind)
    }

    public nonisolated func watch(_ kind: ResourceKind, namespace: String?, labelSelector: LabelSelector?) -> AsyncThrowingStream<WatchEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<WatchEvent, any Error>.makeStream()
        let id = UUID()
        Task { await self.addWatcher(id: id, kind: kind, namespace: namespace, selector: labelSelector, continuation: continuation) }
        continuation.onTermination = { _ in Task { await self.removeWatcher(id) } }
        return stream
    }

    public func identity() async throws -> ClusterIdentity { clusterIdentity }

    /// The version set with ``setVersion(_:)`` (default v1.20.15) and every kind this cluster
    /// serves: namespaces, config maps, secrets and deployments, every kind applied so far, and
    /// those given to ``serve(_:)`` — each in its only (so preferred) version, with all verbs.
    public func discover() async throws -> ClusterDiscovery {
        var preferred: [String: String] = [:]
        let resources = servedKinds.map { kind -> ClusterDiscovery.ServedResource in
            let served = ClusterDiscovery.ServedResource(kind: kind, verbs: ["create", "delete", "get", "list", "patch", "update", "watch"])
            preferred[served.group] = kind.apiVersion.split(separator: "/").last.map(String.init)
            return served
        }
        return ClusterDiscovery(version: serverVersion, resources: resources, preferredVersions: preferred)
    }

    /// Adds kinds to what ``discover()`` reports (a CRD's kind, say).
    public func serve(_ kinds: [ResourceKind]) {
        for kind in kinds where !servedKinds.contains(kind) { servedKinds.append(kind) }
    }

    /// Sets the version ``discover()`` reports.
    public func setVersion(_ version: KubernetesVersion) { serverVersion = version }

    /// Writes an object's `status`, as a controller would, and notifies watchers.
    public func setStatus(_ reference: ObjectReference, _ status: JSONValue) throws {
        let key = Key(resource: Self.typeKey(reference.kind), namespace: reference.namespace, name: reference.name)
        guard var object = objects[key] else { throw RecoveryError(.notFound, "\(reference) does not exist") }
        object.json["status"] = status
        version += 1
        object.json["metadata"]?["resourceVersion"] = .string(String(version))
        objects[key] = object
        publish(.modified, object, kind: reference.kind)
    }

    private func addWatcher(
        id: UUID, kind: ResourceKind, namespace: String?, selector: LabelSelector?,
        continuation: AsyncThrowingStream<WatchEvent, any Error>.Continuation
    ) async {
        watchers[id] = (kind, namespace, selector, continuation)
        for object in (try? await list(kind, namespace: namespace, labelSelector: selector)) ?? [] {
            continuation.yield(WatchEvent(kind: .added, object: object))
        }
    }

    private func removeWatcher(_ id: UUID) { watchers[id] = nil }

    private func publish(_ kind: WatchEvent.Kind, _ object: KubernetesObject, kind resourceKind: ResourceKind) {
        for watcher in watchers.values where watcher.kind.resource == resourceKind.resource {
            if let namespace = watcher.namespace, object.namespace != namespace { continue }
            if let selector = watcher.selector, !selector.matches(object.labels) { continue }
            watcher.continuation.yield(WatchEvent(kind: kind, object: object))
        }
    }

    private func reference(of object: KubernetesObject) throws -> ObjectReference {
        guard let apiVersion = object.apiVersion, let kindName = object.kind, let name = object.name else {
            throw RecoveryError(.invalidObject, "the object needs apiVersion, kind and metadata.name")
        }
        if let kind = ResourceKind.builtIn.first(where: { $0.apiVersion == apiVersion && $0.kind == kindName }) {
            return try ObjectReference(kind: kind, namespace: kind.isNamespaced ? (object.namespace ?? "default") : nil, name: name)
        }
        // Another kind: namespaced exactly when the object names a namespace.
        let kind = ResourceKind.guessing(apiVersion: apiVersion, kind: kindName, namespaced: object.namespace != nil)
        return try ObjectReference(kind: kind, namespace: object.namespace, name: name)
    }

    /// Objects are keyed by apiVersion and kind, so a caller's plural spelling does not matter.
    private static func typeKey(_ kind: ResourceKind) -> String { "\(kind.apiVersion)/\(kind.kind)"
    }
}
