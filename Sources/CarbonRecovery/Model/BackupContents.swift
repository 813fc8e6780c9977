import Foundation

/// One object recorded in a backup's resource list (``BackupEngine/backupItems(named:in:)``).
public struct BackupItem: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// `group/version`, or `v1` for the core group.
    public var apiVersion: String
    /// The object's kind, e.g. `ConfigMap`.
    public var kind: String
    /// The object's namespace; `nil` for cluster-scoped objects such as namespaces.
    public var namespace: String?
    /// The object's name.
    public var name: String

    /// Creates an item.
    public init(apiVersion: String, kind: String, namespace: String?, name: String) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    /// `Kind namespace/name` or `Kind name`.
    public var description: String { "\(kind) \(namespace.map { "\($0)/" } ?? "")\(name)" }

    public static func < (left: BackupItem, right: BackupItem) -> Bool {
        (left.namespace ?? "", left.kind, left.name) < (right.namespace ?? "", right.kind, right.name)
    }

    /// The resource kind, with the plural guessed the way Kubernetes guesses it when it has no
    /// discovery information (`UnsafeGuessKindToResource`: lower-case; `…s` → `…ses`,
    /// `…y` → `…ies`, otherwise `…s`; `Endpoints` stays `endpoints`) and the API group appended.
    /// A custom resource with an irregular plural is guessed wrong; the restore test then reports
    /// it missing rather than passing silently.
    public var resourceKind: ResourceKind {
        let lower = kind.lowercased()
        let plural: String
        if let irregular = Self.irregularPlurals[kind] {
            plural = irregular
        } else if lower.hasSuffix("s") {
            plural = lower + "es"
        } else if lower.hasSuffix("y"), lower.count > 1 {
            plural = lower.dropLast() + "ies"
        } else {
            plural = lower + "s"
        }
        let group = apiVersion.contains("/") ? apiVersion.split(separator: "/").first.map(String.init) : nil
        return ResourceKind(
            apiVersion: apiVersion, kind: kind, resource: group.map { "\(plural).\($0)" } ?? plural,
            isNamespaced: namespace != nil)
    }

    /// Built-in kinds whose plural the guess gets wrong.
    static let irregularPlurals = ["Endpoints": "endpoints"]
}

/// One object as a backup stored it (``BackupEngine/backupObjects(named:in:)``): the whole
/// object, and the resource it was stored under.
public struct BackedUpObject: Sendable, Hashable {
    /// The resource, as the backup names it: `configmaps`, `deployments.apps`, `pipelines.platform.example.com`.
    public var resource: String
    /// The object as it was backed up (metadata, spec and status).
    public var object: KubernetesObject

    /// Creates a backed-up object.
    public init(resource: String, object: KubernetesObject) {
        self.resource = resource
        self.object = object
    }

    /// Its place in the backup's resource list.
    public var item: BackupItem {
        BackupItem(apiVersion: object.apiVersion ?? "", kind: object.kind ?? "", namespace: object.namespace, name: object.name ?? "")
    }
}

/// What an engine found when it opened a backup's stored artifacts.
///
/// Returned by ``BackupEngine/inspectBackup(named:in:)``; ``RecoveryCoordinator/validateBackup(named:)``
/// adds its checks to the report and records the digests in the audit trail.
public struct BackupInspection: Sendable, Hashable {
    /// Engine-specific checks: the stored metadata against the object, the tarball opening, …
    public var checks: [BackupValidationReport.Check]
    /// Storage key → lower-case hex SHA-256 of every artifact read.
    public var digests: [String: String]

    /// Creates an inspection result.
    public init(checks: [BackupValidationReport.Check] = [], digests: [String: String] = [:]) {
        self.checks = checks
        self.digests = digests
    }
}
