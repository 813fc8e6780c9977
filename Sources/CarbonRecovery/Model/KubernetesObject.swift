import Foundation

/// The kind of a Kubernetes object: its API version, kind and plural resource name.
///
/// ```swift
/// let configMaps = ResourceKind.configMap                     // v1 ConfigMap, "configmaps"
/// let backups = ResourceKind(apiVersion: "velero.io/v1", kind: "Backup", resource: "backups.velero.io")
/// ```
public struct ResourceKind: Sendable, Hashable, CustomStringConvertible {
    /// `group/version`, or `version` for the core group (`v1`).
    public var apiVersion: String
    /// The object kind, e.g. `Backup`.
    public var kind: String
    /// The plural resource name as kubectl accepts it, e.g. `backups.velero.io` or `configmaps`.
    public var resource: String
    /// Whether objects of this kind live in a namespace.
    public var isNamespaced: Bool

    /// Creates a kind.
    public init(apiVersion: String, kind: String, resource: String, isNamespaced: Bool = true) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.resource = resource
        self.isNamespaced = isNamespaced
    }

    public var description: String { "\(kind).\(apiVersion)" }

    /// `v1` `Namespace` (cluster-scoped).
    public static let namespace = ResourceKind(apiVersion: "v1", kind: "Namespace", resource: "namespaces", isNamespaced: false)
    /// `v1` `ConfigMap`.
    public static let configMap = ResourceKind(apiVersion: "v1", kind: "ConfigMap", resource: "configmaps")
    /// `v1` `Secret`.
    public static let secret = ResourceKind(apiVersion: "v1", kind: "Secret", resource: "secrets")
    /// `apps/v1` `Deployment`.
    public static let deployment = ResourceKind(apiVersion: "apps/v1", kind: "Deployment", resource: "deployments.apps")

    /// The kind with its plural guessed the way Kubernetes guesses it without discovery
    /// information (``BackupItem/resourceKind``); namespaced when `namespaced` is true.
    package static func guessing(apiVersion: String, kind: String, namespaced: Bool) -> ResourceKind {
        BackupItem(apiVersion: apiVersion, kind: kind, namespace: namespaced ? "" : nil, name: "").resourceKind
    }

    /// The Kubernetes kinds every cluster has that this package names.
    package static let builtIn: [ResourceKind] = [.namespace, .configMap, .secret, .deployment]
}

/// A reference to one object: its kind, namespace and name.
public struct ObjectReference: Sendable, Hashable, CustomStringConvertible {
    /// The object's kind.
    public var kind: ResourceKind
    /// The namespace; `nil` for cluster-scoped kinds.
    public var namespace: String?
    /// The object's name.
    public var name: String

    /// Creates a reference, validating the name and namespace so that nothing but a
    /// Kubernetes name can ever reach a command line or a URL.
    ///
    /// - Throws: ``RecoveryError`` (``RecoveryError/Code/invalidInput``) when the name is not a
    ///   DNS-1123 subdomain or the namespace is not a DNS-1123 label.
    public init(kind: ResourceKind, namespace: String?, name: String) throws {
        try KubernetesName.validateSubdomain(name, what: "\(kind.kind) name")
        if let namespace { try KubernetesName.validateLabel(namespace, what: "namespace") }
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    /// `namespace/kind/name`, the form the audit trail uses as a target.
    public var description: String {
        "\(namespace.map { "\($0)/" } ?? "")\(kind.kind.lowercased())/\(name)"
    }
}

/// A Kubernetes object as JSON, with typed access to the fields every object has.
public struct KubernetesObject: Sendable, Hashable {
    /// The whole object.
    public var json: JSONValue

    /// Wraps a JSON object.
    public init(_ json: JSONValue) { self.json = json }

    /// Builds an object with `apiVersion`, `kind` and `metadata` filled in.
    public init(kind: ResourceKind, namespace: String?, name: String, labels: [String: String] = [:], body: [String: JSONValue] = [:]) {
        var metadata: [String: JSONValue] = ["name": .string(name)]
        if let namespace { metadata["namespace"] = .string(namespace) }
        if !labels.isEmpty { metadata["labels"] = .object(labels.mapValues { .string($0) }) }
        var object = body
        object["apiVersion"] = .string(kind.apiVersion)
        object["kind"] = .string(kind.kind)
        object["metadata"] = .object(metadata)
        self.json = .object(object)
    }

    /// `apiVersion`, when present.
    public var apiVersion: String? { json["apiVersion"]?.stringValue }
    /// The object's name.
    public var kind: String? { json["kind"]?.stringValue }
    /// `metadata.name`, when present.
    public var name: String? { json[path: ["metadata", "name"]]?.stringValue }
    /// `metadata.namespace`, when present.
    public var namespace: String? { json[path: ["metadata", "namespace"]]?.stringValue }
    /// `metadata.resourceVersion`, when present.
    public var resourceVersion: String? { json[path: ["metadata", "resourceVersion"]]?.stringValue }
    /// `metadata.labels` (string values only).
    public var labels: [String: String] {
        json[path: ["metadata", "labels"]]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
    }
    /// `spec`, when present.
    public var spec: JSONValue? { json["spec"] }
    /// `status`, when present.
    public var status: JSONValue? { json["status"] }
}

/// One change seen by ``ClusterClient/watch(_:namespace:labelSelector:)``.
public struct WatchEvent: Sendable, Hashable {
    /// What happened to the object.
    public enum Kind: String, Sendable, Hashable {
        /// The object appeared (or existed when the watch began).
        case added = "ADDED"
        /// The object changed.
        case modified = "MODIFIED"
        /// The object was deleted.
        case deleted = "DELETED"
    }
    /// What happened.
    public var kind: Kind
    /// The object after the change (before it, for a deletion).
    public var object: KubernetesObject

    /// Creates an event.
    public init(kind: Kind, object: KubernetesObject) {
        self.kind = kind
        self.object = object
    }
}

/// Who the cluster client acts as: recorded in every audit entry.
public struct ClusterIdentity: Sendable, Hashable, CustomStringConvertible {
    /// The kubeconfig context, when there is one.
    public var context: String?
    /// The user the API server sees (a kubeconfig user name or service account).
    public var user: String?
    /// The API server URL.
    public var server: String?

    /// Creates an identity; unknown parts stay `nil`.
    public init(context: String? = nil, user: String? = nil, server: String? = nil) {
        self.context = context
        self.user = user
        self.server = server
    }

    /// `user@context (server)`, leaving out what is unknown.
    public var description: String {
        var text = [user, context].compactMap { $0 }.joined(separator: "@")
        if let server { text += text.isEmpty ? server : " (\(server))" }
        return text.isEmpty ? "unknown" : text
    }
}
