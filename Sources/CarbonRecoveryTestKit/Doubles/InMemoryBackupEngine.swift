import CarbonRecovery
import Crypto
import Foundation

/// A ``BackupEngine`` in memory that plays Velero's phases and writes the artifacts a real
/// backup leaves in storage, so that validation has something to check.
///
/// Script outcomes with ``scriptNextBackup(phase:errors:)`` and ``scriptNextRestore(phase:)``;
/// ``events`` records every call in order, so tests can check what happened when.
public actor InMemoryBackupEngine: BackupEngine {
    private var backups: [String: BackupStatus] = [:]
    private var restores: [String: RestoreStatus] = [:]
    private var nextBackupOutcome: (BackupPhase, Int)?
    private var nextRestorePhase: RestorePhase?
    private var failStart: RecoveryError?
    private let storage: (any StorageBackend)?
    private let clock: any WallClock
    private let itemsPerBackup: Int
    /// Every call, in order: `startBackup:<name>`, `waitForBackup:<name>`, `deleteBackup:<name>`, …
    public private(set) var events: [String] = []

    /// Creates an engine.
    ///
    /// - Parameters:
    ///   - storage: Where finished backups write `backups/<name>/velero-backup.json` and `<name>.tar.gz`.
    ///   - itemsPerBackup: How many items each backup reports.
    ///   - clock: The time stamped on statuses.
    public init(storage: (any StorageBackend)? = nil, itemsPerBackup: Int = 10, clock: any WallClock = SystemWallClock()) {
        self.storage = storage
        self.itemsPerBackup = itemsPerBackup
        self.clock = clock
    }

    /// The next backup ends in `phase` with `errors` item errors.
    public func scriptNextBackup(phase: BackupPhase, errors: Int = 0) { nextBackupOutcome = (phase, errors) }
    /// The next restore ends in `phase`.
    public func scriptNextRestore(phase: RestorePhase) { nextRestorePhase = phase }
    /// The next start throws `error`.
    public func failNextStart(with error: RecoveryError) { failStart = error }

    public func startBackup(_ request: BackupRequest) async throws -> BackupStatus {
        events.append("startBackup:\(request.name)")
        if let error = failStart.take() { throw error }
        guard backups[request.name] == nil else {
            throw RecoveryError(.conflict, "backup '\(request.name)' exists already", target: "backup/\(request.name)")
        }
        // As Velero's engine reports them: whole namespaces only when nothing narrows the backup.
        let whole = request.labelSelector == nil && request.includedResources.filter { $0 != "*" }.isEmpty
        let everyNamespace = whole && (request.includedNamespaces.isEmpty || request.includedNamespaces == ["*"])
        let status = BackupStatus(
            name: request.name, phase: .new, startTimestamp: clock.now(), scheduleName: request.labels["velero.io/schedule-name"],
            namespaces: whole ? request.includedNamespaces.filter { !$0.contains("*") && !$0.contains("?") } : [],
            includesClusterResources: request.includeClusterResources ?? (everyNamespace && request.excludedNamespaces.isEmpty),
            includesEveryNamespace: everyNamespace, excludedNamespaces: everyNamespace ? request.excludedNamespaces : [])
        backups[request.name] = status
        pendingTTL[request.name] = request.ttl ?? .hours(720)
        return status
    }

    private var pendingTTL: [String: GoDuration] = [:]

    public func backupStatus(named name: String) async throws -> BackupStatus? { backups[name] }

    public func waitForBackup(named name: String, progress: @escaping @Sendable (BackupStatus) -> Void) async throws -> BackupStatus {
        events.append("waitForBackup:\(name)")
        guard var status = backups[name] else { throw RecoveryError(.notFound, "backup '\(name)' does not exist") }
        if status.phase.isTerminal { return status }
        for done in stride(from: 0, through: itemsPerBackup, by: max(1, itemsPerBackup / 2)) {
            try Task.checkCancellation()
            status.phase = .inProgress
            status.progress = OperationProgress(itemsDone: done, totalItems: itemsPerBackup)
            backups[name] = status
            progress(status)
            await Task.yield()
        }
        let (phase, errors) = nextBackupOutcome.take() ?? (.completed, 0)
        status.phase = phase
        status.errors = errors
        status.completionTimestamp = clock.now()
        status.expiration = clock.now().addingTimeInterval(pendingTTL[name]?.timeInterval ?? 2_592_000)
        backups[name] = status
        if phase == .completed || phase == .partiallyFailed, let storage {
            try await storage.put("backups/\(name)/velero-backup.json", data: Array("{\"kind\":\"Backup\",\"metadata\":{\"name\":\"\(name)\"}}".utf8))
            try await storage.put("backups/\(name)/\(name).tar.gz", data: Array(repeating: 0x1f, count: 128))
        }
        progress(status)
        return status
    }

    public func listBackups() async throws -> [BackupStatus] {
        backups.values.sorted { ($0.startTimestamp ?? .distantPast, $0.name) > ($1.startTimestamp ?? .distantPast, $1.name) }
    }

    public func deleteBackup(named name: String) async throws {
        events.append("deleteBackup:\(name)")
        guard backups.removeValue(forKey: name) != nil else { throw RecoveryError(.notFound, "backup '\(name)' does not exist") }
        if let storage {
            var keys: [String] = []
            for try await object in storage.list(prefix: "backups/\(name)/") { keys.append(object.key) }
            for key in keys { try await storage.delete(key) }
        }
    }

    public func storagePrefix(ofBackup name: String) async throws -> String { "backups/\(name)/" }

    /// Checks that the two artifacts this engine writes are stored and not empty, and hashes
    /// every artifact under the backup's prefix (SHA-256), as a real engine's inspection would.
    ///
    /// - Throws: ``RecoveryError/Code/unsupported`` when the engine was made without storage.
    public func inspectBackup(named name: String, in storage: any StorageBackend) async throws -> BackupInspection {
        guard self.storage != nil else {
            throw RecoveryError(.unsupported, "this in-memory engine has no storage, so it stores no artifacts to inspect", target: "backup/\(name)")
        }
        let prefix = "backups/\(name)/"
        var inspection = BackupInspection()
        var sizes: [String: Int] = [:]
        for try await object in storage.list(prefix: prefix) {
            guard let bytes = try await storage.get(object.key) else { continue }
            sizes[object.key] = bytes.count
            inspection.digests[object.key] = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        }
        for required in ["velero-backup.json", "\(name).tar.gz"] {
            let key = prefix + required
            let size = sizes[key]
            inspection.checks.append(.init(
                name: "artifact:\(required)", passed: (size ?? 0) > 0,
                detail: size == nil ? "\(key) is missing from storage" : size! > 0 ? "\(key) has \(size!) bytes" : "\(key) is empty"))
        }
        return inspection
    }

    public func startRestore(_ request: RestoreRequest) async throws -> RestoreStatus {
        events.append("startRestore:\(request.name)")
        if let error = failStart.take() { throw error }
        let backupName: String
        switch request.source {
        case .backup(let name):
            guard backups[name] != nil else { throw RecoveryError(.notFound, "backup '\(name)' does not exist") }
            backupName = name
        case .schedule(let schedule):
            guard let latest = backups.values.filter({ $0.scheduleName == schedule && $0.phase == .completed })
                .max(by: { ($0.completionTimestamp ?? .distantPast) < ($1.completionTimestamp ?? .distantPast) })
            else { throw RecoveryError(.notFound, "schedule '\(schedule)' has no completed backup") }
            backupName = latest.name
        }
        guard restores[request.name] == nil else { throw RecoveryError(.conflict, "restore '\(request.name)' exists already") }
        let status = RestoreStatus(name: request.name, phase: .new, backupName: backupName, startTimestamp: clock.now())
        restores[request.name] = status
        return status
    }

    public func restoreStatus(named name: String) async throws -> RestoreStatus? { restores[name] }

    public func waitForRestore(named name: String, progress: @escaping @Sendable (RestoreStatus) -> Void) async throws -> RestoreStatus {
        events.append("waitForRestore:\(name)")
        guard var status = restores[name] else { throw RecoveryError(.notFound, "restore '\(name)' does not exist") }
        try Task.checkCancellation()
        status.phase = .inProgress
        progress(status)
        status.phase = nextRestorePhase.take() ?? .completed
        status.progress = OperationProgress(itemsDone: itemsPerBackup, totalItems: itemsPerBackup)
        status.completionTimestamp = clock.now()
        restores[name] = status
        progress(status)
        return status
    }

    /// Adds a finished backup as if a schedule had made it.
    public func addBackup(_ status: BackupStatus) { backups[status.name] = status }
}

extension Optional {
    /// Returns the value and leaves `nil` behind.
    fileprivate mutating func take() -> Wrapped? {
        defer { self = nil }
        return self
    }
}
