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
/// can we reach the storage with these credentials, does the bucket exist, do the clocks agree —
/// and the checks the engine contributes (``DoctorCheckProvider``; for Velero: its namespace,
/// CRDs, deployment and storage locations).
///
/// ```swift
/// let engine = VeleroBackupEngine(cluster: cluster, storage: storage)
/// let checks = await RecoveryDoctor(cluster: cluster, storage: storage, providers: [engine]).run()
/// for check in checks where check.status == .fail { print(check.title, check.fix ?? "") }
/// ```
///
/// Read-only: it changes nothing in the cluster or the bucket.
public struct RecoveryDoctor: Sendable {
    /// The cluster to check.
    public var cluster: any ClusterClient
    /// The storage to check.
    public var storage: any StorageBackend
    /// Checks run after the cluster's own, in order (the engine's first).
    public var providers: [any DoctorCheckProvider]
    /// Clock skew above this is a warning (S3 refuses above 15 minutes; schedules and
    /// expirations are computed from the cluster's clock).
    public var clockSkewWarning: Duration

    /// Creates a doctor.
    public init(
        cluster: any ClusterClient, storage: any StorageBackend, providers: [any DoctorCheckProvider] = [],
        clockSkewWarning: Duration = .seconds(60)
    ) {
        self.cluster = cluster
        self.storage = storage
        self.providers = providers
        self.clockSkewWarning = clockSkewWarning
    }

    /// Runs every check, cluster and storage side by side, and returns them in a fixed order.
    public func run() async -> [DoctorCheck] {
        async let clusterChecks = runClusterChecks()
        async let storageChecks = runStorageChecks()
        return await clusterChecks + storageChecks
    }

    func runClusterChecks() async -> [DoctorCheck] {
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
        var checks = [reachable]
        for provider in providers {
            if reachable.status == .pass {
                checks += await provider.doctorChecks()
            } else {
                checks += provider.doctorCheckTitles.map { DoctorCheck(id: $0.id, title: $0.title, status: .skip, detail: "the cluster could not be reached") }
            }
        }
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
                    fix: "check the endpoint URL and that the S3 server runs and listens there (for MinIO: curl -I <endpoint>/minio/health/live)"))
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

    package static func describe(_ error: any Error) -> String {
        if let error = error as? RecoveryError { return "\(error.code): \(error.message)" }
        return AuditRedaction.redact(text: String(describing: error))
    }

    package static func clusterFix(_ error: any Error) -> String {
        switch (error as? RecoveryError)?.code {
        case .unauthorized?: return "the kubeconfig's credentials were refused: refresh them (a new token or client certificate)"
        case .forbidden?: return "this user lacks RBAC permissions for the objects checked: bind it to a role that may read and write them"
        case .unreachable?: return "check KUBECONFIG and the context (kubectl config current-context; kubectl cluster-info)"
        case .timeout?: return "the API server is slow or unreachable: check the network path and kubectl cluster-info"
        default: return "run the same request with kubectl -v=6 to see the API call"
        }
    }
}
