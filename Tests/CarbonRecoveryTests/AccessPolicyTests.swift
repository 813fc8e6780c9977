// The policy's access section: reading it (each bad input a clear error), its lint rules, and
// the roles VeleroAccessRoles renders from it — least privilege checked as properties of the
// rules (no wildcard that would carry a subresource, no delete, no exec, no secrets for people).
// The sandbox's seeded roles are this renderer's output (kept in step here).
import CarbonRecovery
import CarbonRecoveryPolicy
import CarbonRecoveryVelero
import Foundation
import Testing

@Suite("Access policy and least-privilege roles")
struct AccessPolicyTests {
    static let access = """
        schedules:
          - {name: a, cron: "0 2 * * *", namespaces: [registry]}
        access:
          operators: [platform-dr-operators, "oidc:sre on call"]
          viewers: [platform-sre]
          serviceAccount: carbon-recovery-ctl
          customResourceGroups: [platform.254carbon.dev]
        """

    @Test("the section reads into AccessPolicy; defaults for what it leaves out")
    func reads() throws {
        let access = try #require(try PolicyFile.parse(policyText(Self.access)).policy.access)
        #expect(access.operatorGroups == ["platform-dr-operators", "oidc:sre on call"] && access.viewerGroups == ["platform-sre"])
        #expect(access.serviceAccount == "carbon-recovery-ctl" && access.veleroServiceAccount == "velero")
        #expect(access.customResourceGroups == ["platform.254carbon.dev"])
        #expect(try PolicyFile.parse(policyText("access: {}")).policy.access == AccessPolicy())
        #expect(try PolicyFile.parse(policyText("schedules: []\naccess: {viewers: [v]}")).policy.access?.operatorGroups == [])
    }

    @Test("bad access input is a clear error naming the field", arguments: [
        ("access: {operators: platform}", "access.operators: expected a list"),
        ("access: {operators: [' padded']}", "access.operators: ' padded' is not a group name"),
        ("access: {operators: ['']}", "access.operators: '' is not a group name"),
        ("access: {operators: [a, a]}", "access.operators: a group is named twice"),
        ("access: {operators: [ops], viewers: [ops]}", "access.viewers: ops is an operator group too"),
        ("access: {serviceAccount: Carbon_Recovery}", "access.serviceAccount: "),
        ("access: {serviceAccount: velero}", "need service accounts of their own"),
        ("access: {customResourceGroups: [apps]}", "apps is one of Kubernetes' own groups"),
        ("access: {customResourceGroups: ['']}", "access.customResourceGroups: "),
        ("access: {customResourceGroups: [velero.io]}", "velero.io is Velero's own group"),
        ("access: {customResourceGroups: ['*']}", "access.customResourceGroups: "),
        ("access: {admins: [root]}", "access.admins: unknown field"),
    ])
    func bad(yaml: String, message: String) throws {
        let error = #expect(throws: RecoveryError.self) { try PolicyFile.parse(policyText(yaml)) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.contains(message) == true, "\(error?.message ?? "")")
    }

    @Test("lint: no access section is the guide's cluster-admin; an access section without operators leaves restores to administrators")
    func lint() throws {
        let without = """
            storage:
              endpoint: https://127.0.0.1:9000
              bucket: b
              credentials: {secret: {namespace: velero, name: cloud-credentials, key: cloud}}
              encryption: {type: SSE-S3}
            schedules:
              - {name: a, cron: "0 2 * * *", namespaces: [registry]}
            """
        #expect(try PolicyFile.parse(without).lint().map(\.rule) == ["velero-access-not-limited"])
        #expect(try PolicyFile.parse(without + "\naccess: {viewers: [v]}").lint().map(\.rule) == ["no-operator-group"])
        #expect(try PolicyFile.parse(without + "\naccess: {operators: [o]}").lint().isEmpty)
    }

    static func rules(_ object: KubernetesObject) -> [(groups: [String], resources: [String], verbs: [String], names: [String])] {
        (object.json["rules"]?.arrayValue ?? []).map { rule in
            func strings(_ key: String) -> [String] { rule[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
            return (strings("apiGroups"), strings("resources"), strings("verbs"), strings("resourceNames"))
        }
    }

    @Test("Velero's role: Kubernetes' resources one by one, no subresource, no delete; wildcards only for named custom groups and Velero's own")
    func veleroRole() throws {
        let access = AccessPolicy(operatorGroups: ["ops"], customResourceGroups: ["platform.254carbon.dev"])
        let objects = VeleroAccessRoles(access: access).objects()
        let role = try #require(objects.first { $0.kind == "ClusterRole" && $0.name == VeleroAccessRoles.RoleName.velero })
        let rules = Self.rules(role)
        for rule in rules {
            #expect(!rule.verbs.contains("*") && !rule.verbs.contains("delete") && !rule.verbs.contains("deletecollection") && !rule.verbs.contains("impersonate"))
            #expect(!rule.resources.contains { $0.contains("/") }, "no subresource: \(rule.resources)")
            #expect(!rule.groups.contains("*"))
            if rule.resources.contains("*") { #expect(rule.groups == ["platform.254carbon.dev"] || rule.groups == ["velero.io"], "\(rule)") }
            if rule.groups == ["velero.io"] { #expect(rule.verbs == ["get", "list", "watch"]) }
        }
        #expect(rules.contains { $0.groups == ["rbac.authorization.k8s.io"] && $0.verbs == ["bind", "escalate"] }, "a restore writes roles")
        #expect(rules.contains { $0.groups == [""] && $0.resources.contains("secrets") && $0.verbs == ["get", "list", "watch"] }, "a backup reads every secret")
        #expect(!rules.contains { $0.resources.contains("nodes") && $0.verbs.contains("create") }, "never restores nodes")
        // Every resource Velero restores is also read, and every non-restorable one is never written.
        for entry in VeleroAccessRoles.kubernetesResources {
            let written = Set(rules.filter { $0.groups == [entry.group] && $0.verbs == ["create", "patch", "update"] }.flatMap(\.resources))
            #expect(written == Set(entry.restored), "\(entry.group)")
            for resource in entry.readOnly {
                let qualified = entry.group.isEmpty ? resource : "\(resource).\(entry.group)"
                if VeleroRestoreRules.nonRestorableResources.contains(qualified) || VeleroRestoreRules.nonRestorableResources.contains(resource) { #expect(!written.contains(resource)) }
            }
        }
        // In Velero's namespace: everything on velero.io, nothing else.
        let own = try #require(objects.first { $0.kind == "Role" && $0.name == VeleroAccessRoles.RoleName.velero })
        #expect(Self.rules(own).map(\.groups) == [["velero.io"]] && own.namespace == "velero")
    }

    @Test("carbon-recovery's role cannot change RBAC, exec or read download requests; its secret and ConfigMap writes are by name")
    func controllerRole() throws {
        let objects = VeleroAccessRoles(access: AccessPolicy(), storageSecret: "minio-backup-credentials").objects()
        let cluster = Self.rules(try #require(objects.first { $0.kind == "ClusterRole" && $0.name == VeleroAccessRoles.RoleName.controller }))
        let local = Self.rules(try #require(objects.first { $0.kind == "Role" && $0.name == VeleroAccessRoles.RoleName.controller }))
        for rule in cluster + local {
            #expect(!rule.verbs.contains("*") && !rule.verbs.contains("bind") && !rule.verbs.contains("escalate") && !rule.resources.contains("*"))
            #expect(!rule.resources.contains("downloadrequests") && !rule.resources.contains { $0.contains("/") })
            if rule.groups == ["rbac.authorization.k8s.io"] { #expect(rule.verbs == ["get", "list", "watch"]) }
        }
        #expect(cluster.filter { $0.verbs.contains("delete") }.map(\.resources) == [["namespaces"]], "deletes only the namespaces a restore test made")
        #expect(local.contains { $0.resources == ["secrets"] && $0.verbs == ["patch", "update"] && $0.names == ["minio-backup-credentials"] })
        #expect(local.contains { $0.resources == ["configmaps"] && $0.names == [VeleroAccessRoles.storageClassConfigMap] })
    }

    @Test("people: operators create backups, restores and deletion requests; viewers read; neither gets secrets or download requests; no group, no binding")
    func people() throws {
        let operators = VeleroAccessRoles.operatorRules.map { KubernetesObject(["rules": .array([$0])]) }.flatMap(Self.rules)
        #expect(operators.filter { $0.verbs == ["create"] }.flatMap(\.resources).sorted() == ["backups", "deletebackuprequests", "restores"])
        let viewers = VeleroAccessRoles.viewerRules.map { KubernetesObject(["rules": .array([$0])]) }.flatMap(Self.rules)
        #expect(viewers.allSatisfy { $0.verbs == ["get", "list", "watch"] && $0.groups == ["velero.io"] })
        for rule in operators + viewers { #expect(!rule.resources.contains("downloadrequests") && !rule.resources.contains("secrets") && !rule.resources.contains("*")) }

        let none = VeleroAccessRoles(access: AccessPolicy()).objects().map { "\($0.kind ?? "") \($0.name ?? "")" }
        #expect(!none.contains("RoleBinding carbon-recovery:dr-operator") && !none.contains("RoleBinding carbon-recovery:dr-viewer"))
        let some = VeleroAccessRoles(access: AccessPolicy(operatorGroups: ["a", "b"], viewerGroups: ["c"])).objects()
        let binding = try #require(some.first { $0.kind == "RoleBinding" && $0.name == VeleroAccessRoles.RoleName.drOperator })
        #expect(binding.json["subjects"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["a", "b"])
        #expect(binding.json[path: ["roleRef", "kind"]] == "Role")
    }

    @Test("backup hooks: pods/exec for Velero in each namespace a hook names, cluster-wide only when a hook's namespaces are a pattern")
    func hooks() throws {
        let hooked = try PolicyFile.parse(policyText("""
            schedules:
              - {name: a, cron: "0 3 * * *", namespaces: [data-platform], hooks: [{name: h, pre: [{command: [dump]}]}]}
              - {name: b, cron: "0 4 * * *", namespaces: [registry], hooks: [{name: g, namespaces: [vault-prod], post: [{command: [x]}]}]}
            """)).policy
        let objects = VeleroAccessRoles(policy: hooked, storageSecret: "cloud-credentials").objects()
        let roles = objects.filter { $0.kind == "Role" && $0.name == VeleroAccessRoles.RoleName.veleroHooks }
        #expect(roles.compactMap(\.namespace) == ["data-platform", "vault-prod"])
        #expect(roles.allSatisfy { Self.rules($0).map(\.resources) == [["pods/exec"]] })
        #expect(objects.filter { $0.kind == "RoleBinding" && $0.name == VeleroAccessRoles.RoleName.veleroHooks }.count == 2)
        let server = try #require(objects.first { $0.kind == "ClusterRole" && $0.name == VeleroAccessRoles.RoleName.velero })
        #expect(!Self.rules(server).contains { $0.resources.contains("pods/exec") }, "not cluster-wide")

        let everywhere = try PolicyFile.parse(policyText("""
            schedules:
              - {name: a, cron: "0 3 * * *", namespaces: ["data-*"], hooks: [{name: h, pre: [{command: [dump]}]}]}
            """)).policy
        let wide = VeleroAccessRoles(policy: everywhere, storageSecret: "cloud-credentials").objects()
        #expect(!wide.contains { $0.name == VeleroAccessRoles.RoleName.veleroHooks })
        let wideServer = try #require(wide.first { $0.kind == "ClusterRole" && $0.name == VeleroAccessRoles.RoleName.velero })
        #expect(Self.rules(wideServer).contains { $0.resources == ["pods/exec"] })
    }

    @Test("the sandbox's seeded roles are what render manifests writes for its access policy")
    func sandboxSeedInStep() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let policy = try PolicyFile.load(path: root.appendingPathComponent("scripts/sandbox-seed/access-policy.yaml").path).policy
        let rendered = try #require(try ManifestRenderer(policy: policy).render().first { $0.path == "k8s/storage/velero-rbac.yaml" })
        let seed = try String(contentsOf: root.appendingPathComponent("scripts/sandbox-seed/velero-rbac.yaml"), encoding: .utf8)
        #expect(seed == rendered.contents, "regenerate: carbon-recovery render manifests --config scripts/sandbox-seed/access-policy.yaml --output-dir /tmp/r && cp /tmp/r/k8s/storage/velero-rbac.yaml scripts/sandbox-seed/")
    }
}
