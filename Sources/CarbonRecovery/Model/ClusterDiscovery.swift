import Foundation

/// What an API server says about itself: its Kubernetes version and the resources it serves.
///
/// Velero asks the same questions on every backup and restore (its discovery helper): which
/// resources to list, which group versions a restored object can be created in, and — through
/// the `velero.io/source-cluster-k8s-*` annotations — which version a backup was taken on.
public struct ClusterDiscovery: Sendable, Hashable {
    /// The API server's version (`GET /version`).
    public var version: KubernetesVersion
    /// Every served resource in every served group version (no subresources), each with
    /// whether it is namespaced.
    public var resources: [ServedResource]
    /// The preferred version of each group, by group name (`""` for the core group).
    public var preferredVersions: [String: String]

    /// Creates a discovery result.
    public init(version: KubernetesVersion, resources: [ServedResource], preferredVersions: [String: String]) {
        self.version = version
        self.resources = resources
        self.preferredVersions = preferredVersions
    }

    /// One resource in one group version.
    public struct ServedResource: Sendable, Hashable {
        /// The resource's kind, API version, plural (`deployments.apps`) and scope.
        public var kind: ResourceKind
        /// The verbs the server allows on the collection and its objects (`list`, `create`, …).
        public var verbs: Set<String>

        /// Creates a served resource.
        public init(kind: ResourceKind, verbs: Set<String>) {
            self.kind = kind
            self.verbs = verbs
        }

        /// The group (`""` for the core group).
        public var group: String { kind.apiVersion.contains("/") ? String(kind.apiVersion.split(separator: "/")[0]) : "" }
        /// Whether objects of it can be listed (Velero backs up only those).
        public var isListable: Bool { verbs.contains("list") && verbs.contains("get") }
    }

    /// The resources in their group's preferred version that can be listed — what Velero's
    /// backup walks (its `ServerPreferredResources`).
    public var preferredListable: [ResourceKind] {
        resources.filter { $0.isListable && preferredVersions[$0.group] == $0.kind.apiVersion.split(separator: "/").last.map(String.init) }.map(\.kind)
    }

    /// Whether `apiVersion` serves `kind` (in any scope).
    public func serves(apiVersion: String, kind: String) -> Bool {
        resources.contains { $0.kind.apiVersion == apiVersion && $0.kind.kind == kind }
    }

    /// The served resource for `apiVersion` and `kind`, if any.
    public func resource(apiVersion: String, kind: String) -> ResourceKind? {
        resources.first { $0.kind.apiVersion == apiVersion && $0.kind.kind == kind }?.kind
    }
}

/// A Kubernetes version as `GET /version` reports it.
public struct KubernetesVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// `v1.20.15`, as the server reports it.
    public var gitVersion: String
    /// The major version (`1`).
    public var major: Int
    /// The minor version (`20`); a trailing `+` some distributions add is dropped.
    public var minor: Int

    /// Creates a version.
    public init(gitVersion: String, major: Int, minor: Int) {
        self.gitVersion = gitVersion
        self.major = major
        self.minor = minor
    }

    /// Reads the `major`/`minor` strings the API server and Velero's annotations carry
    /// (`"1"`, `"20+"`), falling back to the git version (`v1.20.15`) for what is missing.
    ///
    /// - Throws: `RecoveryError.Code.invalidInput` when neither gives a number.
    public init(gitVersion: String, major: String?, minor: String?) throws {
        func number(_ text: String?) -> Int? { text.flatMap { Int($0.prefix { $0.isNumber }) } }
        let parts = gitVersion.drop { $0 == "v" }.split(separator: ".")
        guard let major = number(major) ?? number(parts.first.map(String.init)),
              let minor = number(minor) ?? (parts.count > 1 ? number(String(parts[1])) : nil) else {
            throw RecoveryError.invalidInput("not a Kubernetes version: \(gitVersion) (major \(major ?? "none"), minor \(minor ?? "none"))")
        }
        self.init(gitVersion: gitVersion, major: major, minor: minor)
    }

    public static func < (lhs: KubernetesVersion, rhs: KubernetesVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    public var description: String { gitVersion }
}
