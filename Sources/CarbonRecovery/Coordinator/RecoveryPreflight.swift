import Foundation

/// Checks, changing nothing, whether a backup can be restored onto a cluster — the first step
/// of recovering from the loss of a whole cluster onto a new one.
///
/// Each problem is a ``Finding`` with the fix; a recovery starts only when there is no error.
/// The checks:
/// - **backup**: the backup is `Completed`, and no older than the data loss you accept;
/// - **kubernetes-version**: the target is not older than the cluster the backup was taken on
///   (objects may use API versions an older server does not know);
/// - **api-versions**: every API version and kind among the objects to restore is served by
///   the target, or defined by a `CustomResourceDefinition` the backup holds;
/// - **storage-classes**: every storage class a `PersistentVolumeClaim` names (after your
///   mappings) exists on the target or is in the backup;
/// - **namespaces**: no namespace the restore writes into exists on the target already (the
///   target's own system namespaces and Velero's excepted);
/// - **storage-location**: the location the backup is read from is read-only, so nothing on
///   the new cluster can delete or overwrite the backups it is being rebuilt from.
///
/// ```swift
/// let findings = RecoveryPreflight.check(backup: status, objects: objects, target: discovery, context: context)
/// guard !findings.contains(where: { $0.severity == .error }) else { … }
/// ```
public enum RecoveryPreflight {
    /// One problem found, with what to do about it.
    public struct Finding: Sendable, Hashable, CustomStringConvertible {
        /// Which check found it.
        public enum Check: String, Sendable, Hashable, CaseIterable {
            case backup
            case kubernetesVersion = "kubernetes-version"
            case apiVersions = "api-versions"
            case storageClasses = "storage-classes"
            case namespaces
            case storageLocation = "storage-location"
        }

        /// An error stops the recovery; a warning is shown and the recovery goes on.
        public enum Severity: String, Sendable, Hashable {
            case error, warning
        }

        /// The check.
        public var check: Check
        /// Error or warning.
        public var severity: Severity
        /// What is wrong, naming the objects concerned.
        public var message: String
        /// What to do about it.
        public var fix: String

        /// Creates a finding.
        public init(check: Check, severity: Severity, message: String, fix: String) {
            self.check = check
            self.severity = severity
            self.message = message
            self.fix = fix
        }

        public var description: String { "\(severity) [\(check.rawValue)] \(message) — fix: \(fix)" }
    }

    /// The members of a backed-up object no check reads: managed fields, a ConfigMap's or
    /// Secret's data, the last-applied annotation, pod templates. A plan reads the backup
    /// without them (``BackupEngine/backupObjects(named:in:omitting:)``), which is most of a
    /// large backup's bytes.
    public static let unreadFields: [[String]] = [
        ["metadata", "managedFields"], ["metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration"],
        ["data"], ["binaryData"], ["stringData"], ["spec", "template"], ["spec", "jobTemplate"],
    ]

    /// What the checks need to know about the target and the restore besides the backup.
    public struct Context: Sendable {
        /// The namespaces that exist on the target now.
        public var targetNamespaces: Set<String>
        /// The storage classes that exist on the target now.
        public var targetStorageClasses: Set<String>
        /// Namespaces every new cluster has, and the backup engine's own (Velero's): restoring
        /// into them is expected, and existing objects there are left as they are.
        public var installedNamespaces: Set<String>
        /// `source: target` namespace renames the restore will apply.
        public var namespaceMappings: [String: String]
        /// `old: new` storage class renames the restore will apply.
        public var storageClassMappings: [String: String]
        /// Whether the storage location the backup is read from is read-only; `nil` when not known.
        public var locationIsReadOnly: Bool?
        /// The location's name, for messages.
        public var locationName: String
        /// The largest data loss accepted: a backup that completed longer ago than this is refused.
        public var maximumDataLoss: TimeInterval?
        /// Now, from the injected clock.
        public var now: Date
        /// Whether the backup engine's restore puts this object back (Velero never restores
        /// nodes, events, its own objects, completed pods, …); see `BackupEngine.restores(_:)` for a `BackedUpObject`.
        public var isRestorable: @Sendable (BackedUpObject) -> Bool

        /// Creates a context.
        public init(
            targetNamespaces: Set<String>, targetStorageClasses: Set<String>,
            installedNamespaces: Set<String> = ["default", "kube-system", "kube-public", "kube-node-lease"],
            namespaceMappings: [String: String] = [:], storageClassMappings: [String: String] = [:],
            locationIsReadOnly: Bool?, locationName: String = "default", maximumDataLoss: TimeInterval? = nil, now: Date,
            isRestorable: @escaping @Sendable (BackedUpObject) -> Bool = { _ in true }
        ) {
            self.targetNamespaces = targetNamespaces
            self.targetStorageClasses = targetStorageClasses
            self.installedNamespaces = installedNamespaces
            self.namespaceMappings = namespaceMappings
            self.storageClassMappings = storageClassMappings
            self.locationIsReadOnly = locationIsReadOnly
            self.locationName = locationName
            self.maximumDataLoss = maximumDataLoss
            self.now = now
            self.isRestorable = isRestorable
        }
    }

    /// Runs every check; pure, so it can be repeated and tested without a cluster.
    ///
    /// - Parameters:
    ///   - backup: The backup's status (phase, completion time, source cluster version).
    ///   - objects: The objects it holds (``BackupEngine/backupObjects(named:in:)``).
    ///   - target: The target cluster's discovery (``ClusterClient/discover()``).
    ///   - context: The target's namespaces and storage classes, mappings and limits.
    /// - Returns: The findings, errors first, each check's in a stable order.
    public static func check(backup: BackupStatus, objects: [BackedUpObject], target: ClusterDiscovery, context: Context) -> [Finding] {
        ordered(backupFindings(backup, target: target, context: context, scope: nil) + objectFindings(objects, target: target, context: context))
    }

    /// Runs every check for a recovery from several backups — the cluster resources from one,
    /// each namespace from the newest that holds it (``RecoveryPoint/select(backups:validated:namespaces:clusterSchedule:objectives:now:)``).
    ///
    /// Each point's backup gets the backup and version checks (a point without a backup is an
    /// error: nothing to restore that part from); the objects of all of them together get the
    /// object checks, so a custom resource in a namespace backup counts the CRD in the cluster
    /// resources' backup.
    ///
    /// - Parameters:
    ///   - points: The recovery points.
    ///   - objects: The objects the recovery restores, from every point's backup.
    ///   - target: The target cluster's discovery.
    ///   - context: The target's namespaces and storage classes, mappings and limits.
    /// - Returns: The findings, errors first, each once.
    public static func check(points: [RecoveryPoint], objects: [BackedUpObject], target: ClusterDiscovery, context: Context) -> [Finding] {
        var findings: [Finding] = []
        for point in points {
            guard let backup = point.backup else {
                findings.append(Finding(
                    check: .backup, severity: .error, message: "no Completed, validated backup holds \(point.scope)",
                    fix: point.scope == .clusterResources
                        ? "validate a backup that includes cluster resources (carbon-recovery backup validate NAME), or name one"
                        : "validate a backup that holds it (carbon-recovery backup validate NAME), or leave it out of the recovery"))
                continue
            }
            findings += backupFindings(backup, target: target, context: context, scope: point.scope)
        }
        return ordered(findings + objectFindings(objects, target: target, context: context))
    }

    /// Errors first; each finding once, in the order found.
    static func ordered(_ findings: [Finding]) -> [Finding] {
        var seen: Set<Finding> = []
        let unique = findings.filter { seen.insert($0).inserted }
        return unique.filter { $0.severity == .error } + unique.filter { $0.severity == .warning }
    }

    /// The checks of the backup itself: phase, age, source Kubernetes version.
    static func backupFindings(_ backup: BackupStatus, target: ClusterDiscovery, context: Context, scope: RecoveryPoint.Scope?) -> [Finding] {
        var findings: [Finding] = []
        let part = scope.map { "\($0): " } ?? ""
        if backup.phase != .completed {
            findings.append(Finding(
                check: .backup, severity: .error, message: "\(part)backup \(backup.name) is \(backup.phase), not Completed",
                fix: "choose a Completed backup (carbon-recovery backup list)"))
        }
        if let limit = context.maximumDataLoss {
            if let completed = backup.completionTimestamp {
                let age = context.now.timeIntervalSince(completed)
                if age > limit {
                    findings.append(Finding(
                        check: .backup, severity: .error,
                        message: "\(part)backup \(backup.name) completed \(describe(age)) ago, more than the accepted data loss of \(describe(limit))",
                        fix: "recover from a newer backup, or accept the loss with a larger --max-data-loss"))
                }
            } else {
                findings.append(Finding(
                    check: .backup, severity: .error, message: "\(part)backup \(backup.name) has no completion time, so its data loss is unknown",
                    fix: "choose a backup that completed, or leave out --max-data-loss"))
            }
        }
        if let source = backup.sourceClusterVersion {
            if target.version < source {
                findings.append(Finding(
                    check: .kubernetesVersion, severity: .error,
                    message: "backup \(backup.name) was taken on Kubernetes \(source) (\(source.major).\(source.minor)); the target runs \(target.version) (\(target.version.major).\(target.version.minor)), which is older",
                    fix: "restore onto a cluster of \(source.major).\(source.minor) or newer (Velero does not convert objects to older API versions)"))
            }
        } else {
            findings.append(Finding(
                check: .kubernetesVersion, severity: .warning,
                message: "backup \(backup.name) does not record the Kubernetes version it was taken on",
                fix: "none needed: the API versions are checked one by one below"))
        }
        return findings
    }

    /// The checks of the objects to restore against the target: API versions, storage
    /// classes, namespaces; and of the storage location.
    static func objectFindings(_ objects: [BackedUpObject], target: ClusterDiscovery, context: Context) -> [Finding] {
        var findings: [Finding] = []
        let restorable = objects.filter { context.isRestorable($0) }

        // API versions: served, or defined by a CRD in the backup.
        var defined: Set<String> = []   // "group/version Kind"
        for crd in restorable where crd.object.kind == "CustomResourceDefinition" {
            guard let group = crd.object.spec?["group"]?.stringValue, let kind = crd.object.spec?[path: ["names", "kind"]]?.stringValue else { continue }
            for version in crd.object.spec?["versions"]?.arrayValue ?? [] where version["served"]?.boolValue != false {
                if let name = version["name"]?.stringValue { defined.insert("\(group)/\(name) \(kind)") }
            }
        }
        var missing: [String: [String]] = [:]
        let served = Set(target.resources.map { "\($0.kind.apiVersion) \($0.kind.kind)" })
        for entry in restorable {
            guard let apiVersion = entry.object.apiVersion, let kind = entry.object.kind else { continue }
            let type = "\(apiVersion) \(kind)"
            if served.contains(type) || defined.contains(type) { continue }
            missing["\(apiVersion) \(kind)", default: []].append(entry.item.description)
        }
        for (type, items) in missing.sorted(by: { $0.key < $1.key }) {
            findings.append(Finding(
                check: .apiVersions, severity: .error,
                message: "\(items.count) object(s) of \(type) (\(sample(items))) need an API the target does not serve, and the backup holds no CustomResourceDefinition for it",
                fix: "install the CRD or operator that serves \(type) on the target first, or restore from a backup that includes cluster resources"))
        }

        // Storage classes.
        let backedUpClasses = Set(restorable.filter { $0.object.kind == "StorageClass" }.compactMap { $0.object.name })
        var unknownClasses: [String: [String]] = [:]
        for claim in restorable where claim.object.kind == "PersistentVolumeClaim" {
            let named = claim.object.spec?["storageClassName"]?.stringValue
                ?? claim.object.json[path: ["metadata", "annotations", "volume.beta.kubernetes.io/storage-class"]]?.stringValue
            guard let named, !named.isEmpty else { continue }
            let used = context.storageClassMappings[named] ?? named
            if context.targetStorageClasses.contains(used) || backedUpClasses.contains(used) { continue }
            unknownClasses[used, default: []].append(claim.item.description)
        }
        for (name, claims) in unknownClasses.sorted(by: { $0.key < $1.key }) {
            let source = context.storageClassMappings.filter { $0.value == name }.keys.sorted().first
            let mapped = source.map { " (mapped from \($0))" } ?? ""
            let available = context.targetStorageClasses.sorted()
            findings.append(Finding(
                check: .storageClasses, severity: .error,
                message: "storage class \(name)\(mapped), used by \(claims.count) claim(s) (\(sample(claims))), exists neither on the target nor in the backup",
                fix: available.isEmpty
                    ? "create storage class \(name) on the target first"
                    : "create storage class \(name) on the target, or map it to one that exists: --storage-class-mappings \(source ?? name):\(available[0]) (the target has \(available.joined(separator: ", ")))"))
        }

        // Namespaces: where the restore writes must be free.
        var written: Set<String> = []
        for entry in restorable {
            if let namespace = entry.object.namespace, !namespace.isEmpty { written.insert(namespace) }
            if entry.object.kind == "Namespace", entry.object.apiVersion == "v1", let name = entry.object.name { written.insert(name) }
        }
        for source in written.sorted() {
            let target = context.namespaceMappings[source] ?? source
            guard context.targetNamespaces.contains(target), !context.installedNamespaces.contains(target) else { continue }
            findings.append(Finding(
                check: .namespaces, severity: .error,
                message: "namespace \(target) already exists on the target; restoring into it would leave its objects as they are and mix two clusters' states",
                fix: "recover onto an empty cluster, delete namespace \(target) on the target, or restore it elsewhere with --namespace-mappings \(source):\(source)-recovered"))
        }

        // The storage location.
        switch context.locationIsReadOnly {
        case true?:
            break
        case false?:
            findings.append(Finding(
                check: .storageLocation, severity: .error,
                message: "storage location \(context.locationName) is read-write on the target: its Velero could delete, garbage-collect or overwrite the backups the cluster is rebuilt from",
                fix: "kubectl -n velero patch backupstoragelocation \(context.locationName) --type merge -p '{\"spec\":{\"accessMode\":\"ReadOnly\"}}' (switch back to ReadWrite after the recovery)"))
        case nil:
            findings.append(Finding(
                check: .storageLocation, severity: .warning,
                message: "could not tell whether storage location \(context.locationName) is read-only",
                fix: "check that its accessMode is ReadOnly before recovering"))
        }
        return findings
    }

    /// The first three of a list, and how many more.
    static func sample(_ items: [String]) -> String {
        let sorted = items.sorted()
        return sorted.prefix(3).joined(separator: ", ") + (sorted.count > 3 ? " and \(sorted.count - 3) more" : "")
    }

    /// A duration in words: `2 d 3 h`, `2 h 5 min`, `40 min`, `12 s`.
    public static func describe(_ seconds: TimeInterval) -> String {
        let total = Int(seconds.rounded())
        if total >= 86_400 { return "\(total / 86_400) d \((total % 86_400) / 3600) h" }
        if total >= 3600 { return "\(total / 3600) h \((total % 3600) / 60) min" }
        if total >= 60 { return "\(total / 60) min" }
        return "\(total) s"
    }
}
