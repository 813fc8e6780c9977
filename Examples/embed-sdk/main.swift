// embed-sdk — the smallest useful embedding of CarbonRecovery: a coordinator over an engine,
// a storage backend and a real SQLite audit trail. The engine and storage here are the test
// kit's in-memory doubles; swap in the Velero/MinIO ones when they are wired to a cluster.
//
//   swift run embed-sdk [path/to/audit.db]
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryTestKit
import Foundation
import Logging

let path = CommandLine.arguments.dropFirst().first ?? NSTemporaryDirectory() + "embed-sdk-\(getpid()).db"
let storage = InMemoryStorageBackend()
let engine = InMemoryBackupEngine(storage: storage)
let trail = try SQLiteAuditTrail(path: path)
let coordinator = RecoveryCoordinator(engine: engine, storage: storage, audit: trail, logger: Logger(label: "embed-sdk"))

// The guide's smoke test: back up data-platform for 24 h and wait.
let backup = try await coordinator.backup(
    BackupRequest(name: "smoke-backup", includedNamespaces: ["data-platform"], ttl: try GoDuration(parsing: "24h0m0s"))
) { status in print("  \(status.phase) \(status.progress?.itemsDone ?? 0)/\(status.progress?.totalItems ?? 0)") }
print("backup \(backup.name): \(backup.phase)")

let report = try await coordinator.validateBackup(named: "smoke-backup")
print("validation: \(report.isValid ? "passed" : "failed: \(report.problems)")")

// The guide's non-destructive restore test: into a scratch namespace.
let restore = try await coordinator.restore(RestoreRequest(
    name: "smoke-restore-test", source: .backup("smoke-backup"),
    namespaceMappings: ["data-platform": "data-platform-restore-test"]))
print("restore \(restore.name): \(restore.phase)")

// A failing backup is recorded and rethrown.
await engine.scriptNextBackup(phase: .partiallyFailed, errors: 2)
do {
    try await coordinator.backup(BackupRequest(name: "doomed", includedNamespaces: ["vault-prod"]))
} catch let error as RecoveryError {
    print("expected failure: [\(error.code)] \(error.message)")
}

let verification = try await trail.verify()
print("audit trail \(path): \(verification.entriesChecked) entries, \(verification.isValid ? "verified" : "FAILED")")
