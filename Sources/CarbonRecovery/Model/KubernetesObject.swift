import Foundation

/// The kind of a Kubernetes object: its API version, kind and plural resource name.
///
/// ```swift
/// let backups = ResourceKind.veleroBackup          // velero.io/v1 Backup, "backups.velero.io"
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

    public static let namespace = ResourceKind(apiVersion: "v1", kind: "Namespace", resource: "namespaces", isNamespaced: false)
    public static let configMap = ResourceKind(apiVersion: "v1", kind: "ConfigMap", resource: "configmaps")
    public static let secret = ResourceKind(apiVersion: "v1", kind: "Secret", resource: "secrets")
    public static let deployment = ResourceKind(apiVersion: "apps/v1", kind: "Deployment", resource: "deployments.apps")
    public static let veleroBackup = ResourceKind(apiVersion: "velero.io/v1", kind: "Backup", resource: "backups.velero.io")
    public static let veleroRestore = ResourceKind(apiVersion: "velero.io/v1", kind: "Restore", resource: "restores.velero.io")
    public static let veleroSchedule = ResourceKind(apiVersion: "velero.io/v1", kind: "Schedule", resource: "schedules.velero.io")
    public static let veleroDeleteBackupRequest = ResourceKind(
        apiVersion: "velero.io/v1", kind: "DeleteBackupRequest", resource: "deletebackuprequests.velero.io")
    public static let veleroBackupStorageLocation = ResourceKind(
        apiVersion: "velero.io/v1", kind: "BackupStorageLocation", resource: "backupstoragelocations.velero.io")
}

/// A reference to one object: its kind, namespace and name.
public struct ObjectReference: Sendable, Hashable, CustomStringConvertible {
    public var kind: ResourceKind
    /// The namespace; `nil` for cluster-scoped kinds.
    public var namespace: String?
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

    public var apiVersion: String? { json["apiVersion"]?.stringValue }
    public var kind: String? { json["kind"]?.stringValue }
    public var name: String? { json[path: ["metadata", "name"]]?.stringValue }
    public var namespace: String? { json[path: ["metadata", "namespace"]]?.stringValue }
    public var resourceVersion: String? { json[path: ["metadata", "resourceVersion"]]?.stringValue }
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
        case added = "ADDED", modified = "MODIFIED", deleted = "DELETED"
    }
    public var kind: Kind
    public var object: KubernetesObject

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
