import CarbonRecovery
import Foundation

/// The default `BackupEngine`: Velero, driven through its `velero.io/v1` objects over any
/// `ClusterClient`.
///
/// - Starting creates a `Backup` or `Restore` with server-side apply and returns at once.
/// - Waiting watches the one object (never polls), reports each change of phase or progress,
///   and returns at any terminal phase — a `Failed` backup is a result, not an error, and
///   unlike `velero backup create --wait` the caller sees the phase. Cancelling the waiting task
///   stops the wait, not the backup.
/// - Deleting creates a `DeleteBackupRequest` — never deletes the `Backup` object itself, which
///   Velero's backup sync would re-create from storage — and returns when the `Backup` object is
///   gone and, given a storage backend, nothing is left under its storage prefix.
///
/// ```swift
/// let engine = VeleroBackupEngine(cluster: cluster, storage: storage)
/// let coordinator = RecoveryCoordinator(engine: engine, storage: storage, audit: trail, logger: logger)
/// let status = try await coordinator.backup(BackupRequest(name: "smoke-1", includedNamespaces: ["data-platform"])) {
///     print($0.phase, $0.progress?.itemsDone ?? 0)
/// }
/// ```
public struct VeleroBackupEngine: BackupEngine {
    /// Where Velero lives and how the engine talks to it.
    public struct Configuration: Sendable {
        /// Velero's namespace.
        public var namespace: String
        /// The field manager of server-side applies.
        public var fieldManager: String
        /// The storage location's prefix inside the bucket (`objectStorage.prefix`), if any.
        public var storagePrefix: String
        /// How long a deletion may take before it is reported as not confirmed.
        public var deletionTimeout: Duration

        /// Creates a configuration.
        public init(namespace: String = VeleroObjects.defaultNamespace, fieldManager: String = "carbon-recovery", storagePrefix: String = "", deletionTimeout: Duration = .seconds(600)) {
            self.namespace = namespace
            self.fieldManager = fieldManager
            self.storagePrefix = storagePrefix
            self.deletionTimeout = deletionTimeout
        }
    }

    /// The cluster Velero runs in.
    public let cluster: any ClusterClient
    /// The bucket of Velero's storage location, to confirm deletions; `nil` skips that check.
    public let storage: (any StorageBackend)?
    /// Namespace, field manager, storage prefix, timeouts.
    public let configuration: Configuration

    /// Creates an engine.
    public init(cluster: any ClusterClient, storage: (any StorageBackend)? = nil, configuration: Configuration = Configuration()) {
        self.cluster = cluster
        self.storage = storage
        self.configuration = configuration
    }

    private func reference(_ kind: ResourceKind, _ name: String) throws -> ObjectReference {
        try ObjectReference(kind: kind, namespace: configuration.namespace, name: name)
    }

    // MARK: Backups

    public func startBackup(_ request: BackupRequest) async throws -> BackupStatus {
        try request.validate()
        let ref = try reference(.veleroBackup, request.name)
        do {
            let created = try await cluster.create(VeleroObjects.backup(request, namespace: configuration.namespace), fieldManager: configuration.fieldManager)
            return try VeleroObjects.backupStatus(created)
        } catch let error as RecoveryError where error.code == .conflict {
            throw RecoveryError(.conflict, "a backup named \(request.name) exists already; choose another name", target: ref.description)
        }
    }

    public func backupStatus(named name: String) async throws -> BackupStatus? {
        try await cluster.get(try reference(.veleroBackup, name)).map(VeleroObjects.backupStatus)
    }

    public func waitForBackup(named name: String, progress: @escaping @Sendable (BackupStatus) -> Void) async throws -> BackupStatus {
        try await waitForTerminal(try reference(.veleroBackup, name), read: VeleroObjects.backupStatus, isTerminal: { $0.phase.isTerminal }, progress: progress)
    }

    public func listBackups() async throws -> [BackupStatus] {
        let objects = try await cluster.list(.veleroBackup, namespace: configuration.namespace, labelSelector: nil)
        return try objects.map(VeleroObjects.backupStatus).sorted { left, right in
            switch (left.startTimestamp, right.startTimestamp) {
            case let (l?, r?) where l != r: return l > r
            case (nil, _?): return true      // not started yet: the newest
            case (_?, nil): return false
            default: return left.name > right.name
            }
        }
    }

    public func deleteBackup(named name: String) async throws {
        let backupRef = try reference(.veleroBackup, name)
        guard try await cluster.get(backupRef) != nil else {
            throw RecoveryError(.notFound, "there is no backup named \(name)", target: backupRef.description)
        }
        let suffix = String(UUID().uuidString.lowercased().prefix(8))
        let requestName = "\(name.prefix(200))-delete-\(suffix)"
        let requestRef = try reference(.veleroDeleteBackupRequest, requestName)
        // Watch before asking, so the deletion cannot happen unseen between the two.
        let backupEvents = cluster.watch(backupRef)
        let requestEvents = cluster.watch(requestRef)
        _ = try await cluster.apply(
            VeleroObjects.deleteBackupRequest(backupName: name, requestName: requestName, namespace: configuration.namespace),
            fieldManager: configuration.fieldManager)
        do {
            try await withTimeLimit(configuration.deletionTimeout) {
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        for try await event in backupEvents where event.kind == .deleted { return true }
                        try Task.checkCancellation()
                        throw RecoveryError(.unreachable, "the watch on backup \(name) ended before it was deleted", target: backupRef.description)
                    }
                    group.addTask {
                        for try await event in requestEvents {
                            let status = event.object.status
                            let errors = status?["errors"]?.arrayValue?.compactMap(\.stringValue) ?? []
                            if status?["phase"]?.stringValue == "Processed", !errors.isEmpty {
                                throw RecoveryError(.storageFailure, "Velero could not delete backup \(name): \(errors.joined(separator: "; "))", target: backupRef.description)
                            }
                        }
                        return false
                    }
                    while let done = try await group.next() {
                        if done {
                            group.cancelAll()
                            return
                        }
                    }
                }
            }
        } catch is TimeLimitExceeded {
            throw RecoveryError(.timeout, "backup \(name) was not deleted within \(configuration.deletionTimeout); see DeleteBackupRequest \(requestName)", target: backupRef.description)
        }
        if let storage {
            let prefix = try await storagePrefix(ofBackup: name)
            var left = 0
            for try await _ in storage.list(prefix: prefix) { left += 1 }
            if left > 0 {
                throw RecoveryError(.storageFailure, "the Backup object \(name) is gone but \(left) objects remain under \(prefix)", target: backupRef.description)
            }
        }
    }

    public func storagePrefix(ofBackup name: String) async throws -> String {
        try KubernetesName.validateSubdomain(name, what: "backup name")
        var prefix = configuration.storagePrefix
        if !prefix.isEmpty, !prefix.hasSuffix("/") { prefix += "/" }
        return "\(prefix)backups/\(name)/"
    }

    // MARK: Restores

    public func startRestore(_ request: RestoreRequest) async throws -> RestoreStatus {
        try request.validate()
        let ref = try reference(.veleroRestore, request.name)
        do {
            let created = try await cluster.create(VeleroObjects.restore(request, namespace: configuration.namespace), fieldManager: configuration.fieldManager)
            return try VeleroObjects.restoreStatus(created)
        } catch let error as RecoveryError where error.code == .conflict {
            throw RecoveryError(.conflict, "a restore named \(request.name) exists already; choose another name", target: ref.description)
        }
    }

    public func restoreStatus(named name: String) async throws -> RestoreStatus? {
        try await cluster.get(try reference(.veleroRestore, name)).map(VeleroObjects.restoreStatus)
    }

    public func waitForRestore(named name: String, progress: @escaping @Sendable (RestoreStatus) -> Void) async throws -> RestoreStatus {
        try await waitForTerminal(try reference(.veleroRestore, name), read: VeleroObjects.restoreStatus, isTerminal: { $0.phase.isTerminal }, progress: progress)
    }

    // MARK: Waiting

    /// Watches one object until `isTerminal`, reporting every distinct status.
    private func waitForTerminal<Status: Equatable & Sendable>(
        _ ref: ObjectReference, read: (KubernetesObject) throws -> Status, isTerminal: (Status) -> Bool,
        progress: @escaping @Sendable (Status) -> Void
    ) async throws -> Status {
        // One read (does it exist, and where is it now), then one watch from that state.
        guard let current = try await cluster.get(ref) else {
            throw RecoveryError(.notFound, "there is no \(ref.kind.kind.lowercased()) named \(ref.name)", target: ref.description)
        }
        var last = try read(current)
        progress(last)
        if isTerminal(last) { return last }
        for try await event in cluster.watch(ref, after: current) {
            if event.kind == .deleted {
                throw RecoveryError(.notFound, "\(ref.kind.kind) \(ref.name) was deleted while waiting for it", target: ref.description)
            }
            let status = try read(event.object)
            if status != last {
                last = status
                progress(status)
            }
            if isTerminal(status) { return status }
        }
        try Task.checkCancellation()
        throw RecoveryError(.unreachable, "the watch on \(ref) ended before a terminal phase", target: ref.description)
    }
}

extension VeleroBackupEngine {
    /// `kubectl -n <namespace> describe backup|restore <name>`, or `get backups`.
    public func troubleshootingHint(for subject: BackupEngineSubject) -> String? {
        let namespace = configuration.namespace
        switch subject {
        case .backup(let name): return "kubectl -n \(namespace) describe backup \(name)"
        case .restore(let name): return "kubectl -n \(namespace) describe restore \(name)"
        case .allBackups: return "kubectl -n \(namespace) get backups"
        }
    }
}
