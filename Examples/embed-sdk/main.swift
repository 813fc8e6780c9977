// embed-sdk — a backup run and waited for through the SDK: kubectl reaches the cluster, MinIO
// holds the bucket, Velero does the work, and every step lands in a SQLite audit trail. It reads
// the environment the CLI reads (`eval "$(scripts/sandbox env)"` sets it for the sandbox).
//
//   swift run embed-sdk [NAMESPACE] [AUDIT_DB]
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryVelero
import Foundation
import Logging

let arguments = Array(CommandLine.arguments.dropFirst())
let namespace = arguments.first ?? "data-platform"
let path = arguments.dropFirst().first ?? NSTemporaryDirectory() + "embed-sdk-\(getpid()).db"
do {
    let cluster = try KubectlClusterClient(configuration: .fromEnvironment())
    let storage = try MinIOStorageBackend(configuration: .fromEnvironment())
    let engine = VeleroBackupEngine(cluster: cluster, storage: storage)
    let trail = try await SQLiteAuditTrail(path: path)
    let coordinator = RecoveryCoordinator(engine: engine, storage: storage, audit: trail, cluster: cluster, logger: Logger(label: "embed-sdk"))

    let name = "embed-\(namespace.prefix(40))-\(Int(Date().timeIntervalSince1970))"
    let backup = try await coordinator.backup(BackupRequest(name: name, includedNamespaces: [namespace], ttl: .hours(24))) { status in
        print("  \(status.phase) \(status.progress?.itemsDone ?? 0)/\(status.progress?.totalItems ?? 0)")
    }
    print("backup \(name): \(backup.phase), \(backup.progress?.itemsDone ?? 0) items")
    let report = try await coordinator.validateBackup(named: name)
    print("validation: \(report.isValid ? "passed" : "failed: \(report.problems.joined(separator: "; "))")")
    print("audit trail \(path): \(try await trail.verify().entriesChecked) entries, verified")
    exit(report.isValid ? 0 : 1)
} catch {
    FileHandle.standardError.write(Data("embed-sdk: \(error)\n".utf8))
    exit(1)
}
