/// A question for the cluster's authorizer: may this user (with these groups) do this verb on
/// this resource? Asked through ``ClusterClient/reviewAccess(_:)`` as a Kubernetes
/// `SubjectAccessReview`, so the answer is the real RBAC's — except for `system:masters`,
/// which every authorizer allows before RBAC is asked, and which no binding shows.
///
/// ```swift
/// let review = AccessReview(user: "system:serviceaccount:velero:velero", groups: ["system:serviceaccounts"],
///                           verb: "create", group: "velero.io", resource: "restores", namespace: "velero")
/// let allowed = try await cluster.reviewAccess(review).allowed
/// ```
public struct AccessReview: Sendable, Hashable, CustomStringConvertible {
    /// The user name (`jane`, `system:serviceaccount:velero:velero`); empty to ask for groups only.
    public var user: String
    /// The user's groups.
    public var groups: [String]
    /// `get`, `list`, `create`, `bind`, …
    public var verb: String
    /// The API group (`""` for the core group).
    public var group: String
    /// The plural resource (`restores`).
    public var resource: String
    /// A subresource (`exec`), if any.
    public var subresource: String?
    /// The namespace; `nil` for cluster-scoped resources or all namespaces.
    public var namespace: String?
    /// One object's name, if the question is about one.
    public var name: String?

    /// Creates a question.
    public init(
        user: String, groups: [String] = [], verb: String, group: String, resource: String, subresource: String? = nil,
        namespace: String? = nil, name: String? = nil
    ) {
        self.user = user
        self.groups = groups
        self.verb = verb
        self.group = group
        self.resource = resource
        self.subresource = subresource
        self.namespace = namespace
        self.name = name
    }

    /// A service account's question, with the groups Kubernetes gives its tokens.
    public static func serviceAccount(
        _ name: String, in accountNamespace: String, verb: String, group: String, resource: String, subresource: String? = nil,
        namespace: String? = nil, name objectName: String? = nil
    ) -> AccessReview {
        AccessReview(
            user: AccessPolicy.serviceAccountUser(name, namespace: accountNamespace),
            groups: ["system:serviceaccounts", "system:serviceaccounts:\(accountNamespace)", "system:authenticated"],
            verb: verb, group: group, resource: resource, subresource: subresource, namespace: namespace, name: objectName)
    }

    /// `create restores.velero.io/… in velero for jane`.
    public var description: String {
        let resource = (group.isEmpty ? self.resource : "\(self.resource).\(group)") + (subresource.map { "/\($0)" } ?? "")
        return "\(verb) \(resource)\(name.map { " \($0)" } ?? "")\(namespace.map { " in \($0)" } ?? "") for \(user.isEmpty ? groups.joined(separator: ",") : user)"
    }

    /// The `SubjectAccessReview` object that asks it.
    public var object: JSONValue {
        var attributes: [String: JSONValue] = ["verb": .string(verb), "group": .string(group), "resource": .string(resource)]
        if let subresource { attributes["subresource"] = .string(subresource) }
        if let namespace { attributes["namespace"] = .string(namespace) }
        if let name { attributes["name"] = .string(name) }
        var spec: [String: JSONValue] = ["resourceAttributes": .object(attributes)]
        if !user.isEmpty { spec["user"] = .string(user) }
        if !groups.isEmpty { spec["groups"] = .array(groups.map { .string($0) }) }
        return ["apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": .object(spec)]
    }
}

/// The authorizer's answer to an ``AccessReview``.
public struct AccessDecision: Sendable, Hashable {
    /// The request would be allowed.
    public var allowed: Bool
    /// An authorizer denied it outright (RBAC never does; it only fails to allow).
    public var denied: Bool
    /// Why, when the authorizer says (`RBAC: allowed by ClusterRoleBinding "…"`).
    public var reason: String?

    /// Creates an answer.
    public init(allowed: Bool, denied: Bool = false, reason: String? = nil) {
        self.allowed = allowed
        self.denied = denied
        self.reason = reason
    }

    /// Reads a `SubjectAccessReview`'s `status`.
    public init(status: JSONValue?) {
        self.init(allowed: status?["allowed"]?.boolValue ?? false, denied: status?["denied"]?.boolValue ?? false, reason: status?["reason"]?.stringValue)
    }
}
