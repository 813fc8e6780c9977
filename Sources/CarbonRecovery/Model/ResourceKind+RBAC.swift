extension ResourceKind {
    /// `v1` `ServiceAccount`.
    public static let serviceAccount = ResourceKind(apiVersion: "v1", kind: "ServiceAccount", resource: "serviceaccounts")
    /// `rbac.authorization.k8s.io/v1` `Role`.
    public static let role = ResourceKind(apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", resource: "roles.rbac.authorization.k8s.io")
    /// `rbac.authorization.k8s.io/v1` `RoleBinding`.
    public static let roleBinding = ResourceKind(
        apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", resource: "rolebindings.rbac.authorization.k8s.io")
    /// `rbac.authorization.k8s.io/v1` `ClusterRole` (cluster-scoped).
    public static let clusterRole = ResourceKind(
        apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", resource: "clusterroles.rbac.authorization.k8s.io", isNamespaced: false)
    /// `rbac.authorization.k8s.io/v1` `ClusterRoleBinding` (cluster-scoped).
    public static let clusterRoleBinding = ResourceKind(
        apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", resource: "clusterrolebindings.rbac.authorization.k8s.io",
        isNamespaced: false)
}
