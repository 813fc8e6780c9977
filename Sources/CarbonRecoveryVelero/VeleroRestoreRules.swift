import CarbonRecovery
import Foundation

/// What Velero's restore does to a backup's objects, as data: the order it restores resources
/// in, what it never restores, what it removes from each object, and the annotations that name
/// the cluster a backup was taken on.
///
/// Each rule is Velero v1.18's, with its source in `docs/research/velero-restore.md`; the
/// sandbox's stand-in restores by these rules and `carbon-recovery recover cluster` verifies a
/// restore against them, so both agree with Velero and with each other.
public enum VeleroRestoreRules {
    // MARK: Order

    /// Velero's default high restore priorities (`defaultRestorePriorities.HighPriorities`,
    /// `pkg/cmd/server/config/config.go`, v1.18): restored first, in this order. A short name
    /// (`storageclasses`) stands for the resource in any group, as Velero resolves it through discovery.
    public static let highPriorities = [
        "customresourcedefinitions", "namespaces", "storageclasses",
        "volumesnapshotclass.snapshot.storage.k8s.io", "volumesnapshotcontents.snapshot.storage.k8s.io",
        "volumesnapshots.snapshot.storage.k8s.io", "datauploads.velero.io",
        "persistentvolumes", "persistentvolumeclaims", "clusterroles", "roles", "serviceaccounts",
        "clusterrolebindings", "rolebindings", "secrets", "configmaps", "limitranges", "priorityclasses",
        "pods", "replicasets.apps", "clusterclasses.cluster.x-k8s.io", "endpoints", "services",
    ]

    /// Velero's default low priorities: restored last, in this order.
    public static let lowPriorities = [
        "clusterbootstraps.run.tanzu.vmware.com", "clusters.cluster.x-k8s.io",
        "clusterresourcesets.addons.cluster.x-k8s.io", "apps.kappctrl.k14s.io", "packageinstalls.packaging.carvel.dev",
    ]

    /// Resources Velero never restores (`nonRestorableResources`, `pkg/controller/restore_controller.go`).
    public static let nonRestorableResources: Set<String> = [
        "nodes", "events", "events.events.k8s.io", "backups.velero.io", "restores.velero.io",
        "resticrepositories.velero.io", "csinodes.storage.k8s.io", "volumeattachments.storage.k8s.io",
        "backuprepositories.velero.io",
    ]

    /// The resource directories of a backup (`configmaps`, `deployments.apps`, …) in the
    /// order Velero restores them: custom resource definitions first (Velero restores them in
    /// a pass of their own and waits for each to be established), then the high priorities,
    /// then every other resource sorted byte-wise, then the low priorities.
    public static func restoreOrder(_ resources: some Sequence<String>) -> [String] {
        var remaining = Set(resources)
        var order: [String] = []
        func take(_ priority: String) {
            // Literal match first; a short priority name also matches `name.group` (Velero's
            // discovery resolves `storageclasses` to `storageclasses.storage.k8s.io`).
            let matches = remaining.filter { $0 == priority || (!priority.contains(".") && $0.split(separator: ".", maxSplits: 1).first.map(String.init) == priority) }
            for match in matches.sorted(by: Self.byteOrder) {
                order.append(match)
                remaining.remove(match)
            }
        }
        take("customresourcedefinitions")
        for priority in highPriorities { take(priority) }
        let low = lowPriorities.filter { remaining.contains($0) }
        for resource in remaining.subtracting(low).sorted(by: Self.byteOrder) { order.append(resource) }
        order.append(contentsOf: low)
        return order
    }

    /// Go's `sort.Strings`: byte-wise.
    static func byteOrder(_ a: String, _ b: String) -> Bool { Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) }

    // MARK: What a restore changes

    /// The metadata fields Velero removes before creating an object (`resetMetadata`, a
    /// deny-list: everything else — labels, annotations, finalizers — is kept).
    public static let resetMetadataFields = [
        "generateName", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences",
    ]

    /// The labels every restored object gets (`addRestoreLabels`).
    public static let restoreLabels = ["velero.io/backup-name", "velero.io/restore-name"]

    /// An object as Velero creates it from a backup: metadata reset, status removed, and the
    /// changes of Velero's built-in restore item actions that apply without volumes —
    /// a Service loses its allocated cluster IPs (unless headless) and node ports, a Pod its
    /// node, priority and projected service-account token volumes, a Job its controller-uid
    /// selector, a PersistentVolumeClaim its volume binding. `managedFields` are removed as
    /// well: Velero patches them back after creating the object, server-side apply cannot.
    public static func prepareForRestore(_ object: inout KubernetesObject, resource: String) {
        for field in resetMetadataFields + ["managedFields"] { object.json["metadata"]?[field] = nil }
        object.json["status"] = nil
        switch resource {
        case "services":
            if object.json[path: ["spec", "clusterIP"]]?.stringValue != "None" {
                object.json["spec"]?["clusterIP"] = nil
                object.json["spec"]?["clusterIPs"] = nil
            }
            if case .array(var ports)? = object.json[path: ["spec", "ports"]] {
                for index in ports.indices { ports[index]["nodePort"] = nil }
                object.json["spec"]?["ports"] = .array(ports)
            }
        case "pods":
            object.json["spec"]?["nodeName"] = nil
            object.json["spec"]?["priority"] = nil
            if case .array(let volumes)? = object.json[path: ["spec", "volumes"]] {
                object.json["spec"]?["volumes"] = .array(volumes.filter { !($0["name"]?.stringValue ?? "").hasPrefix("kube-api-access-") })
            }
        case "jobs.batch":
            object.json["spec"]?["selector"]?["matchLabels"]?["controller-uid"] = nil
            object.json["spec"]?["template"]?["metadata"]?["labels"]?["controller-uid"] = nil
        case "persistentvolumeclaims":
            object.json["spec"]?["volumeName"] = nil
            for annotation in ["pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller"] {
                object.json["metadata"]?["annotations"]?[annotation] = nil
            }
        default:
            break
        }
    }

    /// An object as a comparison between a backup and a cluster sees it: prepared as
    /// ``prepareForRestore(_:resource:)`` prepares it, without the restore's own labels
    /// (``restoreLabels``) or kubectl's `last-applied-configuration` annotation, and without
    /// a `labels` or `annotations` map left empty. Two objects that normalize equal hold the
    /// same content as far as a restore can bring it back.
    public static func normalizedForComparison(_ object: KubernetesObject, resource: String) -> KubernetesObject {
        var object = object
        prepareForRestore(&object, resource: resource)
        for label in restoreLabels { object.json["metadata"]?["labels"]?[label] = nil }
        object.json["metadata"]?["annotations"]?["kubectl.kubernetes.io/last-applied-configuration"] = nil
        for map in ["labels", "annotations"] where object.json[path: ["metadata", map]]?.objectValue?.isEmpty == true {
            object.json["metadata"]?[map] = nil
        }
        return object
    }

    /// Why Velero skips an object it would otherwise restore, or `nil`: completed pods and
    /// jobs, mirror pods, API services the aggregator manages (`restoreItem` and the APIService action).
    public static func skipReason(_ object: KubernetesObject, resource: String) -> String? {
        switch resource {
        case "pods":
            if let phase = object.status?["phase"]?.stringValue, phase == "Succeeded" || phase == "Failed" { return "a completed pod" }
            if object.json[path: ["metadata", "annotations", "kubernetes.io/config.mirror"]] != nil { return "a mirror pod" }
        case "jobs.batch":
            if let completion = object.status?["completionTime"]?.stringValue, !completion.isEmpty { return "a completed job" }
        case "apiservices.apiregistration.k8s.io":
            if object.labels["kube-aggregator.kubernetes.io/automanaged"] != nil { return "an API service the aggregator manages" }
        default:
            break
        }
        return nil
    }

    // MARK: Source cluster

    /// The annotations Velero puts on every `Backup` with the source cluster's version
    /// (`prepareBackupRequest`): git version, major and minor.
    public static let sourceGitVersionAnnotation = "velero.io/source-cluster-k8s-gitversion"
    /// The source cluster's major version (`"1"`).
    public static let sourceMajorVersionAnnotation = "velero.io/source-cluster-k8s-major-version"
    /// The source cluster's minor version (`"20"`).
    public static let sourceMinorVersionAnnotation = "velero.io/source-cluster-k8s-minor-version"

    /// The three source-cluster annotations for `version`.
    public static func sourceClusterAnnotations(_ version: KubernetesVersion) -> [String: String] {
        [
            sourceGitVersionAnnotation: version.gitVersion,
            sourceMajorVersionAnnotation: String(version.major),
            sourceMinorVersionAnnotation: String(version.minor),
        ]
    }

    /// The source cluster's version from a `Backup`'s annotations, or `nil` when it has none
    /// (a backup taken by something other than Velero or the stand-in).
    public static func sourceClusterVersion(of backup: KubernetesObject) -> KubernetesVersion? {
        guard case .object(let annotations)? = backup.json[path: ["metadata", "annotations"]],
              let git = annotations[sourceGitVersionAnnotation]?.stringValue else { return nil }
        return try? KubernetesVersion(gitVersion: git, major: annotations[sourceMajorVersionAnnotation]?.stringValue, minor: annotations[sourceMinorVersionAnnotation]?.stringValue)
    }
}
