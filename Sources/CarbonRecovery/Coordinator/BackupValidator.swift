import Foundation

/// What ``RecoveryCoordinator/validateBackup(named:)`` checked and found.
public struct BackupValidationReport: Sendable, Hashable {
    /// One check and its result.
    public struct Check: Sendable, Hashable {
        /// A short name of the check, e.g. `phase` or `artifact:velero-backup.json`.
        public var name: String
        /// Whether the check passed.
        public var passed: Bool
        /// What was found, in words.
        public var detail: String

        /// Creates a check result.
        public init(name: String, passed: Bool, detail: String) {
            self.name = name
            self.passed = passed
            self.detail = detail
        }
    }

    /// The backup that was validated.
    public var backup: String
    /// Its phase when validated.
    public var phase: BackupPhase
    /// Every check, in the order run.
    public var checks: [Check]
    /// The artifacts found under the backup's storage prefix.
    public var artifacts: [StorageObject]

    /// Creates a report.
    public init(backup: String, phase: BackupPhase, checks: [Check], artifacts: [StorageObject]) {
        self.backup = backup
        self.phase = phase
        self.checks = checks
        self.artifacts = artifacts
    }

    /// Whether every check passed.
    public var isValid: Bool { checks.allSatisfy(\.passed) }
    /// The details of the checks that failed.
    public var problems: [String] { checks.filter { !$0.passed }.map(\.detail) }

    var auditDetails: JSONValue {
        .object([
            "phase": .string(phase.rawValue),
            "checks": .array(checks.map { .object(["name": .string($0.name), "passed": .bool($0.passed)]) }),
            "artifacts": .array(artifacts.map { .object(["key": .string($0.key), "size": .integer($0.size)]) }),
        ])
    }
}

/// The checks Velero does not do for itself: the backup object against its stored artifacts.
struct BackupValidator {
    let storage: any StorageBackend
    let minimumRemainingLifetime: Duration

    func validate(status: BackupStatus, storagePrefix: String, now: Date) async throws -> BackupValidationReport {
        var checks: [BackupValidationReport.Check] = []
        checks.append(.init(
            name: "phase", passed: status.phase == .completed,
            detail: status.phase == .completed ? "phase is Completed" : "phase is \(status.phase), not Completed"))
        checks.append(.init(
            name: "errors", passed: status.errors == 0,
            detail: status.errors == 0 ? "no item errors" : "\(status.errors) item errors"))
        if let expiration = status.expiration {
            let remaining = expiration.timeIntervalSince(now)
            let needed = Double(minimumRemainingLifetime.components.seconds)
            checks.append(.init(
                name: "expiration", passed: remaining > needed,
                detail: remaining > needed
                    ? "expires \(AuditTimestamp.format(expiration))"
                    : "expires \(AuditTimestamp.format(expiration)), which is not after \(AuditTimestamp.format(now.addingTimeInterval(needed)))"))
        }
        var artifacts: [StorageObject] = []
        for try await object in storage.list(prefix: storagePrefix) { artifacts.append(object) }
        for required in ["velero-backup.json", "\(status.name).tar.gz"] {
            let key = storagePrefix + required
            let found = artifacts.first { $0.key == key }
            let passed = (found?.size ?? 0) > 0
            checks.append(.init(
                name: "artifact:\(required)", passed: passed,
                detail: found == nil ? "\(key) is missing from storage" : passed ? "\(key) has \(found!.size) bytes" : "\(key) is empty"))
        }
        return BackupValidationReport(backup: status.name, phase: status.phase, checks: checks, artifacts: artifacts)
    }
}
