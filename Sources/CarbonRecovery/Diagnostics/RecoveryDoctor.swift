import Foundation

/// One finding of ``RecoveryDoctor``.
public struct DoctorCheck: Sendable, Hashable, Codable {
    /// How a check came out.
    public enum Status: String, Sendable, Hashable, Codable {
        /// As it should be.
        case pass
        /// Works, but deserves attention.
        case warn
        /// Broken: backups or restores will fail.
        case fail
        /// Not run because a check it depends on failed.
        case skip
    }
    /// A stable identifier, e.g. `cluster.reachable`.
    public var id: String
    /// What was checked, in words.
    public var title: String
    /// The outcome.
    public var status: Status
    /// What was observed. Never a secret.
    public var detail: String
    /// What to do about a `warn` or `fail`.
    public var fix: String?

    /// Creates a finding.
    public init(id: String, title: String, status: Status, detail: String, fix: String? = nil) {
        self.id = id
        self.title = title
        self.status = status
        self.detail = detail
        self.fix = fix
    }
}

/// What a storage backend can tell about its endpoint beyond the ``StorageBackend`` calls;
/// ``RecoveryDoctor`` uses it when the backend offers it.
public protocol StorageEndpointProbe: Sendable {
    /// The endpoint and bucket, for messages (no credentials).
    var endpointDescription: String { get }
    /// The server's clock minus ours, or `nil` when the server does not say. Throws when the
    /// endpoint cannot be reached at all.
    func clockSkew() async throws -> Duration?
}

/// The guide's troubleshooting checks as one call: can we reach the cluster and who are we,
/// is Velero installed (namespace, CRDs, deployment, storage locations), can we reach the
/// storage with these credentials, does the bucket exist, and do the clocks agree.
///
/// ```swift
/// let checks = await RecoveryDoctor(cluster: cluster, storage: storage).run()
/// for check in checks where check.status == .fail { print(check.title, check.fix ?? "") }
/// ```
///
/// Read-only: it changes nothing in the cluster or the bucket.
public struct RecoveryDoctor: Sendable {
    /// The cluster to check.
    public var cluster: any ClusterClient
    /// The storage to check.
    public var storage: any StorageBackend
    /// Velero's namespace.
    public var veleroNamespace: String
    /// Clock skew above this is a warning (S3 refuses above 15 minutes; Velero's schedules and
    /// expirations are computed from the cluster's clock).
    public var clockSkewWarning: Duration

    /// The CRDs Velero needs for backups and restores.
    public static let requiredCRDs = [
        "backups.velero.io", "restores.velero.io", "schedules.velero.io", "backupstoragelocations.velero.io",
        "deletebackuprequests.velero.io", "volumesnapshotlocations.velero.io",
    ]

    /// Creates a doctor.
    public init(cluster: any ClusterClient, storage: any StorageBackend, veleroNamespace: String = "velero", clockSkewWarning: Duration = .seconds(60)) {
        self.cluster = cluster
        self.storage = storage
        self.veleroNamespace = veleroNamespace
        self.clockSkewWarning = clockSkewWarning
    }

    /// Runs every check, cluster and storage side by side, and returns them in a fixed order.
    public func run() async -> [DoctorCheck] {
        async let clusterChecks = runClusterChecks()
        async let storageChecks = runStorageChecks()
        return await clusterChecks + storageChecks
    }

    private static let crdKind = ResourceKind(
        apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", resource: "customresourcedefinitions.apiextensions.k8s.io",
        isNamespaced: false)

    func runClusterChecks() async -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        let reachable: DoctorCheck
        do {
            let identity = try await cluster.identity()
            var detail = "as \(identity)"
            do {
                _ = try await cluster.get(try ObjectReference(kind: .namespace, namespace: nil, name: "default"))
            } catch let error as RecoveryError where error.code == .forbidden {
                // Authenticated and answered: reachable. What this user may not do shows below.
                detail += "; this user may not even read namespaces"
            }
            reachable = DoctorCheck(id: "cluster.reachable", title: "Kubernetes API server reachable", status: .pass, detail: detail)
        } catch {
            reachable = DoctorCheck(
                id: "cluster.reachable", title: "Kubernetes API server reachable", status: .fail, detail: Self.describe(error),
                fix: Self.clusterFix(error))
        }
        checks.append(reachable)
        let dependent: [(String, String)] = [
            ("velero.namespace", "Namespace \(veleroNamespace) exists"), ("velero.crds", "Velero CRDs installed"),
            ("velero.deployment", "Velero deployment present"), ("velero.storage-locations", "Backup storage locations"),
        ]
        guard reachable.status == .pass else {
            return checks + dependent.map { DoctorCheck(id: $0.0, title: $0.1, status: .skip, detail: "the cluster could not be reached") }
        }
        checks.append(await check("velero.namespace", "Namespace \(veleroNamespace) exists") {
            if try await cluster.get(try ObjectReference(kind: .namespace, namespace: nil, name: veleroNamespace)) != nil {
                return (.pass, "found", nil)
            }
            return (.fail, "namespace \(veleroNamespace) does not exist", "install Velero into it (velero install --namespace \(veleroNamespace)) or pass the namespace Velero uses")
        })
        checks.append(await check("velero.crds", "Velero CRDs installed") {
            var missing: [String] = []
            for name in Self.requiredCRDs where try await cluster.get(try ObjectReference(kind: Self.crdKind, namespace: nil, name: name)) == nil {
                missing.append(name)
            }
            if missing.isEmpty { return (.pass, "all \(Self.requiredCRDs.count) present", nil) }
            return (.fail, "missing: \(missing.joined(separator: ", "))", "install Velero's CRDs (velero install --crds-only) matching your Velero version")
        })
        checks.append(await check("velero.deployment", "Velero deployment present") {
            guard let deployment = try await cluster.get(try ObjectReference(kind: .deployment, namespace: veleroNamespace, name: "velero")) else {
                return (.fail, "no deployment velero in namespace \(veleroNamespace)", "install Velero (velero install …); without its server nothing acts on Backup objects")
            }
            let wanted = deployment.json[path: ["spec", "replicas"]]?.integerValue ?? 1
            let ready = deployment.json[path: ["status", "readyReplicas"]]?.integerValue ?? 0
            if let standIn = deployment.json[path: ["metadata", "annotations", "carbon-recovery.dev/stand-in"]]?.stringValue {
                let pid = deployment.json[path: ["metadata", "annotations", "carbon-recovery.dev/stand-in-pid"]]?.stringValue ?? "?"
                return (.pass, "\(standIn) (pid \(pid))", nil)
            }
            let image = deployment.json[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue ?? "unknown image"
            if ready >= wanted, wanted > 0 { return (.pass, "\(image), \(ready)/\(wanted) ready", nil) }
            return (.warn, "\(image), \(ready)/\(wanted) ready", "check the velero pod: kubectl -n \(veleroNamespace) describe deployment velero; kubectl -n \(veleroNamespace) logs deployment/velero")
        })
        checks.append(await check("velero.storage-locations", "Backup storage locations") {
            let locations = try await cluster.list(.veleroBackupStorageLocation, namespace: veleroNamespace, labelSelector: nil)
            if locations.isEmpty {
                return (.fail, "no BackupStorageLocation in \(veleroNamespace)", "create one for the MinIO bucket (velero backup-location create, or carbon-recovery deploy)")
            }
            var unavailable: [String] = []
            let summary = locations.map { location -> String in
                let name = location.name ?? "?"
                let phase = location.status?["phase"]?.stringValue ?? "no phase yet"
                let validated = location.status?["lastValidationTime"]?.stringValue.map { ", validated \($0)" } ?? ""
                let bucket = location.spec?[path: ["objectStorage", "bucket"]]?.stringValue.map { " → \($0)" } ?? ""
                if phase == "Unavailable" { unavailable.append(name) }
                return "\(name)\(bucket): \(phase)\(validated)"
            }.joined(separator: "; ")
            if unavailable.isEmpty { return (.pass, summary, nil) }
            return (.fail, summary, "Velero cannot reach \(unavailable.joined(separator: ", ")): check the credentials secret and the s3Url in the location's config; kubectl -n \(veleroNamespace) logs deployment/velero | grep -i backup-location")
        })
        return checks
    }

    func runStorageChecks() async -> [DoctorCheck] {
        var checks: [DoctorCheck] = []
        let probe = storage as? any StorageEndpointProbe
        let where_ = probe?.endpointDescription ?? "the storage"
        var skew: Duration?
        if let probe {
            do {
                skew = try await probe.clockSkew()
                checks.append(DoctorCheck(id: "storage.endpoint", title: "Storage endpoint reachable", status: .pass, detail: where_))
            } catch {
                checks.append(DoctorCheck(
                    id: "storage.endpoint", title: "Storage endpoint reachable", status: .fail, detail: Self.describe(error),
                    fix: "check the endpoint URL and that MinIO runs and listens there (curl -I <endpoint>/minio/health/live)"))
                checks.append(DoctorCheck(id: "storage.access", title: "Credentials and bucket", status: .skip, detail: "the endpoint could not be reached"))
                checks.append(DoctorCheck(id: "clock.skew", title: "Clock agrees with the storage server", status: .skip, detail: "the endpoint could not be reached"))
                return checks
            }
        }
        do {
            try await storage.checkAccess()
            checks.append(DoctorCheck(id: "storage.access", title: "Credentials and bucket", status: .pass, detail: "credentials accepted, bucket present (\(where_))"))
        } catch let error as RecoveryError {
            let fix: String
            switch error.code {
            case .unauthorized: fix = "the access key or secret is wrong: compare the credentials source with MinIO's user (mc admin user info)"
            case .notFound: fix = "create the bucket (mc mb <alias>/<bucket>) or fix its name in the configuration"
            case .forbidden: fix = "give the access key a policy that allows s3:ListBucket, GetObject, PutObject and DeleteObject on the bucket"
            case .clockSkew: fix = "synchronise this machine's clock (NTP)"
            default: fix = "see the error; retry with --output json for the full detail"
            }
            checks.append(DoctorCheck(id: "storage.access", title: "Credentials and bucket", status: .fail, detail: Self.describe(error), fix: fix))
        } catch {
            checks.append(DoctorCheck(id: "storage.access", title: "Credentials and bucket", status: .fail, detail: Self.describe(error)))
        }
        if probe != nil {
            if let skew {
                let seconds = Double(skew.components.seconds) + Double(skew.components.attoseconds) / 1e18
                let text = String(format: "%+.1f s against the storage server", seconds)
                if abs(seconds) >= 15 * 60 {
                    checks.append(DoctorCheck(id: "clock.skew", title: "Clock agrees with the storage server", status: .fail, detail: text, fix: "S3 refuses requests signed more than 15 minutes off: synchronise the clocks (NTP)"))
                } else if skew > clockSkewWarning || skew < .zero - clockSkewWarning {
                    checks.append(DoctorCheck(id: "clock.skew", title: "Clock agrees with the storage server", status: .warn, detail: text, fix: "synchronise the clocks (NTP) before the skew reaches 15 minutes"))
                } else {
                    checks.append(DoctorCheck(id: "clock.skew", title: "Clock agrees with the storage server", status: .pass, detail: text))
                }
            } else {
                checks.append(DoctorCheck(id: "clock.skew", title: "Clock agrees with the storage server", status: .warn, detail: "the server sent no Date header", fix: "compare the clocks by hand"))
            }
        }
        return checks
    }

    private func check(_ id: String, _ title: String, _ body: () async throws -> (DoctorCheck.Status, String, String?)) async -> DoctorCheck {
        do {
            let (status, detail, fix) = try await body()
            return DoctorCheck(id: id, title: title, status: status, detail: detail, fix: fix)
        } catch {
            return DoctorCheck(id: id, title: title, status: .fail, detail: Self.describe(error), fix: Self.clusterFix(error))
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? RecoveryError { return "\(error.code): \(error.message)" }
        return AuditRedaction.redact(text: String(describing: error))
    }

    static func clusterFix(_ error: any Error) -> String {
        switch (error as? RecoveryError)?.code {
        case .unauthorized?: return "the kubeconfig's credentials were refused: refresh them (a new token or client certificate)"
        case .forbidden?: return "this user lacks RBAC permissions for Velero's objects: bind it to a role that may read and write velero.io resources"
        case .unreachable?: return "check KUBECONFIG and the context (kubectl config current-context; kubectl cluster-info)"
        case .timeout?: return "the API server is slow or unreachable: check the network path and kubectl cluster-info"
        default: return "run the same request with kubectl -v=6 to see the API call"
        }
    }
}
