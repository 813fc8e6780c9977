import CarbonRecovery
import CarbonRecoveryVelero
import Foundation
import Logging

/// A stand-in for Velero's server, for the sandbox — **not Velero**. It implements the part of
/// Velero's server-side contract that the SDK relies on, over any `ClusterClient` and
/// `StorageBackend`, so backups and restores in the sandbox really collect objects from the API
/// server, write Velero's object-storage layout and tarball format, and restore from them:
///
/// - `Backup`: `New` → `InProgress` (with progress) → `Completed`; objects of the selected
///   namespaces, resources and labels (and not labelled `velero.io/exclude-from-backup=true`)
///   go into `backups/<name>/<name>.tar.gz` in Velero's layout, with `velero-backup.json`, the
///   logs, the resource list and the results beside it.
/// - `Restore` (from a backup, or a schedule's latest completed backup): namespace mappings,
///   namespace/resource/label filters and `existingResourcePolicy`.
/// - `DeleteBackupRequest`: removes the storage prefix, then the `Backup`, then the request.
/// - `BackupStorageLocation`: `Available`/`Unavailable` from a real access check of the bucket.
/// - `Schedule`: `Enabled` or `FailedValidation`; `<schedule>-<UTC yyyyMMddHHmmss>` backups
///   labelled `velero.io/schedule-name` at each cron time (the first after the schedule's creation).
/// - TTL garbage collection: an expired backup gets a `DeleteBackupRequest`.
/// - Backup sync: a backup in the bucket without a `Backup` object gets one again.
///
/// Fault switches, for tests, are annotations on the object (on a `Backup` also a label, so a
/// `BackupRequest`'s labels can carry one through the coordinator):
/// `stand-in.carbon-recovery.dev/fault` = `fail`, `partial`, `fail-validation` or `stall` on a
/// `Backup`, `unavailable` on a `BackupStorageLocation`.
///
/// Its own limits: the kinds it backs up are a fixed list (``defaultKinds``) rather than API
/// discovery; no pods, volumes, hooks (a backup's log says each hook was not run) or plugins;
/// the periodic controllers list rather than watch.
public actor VeleroStandIn {
    /// The annotation (or, on a `Backup`, label) that switches on a fault.
    public static let faultAnnotation = "stand-in.carbon-recovery.dev/fault"
    /// The namespaced kinds a backup collects, besides the namespaces themselves.
    public static let defaultKinds: [ResourceKind] = [
        .configMap, .secret, .deployment,
        ResourceKind(apiVersion: "v1", kind: "Service", resource: "services"),
        ResourceKind(apiVersion: "v1", kind: "ServiceAccount", resource: "serviceaccounts"),
        ResourceKind(apiVersion: "v1", kind: "PersistentVolumeClaim", resource: "persistentvolumeclaims"),
        ResourceKind(apiVersion: "apps/v1", kind: "StatefulSet", resource: "statefulsets.apps"),
        ResourceKind(apiVersion: "apps/v1", kind: "DaemonSet", resource: "daemonsets.apps"),
        ResourceKind(apiVersion: "batch/v1", kind: "CronJob", resource: "cronjobs.batch"),
    ]

    let cluster: any ClusterClient
    let storage: any StorageBackend
    let namespace: String
    let storagePrefix: String
    let kinds: [ResourceKind]
    let logger: Logger
    let fieldManager = "velero-stand-in"
    var busy: Set<String> = []
    /// Backups whose data is being deleted: backup sync leaves them alone.
    var deleting: Set<String> = []

    /// Creates a stand-in for Velero in `namespace`, writing to `storage` under `storagePrefix`.
    public init(
        cluster: any ClusterClient, storage: any StorageBackend, namespace: String = VeleroObjects.defaultNamespace, storagePrefix: String = "",
        kinds: [ResourceKind] = VeleroStandIn.defaultKinds, logger: Logger = Logger(label: "velero-stand-in")
    ) {
        self.cluster = cluster
        self.storage = storage
        self.namespace = namespace
        self.storagePrefix = storagePrefix.isEmpty || storagePrefix.hasSuffix("/") ? storagePrefix : storagePrefix + "/"
        self.kinds = kinds
        self.logger = logger
    }

    /// How often the stand-in's periodic controllers run; `nil` switches one off.
    public struct Intervals: Sendable {
        /// Storage location validation (Velero: `validationFrequency`, 1 min).
        public var validation: Duration?
        /// Checking schedules for due backups (Velero: its cron library's own timer).
        public var schedules: Duration?
        /// TTL garbage collection (Velero: hourly).
        public var garbageCollection: Duration?
        /// Backup sync from storage (Velero: `backupSyncPeriod`, 1 min).
        public var sync: Duration?

        /// Creates intervals; the defaults are shorter than Velero's so that the sandbox shows each effect quickly.
        public init(validation: Duration? = .seconds(10), schedules: Duration? = .seconds(2), garbageCollection: Duration? = .seconds(5), sync: Duration? = .seconds(5)) {
            self.validation = validation
            self.schedules = schedules
            self.garbageCollection = garbageCollection
            self.sync = sync
        }
    }

    /// Runs until cancelled: watches Backups, Restores and DeleteBackupRequests, and runs the
    /// periodic controllers — storage location validation, schedules, TTL garbage collection
    /// and backup sync — each on its interval.
    public func run(intervals: Intervals = Intervals()) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.watchLoop(.veleroBackup) { try await self.handleBackup($0) } }
            group.addTask { try await self.watchLoop(.veleroRestore) { try await self.handleRestore($0) } }
            group.addTask { try await self.watchLoop(.veleroDeleteBackupRequest) { try await self.handleDeleteRequest($0) } }
            group.addTask { try await self.every(intervals.validation, "validating storage locations") { await self.validateLocations() } }
            group.addTask { try await self.every(intervals.schedules, "running schedules") { try await self.runSchedules() } }
            group.addTask { try await self.every(intervals.garbageCollection, "collecting expired backups") { try await self.collectExpired() } }
            group.addTask { try await self.every(intervals.sync, "syncing backups from storage") { try await self.syncFromStorage() } }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Runs `body` every `interval` until cancelled; a failed pass is logged and retried next time.
    private func every(_ interval: Duration?, _ what: String, _ body: @escaping @Sendable () async throws -> Void) async throws {
        guard let interval else { return try await Task.sleep(for: .seconds(365 * 86_400)) }   // switched off; wait for cancellation
        while !Task.isCancelled {
            do {
                try await body()
            } catch is CancellationError {
                return
            } catch {
                logger.warning("\(what) failed", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: interval)
        }
    }

    private func watchLoop(_ kind: ResourceKind, handle: @escaping @Sendable (KubernetesObject) async throws -> Void) async throws {
        for try await event in cluster.watch(kind, namespace: namespace, labelSelector: nil) where event.kind != .deleted {
            let phase = event.object.status?["phase"]?.stringValue ?? "New"
            guard phase == "New", let name = event.object.name else { continue }
            let key = "\(kind.kind)/\(name)"
            guard !busy.contains(key) else { continue }
            busy.insert(key)
            let object = event.object
            Task {
                do {
                    try await handle(object)
                } catch {
                    self.logger.error("handling failed", metadata: ["object": "\(key)", "error": "\(error)"])
                }
                self.done(key)
            }
        }
    }

    private func done(_ key: String) { busy.remove(key) }

    // MARK: Status

    /// Writes an object's status as Velero does (Velero's CRDs have no status subresource): the
    /// whole object goes back with the new status, since kubectl validates what it applies as a
    /// complete object.
    ///
    /// Someone else may change the spec between the read and the apply (a user pausing a
    /// `Schedule`, say). The apply then conflicts on that field, and this reads the object again
    /// and retries, so the status lands and the other writer's spec is kept; it never forces.
    func setStatus(_ kind: ResourceKind, _ name: String, _ status: [String: JSONValue]) async throws {
        let reference = try ObjectReference(kind: kind, namespace: namespace, name: name)
        for attempt in 1...5 {
            guard var object = try await cluster.get(reference) else { return }
            for field in ["managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"] { object.json["metadata"]?[field] = nil }
            object.json["metadata"]?["annotations"]?["kubectl.kubernetes.io/last-applied-configuration"] = nil
            object.json["status"] = .object(status)
            do {
                _ = try await cluster.apply(object, fieldManager: fieldManager)
                return
            } catch let error as RecoveryError where error.code == .conflict && attempt < 5 {
                logger.debug("status write conflicted; reading the object again", metadata: ["object": "\(name)", "attempt": "\(attempt)"])
            }
        }
    }

    static func timestamp(_ date: Date = Date()) -> JSONValue {
        .string(String(RFC3339.format(date).prefix(19)) + "Z")
    }

    func backupPrefix(_ name: String) -> String { "\(storagePrefix)backups/\(name)/" }

    // MARK: Backups

    func handleBackup(_ object: KubernetesObject) async throws {
        guard let name = object.name else { return }
        let spec = object.spec ?? .object([:])
        let fault = object.json[path: ["metadata", "annotations", Self.faultAnnotation]]?.stringValue ?? object.labels[Self.faultAnnotation]
        let started = Date()
        var status: [String: JSONValue] = ["version": 1, "formatVersion": "1.1.0", "startTimestamp": Self.timestamp(started)]
        let ttl = (try? GoDuration(parsing: spec["ttl"]?.stringValue ?? "720h0m0s")) ?? .hours(720)
        status["expiration"] = Self.timestamp(started.addingTimeInterval(Double(ttl.nanoseconds) / 1e9))

        var validationErrors: [String] = []
        if fault == "fail-validation" { validationErrors.append("injected by the stand-in's fault switch") }
        if let ttlText = spec["ttl"]?.stringValue, (try? GoDuration(parsing: ttlText)) == nil { validationErrors.append("invalid ttl \(ttlText)") }
        if !validationErrors.isEmpty {
            status["phase"] = "FailedValidation"
            status["validationErrors"] = .array(validationErrors.map { .string($0) })
            try await setStatus(.veleroBackup, name, status)
            return
        }
        status["phase"] = "InProgress"
        try await setStatus(.veleroBackup, name, status)

        var log: [String] = ["time=\(RFC3339.format(started)) level=info msg=\"Starting backup\" backup=\(namespace)/\(name)"]
        let items = try await collect(spec: spec, log: &log)
        // Velero runs hooks in the pods it backs up; the stand-in backs up no pods, so it says so
        // in the backup's log rather than pretend a hook ran.
        for hook in spec["hooks"]?["resources"]?.arrayValue ?? [] {
            log.append("level=warning msg=\"hook \(hook["name"]?.stringValue ?? "?") not run: the stand-in backs up no pods and cannot exec; Velero runs it in each matching pod\"")
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
        var entries = [Tar.Entry(path: "metadata/version", data: Array("1\n".utf8))]
        var resourceList: [String: [String]] = [:]
        for item in items {
            let json = Array(item.object.json.canonicalString.utf8)
            let location = item.namespace.map { "namespaces/\($0)" } ?? "cluster"
            let fileName = "\(item.name).json"
            entries.append(Tar.Entry(path: "resources/\(item.resource)/\(location)/\(fileName)", data: json))
            entries.append(Tar.Entry(path: "resources/\(item.resource)/\(item.version)-preferredversion/\(location)/\(fileName)", data: json))
            resourceList["\(item.apiVersion)/\(item.kind)", default: []].append(item.namespace.map { "\($0)/\(item.name)" } ?? item.name)
        }
        let errors = fault == "partial" ? 1 : 0
        var results: JSONValue = ["errors": .object([:]), "warnings": .object([:])]
        if errors > 0 { results = ["errors": ["velero": ["injected by the stand-in's fault switch"]], "warnings": .object([:])] }
        log.append("time=\(RFC3339.format(Date())) level=info msg=\"Backed up a total of \(items.count) items\" backup=\(namespace)/\(name)")
        let prefix = backupPrefix(name)
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
        var final = object
        final.json["status"] = .object(status)
        try await storage.put("\(prefix)velero-backup.json", data: Array(final.json.canonicalString.utf8))
        try await setStatus(.veleroBackup, name, status)
        logger.info("backup done", metadata: ["backup": "\(name)", "items": "\(items.count)"])
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

    /// The objects a Backup spec selects.
    private func collect(spec: JSONValue, log: inout [String]) async throws -> [Item] {
        let selection = try Selection(spec)
        let namespaces = try await cluster.list(.namespace, namespace: nil, labelSelector: nil).compactMap(\.name).filter(selection.selects(namespace:))
        var items: [Item] = []
        var unserved: Set<String> = []
        func add(_ object: KubernetesObject, _ kind: ResourceKind) {
            guard let name = object.name, object.labels["velero.io/exclude-from-backup"] != "true" else { return }
            var object = object
            object.json["metadata"]?["managedFields"] = nil
            let version = kind.apiVersion.split(separator: "/").last.map(String.init) ?? kind.apiVersion
            items.append(Item(object: object, resource: kind.resource, version: version, apiVersion: kind.apiVersion, kind: kind.kind, namespace: object.namespace, name: name))
        }
        for name in namespaces {
            if selection.selects(resource: "namespaces"), let object = try await cluster.get(try ObjectReference(kind: .namespace, namespace: nil, name: name)) {
                add(object, .namespace)
            }
            for kind in kinds where selection.selects(resource: kind.resource) && !unserved.contains(kind.resource) {
                do {
                    for object in try await cluster.list(kind, namespace: name, labelSelector: selection.labels) { add(object, kind) }
                } catch let error as RecoveryError where error.code == .notFound {
                    // A kind this API server does not serve (e.g. batch/v1 CronJob before 1.21).
                    unserved.insert(kind.resource)
                    log.append("level=info msg=\"\(kind.resource) is not served by this cluster; skipped\"")
                }
            }
        }
        log.append("level=info msg=\"Collected \(items.count) items from \(namespaces.count) namespaces\"")
        return items
    }

    // MARK: Restores

    func handleRestore(_ object: KubernetesObject) async throws {
        guard let name = object.name else { return }
        let spec = object.spec ?? .object([:])
        var status: [String: JSONValue] = ["startTimestamp": Self.timestamp()]
        // Which backup: named, or the newest completed one of a schedule.
        var backupName = spec["backupName"]?.stringValue
        if backupName == nil, let schedule = spec["scheduleName"]?.stringValue {
            let selector = try LabelSelector(matchLabels: [VeleroObjects.scheduleNameLabel: schedule])
            backupName = try await cluster.list(.veleroBackup, namespace: namespace, labelSelector: selector)
                .filter { $0.status?["phase"]?.stringValue == "Completed" }
                .max { ($0.status?["startTimestamp"]?.stringValue ?? "") < ($1.status?["startTimestamp"]?.stringValue ?? "") }?.name
        }
        var backup: KubernetesObject?
        if let backupName { backup = try await cluster.get(try ObjectReference(kind: .veleroBackup, namespace: namespace, name: backupName)) }
        guard let backupName, let backup, backup.status?["phase"]?.stringValue == "Completed" else {
            status["phase"] = "FailedValidation"
            status["validationErrors"] = [.string("no completed backup \(backupName ?? "for schedule \(spec["scheduleName"]?.stringValue ?? "?")") to restore from")]
            try await setStatus(.veleroRestore, name, status)
            return
        }
        status["phase"] = "InProgress"
        try await setStatus(.veleroRestore, name, status)

        guard let archive = try await storage.get("\(backupPrefix(backupName))\(backupName).tar.gz") else {
            status["phase"] = "Failed"
            status["failureReason"] = "the backup's tarball is missing from storage"
            status["completionTimestamp"] = Self.timestamp()
            try await setStatus(.veleroRestore, name, status)
            return
        }
        let entries = try Tar.read(try Gzip.decompress(archive))
        let selection = try Selection(spec)
        let mapping = spec["namespaceMapping"]?.objectValue?.compactMapValues(\.stringValue) ?? [:]
        let update = spec["existingResourcePolicy"]?.stringValue == "update"

        // The legacy paths only (resources/<resource>/namespaces/<ns>/<name>.json or …/cluster/…),
        // so each object is restored once.
        var objects: [(resource: String, object: KubernetesObject)] = []
        for entry in entries where entry.path.hasPrefix("resources/") && !entry.path.contains("-preferredversion/") {
            let parts = entry.path.split(separator: "/").map(String.init)
            guard parts.count >= 4 else { continue }
            let resource = parts[1]
            guard selection.selects(resource: resource) else { continue }
            var object = KubernetesObject(try JSONValue(parsing: entry.data))
            let sourceNamespace = parts[2] == "namespaces" ? parts[3] : (resource == "namespaces" ? object.name : nil)
            if let sourceNamespace, !selection.selects(namespace: sourceNamespace) { continue }
            if let labels = selection.labels, resource != "namespaces", !labels.matches(object.labels) { continue }
            Self.clean(&object, resource: resource)
            if let sourceNamespace, let target = mapping[sourceNamespace] {
                if resource == "namespaces" { object.json["metadata"]?["name"] = .string(target) } else { object.json["metadata"]?["namespace"] = .string(target) }
            }
            var labels = object.json[path: ["metadata", "labels"]]?.objectValue ?? [:]
            labels["velero.io/backup-name"] = .string(backupName)
            labels["velero.io/restore-name"] = .string(name)
            object.json["metadata"]?["labels"] = .object(labels)
            objects.append((resource, object))
        }
        // Namespaces first, as Velero does.
        objects.sort { ($0.resource == "namespaces" ? 0 : 1) < ($1.resource == "namespaces" ? 0 : 1) }
        var restored = 0
        var warnings: [String] = []
        var errors: [String] = []
        for (index, item) in objects.enumerated() {
            let kind = ResourceKind(apiVersion: item.object.apiVersion ?? "v1", kind: item.object.kind ?? "", resource: item.resource, isNamespaced: item.object.namespace != nil)
            do {
                let reference = try ObjectReference(kind: kind, namespace: item.object.namespace, name: item.object.name ?? "")
                let exists = try await cluster.get(reference) != nil
                if exists, !update {
                    warnings.append("\(reference): exists in the cluster and was not restored (existingResourcePolicy none)")
                } else if exists {
                    // existingResourcePolicy update: the backup's version wins over whoever changed it.
                    _ = try await cluster.forceApply(item.object, fieldManager: fieldManager)
                    restored += 1
                } else {
                    _ = try await cluster.apply(item.object, fieldManager: fieldManager)
                    restored += 1
                }
            } catch {
                errors.append("\(item.object.namespace ?? "")/\(item.object.name ?? ""): \(error)")
            }
            if index % 10 == 9 {
                status["progress"] = ["totalItems": .integer(Int64(objects.count)), "itemsRestored": .integer(Int64(index + 1))]
                try await setStatus(.veleroRestore, name, status)
            }
        }
        let results: JSONValue = ["errors": ["velero": .array(errors.map { .string($0) })], "warnings": ["velero": .array(warnings.map { .string($0) })]]
        try await storage.put("\(storagePrefix)restores/\(name)/restore-\(name)-results.gz", data: try Gzip.compress(Array(results.canonicalString.utf8)))
        try await storage.put("\(storagePrefix)restores/\(name)/restore-\(name)-logs.gz", data: try Gzip.compress(Array("restored \(restored) of \(objects.count) items from \(backupName)\n".utf8)))
        status["phase"] = errors.isEmpty ? "Completed" : "PartiallyFailed"
        status["errors"] = .integer(Int64(errors.count))
        status["warnings"] = .integer(Int64(warnings.count))
        status["progress"] = ["totalItems": .integer(Int64(objects.count)), "itemsRestored": .integer(Int64(objects.count))]
        status["completionTimestamp"] = Self.timestamp()
        try await setStatus(.veleroRestore, name, status)
        logger.info("restore done", metadata: ["restore": "\(name)", "restored": "\(restored)", "warnings": "\(warnings.count)", "errors": "\(errors.count)"])
    }

    /// What Velero removes from an object before creating it again.
    static func clean(_ object: inout KubernetesObject, resource: String) {
        for field in ["uid", "resourceVersion", "creationTimestamp", "managedFields", "selfLink", "generation", "deletionTimestamp", "ownerReferences"] {
            object.json["metadata"]?[field] = nil
        }
        object.json["metadata"]?["annotations"]?["kubectl.kubernetes.io/last-applied-configuration"] = nil
        object.json["status"] = nil
        if resource == "services", object.json[path: ["spec", "clusterIP"]]?.stringValue != "None" {
            object.json["spec"]?["clusterIP"] = nil
            object.json["spec"]?["clusterIPs"] = nil
        }
        if resource == "persistentvolumeclaims" { object.json["spec"]?["volumeName"] = nil }
    }

    // MARK: Deletion

    func handleDeleteRequest(_ object: KubernetesObject) async throws {
        guard let name = object.name, let backupName = object.spec?["backupName"]?.stringValue else { return }
        try await setStatus(.veleroDeleteBackupRequest, name, ["phase": "InProgress"])
        let backupRef = try ObjectReference(kind: .veleroBackup, namespace: namespace, name: backupName)
        guard try await cluster.get(backupRef) != nil else {
            try await setStatus(.veleroDeleteBackupRequest, name, ["phase": "Processed", "errors": [.string("backup \(backupName) not found")]])
            return
        }
        var errors: [String] = []
        var keys: [String] = []
        deleting.insert(backupName)
        defer { deleting.remove(backupName) }
        for try await stored in storage.list(prefix: backupPrefix(backupName)) { keys.append(stored.key) }
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

    func validateLocations() async {
        do {
            for location in try await cluster.list(.veleroBackupStorageLocation, namespace: namespace, labelSelector: nil) {
                guard let name = location.name else { continue }
                var status: [String: JSONValue] = ["lastValidationTime": Self.timestamp()]
                if location.json[path: ["metadata", "annotations", Self.faultAnnotation]]?.stringValue == "unavailable" {
                    status["phase"] = "Unavailable"
                    status["message"] = "made unavailable by the stand-in's fault switch"
                } else {
                    do {
                        try await storage.checkAccess()
                        status["phase"] = "Available"
                    } catch {
                        status["phase"] = "Unavailable"
                        status["message"] = .string("\(error)")
                    }
                }
                try await setStatus(.veleroBackupStorageLocation, name, status)
            }
        } catch {
            logger.warning("validating storage locations failed", metadata: ["error": "\(error)"])
        }
    }
}

/// The filters a Backup or Restore spec shares: namespace globs, resources (plural or
/// `plural.group`, `*`), and a label selector.
struct Selection {
    let includedNamespaces: [String]
    let excludedNamespaces: [String]
    let includedResources: [String]
    let excludedResources: [String]
    let labels: LabelSelector?

    init(_ spec: JSONValue) throws {
        func strings(_ key: String) -> [String] { spec[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        includedNamespaces = strings("includedNamespaces")
        excludedNamespaces = strings("excludedNamespaces")
        includedResources = strings("includedResources")
        excludedResources = strings("excludedResources")
        labels = try spec["labelSelector"].map(VeleroObjects.labelSelector(from:))
    }

    func selects(namespace: String) -> Bool {
        (includedNamespaces.isEmpty || includedNamespaces.contains { Glob.matches($0, namespace) })
            && !excludedNamespaces.contains { Glob.matches($0, namespace) }
    }

    func selects(resource: String) -> Bool {
        let short = resource.split(separator: ".").first.map(String.init) ?? resource
        let matches: (String) -> Bool = { $0 == "*" || $0 == resource || $0 == short }
        return (includedResources.isEmpty || includedResources.contains(where: matches)) && !excludedResources.contains(where: matches)
    }
}

/// Velero's namespace globs: `*` and `?`.
enum Glob {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern), t = Array(text)
        var memo = [[Bool?]](repeating: [Bool?](repeating: nil, count: t.count + 1), count: p.count + 1)
        func go(_ i: Int, _ j: Int) -> Bool {
            if let known = memo[i][j] { return known }
            let result: Bool
            if i == p.count { result = j == t.count } else if p[i] == "*" { result = go(i + 1, j) || (j < t.count && go(i, j + 1)) } else { result = j < t.count && (p[i] == "?" || p[i] == t[j]) && go(i + 1, j + 1) }
            memo[i][j] = result
            return result
        }
        return go(0, 0)
    }
}
