import CarbonRecovery
import CarbonRecoveryCompression
import CarbonRecoveryVelero
import Foundation

/// Restores: what Velero's restore controller does with a new `Restore`, by
/// ``CarbonRecoveryVelero/VeleroRestoreRules``.
extension VeleroStandIn {
    /// One object of the backup's tarball, on its way back into the cluster.
    struct RestoreItem: Sendable {
        var resource: String
        var object: KubernetesObject
        /// The namespace it was backed up from (`nil`: cluster-scoped).
        var sourceNamespace: String?
    }

    func handleRestore(_ object: KubernetesObject) async throws {
        guard let name = object.name else { return }
        let spec = object.spec ?? .object([:])
        var status: [String: JSONValue] = ["startTimestamp": Self.timestamp()]
        func fail(validation message: String) async throws {
            status["phase"] = "FailedValidation"
            status["validationErrors"] = [.string(message)]
            try await setStatus(.veleroRestore, name, status)
        }
        // Velero's validateAndComplete: which backup, in which phase, on which location.
        let selection = try Selection(spec)
        let refused = selection.includedResources.filter { VeleroRestoreRules.nonRestorableResources.contains($0) }
        if !refused.isEmpty { return try await fail(validation: "\(refused) are non-restorable resources") }
        var backupName = spec["backupName"]?.stringValue
        if backupName == nil, let schedule = spec["scheduleName"]?.stringValue {
            let selector = try LabelSelector(matchLabels: [VeleroObjects.scheduleNameLabel: schedule])
            backupName = try await cluster.list(.veleroBackup, namespace: namespace, labelSelector: selector)
                .filter { $0.status?["phase"]?.stringValue == "Completed" }
                .max { ($0.status?["startTimestamp"]?.stringValue ?? "") < ($1.status?["startTimestamp"]?.stringValue ?? "") }?.name
        }
        var backup: KubernetesObject?
        if let backupName { backup = try await cluster.get(try ObjectReference(kind: .veleroBackup, namespace: namespace, name: backupName)) }
        guard let backupName, let backup else {
            return try await fail(validation: "no completed backup \(backupName ?? "for schedule \(spec["scheduleName"]?.stringValue ?? "?")") to restore from")
        }
        let phase = backup.status?["phase"]?.stringValue ?? "New"
        guard phase == "Completed" || phase == "PartiallyFailed" else {
            return try await fail(validation: "backup \"\(backupName)\" is in phase \"\(phase)\" and cannot be used as a restore source")
        }
        guard let location = try await location(ofBackup: backup) else {
            return try await fail(validation: "backup storage location \(backup.spec?["storageLocation"]?.stringValue ?? Self.defaultLocationName) not found")
        }
        guard location.phase != "Unavailable" else {
            return try await fail(validation: "The BSL \(location.name) is unavailable, cannot retrieve the backup")
        }
        status["phase"] = "InProgress"
        try await setStatus(.veleroRestore, name, status)
        let storage = try await resolveStorage(location)
        let clock = ContinuousClock()
        let started = clock.now

        guard let archive = try await storage.get("\(Self.backupPrefix(backupName, in: location))\(backupName).tar.gz") else {
            status["phase"] = "Failed"
            status["failureReason"] = "the backup's tarball is missing from storage"
            status["completionTimestamp"] = Self.timestamp()
            try await setStatus(.veleroRestore, name, status)
            return
        }
        let storageClasses = try await storageClassMappings()
        let items = try Self.restoreItems(
            try Tar.read(try Gzip.decompress(archive)), selection: selection, backupName: backupName, restoreName: name, storageClassMappings: storageClasses)
        let mapping = spec["namespaceMapping"]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
        let update = spec["existingResourcePolicy"]?.stringValue == "update"
        var outcome = RestoreOutcome()
        var log = ["restore \(name) from backup \(backupName) (location \(location.name)): \(items.selected.count) items selected"]
        for (reason, count) in items.skipped.sorted(by: { $0.key < $1.key }) { log.append("skipped \(count) items: \(reason)") }
        if !storageClasses.isEmpty { log.append("storage classes renamed: \(storageClasses.sorted { $0.key < $1.key }.map { "\($0.key) -> \($0.value)" }.joined(separator: ", "))") }

        // Velero's two passes: the CRDs, each waited on until established, then everything in priority order.
        let byResource = Dictionary(grouping: items.selected, by: \.resource)
        let order = VeleroRestoreRules.restoreOrder(byResource.keys)
        var discovery = try await cluster.discover()
        var lastProgress = clock.now
        var done = 0
        for resource in order {
            guard var group = byResource[resource] else { continue }
            for index in group.indices {
                if let source = group[index].sourceNamespace, let target = mapping[source] {
                    if resource == "namespaces" { group[index].object.json["metadata"]?["name"] = .string(target) } else { group[index].object.json["metadata"]?["namespace"] = .string(target) }
                }
            }
            if resource != "namespaces" && resource != "customresourcedefinitions.apiextensions.k8s.io" {
                try await ensureNamespaces(Set(group.compactMap { $0.object.namespace }), backupItems: byResource["namespaces"] ?? [], mapping: mapping, outcome: &outcome)
            }
            try await restore(group, resource: resource, discovery: discovery, update: update, outcome: &outcome)
            if resource == "customresourcedefinitions.apiextensions.k8s.io" {
                for item in group { try await waitEstablished(item.object.name ?? "", outcome: &outcome) }
                discovery = try await cluster.discover()   // the new kinds are served now
            }
            done += group.count
            if clock.now - lastProgress > .seconds(1) {
                lastProgress = clock.now
                status["progress"] = ["totalItems": .integer(Int64(items.selected.count)), "itemsRestored": .integer(Int64(done))]
                try await setStatus(.veleroRestore, name, status)
            }
        }
        let elapsed = clock.now - started
        let milliseconds = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        log.append("restored \(outcome.restored) of \(items.selected.count) items in \(milliseconds) ms; \(outcome.warnings.count) warnings, \(outcome.errors.count) errors")
        log += outcome.warnings.map { "warning: \($0)" } + outcome.errors.map { "error: \($0)" }
        // Velero writes a restore's log and results to the location even when it is read-only.
        let results: JSONValue = ["errors": ["velero": .array(outcome.errors.map { .string($0) })], "warnings": ["velero": .array(outcome.warnings.map { .string($0) })]]
        try await storage.put("\(location.prefix)restores/\(name)/restore-\(name)-results.gz", data: try Gzip.compress(Array(results.canonicalString.utf8)))
        try await storage.put("\(location.prefix)restores/\(name)/restore-\(name)-logs.gz", data: try Gzip.compress(Array((log.joined(separator: "\n") + "\n").utf8)))
        status["phase"] = outcome.errors.isEmpty ? "Completed" : "PartiallyFailed"
        status["errors"] = .integer(Int64(outcome.errors.count))
        status["warnings"] = .integer(Int64(outcome.warnings.count))
        status["progress"] = ["totalItems": .integer(Int64(items.selected.count)), "itemsRestored": .integer(Int64(items.selected.count))]
        status["completionTimestamp"] = Self.timestamp()
        let finalStatus = status
        try await self.update(.veleroRestore, name) { restore in
            restore.json["status"] = .object(finalStatus)
            var annotations = restore.json[path: ["metadata", "annotations"]]?.objectValue ?? [:]
            annotations[Self.restoreMillisecondsAnnotation] = .string(String(milliseconds))
            restore.json["metadata"]?["annotations"] = .object(annotations)
        }
        logger.info("restore done", metadata: [
            "restore": "\(name)", "restored": "\(outcome.restored)", "milliseconds": "\(milliseconds)",
            "warnings": "\(outcome.warnings.count)", "errors": "\(outcome.errors.count)",
        ])
    }

    struct RestoreOutcome {
        var restored = 0
        var warnings: [String] = []
        var errors: [String] = []
        var createdNamespaces: Set<String> = []
    }

    /// The tarball's objects a restore selects, prepared as Velero prepares them, and how
    /// many were skipped for which reason.
    static func restoreItems(
        _ entries: [Tar.Entry], selection: Selection, backupName: String, restoreName: String, storageClassMappings: [String: String] = [:]
    ) throws -> (selected: [RestoreItem], skipped: [String: Int]) {
        var selected: [RestoreItem] = []
        var skipped: [String: Int] = [:]
        // The legacy paths only (resources/<resource>/namespaces/<ns>/<name>.json or …/cluster/…),
        // so each object is restored once.
        for entry in entries where entry.path.hasPrefix("resources/") && !entry.path.contains("-preferredversion/") {
            let parts = entry.path.split(separator: "/").map(String.init)
            guard parts.count >= 4 else { continue }
            let resource = parts[1]
            if VeleroRestoreRules.nonRestorableResources.contains(resource) {
                skipped["\(resource) (Velero never restores them)", default: 0] += 1
                continue
            }
            guard selection.selects(resource: resource) else { continue }
            var object = KubernetesObject(try JSONValue(parsing: entry.data))
            let isCluster = parts[2] == "cluster"
            let sourceNamespace = isCluster ? (resource == "namespaces" ? object.name : nil) : parts[3]
            if let sourceNamespace, !selection.selects(namespace: sourceNamespace) { continue }
            if isCluster && resource != "namespaces" && !selection.coversClusterResources {
                skipped["cluster-scoped (includeClusterResources, or only some namespaces included)", default: 0] += 1
                continue
            }
            if resource == "namespaces" && selection.includeClusterResources == false { continue }
            if let labels = selection.labels, resource != "namespaces", !labels.matches(object.labels) { continue }
            if let reason = VeleroRestoreRules.skipReason(object, resource: resource) {
                skipped[reason, default: 0] += 1
                continue
            }
            VeleroRestoreRules.prepareForRestore(&object, resource: resource)
            RecoveryVerification.renamingStorageClasses(&object, resource: resource, mappings: storageClassMappings)
            var labels = object.json[path: ["metadata", "labels"]]?.objectValue ?? [:]
            labels["velero.io/backup-name"] = .string(backupName)
            labels["velero.io/restore-name"] = .string(restoreName)
            object.json["metadata"]?["labels"] = .object(labels)
            selected.append(RestoreItem(resource: resource, object: object, sourceNamespace: sourceNamespace))
        }
        return (selected, skipped)
    }

    /// The `old: new` storage class renames of Velero's `change-storage-class` restore item
    /// action: the data of the ConfigMap in Velero's namespace labelled
    /// `velero.io/change-storage-class: RestoreItemAction`, read afresh for each restore.
    func storageClassMappings() async throws -> [String: String] {
        let selector = try LabelSelector(matchLabels: [VeleroBackupEngine.changeStorageClassLabel: "RestoreItemAction"])
        var mappings: [String: String] = [:]
        for map in try await cluster.list(.configMap, namespace: namespace, labelSelector: selector) {
            for (from, to) in map.json["data"]?.objectValue ?? [:] { if let to = to.stringValue { mappings[from] = to } }
        }
        return mappings
    }

    /// Creates the namespaces items are about to go into that do not exist yet: from the
    /// backup's `Namespace` object when it has one, else bare (Velero's `EnsureNamespaceExists`).
    private func ensureNamespaces(_ names: Set<String>, backupItems: [RestoreItem], mapping: [String: String], outcome: inout RestoreOutcome) async throws {
        for name in names.sorted() where !outcome.createdNamespaces.contains(name) {
            if try await cluster.get(try ObjectReference(kind: .namespace, namespace: nil, name: name)) == nil {
                var object = backupItems.first { (mapping[$0.sourceNamespace ?? ""] ?? $0.sourceNamespace) == name }?.object ?? KubernetesObject(kind: .namespace, namespace: nil, name: name)
                object.json["metadata"]?["name"] = .string(name)
                _ = try await cluster.apply(object, fieldManager: fieldManager)
            }
            outcome.createdNamespaces.insert(name)
        }
    }

    /// Restores one resource's items: those already in the cluster are left alone (a warning
    /// when they differ) or, with `existingResourcePolicy: update`, overwritten; the rest are
    /// created, four at a time.
    private func restore(_ items: [RestoreItem], resource: String, discovery: ClusterDiscovery, update: Bool, outcome: inout RestoreOutcome) async throws {
        guard let sample = items.first?.object, let apiVersion = sample.apiVersion, let kindName = sample.kind else { return }
        guard let kind = discovery.resource(apiVersion: apiVersion, kind: kindName) else {
            outcome.errors += items.map { "\($0.object.namespace.map { "\($0)/" } ?? "")\($0.object.name ?? ""): the cluster does not serve \(apiVersion) \(kindName)" }
            return
        }
        // What exists already: one list per namespace (or one for a cluster-scoped resource).
        var existing: [String: KubernetesObject] = [:]
        let namespaces = kind.isNamespaced ? Set(items.compactMap { $0.object.namespace }).sorted().map { Optional($0) } : [nil]
        for namespace in namespaces {
            for object in try await cluster.list(kind, namespace: namespace, labelSelector: nil) {
                existing["\(object.namespace ?? "")/\(object.name ?? "")"] = object
            }
        }
        var toApply: [(KubernetesObject, force: Bool)] = []
        for item in items {
            let key = "\(item.object.namespace ?? "")/\(item.object.name ?? "")"
            let shown = item.object.namespace.map { "\($0)/\(item.object.name ?? "")" } ?? item.object.name ?? ""
            if let current = existing[key] {
                if update {
                    toApply.append((item.object, true))
                } else if !Self.sameContent(current, item.object, resource: resource) {
                    outcome.warnings.append("could not restore, \(kindName) \"\(shown)\" already exists. Warning: the in-cluster version is different than the backed-up version")
                }
            } else {
                toApply.append((item.object, false))
            }
        }
        let cluster = self.cluster, fieldManager = self.fieldManager
        let failures = await withTaskGroup(of: String?.self) { group in
            var pending = toApply[...]
            var failures: [String] = []
            func startNext() {
                guard let (object, force) = pending.popFirst() else { return }
                group.addTask {
                    do {
                        _ = force ? try await cluster.forceApply(object, fieldManager: fieldManager) : try await cluster.apply(object, fieldManager: fieldManager)
                        return nil
                    } catch {
                        return "\(object.namespace.map { "\($0)/" } ?? "")\(object.name ?? ""): \(error)"
                    }
                }
            }
            for _ in 0..<4 { startNext() }
            while let result = await group.next() {
                if let result { failures.append(result) }
                startNext()
            }
            return failures
        }
        outcome.restored += toApply.count - failures.count
        outcome.errors += failures
    }

    /// Whether the object in the cluster already holds what the backup would restore: equal
    /// after both are prepared as a restore prepares them, ignoring the restore's own labels.
    static func sameContent(_ current: KubernetesObject, _ restored: KubernetesObject, resource: String) -> Bool {
        VeleroRestoreRules.normalizedForComparison(current, resource: resource) == VeleroRestoreRules.normalizedForComparison(restored, resource: resource)
    }

    /// Velero's `crdAvailable`: waits (up to 2 minutes; Velero's `resourceTimeout` is 10) until a
    /// restored CRD is `Established` and `NamesAccepted`.
    private func waitEstablished(_ name: String, outcome: inout RestoreOutcome) async throws {
        let kind = ResourceKind(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", resource: "customresourcedefinitions.apiextensions.k8s.io", isNamespaced: false)
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let conditions = try await cluster.get(try ObjectReference(kind: kind, namespace: nil, name: name))?.status?["conditions"]?.arrayValue ?? []
            let ready = Set(conditions.filter { $0["status"]?.stringValue == "True" }.compactMap { $0["type"]?.stringValue })
            if ready.isSuperset(of: ["Established", "NamesAccepted"]) { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        outcome.warnings.append("customresourcedefinition \(name) was not established within 2 minutes")
    }
}
