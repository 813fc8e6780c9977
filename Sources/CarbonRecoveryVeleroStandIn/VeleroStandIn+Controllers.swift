import CarbonRecovery
import CarbonRecoveryVelero
import Foundation

/// The stand-in's periodic controllers: schedules, TTL garbage collection and backup sync.
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
        for backup in try await cluster.list(.veleroBackup, namespace: namespace, labelSelector: nil) {
            guard let name = backup.name, !pending.contains(name),
                let expiration = backup.status?["expiration"]?.stringValue.flatMap(RFC3339.parse), expiration <= now,
                let phase = backup.status?["phase"]?.stringValue, BackupPhase(rawValue: phase).isTerminal
            else { continue }
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

    /// One pass of Velero's backup sync: every backup in the bucket (a `velero-backup.json`
    /// under `backups/<name>/`) without a `Backup` object gets one again, with the stored spec
    /// and status. This is why deleting only the object does not delete a backup.
    @discardableResult
    func syncFromStorage() async throws -> [String] {
        let existing = Set(try await cluster.list(.veleroBackup, namespace: namespace, labelSelector: nil).compactMap(\.name))
        var stored: [String] = []
        for try await object in storage.list(prefix: "\(storagePrefix)backups/") where object.key.hasSuffix("/velero-backup.json") {
            let parts = object.key.dropFirst(storagePrefix.count).split(separator: "/")
            if parts.count == 3 { stored.append(String(parts[1])) }
        }
        var synced: [String] = []
        for name in stored where !existing.contains(name) && !deleting.contains(name) {
            guard let bytes = try await storage.get("\(backupPrefix(name))velero-backup.json") else { continue }
            var backup = KubernetesObject(try JSONValue(parsing: bytes))
            guard backup.name == name else {
                logger.warning("velero-backup.json names another backup; not synced", metadata: ["backup": "\(name)"])
                continue
            }
            for field in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink"] {
                backup.json["metadata"]?[field] = nil
            }
            backup.json["metadata"]?["namespace"] = .string(namespace)
            var labels = backup.json[path: ["metadata", "labels"]]?.objectValue ?? [:]
            labels["velero.io/storage-location"] = labels["velero.io/storage-location"] ?? "default"
            backup.json["metadata"]?["labels"] = .object(labels)
            _ = try await cluster.apply(backup, fieldManager: fieldManager)
            synced.append(name)
            logger.info("backup synced from storage", metadata: ["backup": "\(name)"])
        }
        return synced
    }
}
