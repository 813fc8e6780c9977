import Foundation

/// What ``RecoveryCoordinator/validateBackup(named:)`` checked and found.
public struct BackupValidationReport: Sendable, Hashable {
    /// One check and its result.
    public struct Check: Sendable, Hashable {
        /// How a check came out.
        public enum Status: String, Sendable, Hashable {
            /// Checked, and it holds.
            case passed
            /// Checked, and it does not hold.
            case failed
            /// Could not be checked (for example an engine that cannot open its artifacts):
            /// never a pass, so the report is not valid.
            case notChecked = "not-checked"
        }

        /// A short name of the check, e.g. `phase` or `artifact:velero-backup.json`.
        public var name: String
        /// How it came out.
        public var status: Status
        /// What was found, in words.
        public var detail: String

        /// Whether the check passed.
        public var passed: Bool { status == .passed }

        /// Creates a check result.
        public init(name: String, status: Status, detail: String) {
            self.name = name
            self.status = status
            self.detail = detail
        }

        /// Creates a check result that passed or failed.
        public init(name: String, passed: Bool, detail: String) {
            self.init(name: name, status: passed ? .passed : .failed, detail: detail)
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
    /// Storage key → lower-case hex SHA-256, for the artifacts the engine read.
    public var digests: [String: String]
    /// The backup's start time, which tells a backup from a later one of the same name.
    public var startTimestamp: Date?
    /// The sequence number of the audit entry whose digests this validation compared against
    /// (the backup's first successful validation); `nil` when this is the first.
    public var baselineSequence: Int64?

    /// Creates a report.
    public init(
        backup: String, phase: BackupPhase, checks: [Check], artifacts: [StorageObject], digests: [String: String] = [:],
        startTimestamp: Date? = nil, baselineSequence: Int64? = nil
    ) {
        self.backup = backup
        self.phase = phase
        self.checks = checks
        self.artifacts = artifacts
        self.digests = digests
        self.startTimestamp = startTimestamp
        self.baselineSequence = baselineSequence
    }

    /// Whether every check passed; a check that could not be made (``Check/Status/notChecked``)
    /// makes the report not valid.
    public var isValid: Bool { checks.allSatisfy(\.passed) }
    /// The details of the checks that failed or could not be made.
    public var problems: [String] { checks.filter { !$0.passed }.map(\.detail) }

    /// What the audit trail records: the checks, and each artifact with its size and digest.
    var auditDetails: JSONValue {
        var details: [String: JSONValue] = [
            "phase": .string(phase.rawValue),
            "checks": .array(checks.map { check in
                var member: [String: JSONValue] = ["name": .string(check.name), "passed": .bool(check.passed)]
                if check.status == .notChecked { member["status"] = .string(check.status.rawValue) }
                return .object(member)
            }),
            "artifacts": .array(artifacts.map { artifact in
                var member: [String: JSONValue] = ["key": .string(artifact.key), "size": .integer(artifact.size)]
                if let digest = digests[artifact.key] { member["sha256"] = .string(digest) }
                return .object(member)
            }),
        ]
        if let startTimestamp { details["startTimestamp"] = .string(RFC3339.format(startTimestamp)) }
        if let baselineSequence { details["baselineSequence"] = .integer(baselineSequence) }
        return .object(details)
    }

    /// The digests recorded by an earlier validation, and whether it was of the same backup.
    static func recordedDigests(in entry: AuditEntry) -> (startTimestamp: String?, digests: [String: String])? {
        guard let parameters = try? JSONValue(parsing: Array(entry.parameters.utf8)),
            let artifacts = parameters["artifacts"]?.arrayValue
        else { return nil }
        var digests: [String: String] = [:]
        for artifact in artifacts {
            if let key = artifact["key"]?.stringValue, let digest = artifact["sha256"]?.stringValue { digests[key] = digest }
        }
        return digests.isEmpty ? nil : (parameters["startTimestamp"]?.stringValue, digests)
    }

    /// Compares this validation's digests with a baseline: an artifact that changed or vanished fails.
    mutating func compare(with baseline: [String: String], sequence: Int64, recordedAt time: String) {
        baselineSequence = sequence
        var changed: [String] = []
        var vanished: [String] = []
        for (key, digest) in baseline.sorted(by: { $0.key < $1.key }) {
            guard let current = digests[key] else {
                vanished.append(key)
                continue
            }
            if current != digest { changed.append("\(key) (sha256 \(digest.prefix(12))… then, \(current.prefix(12))… now)") }
        }
        if !vanished.isEmpty {
            checks.append(.init(
                name: "digests:vanished", passed: false,
                detail: "artifacts recorded at the first validation (audit entry #\(sequence), \(time)) are gone: \(vanished.joined(separator: ", "))"))
        }
        if !changed.isEmpty {
            checks.append(.init(
                name: "digests:changed", passed: false,
                detail: "artifacts changed since the first validation (audit entry #\(sequence), \(time)): \(changed.joined(separator: "; "))"))
        }
        if vanished.isEmpty, changed.isEmpty {
            checks.append(.init(
                name: "digests", passed: true,
                detail: "\(baseline.count) artifacts match the SHA-256 digests recorded at the first validation (audit entry #\(sequence), \(time))"))
        }
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
                    ? "expires \(RFC3339.format(expiration))"
                    : "expires \(RFC3339.format(expiration)), which is not after \(RFC3339.format(now.addingTimeInterval(needed)))"))
        }
        var artifacts: [StorageObject] = []
        for try await object in storage.list(prefix: storagePrefix) { artifacts.append(object) }
        // Which artifacts a backup must have is the engine's to say (its inspection); here only
        // that storage holds something for it at all.
        checks.append(.init(
            name: "artifacts", passed: !artifacts.isEmpty,
            detail: artifacts.isEmpty ? "nothing is stored under \(storagePrefix)" : "\(artifacts.count) artifacts under \(storagePrefix)"))
        return BackupValidationReport(backup: status.name, phase: status.phase, checks: checks, artifacts: artifacts)
    }
}
