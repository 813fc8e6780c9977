import CarbonRecovery

/// The roles and bindings of a policy's `access` section: least privilege for Velero, for
/// carbon-recovery and for the people who operate recovery (`docs/security.md` has the table).
///
/// - **Velero's account** (`carbon-recovery-velero-server`): reads every resource it may back up
///   (Kubernetes' own, listed one by one, never a wildcard — a wildcard would also grant
///   subresources such as `pods/exec`, `nodes/proxy` and `serviceaccounts/token`; and the
///   policy's custom resource groups), creates and updates what a restore writes, and may
///   `bind`/`escalate` roles, because a restore writes RBAC objects granting permissions it does not
///   hold. No `delete` outside Velero's own objects, no impersonation, no tokens; `pods/exec`
///   only in the namespaces the policy's backup hooks run in (`carbon-recovery-velero-hooks`), or
///   everywhere when a hook's namespaces are a pattern.
/// - **carbon-recovery's account** (`carbon-recovery-controller`): exactly what its commands use —
///   Velero's objects in Velero's namespace (never `DownloadRequest`s), the credentials secret,
///   reading what a restore test verifies, deleting the namespaces a restore test created, and
///   `SubjectAccessReview`s for `doctor`. It cannot change RBAC, so it cannot widen itself.
/// - **Operators** (`carbon-recovery-dr-operator`): create backups, restores and deletion
///   requests; no download requests, no secrets. **Viewers** (`carbon-recovery-dr-viewer`):
///   read Velero's objects but download requests.
///
/// ```swift
/// let objects = VeleroAccessRoles(access: policy.access!, storageSecret: "cloud-credentials").objects()
/// ```
public struct VeleroAccessRoles: Sendable {
    /// The policy's access section.
    public var access: AccessPolicy
    /// Velero's namespace.
    public var namespace: String
    /// The credentials secret's name (carbon-recovery may read and update that one secret).
    public var storageSecret: String
    /// The namespaces whose pods Velero runs backup hooks in (`pods/exec`, granted there only).
    public var hookNamespaces: [String]
    /// A hook names no namespace or a pattern: Velero may exec in every namespace's pods.
    public var hooksEverywhere: Bool

    /// Creates the renderer.
    public init(
        access: AccessPolicy, namespace: String = VeleroObjects.defaultNamespace, storageSecret: String = "cloud-credentials",
        hookNamespaces: [String] = [], hooksEverywhere: Bool = false
    ) {
        self.access = access
        self.namespace = namespace
        self.storageSecret = storageSecret
        self.hookNamespaces = hookNamespaces
        self.hooksEverywhere = hooksEverywhere
    }

    /// Creates the renderer for a policy (its access section, or the defaults), with the
    /// namespaces of its schedules' backup hooks.
    public init(policy: RecoveryPolicy, namespace: String = VeleroObjects.defaultNamespace, storageSecret: String) {
        var namespaces: Set<String> = []
        var everywhere = false
        for entry in policy.schedules {
            for hook in entry.schedule.template.hooks {
                let names = hook.includedNamespaces.isEmpty ? entry.schedule.template.includedNamespaces : hook.includedNamespaces
                if names.isEmpty || names.contains(where: { $0.contains("*") || $0.contains("?") }) { everywhere = true }
                namespaces.formUnion(names.filter { !$0.contains("*") && !$0.contains("?") })
            }
        }
        self.init(
            access: policy.access ?? AccessPolicy(), namespace: namespace, storageSecret: storageSecret,
            hookNamespaces: everywhere ? [] : namespaces.sorted(), hooksEverywhere: everywhere)
    }

    /// The names of the roles (ClusterRoles and Roles share them).
    public enum RoleName {
        /// Velero's server.
        public static let velero = "carbon-recovery-velero-server"
        /// carbon-recovery itself.
        public static let controller = "carbon-recovery-controller"
        /// People who operate recovery.
        public static let drOperator = "carbon-recovery-dr-operator"
        /// People who look.
        public static let drViewer = "carbon-recovery-dr-viewer"
        /// Velero's backup hooks: `pods/exec` in the namespaces the hooks run in.
        public static let veleroHooks = "carbon-recovery-velero-hooks"
    }

    /// One API group's resources: those a restore writes, and those only read.
    public struct GroupResources: Sendable, Hashable {
        /// The API group (`""` for the core group).
        public var group: String
        /// Backed up and restored.
        public var restored: [String]
        /// Backed up (or looked at) but never restored: Velero's non-restorable resources, and
        /// those whose creation would be a privilege on its own.
        public var readOnly: [String]
    }

    /// Kubernetes' own resources (1.20 to 1.33) by group: top-level resources only, since a
    /// subresource such as `pods/exec` is a privilege of its own.
    public static let kubernetesResources: [GroupResources] = [
        .init(group: "", restored: [
            "configmaps", "endpoints", "limitranges", "namespaces", "persistentvolumeclaims", "persistentvolumes", "pods", "podtemplates",
            "replicationcontrollers", "resourcequotas", "secrets", "serviceaccounts", "services",
        ], readOnly: ["componentstatuses", "events", "nodes"]),
        .init(group: "admissionregistration.k8s.io", restored: ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"], readOnly: []),
        .init(group: "apiextensions.k8s.io", restored: ["customresourcedefinitions"], readOnly: []),
        .init(group: "apiregistration.k8s.io", restored: ["apiservices"], readOnly: []),
        .init(group: "apps", restored: ["controllerrevisions", "daemonsets", "deployments", "replicasets", "statefulsets"], readOnly: []),
        .init(group: "autoscaling", restored: ["horizontalpodautoscalers"], readOnly: []),
        .init(group: "batch", restored: ["cronjobs", "jobs"], readOnly: []),
        .init(group: "certificates.k8s.io", restored: [], readOnly: ["certificatesigningrequests"]),
        .init(group: "coordination.k8s.io", restored: ["leases"], readOnly: []),
        .init(group: "discovery.k8s.io", restored: ["endpointslices"], readOnly: []),
        .init(group: "events.k8s.io", restored: [], readOnly: ["events"]),
        .init(group: "extensions", restored: ["ingresses"], readOnly: []),
        .init(group: "flowcontrol.apiserver.k8s.io", restored: ["flowschemas", "prioritylevelconfigurations"], readOnly: []),
        .init(group: "networking.k8s.io", restored: ["ingressclasses", "ingresses", "networkpolicies"], readOnly: []),
        .init(group: "node.k8s.io", restored: ["runtimeclasses"], readOnly: []),
        .init(group: "policy", restored: ["poddisruptionbudgets"], readOnly: ["podsecuritypolicies"]),
        .init(group: "rbac.authorization.k8s.io", restored: ["clusterrolebindings", "clusterroles", "rolebindings", "roles"], readOnly: []),
        .init(group: "scheduling.k8s.io", restored: ["priorityclasses"], readOnly: []),
        .init(group: "storage.k8s.io", restored: ["csidrivers", "csistoragecapacities", "storageclasses"], readOnly: ["csinodes", "volumeattachments"]),
    ]

    /// Kubernetes' own API groups (never a custom resource group).
    public static let kubernetesGroups: Set<String> = Set(kubernetesResources.map(\.group)).union(["authentication.k8s.io", "authorization.k8s.io"])

    /// Velero's objects a viewer may read (all but `downloadrequests`, which hand out presigned
    /// URLs to every backed-up object, secrets included).
    public static let veleroReadable = [
        "backuprepositories", "backups", "backupstoragelocations", "deletebackuprequests", "podvolumebackups", "podvolumerestores",
        "restores", "schedules", "serverstatusrequests", "volumesnapshotlocations",
    ]

    /// The ConfigMap Velero reads storage class mappings from, which carbon-recovery writes.
    public static let storageClassConfigMap = "change-storage-class-config"

    static let read: [JSONValue] = ["get", "list", "watch"]
    static let write: [JSONValue] = ["create", "patch", "update"]

    static func rule(_ groups: [String], _ resources: [String], _ verbs: [JSONValue], names: [String] = []) -> JSONValue {
        var rule: [String: JSONValue] = [
            "apiGroups": .array(groups.map { .string($0) }), "resources": .array(resources.map { .string($0) }), "verbs": .array(verbs),
        ]
        if !names.isEmpty { rule["resourceNames"] = .array(names.map { .string($0) }) }
        return .object(rule)
    }

    /// Velero's cluster-wide rules.
    public var veleroRules: [JSONValue] {
        var rules: [JSONValue] = []
        for entry in Self.kubernetesResources {
            rules.append(Self.rule([entry.group], (entry.restored + entry.readOnly).sorted(), Self.read))
            if !entry.restored.isEmpty { rules.append(Self.rule([entry.group], entry.restored, Self.write)) }
        }
        // A restore writes roles and bindings granting what Velero itself does not hold.
        rules.append(Self.rule(["rbac.authorization.k8s.io"], ["clusterroles", "roles"], ["bind", "escalate"]))
        if !access.customResourceGroups.isEmpty {
            rules.append(Self.rule(access.customResourceGroups.sorted(), ["*"], Self.read + Self.write))
        }
        rules.append(Self.rule(["velero.io"], ["*"], Self.read))
        if hooksEverywhere { rules += Self.hookRules }
        return rules
    }

    /// What running a backup hook takes: finding the pod and exec'ing into it (Velero's
    /// hook handler posts to `pods/exec`, authorized as `create`; older clients `get`).
    public static let hookRules: [JSONValue] = [rule([""], ["pods/exec"], ["create", "get"])]

    /// carbon-recovery's cluster-wide rules: read what a restore test or recovery verifies,
    /// delete the namespaces a restore test created, ask access reviews.
    public var controllerRules: [JSONValue] {
        var rules: [JSONValue] = []
        for entry in Self.kubernetesResources { rules.append(Self.rule([entry.group], (entry.restored + entry.readOnly).sorted(), Self.read)) }
        if !access.customResourceGroups.isEmpty { rules.append(Self.rule(access.customResourceGroups.sorted(), ["*"], Self.read)) }
        rules.append(Self.rule([""], ["namespaces"], ["create", "delete"]))
        rules.append(Self.rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]))
        return rules
    }

    /// carbon-recovery's rules in Velero's namespace.
    public var controllerNamespaceRules: [JSONValue] {
        [
            Self.rule(["velero.io"], Self.veleroReadable, Self.read),
            Self.rule(["velero.io"], ["backups", "backupstoragelocations", "deletebackuprequests", "restores", "schedules"], Self.write),
            Self.rule(["velero.io"], ["restores", "schedules"], ["delete"]),
            Self.rule([""], ["secrets"], ["create"]),
            Self.rule([""], ["secrets"], ["patch", "update"], names: [storageSecret]),
            Self.rule([""], ["configmaps"], ["create"]),
            Self.rule([""], ["configmaps"], ["patch", "update"], names: [Self.storageClassConfigMap]),
        ]
    }

    /// The operators' rules in Velero's namespace.
    public static let operatorRules: [JSONValue] = [
        rule(["velero.io"], veleroReadable, read),
        rule(["velero.io"], ["backups", "deletebackuprequests", "restores"], ["create"]),
    ]

    /// The viewers' rules in Velero's namespace.
    public static let viewerRules: [JSONValue] = [rule(["velero.io"], veleroReadable, read)]

    /// Every object, in the order to apply them: service accounts, roles, bindings.
    public func objects() -> [KubernetesObject] {
        let labels = [VeleroDeployment.managedByLabel: VeleroDeployment.managedByValue]
        func role(_ kind: ResourceKind, _ name: String, _ rules: [JSONValue]) -> KubernetesObject {
            KubernetesObject(kind: kind, namespace: kind.isNamespaced ? namespace : nil, name: name, labels: labels, body: ["rules": .array(rules)])
        }
        func binding(_ kind: ResourceKind, _ name: String, role roleKind: String, _ subjects: [JSONValue]) -> KubernetesObject {
            KubernetesObject(kind: kind, namespace: kind.isNamespaced ? namespace : nil, name: name, labels: labels, body: [
                "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": .string(roleKind), "name": .string(name)],
                "subjects": .array(subjects),
            ])
        }
        func serviceAccount(_ name: String) -> JSONValue { ["kind": "ServiceAccount", "name": .string(name), "namespace": .string(namespace)] }
        func groups(_ names: [String]) -> [JSONValue] { names.map { ["apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": .string($0)] } }

        var objects = [
            KubernetesObject(kind: .serviceAccount, namespace: namespace, name: access.veleroServiceAccount, labels: labels),
            KubernetesObject(kind: .serviceAccount, namespace: namespace, name: access.serviceAccount, labels: labels),
            role(.clusterRole, RoleName.velero, veleroRules),
            role(.clusterRole, RoleName.controller, controllerRules),
            role(.role, RoleName.velero, [Self.rule(["velero.io"], ["*"], ["*"])]),
            role(.role, RoleName.controller, controllerNamespaceRules),
            role(.role, RoleName.drOperator, Self.operatorRules),
            role(.role, RoleName.drViewer, Self.viewerRules),
            binding(.clusterRoleBinding, RoleName.velero, role: "ClusterRole", [serviceAccount(access.veleroServiceAccount)]),
            binding(.clusterRoleBinding, RoleName.controller, role: "ClusterRole", [serviceAccount(access.serviceAccount)]),
            binding(.roleBinding, RoleName.velero, role: "Role", [serviceAccount(access.veleroServiceAccount)]),
            binding(.roleBinding, RoleName.controller, role: "Role", [serviceAccount(access.serviceAccount)]),
        ]
        if !access.operatorGroups.isEmpty { objects.append(binding(.roleBinding, RoleName.drOperator, role: "Role", groups(access.operatorGroups))) }
        if !access.viewerGroups.isEmpty { objects.append(binding(.roleBinding, RoleName.drViewer, role: "Role", groups(access.viewerGroups))) }
        for hookNamespace in hookNamespaces where !hooksEverywhere {
            var hooks = role(.role, RoleName.veleroHooks, Self.hookRules)
            hooks.json["metadata"]?["namespace"] = .string(hookNamespace)
            var bound = binding(.roleBinding, RoleName.veleroHooks, role: "Role", [serviceAccount(access.veleroServiceAccount)])
            bound.json["metadata"]?["namespace"] = .string(hookNamespace)
            objects += [hooks, bound]
        }
        return objects
    }
}
