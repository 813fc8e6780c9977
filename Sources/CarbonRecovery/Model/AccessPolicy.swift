/// Who may do what through Velero (the policy's `access` section): the groups of people who
/// operate recovery and who only look, the service accounts Velero and carbon-recovery run as,
/// and the API groups of custom resources Velero backs up and restores. `carbon-recovery deploy`
/// turns it into roles and bindings (`VeleroAccessRoles`); `doctor` checks the cluster against it.
///
/// A policy without the section leaves Velero's permissions as they are (the guide binds
/// cluster-admin); `policy lint` says so.
public struct AccessPolicy: Sendable, Hashable {
    /// Groups that may create backups, restores and deletion requests (not download requests,
    /// not the credentials secret).
    public var operatorGroups: [String]
    /// Groups that may read Velero's objects (not secrets, not download requests).
    public var viewerGroups: [String]
    /// carbon-recovery's own service account, in Velero's namespace.
    public var serviceAccount: String
    /// Velero's service account, in Velero's namespace.
    public var veleroServiceAccount: String
    /// API groups of custom resources Velero may back up and restore (`postgresql.cnpg.io`).
    /// Kubernetes' own groups are always covered; a group not named here is neither backed up
    /// nor restored by a Velero that runs with the rendered role.
    public var customResourceGroups: [String]

    /// Creates an access policy.
    public init(
        operatorGroups: [String] = [], viewerGroups: [String] = [], serviceAccount: String = "carbon-recovery",
        veleroServiceAccount: String = "velero", customResourceGroups: [String] = []
    ) {
        self.operatorGroups = operatorGroups
        self.viewerGroups = viewerGroups
        self.serviceAccount = serviceAccount
        self.veleroServiceAccount = veleroServiceAccount
        self.customResourceGroups = customResourceGroups
    }

    /// The user name Kubernetes gives a service account's tokens: `system:serviceaccount:<namespace>:<name>`.
    public static func serviceAccountUser(_ name: String, namespace: String) -> String {
        "system:serviceaccount:\(namespace):\(name)"
    }
}
