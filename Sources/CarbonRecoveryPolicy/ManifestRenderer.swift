import CarbonRecovery
import CarbonRecoveryVelero
import Foundation
import Yams

/// Writes the guide's Kubernetes files from a policy (its "Files Reference"):
///
/// - `k8s/storage/velero-backup-config.yaml` — the `BackupStorageLocation` for MinIO (it names the
///   credentials secret; the secret's content is never rendered) and one `Schedule` per policy schedule;
/// - `k8s/storage/velero-restore-full.yaml` — everything from the widest schedule's latest backup;
/// - `k8s/storage/velero-restore-namespace.yaml` — the first objective's first namespace, from the
///   most frequent schedule that backs it up in full;
/// - `k8s/storage/velero-restore-app.yaml` — the first schedule with a label selector (the
///   guide's PostgreSQL backup), restored by that selector;
/// - `k8s/storage/velero-restore-test.yaml` — the widest schedule's latest backup with every
///   namespace mapped to `<namespace>-restore-test`, so production is never written;
/// - `k8s/storage/velero-rbac.yaml` — when the policy has an `access` section: the service
///   accounts, roles and bindings of `VeleroAccessRoles` (least privilege instead of the guide's cluster-admin).
///
/// ```swift
/// let files = try ManifestRenderer(policy: document.policy).render()
/// for file in files { try file.contents.write(toFile: dir + "/" + file.path, atomically: true, encoding: .utf8) }
/// ```
public struct ManifestRenderer: Sendable {
    /// One file to write.
    public struct File: Sendable, Hashable {
        /// The path relative to the output folder, e.g. `k8s/storage/velero-backup-config.yaml`.
        public var path: String
        /// The YAML, one or more documents.
        public var contents: String
        /// The objects in it, in order.
        public var objects: [KubernetesObject]
    }

    /// The policy to render.
    public var policy: RecoveryPolicy
    /// Velero's namespace.
    public var namespace: String

    /// Creates a renderer.
    public init(policy: RecoveryPolicy, namespace: String = VeleroObjects.defaultNamespace) {
        self.policy = policy
        self.namespace = namespace
    }

    /// The files, in a fixed order.
    ///
    /// - Throws: `RecoveryError.Code.invalidInput` when the policy has no schedule (there is nothing to restore from).
    public func render() throws -> [File] {
        guard let widest = policy.schedules.max(by: { concrete($0).count < concrete($1).count }) else {
            throw RecoveryError.invalidInput("the policy has no schedules, so there is nothing to back up or restore from")
        }
        var files: [File] = []
        // Storage location and schedules.
        var location = VeleroStorageLocation(
            bucket: policy.storage.bucket, prefix: policy.storage.prefix.isEmpty ? nil : policy.storage.prefix, region: policy.storage.region,
            s3URL: policy.storage.endpoint)
        if case .secret(_, let name, let key) = policy.storage.credentials {
            location.credentialSecretName = name
            location.credentialSecretKey = key
        }
        location.encryption = policy.storage.encryption
        // The CA's secret itself is deploy's to write (from storage.caFile); the manifest names it.
        if policy.storage.caCertificateFile != nil { location.caCertSecretName = VeleroDeployment.caSecretName }
        var config = [VeleroObjects.backupStorageLocation(location, namespace: namespace)]
        for entry in policy.schedules {
            var schedule = entry.schedule
            schedule.template.ttl = entry.effectiveTTL
            config.append(VeleroObjects.schedule(schedule, namespace: namespace))
        }
        files.append(try file("k8s/storage/velero-backup-config.yaml", config))

        // The four restores.
        let full = RestoreRequest(name: "full-cluster-restore", source: .schedule(widest.schedule.name))
        files.append(try file("k8s/storage/velero-restore-full.yaml", [VeleroObjects.restore(full, namespace: namespace)]))

        let target = policy.objectives.first?.namespaces.first ?? concrete(widest).first
        if let target {
            let reference = Date(timeIntervalSince1970: 1_767_225_600)
            func gap(_ entry: ScheduledBackup) -> TimeInterval { entry.schedule.cron.maximumInterval(from: reference, within: 62 * 86_400) ?? .infinity }
            let source = policy.schedules.filter { PolicyLinter.coversFully($0.schedule, target) }.min { gap($0) < gap($1) } ?? widest
            var request = RestoreRequest(name: "\(target)-namespace-restore".prefix(253).description, source: .schedule(source.schedule.name))
            request.includedNamespaces = [target]
            files.append(try file("k8s/storage/velero-restore-namespace.yaml", [VeleroObjects.restore(request, namespace: namespace)]))
        }

        if let app = policy.schedules.first(where: { $0.schedule.template.labelSelector != nil }), let selector = app.schedule.template.labelSelector {
            var request = RestoreRequest(name: "\(app.schedule.name)-app-restore", source: .schedule(app.schedule.name))
            request.includedNamespaces = app.schedule.template.includedNamespaces
            request.labelSelector = selector
            files.append(try file("k8s/storage/velero-restore-app.yaml", [VeleroObjects.restore(request, namespace: namespace)]))
        }

        var test = RestoreRequest(name: "restore-test", source: .schedule(widest.schedule.name))
        test.includedNamespaces = concrete(widest)
        test.namespaceMappings = Dictionary(uniqueKeysWithValues: concrete(widest).map { ($0, "\($0.prefix(50))-restore-test") })
        files.append(try file("k8s/storage/velero-restore-test.yaml", [VeleroObjects.restore(test, namespace: namespace)]))

        if policy.access != nil {
            var secret = VeleroStorageLocation(bucket: policy.storage.bucket, s3URL: policy.storage.endpoint).credentialSecretName
            if case .secret(_, let name, _) = policy.storage.credentials { secret = name }
            files.append(try file("k8s/storage/velero-rbac.yaml", VeleroAccessRoles(policy: policy, namespace: namespace, storageSecret: secret).objects()))
        }
        return files
    }

    private func concrete(_ entry: ScheduledBackup) -> [String] {
        entry.schedule.template.includedNamespaces.filter { !$0.contains("*") && !$0.contains("?") }
    }

    private func file(_ path: String, _ objects: [KubernetesObject]) throws -> File {
        let header = "# Rendered by carbon-recovery from the recovery policy; edit the policy, not this file.\n"
        let body = try Yams.serialize(nodes: objects.map { Self.node($0.json, topLevel: true) }, sortKeys: false)
        return File(path: path, contents: header + body, objects: objects)
    }

    /// JSON as a YAML node: Kubernetes' key order at the top (apiVersion, kind, metadata, spec),
    /// sorted keys below, and strings quoted whenever YAML would read them as something else.
    static func node(_ value: JSONValue, topLevel: Bool = false) -> Node {
        switch value {
        case .object(let members):
            let first = topLevel ? ["apiVersion", "kind", "metadata", "spec"] : []
            let keys = first.filter { members[$0] != nil } + members.keys.filter { !first.contains($0) }.sorted()
            return .mapping(Node.Mapping(keys.map { (Node($0), node(members[$0]!)) }))
        case .array(let elements):
            return .sequence(Node.Sequence(elements.map { node($0) }))
        case .string(let text):
            let plain = (try? Yams.load(yaml: text) as? String) == text
            return .scalar(Node.Scalar(text, Tag(.str), plain ? .plain : .doubleQuoted))
        case .bool(let flag):
            return .scalar(Node.Scalar(flag ? "true" : "false", Tag(.bool)))
        case .null:
            return .scalar(Node.Scalar("null", Tag(.null)))
        case .integer(let number):
            return .scalar(Node.Scalar(String(number), Tag(.int)))
        case .double(let number):
            return .scalar(Node.Scalar(value.canonicalString, Tag(number.rounded() == number ? .int : .float)))
        }
    }
}
