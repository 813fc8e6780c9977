import CarbonRecovery
import CarbonRecoveryVelero
import Foundation

/// The stand-in's other controllers: schedules, TTL garbage collection, backup sync,
/// deletion requests and storage location validation.
extension VeleroStandIn {
    // MARK: Schedules

    /// One pass over the `Schedule` objects: validates new ones (`Enabled` or `FailedValidation`)
    /// and, for each enabled one that is not paused, creates `<schedule>-<UTC yyyyMMddHHmmss>`
    /// when its next cron time (after its last backup, or after its creation) has come.
    func runSchedules(now: Date = Date()) async throws {
        for schedule in try await cluster.list(.veleroSchedule, namespace: namespace, labelSelector: nil) {
            guard let name = schedule.name, let spec = schedule.spec else { continue }
            var status = schedule.status?.objectValue ?? [:]
            let cron: CronSchedule
            do {
                cron = try CronSchedule(parsing: spec["schedule"]?.stringValue ?? "")
            } catch {
                if status["phase"]?.stringValue != "FailedValidation" {
                    try await setStatus(.veleroSchedule, name, [
                        "phase": "FailedValidation",
                        "validationErrors": [.string("invalid schedule \(spec["schedule"]?.stringValue ?? "(missing)"): \(error.message)")],
                    ])
                }
                continue
            }
            if status["phase"]?.stringValue != "Enabled" {
                status["phase"] = "Enabled"
                status["validationErrors"] = nil
                try await setStatus(.veleroSchedule, name, status)
            }
            guard spec["paused"]?.boolValue != true else { continue }
            let since = status["lastBackup"]?.stringValue.flatMap(RFC3339.parse)
                ?? schedule.json[path: ["metadata", "creationTimestamp"]]?.stringValue.flatMap(RFC3339.parse) ?? now
            guard let due = cron.nextFire(after: since), due <= now else { continue }
            let backupName = "\(name.prefix(253 - 15))-\(Self.scheduleStamp(now))"
            var labels = spec[path: ["template", "metadata", "labels"]]?.objectValue ?? [:]
            labels[VeleroObjects.scheduleNameLabel] = .string(name)
            var backup = KubernetesObject(kind: .veleroBackup, namespace: namespace, name: backupName)
            backup.json["metadata"]?["labels"] = .object(labels)
            var template = spec["template"]?.objectValue ?? [:]
            template["metadata"] = nil
            backup.json["spec"] = .object(template)
            if try await cluster.get(try ObjectReference(kind: .veleroBackup, namespace: namespace, name: backupName)) == nil {
                _ = try await cluster.apply(backup, fieldManager: fieldManager)
                logger.info("schedule fired", metadata: ["schedule": "\(name)", "backup": "\(backupName)"])
            }
            status["lastBackup"] = Self.timestamp(now)
            try await setStatus(.veleroSchedule, name, status)
        }
    }

    /// `yyyyMMddHHmmss` in UTC, as Velero names scheduled backups.
    static func scheduleStamp(_ date: Date) -> String {
        String(RFC3339.format(date).prefix(19)).filter(\.isNumber)
    }

    // MARK: TTL garbage collection

    /// One pass of Velero's garbage collection: every finished backup past its expiration gets a
    /// `DeleteBackupRequest` (which deletes its data, then the object). Returns the backups it asked to delete.
    @discardableResult
    func collectExpired(now: Date = Date()) async throws -> [String] {
        var requested: [String] = []
        let pending = Set(try await cluster.list(.veleroDeleteBackupRequest, namespace: namespace, labelSelector: nil).compactMap { $0.spec?["backupName"]?.stringValue })
        var locations: [String: StandInStorageLocation?] = [:]
        for backup in try await cluster.list(.veleroBackup, namespace: namespace, labelSelector: nil) {
            guard let name = backup.name, !pending.contains(name),
                let expiration = backup.status?["expiration"]?.stringValue.flatMap(RFC3339.parse), expiration <= now,
                let phase = backup.status?["phase"]?.stringValue, BackupPhase(rawValue: phase).isTerminal
            else { continue }
            // Velero's gcReconciler: never through a read-only location; the backup says why.
            let locationName = backup.spec?["storageLocation"]?.stringValue ?? backup.labels[Self.storageLocationLabel] ?? Self.defaultLocationName
            if locations[locationName] == nil { locations[locationName] = .some(try await location(named: locationName)) }
            let failure: String? = switch locations[locationName] {
            case .some(.some(let location)) where location.isReadOnly: "BSLReadOnly"
            case .some(.none): "BSLNotFound"
            default: nil
            }
            if let failure {
                if backup.labels["velero.io/gc-failure"] != failure {
                    try await update(.veleroBackup, name) { $0.json["metadata"]?["labels"]?["velero.io/gc-failure"] = .string(failure) }
                    logger.info("backup expired but cannot be garbage-collected", metadata: ["backup": "\(name)", "reason": "\(failure)"])
                }
                continue
            }
            let requestName = "\(name.prefix(200))-gc-\(Self.scheduleStamp(now))"
            var request = VeleroObjects.deleteBackupRequest(backupName: name, requestName: requestName, namespace: namespace)
            request.json["metadata"]?["labels"]?["velero.io/gc"] = "true"
            _ = try await cluster.apply(request, fieldManager: fieldManager)
            requested.append(name)
            logger.info("backup expired; deletion requested", metadata: ["backup": "\(name)"])
        }
        return requested
    }

    // MARK: Backup sync

    /// One pass of Velero's backup sync, per location: every backup in the bucket (a
    /// `velero-backup.json` under `<prefix>backups/<name>/`) without a `Backup` object gets one
    /// again, with the stored spec and status, in this namespace and labelled with the location.
    /// This is why deleting only the object does not delete a backup, and how a new cluster
    /// pointed at the same bucket sees every backup. Read-only locations are synced too.
    @discardableResult
    func syncFromStorage() async throws -> [String] {
        var existing = Set(try await cluster.list(.veleroBackup, namespace: namespace, labelSelector: nil).compactMap(\.name))
        var synced: [String] = []
        for location in try await allLocations() {
            let storage = try await resolveStorage(location)
            var stored: [String] = []
            for try await object in storage.list(prefix: "\(location.prefix)backups/") where object.key.hasSuffix("/velero-backup.json") {
                let parts = object.key.dropFirst(location.prefix.count).split(separator: "/")
                if parts.count == 3 { stored.append(String(parts[1])) }
            }
            for name in stored where !existing.contains(name) && !deleting.contains(name) {
                guard let bytes = try await storage.get("\(Self.backupPrefix(name, in: location))velero-backup.json") else { continue }
                var backup = KubernetesObject(try JSONValue(parsing: bytes))
                guard backup.name == name else {
                    logger.warning("velero-backup.json names another backup; not synced", metadata: ["backup": "\(name)"])
                    continue
                }
                for field in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink", "ownerReferences"] {
                    backup.json["metadata"]?[field] = nil
                }
                backup.json["metadata"]?["namespace"] = .string(namespace)
                var labels = backup.json[path: ["metadata", "labels"]]?.objectValue ?? [:]
                labels[Self.storageLocationLabel] = .string(location.name)
                backup.json["metadata"]?["labels"] = .object(labels)
                backup.json["spec"]?["storageLocation"] = .string(location.name)
                _ = try await cluster.apply(backup, fieldManager: fieldManager)
                existing.insert(name)
                synced.append(name)
                logger.info("backup synced from storage", metadata: ["backup": "\(name)", "location": "\(location.name)"])
            }
        }
        return synced
    }

    // MARK: Deletion

    func handleDeleteRequest(_ object: KubernetesObject) async throws {
        guard let name = object.name, let backupName = object.spec?["backupName"]?.stringValue else { return }
        try await setStatus(.veleroDeleteBackupRequest, name, ["phase": "InProgress"])
        let backupRef = try ObjectReference(kind: .veleroBackup, namespace: namespace, name: backupName)
        guard let backup = try await cluster.get(backupRef) else {
            try await setStatus(.veleroDeleteBackupRequest, name, ["phase": "Processed", "errors": [.string("backup \(backupName) not found")]])
            return
        }
        // Velero's backupDeletionReconciler: the location must exist and be writable.
        let locationName = backup.spec?["storageLocation"]?.stringValue ?? backup.labels[Self.storageLocationLabel] ?? Self.defaultLocationName
        guard let location = try await location(named: locationName) else {
            try await setStatus(.veleroDeleteBackupRequest, name, ["phase": "Processed", "errors": [.string("backup storage location \(locationName) not found")]])
            return
        }
        guard !location.isReadOnly else {
            try await setStatus(.veleroDeleteBackupRequest, name, [
                "phase": "Processed", "errors": [.string("cannot delete backup because backup storage location \(location.name) is currently in read-only mode")],
            ])
            logger.info("deletion refused: read-only location", metadata: ["backup": "\(backupName)", "location": "\(location.name)"])
            return
        }
        let storage = try await resolveStorage(location)
        var errors: [String] = []
        var keys: [String] = []
        deleting.insert(backupName)
        defer { deleting.remove(backupName) }
        for try await stored in storage.list(prefix: Self.backupPrefix(backupName, in: location)) { keys.append(stored.key) }
        // velero-backup.json first: without it, backup sync no longer sees a backup here.
        keys.sort { ($0.hasSuffix("/velero-backup.json") ? 0 : 1, $0) < ($1.hasSuffix("/velero-backup.json") ? 0 : 1, $1) }
        for key in keys {
            do { try await storage.delete(key) } catch { errors.append("\(key): \(error)") }
        }
        guard errors.isEmpty else {
            try await setStatus(.veleroBackup, backupName, ["phase": "Deleting"])
            try await setStatus(.veleroDeleteBackupRequest, name, ["phase": "Processed", "errors": .array(errors.map { .string($0) })])
            return
        }
        try await cluster.delete(backupRef, ignoreNotFound: true)
        try await cluster.delete(try ObjectReference(kind: .veleroDeleteBackupRequest, namespace: namespace, name: name), ignoreNotFound: true)
        logger.info("backup deleted", metadata: ["backup": "\(backupName)", "objects": "\(keys.count)"])
    }

    // MARK: Storage locations

    /// Velero's location validation: each location's phase from a real access check of its
    /// bucket with its own credentials (`Unavailable` with the reason when that fails).
    func validateLocations() async {
        do {
            for object in try await cluster.list(.veleroBackupStorageLocation, namespace: namespace, labelSelector: nil) {
                guard let name = object.name else { continue }
                var status: [String: JSONValue] = ["lastValidationTime": Self.timestamp()]
                if object.json[path: ["metadata", "annotations", Self.faultAnnotation]]?.stringValue == "unavailable" {
                    status["phase"] = "Unavailable"
                    status["message"] = "made unavailable by the stand-in's fault switch"
                } else {
                    do {
                        guard let location = try await location(named: name) else { continue }
                        try await resolveStorage(location).checkAccess()
                        status["phase"] = "Available"
                    } catch {
                        status["phase"] = "Unavailable"
                        status["message"] = .string("\(error)")
                    }
                }
                try await setStatus(.veleroBackupStorageLocation, name, status)
            }
        } catch is CancellationError {
            return
        } catch {
            logger.warning("validating storage locations failed", metadata: ["error": "\(error)"])
        }
    }
}
