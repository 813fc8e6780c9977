import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryPolicy
import CarbonRecoveryVelero
import Foundation

/// How the CLI reaches the cluster and the storage; every option falls back to the environment
/// that `scripts/sandbox env` (or your own setup) exports.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The kubeconfig file.", discussion: "Default: $CARBON_RECOVERY_KUBECONFIG, else kubectl's own ($KUBECONFIG, ~/.kube/config).", valueName: "path"))
    var kubeconfig: String?

    @Option(help: ArgumentHelp("The kubeconfig context.", discussion: "Default: $CARBON_RECOVERY_KUBE_CONTEXT, else the current context.", valueName: "name"))
    var context: String?

    @Option(name: .customLong("velero-namespace"), help: "Velero's namespace.")
    var veleroNamespace: String = "velero"

    @Option(name: .customLong("s3-endpoint"), help: ArgumentHelp("MinIO's S3 endpoint, http(s)://host:port.", discussion: "Default: $CARBON_RECOVERY_S3_ENDPOINT.", valueName: "url"))
    var s3Endpoint: String?

    @Option(help: ArgumentHelp("The backup bucket.", discussion: "Default: $CARBON_RECOVERY_S3_BUCKET, else 254carbon-backups.", valueName: "name"))
    var bucket: String?

    @Option(help: ArgumentHelp("The S3 signing region.", discussion: "Default: $CARBON_RECOVERY_S3_REGION, else us-east-1.", valueName: "name"))
    var region: String?

    @Option(
        name: .customLong("credentials-file"),
        help: ArgumentHelp(
            "An AWS/Velero credentials file ([default] aws_access_key_id/aws_secret_access_key).",
            discussion: "Default: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, else $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials.",
            valueName: "path"))
    var credentialsFile: String?

    @Option(name: .customLong("credentials-profile"), help: "The profile in the credentials file.")
    var credentialsProfile: String = "default"

    func clusterClient() throws -> KubectlClusterClient {
        var configuration = KubectlClusterClient.Configuration.fromEnvironment()
        if let kubeconfig { configuration.kubeconfig = kubeconfig }
        if let context { configuration.context = context }
        return try KubectlClusterClient(configuration: configuration)
    }

    func storageBackend() throws -> MinIOStorageBackend {
        // --s3-endpoint stands in for $CARBON_RECOVERY_S3_ENDPOINT; the rest (bucket, region, the
        // storage's CA, server-side encryption) still comes from the environment.
        var environment = ProcessInfo.processInfo.environment
        if let s3Endpoint { environment["CARBON_RECOVERY_S3_ENDPOINT"] = s3Endpoint }
        var configuration = try MinIOStorageBackend.Configuration.fromEnvironment(environment)
        if let bucket { configuration.bucket = bucket }
        if let region { configuration.region = region }
        if let credentialsFile { configuration.credentials = .file(path: credentialsFile, profile: credentialsProfile) }
        return try MinIOStorageBackend(configuration: configuration)
    }
}

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the cluster, Velero and the backup storage; say what to fix.",
        discussion: """
            The backup guide's troubleshooting steps as one read-only command: the API server is reachable and \
            who we are; Velero's namespace, CRDs, deployment and backup storage locations; MinIO reachable with \
            these credentials; the bucket present; the clocks in agreement; the audit trail's signing key present, \
            outside the trail's folder and readable by its owner only (a warning otherwise); Velero's account not \
            cluster-admin, and every subject of a binding that can create Restores or DownloadRequests outside the \
            policy's operator groups (asked with SubjectAccessReviews; system:masters is invisible to this); after \
            `credentials rotate`, that the storage refuses the replaced key. \
            Exit status 1 when a check fails.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("config"), help: ArgumentHelp("The policy file, for its audit.signingKey and its access section (operator groups, service accounts).", valueName: "file"))
    var config: String?

    func run() async throws {
        try await runReportingErrors {
            let policy = try config.map { try PolicyFile.load(path: $0).policy }
            let cluster = try connection.clusterClient()
            let velero = VeleroBackupEngine(cluster: cluster, configuration: .init(namespace: connection.veleroNamespace))
            let access = VeleroAccessChecks(cluster: cluster, namespace: connection.veleroNamespace, access: policy?.access ?? AccessPolicy())
            let doctor = RecoveryDoctor(cluster: cluster, storage: try connection.storageBackend(), providers: [velero, access])
            var checks = await doctor.run()
            // After a rotation: the replaced key must be refused once revoked.
            if let retired = await Self.retiredKeyCheck(storage: try connection.storageBackend()) { checks.append(retired) }
            // Local: checked whether or not the cluster answers.
            checks.append(AuditSigningKeyPlacement.doctorCheck(
                keyPath: global.signingKeyLocation(policy: policy).path, trailPath: global.auditDatabasePath))
            switch global.output {
            case .json:
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(checks), as: UTF8.self))
            case .table:
                Terminal.printTable(["STATUS", "CHECK", "DETAIL"], checks.map { [$0.status.rawValue.uppercased(), $0.title, $0.detail] })
                let fixes = checks.filter { $0.fix != nil && ($0.status == .fail || $0.status == .warn) }
                if !fixes.isEmpty {
                    print("")
                    for check in fixes { print("\(check.status == .fail ? "FIX" : "ADVICE") \(check.title): \(check.fix!)") }
                }
                let failed = checks.filter { $0.status == .fail }.count
                print("\n\(checks.filter { $0.status == .pass }.count) passed, \(checks.filter { $0.status == .warn }.count) warnings, \(failed) failed, \(checks.filter { $0.status == .skip }.count) skipped")
            }
            if checks.contains(where: { $0.status == .fail }) { throw ExitCode.failure }
        }
    }

    /// `storage.retired-key`, when `credentials rotate` left the replaced pair behind: the
    /// storage must refuse it. Refused, the pair is deleted (nothing left to check); still
    /// accepted, a warning says to revoke it.
    static func retiredKeyCheck(storage: MinIOStorageBackend) async -> DoctorCheck? {
        let path = CredentialsCommand.Rotate.retiredKeyPath
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return await DoctorCheck.evaluating(id: "storage.retired-key", title: "Key replaced by the last rotation is revoked") {
            let keys = try StorageKeyPair(credentialsFile: String(decoding: data, as: UTF8.self), source: path)
            var configuration = storage.configuration
            configuration.credentials = .fixed(S3Credentials(accessKeyID: keys.accessKeyID, secretAccessKey: keys.secretAccessKey))
            configuration.maximumAttempts = 1
            do {
                try await MinIOStorageBackend(configuration: configuration).checkAccess()
            } catch let error as RecoveryError where error.code == .unauthorized || error.code == .forbidden {
                try? FileManager.default.removeItem(atPath: path)
                return (.pass, "the storage refuses \(keys.shortID): revoked (\(path) removed)", nil)
            }
            return (.warn, "the storage still accepts \(keys.shortID), which credentials rotate replaced",
                    "revoke it at the storage server (for MinIO: mc admin user svcacct rm, or remove the user), then run doctor again")
        }
    }
}
