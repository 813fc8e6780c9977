import CarbonRecovery

/// The doctor's Velero checks: its namespace, CRDs, deployment and backup storage locations.
extension VeleroBackupEngine: DoctorCheckProvider {
    /// The CRDs Velero needs for backups and restores.
    public static let requiredCRDs = [
        "backups.velero.io", "restores.velero.io", "schedules.velero.io", "backupstoragelocations.velero.io",
        "deletebackuprequests.velero.io", "volumesnapshotlocations.velero.io",
    ]

    private static let crdKind = ResourceKind(
        apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", resource: "customresourcedefinitions.apiextensions.k8s.io",
        isNamespaced: false)

    public var doctorCheckTitles: [(id: String, title: String)] {
        [
            ("velero.namespace", "Namespace \(configuration.namespace) exists"), ("velero.crds", "Velero CRDs installed"),
            ("velero.deployment", "Velero deployment present"), ("velero.storage-locations", "Backup storage locations"),
            ("velero.storage-encryption", "Backups encrypted in transit and at rest"),
        ]
    }

    public func doctorChecks() async -> [DoctorCheck] {
        let namespace = configuration.namespace
        let titles = doctorCheckTitles
        var checks: [DoctorCheck] = []
        checks.append(await DoctorCheck.evaluating(id: titles[0].id, title: titles[0].title) {
            if try await cluster.get(try ObjectReference(kind: .namespace, namespace: nil, name: namespace)) != nil {
                return (.pass, "found", nil)
            }
            return (.fail, "namespace \(namespace) does not exist", "install Velero into it (velero install --namespace \(namespace)) or pass the namespace Velero uses")
        })
        checks.append(await DoctorCheck.evaluating(id: titles[1].id, title: titles[1].title) {
            var missing: [String] = []
            for name in Self.requiredCRDs where try await cluster.get(try ObjectReference(kind: Self.crdKind, namespace: nil, name: name)) == nil {
                missing.append(name)
            }
            if missing.isEmpty { return (.pass, "all \(Self.requiredCRDs.count) present", nil) }
            return (.fail, "missing: \(missing.joined(separator: ", "))", "install Velero's CRDs (velero install --crds-only) matching your Velero version")
        })
        checks.append(await DoctorCheck.evaluating(id: titles[2].id, title: titles[2].title) {
            guard let deployment = try await cluster.get(try ObjectReference(kind: .deployment, namespace: namespace, name: "velero")) else {
                return (.fail, "no deployment velero in namespace \(namespace)", "install Velero (velero install …); without its server nothing acts on Backup objects")
            }
            let wanted = deployment.json[path: ["spec", "replicas"]]?.integerValue ?? 1
            let ready = deployment.json[path: ["status", "readyReplicas"]]?.integerValue ?? 0
            if let standIn = deployment.json[path: ["metadata", "annotations", "carbon-recovery.dev/stand-in"]]?.stringValue {
                let pid = deployment.json[path: ["metadata", "annotations", "carbon-recovery.dev/stand-in-pid"]]?.stringValue ?? "?"
                return (.pass, "\(standIn) (pid \(pid))", nil)
            }
            let image = deployment.json[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue ?? "unknown image"
            if ready >= wanted, wanted > 0 { return (.pass, "\(image), \(ready)/\(wanted) ready", nil) }
            return (.warn, "\(image), \(ready)/\(wanted) ready", "check the velero pod: kubectl -n \(namespace) describe deployment velero; kubectl -n \(namespace) logs deployment/velero")
        })
        checks.append(await DoctorCheck.evaluating(id: titles[3].id, title: titles[3].title) {
            let locations = try await cluster.list(.veleroBackupStorageLocation, namespace: namespace, labelSelector: nil)
            if locations.isEmpty {
                return (.fail, "no BackupStorageLocation in \(namespace)", "create one for the MinIO bucket (velero backup-location create, or carbon-recovery deploy)")
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
            return (.fail, summary, "Velero cannot reach \(unavailable.joined(separator: ", ")): check the credentials secret and the s3Url in the location's config; kubectl -n \(namespace) logs deployment/velero | grep -i backup-location")
        })
        checks.append(await DoctorCheck.evaluating(id: titles[4].id, title: titles[4].title) {
            let locations = try await cluster.list(.veleroBackupStorageLocation, namespace: namespace, labelSelector: nil)
            return Self.encryptionFindings(locations)
        })
        return checks
    }

    /// Each location's transport (`https://` or not, with or without a private CA) and
    /// server-side encryption: a location Velero reaches over plain HTTP or writes unencrypted
    /// warns; one whose encryption settings the AWS plugin would refuse fails.
    static func encryptionFindings(_ locations: [KubernetesObject]) -> (DoctorCheck.Status, String, String?) {
        guard !locations.isEmpty else { return (.warn, "no BackupStorageLocation to check", nil) }
        var problems: [String] = [], invalid: [String] = [], summary: [String] = []
        for location in locations {
            let name = location.name ?? "?"
            let config = location.spec?["config"]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
            let url = config["s3Url"] ?? ""
            let tls = url.lowercased().hasPrefix("https://")
            let privateCA = location.spec?[path: ["objectStorage", "caCertRef"]] != nil || location.spec?[path: ["objectStorage", "caCert"]] != nil
            do {
                let encryption = try VeleroLocationEncryption.setting(config: config)
                summary.append("\(name): \(tls ? "TLS\(privateCA ? " (private CA)" : "")" : "plain HTTP"), \(encryption)")
                if !tls { problems.append("\(name) reaches \(url.isEmpty ? "its storage" : url) over plain HTTP") }
                if config["insecureSkipTLSVerify"] == "true" { problems.append("\(name) skips certificate verification") }
                if encryption == .none { problems.append("\(name) asks for no server-side encryption") }
            } catch {
                invalid.append("\(name): \((error as? RecoveryError)?.message ?? "\(error)")")
            }
        }
        if !invalid.isEmpty {
            return (.fail, invalid.joined(separator: "; "), "fix the location's config: serverSideEncryption AES256, or kmsKeyId, or customerKeyEncryptionFile — one of them (carbon-recovery deploy writes it from the policy's storage.encryption)")
        }
        if problems.isEmpty { return (.pass, summary.joined(separator: "; "), nil) }
        return (.warn, problems.joined(separator: "; "),
                "serve the storage over https with the CA in the location's caCertRef, and set storage.encryption in the policy (SSE-S3, SSE-KMS or SSE-C) so deploy writes it into the location; docs/security.md#encryption-in-transit-and-at-rest")
    }
}
