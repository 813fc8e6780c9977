// Least privilege, proven against the sandbox's real RBAC authorizer: the roles the sandbox
// seeded (rendered from scripts/sandbox-seed/access-policy.yaml) are asked about with
// SubjectAccessReviews — a table of allowed and denied checks for Velero's account,
// carbon-recovery's, an operator, a viewer and a user with no binding — then the tokens
// themselves are used: what a role does not grant is refused by the API server and changes
// nothing. Every other integration test runs the stand-in as Velero's account, so its backups
// and restores are the proof that the narrow role still suffices. Doctor's access checks see
// cluster-admin bound to Velero and a stranger who may create restores.
import CarbonRecovery
import CarbonRecoveryKubectl
import CarbonRecoveryVelero
import Foundation
import Testing
import TestSupport

@Suite("Least privilege on the sandbox's RBAC")
struct AccessControlTests {
    enum Who: String, CaseIterable {
        case velero, controller, drOperator = "dr-operator", drViewer = "dr-viewer", stranger

        func review(_ verb: String, _ group: String, _ resource: String, subresource: String? = nil, in namespace: String?, name: String? = nil) -> AccessReview {
            switch self {
            case .velero: .serviceAccount("velero", in: "velero", verb: verb, group: group, resource: resource, subresource: subresource, namespace: namespace, name: name)
            case .controller: .serviceAccount("carbon-recovery", in: "velero", verb: verb, group: group, resource: resource, subresource: subresource, namespace: namespace, name: name)
            case .drOperator: AccessReview(user: "dr-operator", groups: ["platform-dr-operators", "system:authenticated"], verb: verb, group: group, resource: resource, subresource: subresource, namespace: namespace, name: name)
            case .drViewer: AccessReview(user: "dr-viewer", groups: ["platform-dr-viewers", "system:authenticated"], verb: verb, group: group, resource: resource, subresource: subresource, namespace: namespace, name: name)
            case .stranger: AccessReview(user: "mallory", groups: ["system:authenticated"], verb: verb, group: group, resource: resource, subresource: subresource, namespace: namespace, name: name)
            }
        }
    }

    /// (who, verb, group, resource, subresource, namespace, name, allowed)
    static let table: [(Who, String, String, String, String?, String?, String?, Bool)] = [
        // Velero's account: reads everything it backs up, writes what a restore writes, nothing more.
        (.velero, "list", "", "secrets", nil, nil, nil, true),
        (.velero, "list", "platform.254carbon.dev", "pipelines", nil, nil, nil, true),
        (.velero, "create", "apps", "deployments", nil, "registry", nil, true),
        (.velero, "create", "", "namespaces", nil, nil, nil, true),
        (.velero, "create", "apiextensions.k8s.io", "customresourcedefinitions", nil, nil, nil, true),
        (.velero, "escalate", "rbac.authorization.k8s.io", "clusterroles", nil, nil, nil, true),
        (.velero, "patch", "velero.io", "backups", nil, "velero", nil, true),
        (.velero, "delete", "velero.io", "backups", nil, "velero", nil, true),
        (.velero, "delete", "", "configmaps", nil, "registry", nil, false),
        (.velero, "delete", "", "namespaces", nil, nil, nil, false),
        (.velero, "create", "", "pods", "exec", "registry", nil, false),
        (.velero, "get", "", "nodes", "proxy", nil, nil, false),
        (.velero, "create", "", "serviceaccounts", "token", "kube-system", nil, false),
        (.velero, "impersonate", "", "users", nil, nil, nil, false),
        (.velero, "create", "", "nodes", nil, nil, nil, false),
        (.velero, "create", "velero.io", "backups", nil, "registry", nil, false),
        (.velero, "update", "certificates.k8s.io", "certificatesigningrequests", "approval", nil, nil, false),
        // carbon-recovery's account: Velero's objects, its secret by name, namespaces of restore tests.
        (.controller, "create", "velero.io", "restores", nil, "velero", nil, true),
        (.controller, "create", "velero.io", "deletebackuprequests", nil, "velero", nil, true),
        (.controller, "delete", "velero.io", "schedules", nil, "velero", nil, true),
        (.controller, "update", "", "secrets", nil, "velero", "cloud-credentials", true),
        (.controller, "update", "", "secrets", nil, "velero", "other-secret", false),
        (.controller, "delete", "", "namespaces", nil, nil, nil, true),
        (.controller, "create", "authorization.k8s.io", "subjectaccessreviews", nil, nil, nil, true),
        (.controller, "list", "rbac.authorization.k8s.io", "clusterrolebindings", nil, nil, nil, true),
        (.controller, "create", "velero.io", "downloadrequests", nil, "velero", nil, false),
        (.controller, "create", "rbac.authorization.k8s.io", "clusterrolebindings", nil, nil, nil, false),
        (.controller, "bind", "rbac.authorization.k8s.io", "clusterroles", nil, nil, nil, false),
        (.controller, "create", "apps", "deployments", nil, "registry", nil, false),
        (.controller, "delete", "", "configmaps", nil, "registry", nil, false),
        // The operator group: backups, restores, deletion requests — no downloads, no secrets.
        (.drOperator, "create", "velero.io", "restores", nil, "velero", nil, true),
        (.drOperator, "create", "velero.io", "backups", nil, "velero", nil, true),
        (.drOperator, "create", "velero.io", "deletebackuprequests", nil, "velero", nil, true),
        (.drOperator, "list", "velero.io", "schedules", nil, "velero", nil, true),
        (.drOperator, "create", "velero.io", "downloadrequests", nil, "velero", nil, false),
        (.drOperator, "get", "", "secrets", nil, "velero", "cloud-credentials", false),
        (.drOperator, "patch", "velero.io", "backupstoragelocations", nil, "velero", nil, false),
        (.drOperator, "patch", "velero.io", "schedules", nil, "velero", nil, false),
        (.drOperator, "create", "", "pods", nil, "velero", nil, false),
        (.drOperator, "create", "velero.io", "restores", nil, "registry", nil, false),
        // The viewer group: reads Velero's objects only.
        (.drViewer, "list", "velero.io", "backups", nil, "velero", nil, true),
        (.drViewer, "get", "velero.io", "restores", nil, "velero", nil, true),
        (.drViewer, "create", "velero.io", "restores", nil, "velero", nil, false),
        (.drViewer, "get", "velero.io", "downloadrequests", nil, "velero", nil, false),
        (.drViewer, "list", "", "secrets", nil, "velero", nil, false),
        // No binding: nothing.
        (.stranger, "list", "velero.io", "backups", nil, "velero", nil, false),
        (.stranger, "create", "velero.io", "restores", nil, "velero", nil, false),
    ]

    @Test("SubjectAccessReviews: every allowed and every denied check in the table holds")
    func table() async throws {
        let client = try sandboxClient()
        var wrong: [String] = []
        for (who, verb, group, resource, subresource, namespace, name, allowed) in Self.table {
            let review = who.review(verb, group, resource, subresource: subresource, in: namespace, name: name)
            let decision = try await client.reviewAccess(review)
            if decision.allowed != allowed { wrong.append("\(who.rawValue): \(review) should be \(allowed ? "allowed" : "denied")\(decision.reason.map { " (\($0))" } ?? "")") }
        }
        #expect(wrong.isEmpty, "\(wrong.joined(separator: "\n"))")
        // The whole table in one kubectl process: the same answers, in order.
        let batch = try await client.reviewAccess(Self.table.map { $0.0.review($0.1, $0.2, $0.3, subresource: $0.4, in: $0.5, name: $0.6) })
        #expect(batch.map(\.allowed) == Self.table.map(\.7), "one batch answers each question in order")
        #expect(try await client.reviewAccess([AccessReview]()).isEmpty)
        #expect(Self.table.count >= 30 && Self.table.contains { $0.7 } && Self.table.contains { !$0.7 })
        for who in Who.allCases { #expect(Self.table.contains { $0.0 == who }) }
    }

    @Test("the tokens are the accounts: what a role does not grant is refused by the API server, and nothing changes")
    func tokens() async throws {
        let sandbox = try Sandbox.current()
        let admin = try sandboxClient()
        let velero = try sandboxClient(kubeconfig: sandbox.veleroKubeconfig)
        #expect(try await velero.list(.veleroBackupStorageLocation, namespace: "velero", labelSelector: nil).contains { $0.name == "default" })
        let settings = try ObjectReference(kind: .configMap, namespace: "registry", name: "registry-config")
        let before = try #require(try await admin.get(settings))
        _ = await expectCode(.forbidden) { try await velero.delete(settings, ignoreNotFound: false) }
        #expect(try await admin.get(settings)?.resourceVersion == before.resourceVersion, "nothing changed")

        let controller = try sandboxClient(kubeconfig: sandbox.controllerKubeconfig)
        var download = KubernetesObject(kind: .init(apiVersion: "velero.io/v1", kind: "DownloadRequest", resource: "downloadrequests.velero.io"), namespace: "velero", name: "steal-\(UUID().uuidString.prefix(6).lowercased())")
        download.json["spec"] = ["target": ["kind": "BackupContents", "name": "anything"]]
        _ = await expectCode(.forbidden) { _ = try await controller.create(download, fieldManager: "carbon-recovery-tests") }
        let drOperator = try sandboxClient(kubeconfig: sandbox.operatorKubeconfig)
        _ = await expectCode(.forbidden) { _ = try await drOperator.create(download, fieldManager: "carbon-recovery-tests") }
        _ = await expectCode(.forbidden) { _ = try await drOperator.get(try ObjectReference(kind: .secret, namespace: "velero", name: "cloud-credentials")) }
        let drViewer = try sandboxClient(kubeconfig: sandbox.drViewerKubeconfig)
        #expect(try await drViewer.list(.veleroBackup, namespace: "velero", labelSelector: nil).count >= 0)
        _ = await expectCode(.forbidden) { _ = try await drViewer.list(.secret, namespace: "velero", labelSelector: nil) }
        #expect(try await admin.list(.init(apiVersion: "velero.io/v1", kind: "DownloadRequest", resource: "downloadrequests.velero.io"), namespace: "velero", labelSelector: nil)
            .allSatisfy { !($0.name ?? "").hasPrefix("steal-") }, "no download request was created")
    }

    @Test("deploy renders the same roles the sandbox holds: every access object unchanged")
    func deployPlan() async throws {
        // scripts/sandbox-seed/access-policy.yaml, as the SDK's types (AccessPolicyTests reads the file itself).
        var policy = RecoveryPolicy(
            storage: StoragePolicy(endpoint: "http://127.0.0.1:9000", bucket: "254carbon-backups", credentials: .secret(namespace: "velero", name: "cloud-credentials", key: "cloud")))
        policy.access = AccessPolicy(operatorGroups: ["platform-dr-operators"], viewerGroups: ["platform-dr-viewers"], customResourceGroups: ["platform.254carbon.dev"])
        let plan = try await VeleroDeployment(cluster: try sandboxClient()).plan(policy)
        let access = plan.filter { ["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"].contains($0.object.kind ?? "") }
        #expect(access.count == 14)
        #expect(access.allSatisfy { $0.action == .unchanged }, "\(access.filter { $0.action != .unchanged })")

        // A backup hook's role: created in a namespace that exists, skipped (never created
        // with its namespace) in one that does not yet.
        var hooked = policy
        let hook = BackupHook(name: "dump", includedNamespaces: ["registry", "not-yet-\(UUID().uuidString.prefix(6).lowercased())"], pre: [.init(command: ["true"])])
        hooked.schedules = [ScheduledBackup(schedule: SchedulePolicy(name: "hooked", cron: try CronSchedule(parsing: "0 3 * * *"), template: BackupRequest(name: "hooked", hooks: [hook])))]
        let hookPlan = try await VeleroDeployment(cluster: try sandboxClient()).plan(hooked).filter { $0.object.name == VeleroAccessRoles.RoleName.veleroHooks }
        #expect(hookPlan.map { "\($0.action.rawValue) \($0.object.namespace ?? "")" }.sorted().first == "create registry", "\(hookPlan)")
        #expect(hookPlan.filter { $0.action == .skipped }.count == 2 && hookPlan.filter { $0.action == .skipped }.allSatisfy { $0.differences.first?.contains("does not exist yet") == true })
    }

    @Test("doctor: cluster-admin bound to Velero's account fails; a stranger who may create restores is named; a clean install passes")
    func doctor() async throws {
        // A Velero namespace of its own, so that the bindings this test adds change nothing the
        // sandbox's other tests (doctor on the real velero namespace) look at: bindings in a
        // namespace grant nothing outside it.
        let admin = try sandboxClient()
        let namespace = try await scratchNamespace(admin, "velero-access")
        let checks = VeleroAccessChecks(cluster: admin, namespace: namespace, access: AccessPolicy(operatorGroups: ["platform-dr-operators"]))
        let clean = await checks.doctorChecks()
        #expect(clean.map(\.status) == [.pass, .pass], "\(clean)")
        #expect(clean[1].detail.contains("group system:masters"), "the administrators, expected")

        let guide = KubernetesObject(kind: .roleBinding, namespace: namespace, name: "velero-guide", body: [
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"],
            "subjects": [["kind": "ServiceAccount", "name": "velero", "namespace": .string(namespace)]],
        ])
        let stranger = KubernetesObject(kind: .roleBinding, namespace: namespace, name: "mallory", body: [
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"],
            "subjects": [["apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"]],
        ])
        let operators = KubernetesObject(kind: .roleBinding, namespace: namespace, name: "operators", body: [
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"],
            "subjects": [["apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "platform-dr-operators"]],
        ])
        _ = try await admin.apply(guide, fieldManager: "carbon-recovery-tests")
        let results = await checks.doctorChecks()
        #expect(results[0].status == .fail && results[0].detail.contains("RoleBinding \(namespace)/velero-guide"), "\(results[0])")
        #expect(results[0].fix?.contains("kubectl -n \(namespace) delete rolebinding velero-guide") == true, "\(results[0])")
        #expect(results[1].status == .pass, "Velero itself may create restores: \(results[1])")

        // Kubernetes' `edit` role has no velero.io rules, so the reviews say mallory may not —
        // until a role that grants it is bound: the authorizer decides, not the binding's name.
        _ = try await admin.apply(stranger, fieldManager: "carbon-recovery-tests")
        #expect(await checks.doctorChecks()[1].status == .pass, "edit grants nothing on velero.io")
        var restorer = KubernetesObject(kind: .role, namespace: namespace, name: "restorer", body: [
            "rules": [["apiGroups": ["velero.io"], "resources": ["restores", "downloadrequests"], "verbs": ["create"]]],
        ])
        restorer.json["metadata"]?["labels"] = ["carbon-recovery/test": "true"]
        _ = try await admin.apply(restorer, fieldManager: "carbon-recovery-tests")
        var mallory = stranger
        mallory.json["roleRef"] = ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "restorer"]
        mallory.json["metadata"]?["name"] = "mallory-restorer"
        var ops = operators
        ops.json["roleRef"] = ["apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "restorer"]
        _ = try await admin.apply(mallory, fieldManager: "carbon-recovery-tests")
        _ = try await admin.apply(ops, fieldManager: "carbon-recovery-tests")
        let named = await checks.doctorChecks()[1]
        #expect(named.status == .warn, "\(named)")
        #expect(named.detail.contains("user mallory may create restores and create downloadrequests (RoleBinding \(namespace)/mallory, RoleBinding \(namespace)/mallory-restorer)"), "\(named.detail)")
        #expect(named.detail.contains("group platform-dr-operators may create restores and create downloadrequests"), "an operator group may not download either: \(named.detail)")
        #expect(named.detail.contains("system:masters"), "says what it cannot see")

        for name in ["velero-guide", "mallory", "mallory-restorer", "operators"] {
            try await admin.delete(try ObjectReference(kind: .roleBinding, namespace: namespace, name: name), ignoreNotFound: false)
        }
        #expect(await checks.doctorChecks().map(\.status) == [.pass, .pass])
    }
}
