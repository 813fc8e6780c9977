import CarbonRecovery
import CarbonRecoveryCompression
import CarbonRecoveryVelero
import Foundation

/// Backups: what Velero's backup controller does with a new `Backup`.
extension VeleroStandIn {
    /// Velero's backup format version (`BackupFormatVersion`), in `metadata/version` and `status.formatVersion`.
    static let backupFormatVersion = "1.1.0"

    func handleBackup(_ object: KubernetesObject) async throws {
        guard let name = object.name else { return }
        let spec = object.spec ?? .object([:])
        let fault = object.json[path: ["metadata", "annotations", Self.faultAnnotation]]?.stringValue ?? object.labels[Self.faultAnnotation]
        let started = Date()
        var status: [String: JSONValue] = ["version": 1, "formatVersion": .string(Self.backupFormatVersion), "startTimestamp": Self.timestamp(started)]
        let ttl = (try? GoDuration(parsing: spec["ttl"]?.stringValue ?? "720h0m0s")) ?? .hours(720)
        status["expiration"] = Self.timestamp(started.addingTimeInterval(Double(ttl.nanoseconds) / 1e9))

        var validationErrors: [String] = []
        if fault == "fail-validation" { validationErrors.append("injected by the stand-in's fault switch") }
        if let ttlText = spec["ttl"]?.stringValue, (try? GoDuration(parsing: ttlText)) == nil { validationErrors.append("invalid ttl \(ttlText)") }
        // Velero's prepareBackupRequest: the location must exist, be writable and not Unavailable.
        var location: StandInStorageLocation?
        do {
            let found = try await self.location(forBackupSpec: spec)
            if found.isReadOnly {
                validationErrors.append("backup can't be created because backup storage location \(found.name) is currently in read-only mode")
            } else if found.phase == "Unavailable" {
                validationErrors.append("backup can't be created because BackupStorageLocation \(found.name) is in Unavailable status.")
            }
            location = found
        } catch let error as RecoveryError {
            validationErrors.append(error.message)
        }
        // The source cluster's version, as Velero records it on every backup. Without discovery
        // there is nothing to back up: the backup fails (terminal) instead of staying `New`.
        let discovery: ClusterDiscovery
        do {
            discovery = try await cluster.discover()
        } catch {
            status["phase"] = "Failed"
            status["failureReason"] = .string("API discovery failed: \(error)")
            status["completionTimestamp"] = Self.timestamp()
            try await setStatus(.veleroBackup, name, status)
            return
        }
        let annotations = VeleroRestoreRules.sourceClusterAnnotations(discovery.version)
        let locationName = location?.name
        try await update(.veleroBackup, name) { backup in
            var current = backup.json[path: ["metadata", "annotations"]]?.objectValue ?? [:]
            for (key, value) in annotations { current[key] = .string(value) }
            backup.json["metadata"]?["annotations"] = .object(current)
            if let locationName {
                var labels = backup.json[path: ["metadata", "labels"]]?.objectValue ?? [:]
                labels[Self.storageLocationLabel] = .string(locationName)
                backup.json["metadata"]?["labels"] = .object(labels)
                backup.json["spec"]?["storageLocation"] = .string(locationName)
            }
        }
        guard validationErrors.isEmpty, let location else {
            status["phase"] = "FailedValidation"
            status["validationErrors"] = .array(validationErrors.map { .string($0) })
            try await setStatus(.veleroBackup, name, status)
            return
        }
        status["phase"] = "InProgress"
        try await setStatus(.veleroBackup, name, status)
        let storage = try await resolveStorage(location)

        var log: [String] = ["time=\(RFC3339.format(started)) level=info msg=\"Starting backup\" backup=\(namespace)/\(name) storageLocation=\(location.name)"]
        var listErrors: [String] = []
        let items = try await collect(spec: spec, discovery: discovery, log: &log, errors: &listErrors)
        // Velero runs hooks in the pods it backs up; the stand-in runs no containers, so it
        // says so in the backup's log rather than pretend a hook ran.
        for hook in spec["hooks"]?["resources"]?.arrayValue ?? [] {
            log.append("level=warning msg=\"hook \(hook["name"]?.stringValue ?? "?") not run: the sandbox runs no containers and the stand-in cannot exec; Velero runs it in each matching pod\"")
        }
        status["progress"] = ["totalItems": .integer(Int64(items.count)), "itemsBackedUp": .integer(Int64(items.count / 2))]
        try await setStatus(.veleroBackup, name, status)
        if fault == "stall" {
            log.append("level=info msg=\"stalled by the stand-in's fault switch\"")
            return   // stays InProgress until someone deletes it
        }
        if fault == "fail" {
            status["phase"] = "Failed"
            status["failureReason"] = "injected by the stand-in's fault switch"
            status["completionTimestamp"] = Self.timestamp()
            try await setStatus(.veleroBackup, name, status)
            return
        }

        // The tarball, in Velero's layout, and the files beside it.
        var entries = [Tar.Entry(path: "metadata/version", data: Array("\(Self.backupFormatVersion)\n".utf8))]
        var resourceList: [String: [String]] = [:]
        for item in items {
            let json = Array(item.object.json.canonicalString.utf8)
            let scope = item.namespace.map { "namespaces/\($0)" } ?? "cluster"
            let fileName = "\(item.name).json"
            entries.append(Tar.Entry(path: "resources/\(item.resource)/\(scope)/\(fileName)", data: json))
            entries.append(Tar.Entry(path: "resources/\(item.resource)/\(item.version)-preferredversion/\(scope)/\(fileName)", data: json))
            resourceList["\(item.apiVersion)/\(item.kind)", default: []].append(item.namespace.map { "\($0)/\(item.name)" } ?? item.name)
        }
        if fault == "partial" { listErrors.append("injected by the stand-in's fault switch") }
        let errors = listErrors.count
        var results: JSONValue = ["errors": .object([:]), "warnings": .object([:])]
        if errors > 0 { results = ["errors": ["velero": .array(listErrors.map { .string($0) })], "warnings": .object([:])] }
        log.append("time=\(RFC3339.format(Date())) level=info msg=\"Backed up a total of \(items.count) items\" backup=\(namespace)/\(name)")
        let prefix = Self.backupPrefix(name, in: location)
        try await storage.put("\(prefix)\(name).tar.gz", data: try Gzip.compress(try Tar.write(entries, modified: Int(started.timeIntervalSince1970))))
        try await storage.put("\(prefix)\(name)-resource-list.json.gz", data: try Gzip.compress(Array(JSONValue.object(resourceList.mapValues { .array($0.sorted().map { .string($0) }) }).canonicalString.utf8)))
        try await storage.put("\(prefix)\(name)-results.gz", data: try Gzip.compress(Array(results.canonicalString.utf8)))
        try await storage.put("\(prefix)\(name)-logs.gz", data: try Gzip.compress(Array((log.joined(separator: "\n") + "\n").utf8)))
        for empty in ["volumesnapshots.json.gz", "podvolumebackups.json.gz", "itemoperations.json.gz"] {
            try await storage.put("\(prefix)\(name)-\(empty)", data: try Gzip.compress(Array("[]".utf8)))
        }
        status["phase"] = errors > 0 ? "PartiallyFailed" : "Completed"
        status["errors"] = .integer(Int64(errors))
        status["warnings"] = 0
        status["progress"] = ["totalItems": .integer(Int64(items.count)), "itemsBackedUp": .integer(Int64(items.count))]
        status["completionTimestamp"] = Self.timestamp()
        // velero-backup.json is the Backup as it stands when done; written last, so its presence
        // means the backup is complete in storage.
        guard var final = try await cluster.get(try ObjectReference(kind: .veleroBackup, namespace: namespace, name: name)) else { return }
        final.json["status"] = .object(status)
        final.json["metadata"]?["managedFields"] = nil
        try await storage.put("\(prefix)velero-backup.json", data: Array(final.json.canonicalString.utf8))
        try await setStatus(.veleroBackup, name, status)
        logger.info("backup done", metadata: ["backup": "\(name)", "items": "\(items.count)", "location": "\(location.name)"])
    }

    struct Item {
        var object: KubernetesObject
        var resource: String      // `configmaps`, `deployments.apps`, `namespaces`
        var version: String       // `v1`
        var apiVersion: String    // `apps/v1`
        var kind: String
        var namespace: String?
        var name: String
    }

    /// Lists each kind on its own, four at a time: a kind gone since discovery is empty, a
    /// forbidden one is empty with the error Velero would count.
    private func listEach(_ kinds: [ResourceKind], namespace: String?, labelSelector: LabelSelector?) async throws -> [(ResourceKind, [KubernetesObject], String?)] {
        try await withThrowingTaskGroup(of: (ResourceKind, [KubernetesObject], String?).self) { group in
            var pending = kinds[...]
            var results: [(ResourceKind, [KubernetesObject], String?)] = []
            func startNext() {
                guard let kind = pending.popFirst() else { return }
                let scoped = kind.isNamespaced ? namespace : nil
                group.addTask {
                    do {
                        return (kind, try await self.cluster.list(kind, namespace: scoped, labelSelector: labelSelector), nil)
                    } catch let error as RecoveryError where error.code == .notFound {
                        return (kind, [], nil)   // gone since discovery
                    } catch let error as RecoveryError where error.code == .forbidden {
                        // Velero logs "error listing items" and counts an error: the backup is
                        // PartiallyFailed, so a role too narrow for the policy shows.
                        return (kind, [], "listing \(kind.resource)\(scoped.map { " in \($0)" } ?? ""): forbidden for Velero's account")
                    }
                }
            }
            for _ in 0..<4 { startNext() }
            while let result = try await group.next() {
                results.append(result)
                startNext()
            }
            return results
        }
    }

    /// The objects a Backup spec selects, from every listable resource the API server serves
    /// in its preferred version, filtered as Velero filters them:
    /// - namespaced resources: the selected namespaces, resources and labels;
    /// - the `Namespace` objects of the selected namespaces;
    /// - other cluster-scoped resources when `includeClusterResources` is true, or unset with
    ///   every namespace included; never when it is false;
    /// - otherwise, when CRDs are neither included nor excluded by name, the
    ///   `CustomResourceDefinition` of each backed-up custom resource (Velero's `backupCRD`).
    private func collect(spec: JSONValue, discovery: ClusterDiscovery, log: inout [String], errors: inout [String]) async throws -> [Item] {
        let selection = try Selection(spec)
        let namespaces = Set(try await cluster.list(.namespace, namespace: nil, labelSelector: nil).compactMap(\.name).filter(selection.selects(namespace:)))
        let kinds = discovery.preferredListable.filter { kind in
            guard selection.selects(resource: kind.resource) else { return false }
            if kind.resource == "namespaces" { return false }   // below, by name
            return kind.isNamespaced || selection.coversClusterResources
        }
        let labels = selection.labels
        let everyNamespace = selection.includesEveryNamespace
        // Lists: every kind of a namespace (or of the cluster) in one call; when that call
        // fails, kind by kind, so a forbidden or vanished resource is told apart as Velero does.
        var jobs: [String?: [ResourceKind]] = [:]
        for kind in kinds {
            if !kind.isNamespaced || everyNamespace { jobs[nil, default: []].append(kind) } else { for namespace in namespaces { jobs[namespace, default: []].append(kind) } }
        }
        var lists: [(ResourceKind, [KubernetesObject], String?)] = []
        for (namespace, kinds) in jobs.sorted(by: { ($0.key ?? "") < ($1.key ?? "") }) {
            if let all = try? await cluster.list(kinds, namespace: namespace, labelSelector: labels) {
                lists += kinds.map { ($0, all[$0] ?? [], nil) }
            } else {
                lists += try await listEach(kinds, namespace: namespace, labelSelector: labels)
            }
        }
        var items: [Item] = []
        func add(_ object: KubernetesObject, _ kind: ResourceKind) {
            guard let name = object.name, object.labels["velero.io/exclude-from-backup"] != "true" else { return }
            let version = kind.apiVersion.split(separator: "/").last.map(String.init) ?? kind.apiVersion
            items.append(Item(object: object, resource: kind.resource, version: version, apiVersion: kind.apiVersion, kind: kind.kind, namespace: object.namespace, name: name))
        }
        if selection.selects(resource: "namespaces") {
            for object in try await cluster.list(.namespace, namespace: nil, labelSelector: nil) where namespaces.contains(object.name ?? "") {
                add(object, .namespace)
            }
        }
        for (kind, objects, error) in lists.sorted(by: { $0.0.resource < $1.0.resource }) {
            if let error {
                errors.append(error)
                log.append("level=error msg=\"Error listing items\" error=\"\(error)\"")
            }
            for object in objects where !kind.isNamespaced || namespaces.contains(object.namespace ?? "") { add(object, kind) }
        }
        // Velero's backupCRD: the definitions of the custom resources it backed up.
        let crdNamed = selection.names(resource: "customresourcedefinitions.apiextensions.k8s.io")
        if !selection.coversClusterResources, selection.includeClusterResources != false, !crdNamed.included, !crdNamed.excluded,
           let crdKind = discovery.resource(apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition") {
            let customResources = Set(items.map(\.resource)).filter { $0.contains(".") && !$0.hasSuffix(".k8s.io") && $0.split(separator: ".").count > 2 }
            for resource in customResources.sorted() {
                if let crd = try await cluster.get(try ObjectReference(kind: crdKind, namespace: nil, name: resource)) { add(crd, crdKind) }
            }
        }
        log.append("level=info msg=\"Collected \(items.count) items from \(namespaces.count) namespaces and \(kinds.count) resources\"")
        return items
    }
}
