import CarbonRecovery

/// The doctor's access checks (`docs/security.md`): Velero's account must not be cluster-admin,
/// and everyone who can create a `Restore` or a `DownloadRequest` in Velero's namespace is
/// named — anyone who can is as powerful as Velero itself (a restore writes any object; a
/// download request hands out a URL to a backup with every Secret in it).
///
/// Subjects come from every `ClusterRoleBinding` and from the `RoleBinding`s in Velero's
/// namespace (a binding elsewhere grants nothing there); each is asked about with a
/// `SubjectAccessReview`, so aggregated roles and wildcards count as the authorizer counts them.
/// Members of `system:masters` are allowed everything before RBAC is consulted and appear in no
/// binding: no check of bindings can see them.
public struct VeleroAccessChecks: DoctorCheckProvider {
    /// The cluster.
    public let cluster: any ClusterClient
    /// Velero's namespace.
    public let namespace: String
    /// The policy's access section (its defaults when the policy has none).
    public let access: AccessPolicy

    /// Creates the checks.
    public init(cluster: any ClusterClient, namespace: String = VeleroObjects.defaultNamespace, access: AccessPolicy = AccessPolicy()) {
        self.cluster = cluster
        self.namespace = namespace
        self.access = access
    }

    /// A subject named by a binding.
    public struct Subject: Sendable, Hashable, Comparable, CustomStringConvertible {
        /// `User`, `Group` or `ServiceAccount`.
        public var kind: String
        /// Its name.
        public var name: String
        /// A service account's namespace.
        public var namespace: String?

        /// `user jane`, `group ops`, `serviceaccount velero/velero`.
        public var description: String { "\(kind.lowercased()) \(namespace.map { "\($0)/" } ?? "")\(name)" }

        public static func < (left: Subject, right: Subject) -> Bool { left.description < right.description }

        /// The question about this subject.
        func review(verb: String, group: String, resource: String, namespace target: String?) -> AccessReview {
            switch kind {
            case "ServiceAccount":
                AccessReview.serviceAccount(name, in: namespace ?? "default", verb: verb, group: group, resource: resource, namespace: target)
            case "Group": AccessReview(user: "", groups: [name], verb: verb, group: group, resource: resource, namespace: target)
            default: AccessReview(user: name, verb: verb, group: group, resource: resource, namespace: target)
            }
        }
    }

    /// What one subject may do that matters here.
    public struct Finding: Sendable, Hashable {
        /// Who.
        public var subject: Subject
        /// `create restores`, `create downloadrequests`.
        public var may: [String]
        /// The bindings that name the subject (`ClusterRoleBinding x`, `RoleBinding velero/y`).
        public var bindings: [String]
    }

    public var doctorCheckTitles: [(id: String, title: String)] {
        [("velero.access.cluster-admin", "Velero's account is not cluster-admin"), ("velero.access.restore-creators", "Who can create Restores or DownloadRequests")]
    }

    public func doctorChecks() async -> [DoctorCheck] {
        let titles = doctorCheckTitles
        var checks: [DoctorCheck] = []
        checks.append(await DoctorCheck.evaluating(id: titles[0].id, title: titles[0].title) {
            let velero = access.veleroServiceAccount
            var through: [String] = []
            for (binding, subjects, role) in try await bindings() where role == "ClusterRole/cluster-admin" {
                if subjects.contains(where: { isVelero($0) }) { through.append(binding) }
            }
            let everything = try await cluster.reviewAccess(
                AccessReview.serviceAccount(velero, in: namespace, verb: "*", group: "*", resource: "*")).allowed
            if through.isEmpty && !everything {
                return (.pass, "serviceaccount \(namespace)/\(velero) holds no wildcard permission and no cluster-admin binding", nil)
            }
            let how = through.isEmpty ? "a role granting every verb on every resource" : "cluster-admin through \(through.joined(separator: ", "))"
            let removal = through.first.map { binding -> String in
                if binding.hasPrefix("ClusterRoleBinding ") { return "kubectl delete clusterrolebinding \(binding.dropFirst("ClusterRoleBinding ".count))" }
                let parts = binding.dropFirst("RoleBinding ".count).split(separator: "/", maxSplits: 1)
                return "kubectl -n \(parts.first ?? "") delete rolebinding \(parts.last ?? "")"
            } ?? "kubectl delete clusterrolebinding <name>"
            return (.fail, "serviceaccount \(namespace)/\(velero) has \(how) (the guide's setup): whoever controls Velero controls the cluster directly",
                    "add an access section to the policy and run carbon-recovery deploy (least-privilege roles), then remove the binding: \(removal)")
        })
        checks.append(await DoctorCheck.evaluating(id: titles[1].id, title: titles[1].title) {
            let findings = try await restoreCreators()
            let unexpected = findings.filter { !isExpected($0) }
            let note = "members of system:masters (administrators; their certificates, not bindings, make them members) can do anything and cannot be listed"
            if unexpected.isEmpty {
                let names = findings.map(\.subject.description).joined(separator: ", ")
                return (.pass, "only the expected: \(names.isEmpty ? "none" : names); \(note)", nil)
            }
            let list = unexpected.map { "\($0.subject) may \($0.may.joined(separator: " and ")) (\($0.bindings.joined(separator: ", ")))" }
            return (.warn, list.joined(separator: "; ") + "; \(note)",
                    "each of these can restore any object into the cluster or read every backed-up Secret: remove the bindings, or add the group to access.operators if it is one")
        })
        return checks
    }

    /// Every subject of every ClusterRoleBinding and every RoleBinding in Velero's namespace that
    /// may create `Restore`s or `DownloadRequest`s in Velero's namespace, by SubjectAccessReview.
    public func restoreCreators() async throws -> [Finding] {
        var named: [Subject: [String]] = [:]
        for (binding, subjects, _) in try await bindings() {
            for subject in subjects { named[subject, default: []].append(binding) }
        }
        // Every subject's two questions in batches of 100 per kubectl process: one process per
        // review made doctor take minutes on a loaded machine (a sandbox names ~60 subjects).
        let namespace = self.namespace
        let subjects = named.sorted(by: { $0.key < $1.key })
        let resources = ["restores", "downloadrequests"]
        let reviews = subjects.flatMap { subject in
            resources.map { subject.key.review(verb: "create", group: "velero.io", resource: $0, namespace: namespace) }
        }
        var allowed: [Bool] = []
        for start in stride(from: 0, to: reviews.count, by: 100) {
            allowed += try await cluster.reviewAccess(Array(reviews[start..<min(start + 100, reviews.count)])).map(\.allowed)
        }
        let answers = subjects.enumerated().map { index, subject -> Finding? in
            let may = resources.enumerated().filter { allowed[index * resources.count + $0.offset] }.map { "create \($0.element)" }
            return may.isEmpty ? nil : Finding(subject: subject.key, may: may, bindings: subject.value.sorted())
        }
        let findings = answers.compactMap { $0 }
        return findings
    }

    private func isVelero(_ subject: Subject) -> Bool {
        (subject.kind == "ServiceAccount" && subject.name == access.veleroServiceAccount && subject.namespace == namespace)
            || (subject.kind == "User" && subject.name == AccessPolicy.serviceAccountUser(access.veleroServiceAccount, namespace: namespace))
    }

    /// Operators, Velero itself, carbon-recovery (restores only) and the administrators'
    /// `system:masters` group are expected to create restores.
    private func isExpected(_ finding: Finding) -> Bool {
        let subject = finding.subject
        if subject.kind == "Group" && access.operatorGroups.contains(subject.name) { return !finding.may.contains("create downloadrequests") }
        if isVelero(subject) || (subject.kind == "Group" && subject.name == "system:masters") { return true }
        if subject.kind == "ServiceAccount" && subject.name == access.serviceAccount && subject.namespace == namespace {
            return !finding.may.contains("create downloadrequests")
        }
        return false
    }

    /// (binding, subjects, `ClusterRole/name` or `Role/name`) for every ClusterRoleBinding and
    /// every RoleBinding in Velero's namespace.
    private func bindings() async throws -> [(String, [Subject], String)] {
        var result: [(String, [Subject], String)] = []
        for (kind, scope) in [(ResourceKind.clusterRoleBinding, nil as String?), (.roleBinding, namespace)] {
            for object in try await cluster.list(kind, namespace: scope, labelSelector: nil) {
                let name = "\(kind.kind) \(scope.map { "\($0)/" } ?? "")\(object.name ?? "?")"
                let role = "\(object.json[path: ["roleRef", "kind"]]?.stringValue ?? "?")/\(object.json[path: ["roleRef", "name"]]?.stringValue ?? "?")"
                let subjects = (object.json["subjects"]?.arrayValue ?? []).compactMap { subject -> Subject? in
                    guard let kind = subject["kind"]?.stringValue, let name = subject["name"]?.stringValue else { return nil }
                    return Subject(kind: kind, name: name, namespace: kind == "ServiceAccount" ? (subject["namespace"]?.stringValue ?? object.namespace) : nil)
                }
                result.append((name, subjects, role))
            }
        }
        return result
    }
}
