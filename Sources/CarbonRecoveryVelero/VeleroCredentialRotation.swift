import CarbonRecovery
import Foundation

/// Rotates the storage keys Velero uses without a failed backup (the guide: "rotate MinIO
/// credentials quarterly"), as one audited `credentials.rotate` with a nested entry per step:
///
/// 1. `credentials.check` — the new keys are tried against the storage first (through
///    `probe`); refused keys change nothing.
/// 2. `credentials.update-secret` — the location's credentials secret gets the new pair in its
///    profile (other lines kept). Velero reads it again for its next operation.
/// 3. `credentials.revalidate` — waits until Velero has validated the location *after* the
///    change and found it `Available`; `Unavailable` puts the old secret back
///    (`credentials.roll-back`) and fails.
/// 4. A smoke backup of `smokeNamespace` (`backup.create`) and its validation (`backup.validate`).
/// 5. `credentials.drain` — waits (up to the timeout) until every backup, restore and deletion
///    that was running when the secret changed has ended: Velero read the old key when it
///    started one and uses it to the end, so revoking the key sooner would fail it. Those still
///    running at the timeout are named in ``Report/oldKeyInUse``.
///
/// The old key keeps working until someone revokes it at the storage server; that is the
/// next step the report names (and `doctor` confirms afterwards). The storage server must
/// accept both keys between the two.
///
/// ```swift
/// let rotation = VeleroCredentialRotation(cluster: cluster, coordinator: coordinator) { keys in
///     try await MinIOStorageBackend(configuration: .init(endpoint: url, bucket: bucket, credentials: .fixed(.init(keys)))).checkAccess()
/// }
/// let report = try await rotation.rotate(to: newKeys, smokeNamespace: "velero") { print($0) }
/// ```
public struct VeleroCredentialRotation: Sendable {
    /// What a rotation did.
    public struct Report: Sendable, Hashable {
        /// The location whose secret changed.
        public var location: String
        /// `namespace/name` of the secret, and its key.
        public var secret: String
        /// The replaced key, shortened (``StorageKeyPair/shortID``).
        public var oldKey: String
        /// The new key, shortened.
        public var newKey: String
        /// The smoke backup, and whether it validated.
        public var smokeBackup: String
        /// The smoke backup validated.
        public var smokeBackupValid: Bool
        /// Each step's name and seconds, in order.
        public var steps: [Step]
        /// Operations (`velero/backup/name`, `velero/restore/name`, …) that started
        /// with the old key and were still running when the rotation ended; empty when the old
        /// key can be revoked now.
        public var oldKeyInUse: [String]
        /// From the first check to the validated smoke backup.
        public var seconds: Double
    }

    /// One step and how long it took.
    public struct Step: Sendable, Hashable {
        /// `check`, `update-secret`, `revalidate`, `smoke-backup`, `validate`, `drain`.
        public var name: String
        /// How long it took.
        public var seconds: Double
    }

    /// Tries keys against the storage; throws when they are refused.
    public typealias Probe = @Sendable (StorageKeyPair) async throws -> Void

    let cluster: any ClusterClient
    let coordinator: RecoveryCoordinator
    let namespace: String
    let locationName: String
    let probe: Probe
    let clock: any WallClock

    /// Creates a rotation for the location `location` in Velero's `namespace`.
    public init(
        cluster: any ClusterClient, coordinator: RecoveryCoordinator, namespace: String = VeleroObjects.defaultNamespace,
        location: String = "default", clock: any WallClock = SystemWallClock(), probe: @escaping Probe
    ) {
        self.cluster = cluster
        self.coordinator = coordinator
        self.namespace = namespace
        self.locationName = location
        self.probe = probe
        self.clock = clock
    }

    /// The location's credentials secret as it is now: reference, key and the pair in it.
    public func current() async throws -> (secret: ObjectReference, key: String, contents: String, keys: StorageKeyPair) {
        let locationRef = try ObjectReference(kind: .veleroBackupStorageLocation, namespace: namespace, name: locationName)
        guard let location = try await cluster.get(locationRef) else {
            throw RecoveryError(.notFound, "backup storage location \(namespace)/\(locationName) does not exist", target: locationRef.description)
        }
        let name = location.spec?[path: ["credential", "name"]]?.stringValue ?? "cloud-credentials"
        let key = location.spec?[path: ["credential", "key"]]?.stringValue ?? "cloud"
        let secretRef = try ObjectReference(kind: .secret, namespace: namespace, name: name)
        guard let secret = try await cluster.get(secretRef) else {
            throw RecoveryError(.notFound, "the credentials secret \(namespace)/\(name) of location \(locationName) does not exist", target: secretRef.description)
        }
        guard let encoded = secret.json[path: ["data", key]]?.stringValue, let data = Data(base64Encoded: encoded) else {
            throw RecoveryError(.invalidObject, "the credentials secret \(namespace)/\(name) has no key \(key)", target: secretRef.description)
        }
        let contents = String(decoding: data, as: UTF8.self)
        let profile = location.spec?[path: ["config", "profile"]]?.stringValue ?? "default"
        return (secretRef, key, contents, try StorageKeyPair(credentialsFile: contents, profile: profile, source: "secret \(namespace)/\(name)"))
    }

    /// Rotates to `newKeys`. `progress` gets one line per step.
    ///
    /// - Throws: `invalidInput` when the new key is the one in use or the smoke namespace is not a
    ///   name (nothing recorded, nothing changed); what the check, Velero or the backup threw —
    ///   after the check nothing has changed, after a failed revalidation the old secret is back.
    public func rotate(
        to newKeys: StorageKeyPair, smokeNamespace: String, timeout: Duration = .seconds(300),
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> Report {
        try KubernetesName.validateLabel(smokeNamespace, what: "smoke backup namespace")
        let (secretRef, dataKey, oldContents, oldKeys) = try await current()
        guard oldKeys.accessKeyID != newKeys.accessKeyID else {
            throw RecoveryError.invalidInput("the new access key \(newKeys.shortID) is the one the location already uses; create a new key at the storage server first")
        }
        let profile = (try await cluster.get(try ObjectReference(kind: .veleroBackupStorageLocation, namespace: namespace, name: locationName)))?
            .spec?[path: ["config", "profile"]]?.stringValue ?? "default"
        let started = clock.now()
        var steps: [Step] = []
        func timed<T>(_ name: String, _ body: () async throws -> T) async throws -> T {
            let begin = clock.now()
            let result = try await body()
            steps.append(Step(name: name, seconds: clock.now().timeIntervalSince(begin)))
            return result
        }
        let target = "\(secretRef.namespace ?? namespace)/secret/\(secretRef.name)"
        let parameters: JSONValue = [
            "location": .string(locationName), "secret": .string(target), "oldKey": .string(oldKeys.shortID), "newKey": .string(newKeys.shortID),
        ]
        let coordinator = self.coordinator, cluster = self.cluster, probe = self.probe
        return try await coordinator.perform("credentials.rotate", target: target, parameters: parameters) { _, _ in
            progress("checking the new key \(newKeys.shortID) against the storage")
            try await timed("check") {
                try await coordinator.perform("credentials.check", target: target, parameters: ["key": .string(newKeys.shortID)]) { _, _ in
                    try await probe(newKeys)
                    return ((), ["accepted": true])
                }
            }
            progress("writing it into \(target)")
            let changedAt = try await timed("update-secret") {
                try await coordinator.perform("credentials.update-secret", target: target, parameters: ["key": .string(newKeys.shortID)]) { _, _ in
                    let changedAt = clock.now()
                    _ = try await cluster.forceApply(
                        VeleroDeployment.secret(namespace: namespace, name: secretRef.name, key: dataKey, contents: newKeys.replacing(in: oldContents, profile: profile)),
                        fieldManager: "carbon-recovery")
                    return (changedAt, ["updated": true])
                }
            }
            // What Velero started before the change holds the old key to its end.
            let running = try await runningOperations()
            progress("waiting for Velero to validate location \(locationName) with it")
            do {
                try await timed("revalidate") {
                    try await coordinator.perform("credentials.revalidate", target: "\(namespace)/backupstoragelocation/\(locationName)", parameters: [:]) { _, _ in
                        let phase = try await waitForValidation(after: changedAt, timeout: timeout)
                        guard phase == "Available" else {
                            throw RecoveryError(.storageFailure, "Velero validated location \(locationName) with the new key and found it \(phase)", target: locationName)
                        }
                        return ((), ["phase": .string(phase)])
                    }
                }
            } catch {
                progress("Velero did not accept it; putting the old key back")
                _ = try? await coordinator.perform("credentials.roll-back", target: target, parameters: ["key": .string(oldKeys.shortID)]) { _, _ in
                    _ = try await cluster.forceApply(
                        VeleroDeployment.secret(namespace: namespace, name: secretRef.name, key: dataKey, contents: oldContents), fieldManager: "carbon-recovery")
                    return ((), ["restored": true])
                }
                throw error
            }
            let stamp = String(RFC3339.format(clock.now()).prefix(19)).filter(\.isNumber)
            let smoke = "credentials-smoke-\(stamp)"
            progress("smoke backup \(smoke) of \(smokeNamespace)")
            let status = try await timed("smoke-backup") {
                try await coordinator.backup(BackupRequest(name: smoke, includedNamespaces: [smokeNamespace], ttl: .hours(24)))
            }
            guard status.phase == .completed else {
                throw RecoveryError(.backupFailed, "the smoke backup \(smoke) ended \(status.phase.rawValue) with the new key", target: smoke)
            }
            progress("validating \(smoke)")
            let validation = try await timed("validate") { try await coordinator.validateBackup(named: smoke) }
            guard validation.isValid else {
                throw RecoveryError(.backupFailed, "the smoke backup \(smoke) did not validate: \(validation.checks.filter { !$0.passed }.map(\.detail).joined(separator: "; "))", target: smoke)
            }
            if !running.isEmpty {
                progress("waiting for \(running.count) operation(s) Velero started with the old key to end: \(running.map(\.description).joined(separator: ", "))")
            }
            let inUse = try await timed("drain") {
                try await coordinator.perform("credentials.drain", target: target, parameters: ["running": .array(running.map { .string($0.description) })]) { _, _ in
                    let left = try await waitUntilEnded(running, timeout: timeout)
                    return (left, ["stillRunning": .array(left.map { .string($0) })])
                }
            }
            let report = Report(
                location: locationName, secret: "\(target) key \(dataKey)", oldKey: oldKeys.shortID, newKey: newKeys.shortID, smokeBackup: smoke,
                smokeBackupValid: true, steps: steps, oldKeyInUse: inUse, seconds: clock.now().timeIntervalSince(started))
            return (report, [
                "smokeBackup": .string(smoke), "seconds": .double(report.seconds), "oldKeyInUse": .array(inUse.map { .string($0) }),
                "steps": .object(Dictionary(uniqueKeysWithValues: steps.map { ($0.name, JSONValue.double($0.seconds)) })),
            ])
        }
    }

    /// Velero's operations in the namespace that have not ended: backups not yet in a final
    /// phase, restores likewise, deletion requests not yet `Processed`.
    func runningOperations() async throws -> [ObjectReference] {
        let ended: [ResourceKind: Set<String>] = [
            .veleroBackup: ["Completed", "PartiallyFailed", "Failed", "FailedValidation", "Deleting"],
            .veleroRestore: ["Completed", "PartiallyFailed", "Failed", "FailedValidation"],
            .veleroDeleteBackupRequest: ["Processed"],
        ]
        let objects = try await cluster.list(Array(ended.keys), namespace: namespace, labelSelector: nil)
        var running: [ObjectReference] = []
        for (kind, items) in objects {
            for object in items where !(ended[kind] ?? []).contains(object.status?["phase"]?.stringValue ?? "") {
                if let name = object.name { running.append(try ObjectReference(kind: kind, namespace: namespace, name: name)) }
            }
        }
        return running.sorted { $0.description < $1.description }
    }

    /// Polls `operations` until each has ended or is gone; returns those still running at the
    /// timeout.
    func waitUntilEnded(_ operations: [ObjectReference], timeout: Duration) async throws -> [String] {
        var left = operations
        let deadline = clock.now().addingTimeInterval(Double(timeout.components.seconds))
        while !left.isEmpty {
            let still = Set(try await runningOperations())
            left = left.filter { still.contains($0) }
            if left.isEmpty || clock.now() >= deadline { break }
            try await clock.sleep(until: clock.now().addingTimeInterval(1))
        }
        return left.map(\.description)
    }

    /// Polls the location until Velero's `lastValidationTime` is after `date` (Velero writes
    /// it in whole seconds, so strictly after the second of the change), then returns its phase.
    func waitForValidation(after date: Date, timeout: Duration) async throws -> String {
        let reference = try ObjectReference(kind: .veleroBackupStorageLocation, namespace: namespace, name: locationName)
        let deadline = clock.now().addingTimeInterval(Double(timeout.components.seconds))
        let second = date.timeIntervalSince1970.rounded(.down)
        while clock.now() < deadline {
            let status = try await cluster.get(reference)?.status
            if let validated = status?["lastValidationTime"]?.stringValue.flatMap(RFC3339.parse), validated.timeIntervalSince1970 > second,
               let phase = status?["phase"]?.stringValue {
                return phase
            }
            try await clock.sleep(until: clock.now().addingTimeInterval(0.5))
        }
        throw RecoveryError(.timeout, "Velero did not validate location \(locationName) within \(timeout) of the change; is it running (carbon-recovery doctor)?", target: locationName)
    }
}
