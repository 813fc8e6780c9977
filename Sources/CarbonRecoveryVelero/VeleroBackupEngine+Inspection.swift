import CarbonRecovery
import CarbonRecoveryCompression
import Crypto
import Foundation

/// The validation Velero does not do for itself: open what it stored and compare it with the
/// `Backup` object. Velero stores no checksums, so the SHA-256 digests computed here are what
/// lets a later validation notice an artifact that changed.
extension VeleroBackupEngine {
    /// Reads every artifact under the backup's prefix and checks it:
    ///
    /// - `velero-backup.json` and `<name>.tar.gz` are stored and not empty;
    /// - every artifact is hashed (SHA-256);
    /// - `velero-backup.json` parses and matches the `Backup` object (name, spec, start time);
    /// - the tarball is a gzip'd ustar archive with `metadata/version`, holding every concrete
    ///   namespace the backup included;
    /// - the resource list parses and each item in it has a file in the tarball;
    /// - the logs are not empty;
    /// - when the backup's location asks for server-side encryption (its `config`, as
    ///   ``VeleroLocationEncryption`` reads it), every artifact is reported stored that way
    ///   (a `head` of each; what the storage *says* — see docs/security.md for what that proves).
    ///
    /// Each artifact is read whole into memory (the `StorageBackend` protocol has no ranged read).
    public func inspectBackup(named name: String, in storage: any StorageBackend) async throws -> BackupInspection {
        let prefix = try await storagePrefix(ofBackup: name)
        var checks: [BackupValidationReport.Check] = []
        var digests: [String: String] = [:]
        var contents: [String: [UInt8]] = [:]
        var sizes: [String: Int64] = [:]
        for try await object in storage.list(prefix: prefix) {
            guard let bytes = try await storage.get(object.key) else { continue }   // deleted meanwhile: reported as missing below
            sizes[object.key] = Int64(bytes.count)
            digests[object.key] = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
            let file = String(object.key.dropFirst(prefix.count))
            if file == "velero-backup.json" || file == "\(name).tar.gz" || file == "\(name)-resource-list.json.gz" || file == "\(name)-logs.gz" {
                contents[file] = bytes
            }
        }
        // The artifacts every Velero backup has: its metadata and its tarball.
        for required in Self.requiredArtifacts(ofBackup: name) {
            let key = prefix + required
            let size = sizes[key]
            checks.append(.init(
                name: "artifact:\(required)", passed: (size ?? 0) > 0,
                detail: size == nil ? "\(key) is missing from storage" : size! > 0 ? "\(key) has \(size!) bytes" : "\(key) is empty"))
        }
        let backup = try await cluster.get(try ObjectReference(kind: .veleroBackup, namespace: configuration.namespace, name: name))

        // velero-backup.json against the object.
        if let bytes = contents["velero-backup.json"] {
            checks.append(Self.compareMetadata(bytes, with: backup, name: name))
        }

        // The tarball.
        var tarballItems: [String: Int] = [:]      // "namespace/" or "" (cluster) → item files
        var tarballOpened = false
        if let bytes = contents["\(name).tar.gz"] {
            do {
                let entries = try Tar.read(try Gzip.decompress(bytes))
                var namespaces: Set<String> = []
                var hasVersion = false
                for entry in entries {
                    if entry.path == "metadata/version" { hasVersion = true }
                    let parts = entry.path.split(separator: "/").map(String.init)
                    guard parts.count >= 4, parts[0] == "resources", !parts[2].hasSuffix("-preferredversion") else { continue }
                    if parts[2] == "namespaces", parts.count >= 5 {
                        namespaces.insert(parts[3])
                        tarballItems[parts[3], default: 0] += 1
                    } else if parts[2] == "cluster" {
                        if parts[1] == "namespaces" { namespaces.insert(String(parts[3].dropLast(".json".count))) }
                        tarballItems["", default: 0] += 1
                    }
                }
                let expected = Self.concreteNamespaces(backup)
                let missing = expected.filter { !namespaces.contains($0) }.sorted()
                tarballOpened = hasVersion
                checks.append(.init(
                    name: "tarball", passed: hasVersion && missing.isEmpty,
                    detail: !hasVersion
                        ? "\(name).tar.gz opens but has no metadata/version: it is not a Velero backup tarball"
                        : missing.isEmpty
                            ? "\(name).tar.gz opens: \(entries.count) files, namespaces \(namespaces.sorted().joined(separator: ", "))"
                            : "\(name).tar.gz lacks namespaces the backup included: \(missing.joined(separator: ", "))"))
            } catch {
                checks.append(.init(name: "tarball", passed: false, detail: "\(name).tar.gz does not open: \(Self.describe(error))"))
            }
        }

        // The resource list against the tarball.
        let listFile = "\(name)-resource-list.json.gz"
        if let bytes = contents[listFile] {
            do {
                let items = try Self.parseResourceList(try JSONValue(parsing: try Gzip.decompress(bytes)))
                var listed: [String: Int] = [:]
                for item in items { listed[item.namespace ?? "", default: 0] += 1 }
                if tarballOpened {
                    let differing = Set(listed.keys).union(tarballItems.keys).filter { listed[$0, default: 0] != tarballItems[$0, default: 0] }.sorted()
                    checks.append(.init(
                        name: "resource-list", passed: differing.isEmpty,
                        detail: differing.isEmpty
                            ? "\(items.count) items listed, each with a file in the tarball"
                            : "the resource list and the tarball disagree on " + differing.map {
                                "\($0.isEmpty ? "cluster-scoped" : $0): \(listed[$0, default: 0]) listed, \(tarballItems[$0, default: 0]) in the tarball"
                            }.joined(separator: "; ")))
                } else {
                    checks.append(.init(name: "resource-list", passed: true, detail: "\(items.count) items listed"))
                }
            } catch {
                checks.append(.init(name: "resource-list", passed: false, detail: "\(listFile) does not parse: \(Self.describe(error))"))
            }
        } else {
            checks.append(.init(name: "resource-list", passed: false, detail: "\(prefix)\(listFile) is missing from storage"))
        }

        let logs = "\(name)-logs.gz"
        checks.append(.init(
            name: "logs", passed: (contents[logs]?.count ?? 0) > 0,
            detail: contents[logs] == nil ? "\(prefix)\(logs) is missing from storage" : (contents[logs]!.isEmpty ? "\(prefix)\(logs) is empty" : "\(prefix)\(logs) has \(contents[logs]!.count) bytes")))
        checks.append(await encryptionCheck(backup: backup, keys: sizes.keys.sorted(), in: storage))
        return BackupInspection(checks: checks, digests: digests)
    }

    /// The `encryption` check: every artifact reported stored as the backup's location asks.
    func encryptionCheck(backup: KubernetesObject?, keys: [String], in storage: any StorageBackend) async -> BackupValidationReport.Check {
        let locationName = backup?.spec?["storageLocation"]?.stringValue ?? backup?.labels["velero.io/storage-location"] ?? "default"
        let asked: StorageEncryptionSetting
        do {
            guard let location = try await cluster.get(try ObjectReference(kind: .veleroBackupStorageLocation, namespace: configuration.namespace, name: locationName)) else {
                return .init(name: "encryption", passed: false, detail: "the backup's storage location \(locationName) does not exist, so what it asks for cannot be checked")
            }
            asked = try VeleroLocationEncryption.setting(config: location.spec?["config"]?.objectValue?.compactMapValues(\.stringValue) ?? [:])
        } catch {
            return .init(name: "encryption", passed: false, detail: "location \(locationName): \(Self.describe(error))")
        }
        guard let expected = asked.reportedAs else {
            return .init(name: "encryption", passed: true, detail: "location \(locationName) asks for no server-side encryption (doctor and policy lint flag that)")
        }
        var unencrypted: [String] = []
        for key in keys {
            do {
                let reported = try await storage.head(key)?.serverSideEncryption
                if reported != expected { unencrypted.append("\(key) (\(reported ?? "no encryption reported"))") }
            } catch {
                unencrypted.append("\(key) (head failed: \(Self.describe(error)))")
            }
        }
        guard unencrypted.isEmpty else {
            return .init(
                name: "encryption", passed: false,
                detail: "location \(locationName) asks for \(asked); \(unencrypted.count) of \(keys.count) artifacts are not reported stored so: \(unencrypted.prefix(5).joined(separator: ", "))\(unencrypted.count > 5 ? ", …" : "")")
        }
        return .init(name: "encryption", passed: true, detail: "all \(keys.count) artifacts reported stored with \(asked) (\(expected))")
    }

    /// The backup's resource list, read from `<backup>-resource-list.json.gz`.
    public func backupItems(named name: String, in storage: any StorageBackend) async throws -> [BackupItem] {
        let key = try await storagePrefix(ofBackup: name) + "\(name)-resource-list.json.gz"
        guard let bytes = try await storage.get(key) else {
            throw RecoveryError(.notFound, "backup \(name) has no resource list in storage (\(key)); validate it with `carbon-recovery backup validate \(name)`", target: "backup/\(name)")
        }
        return try Self.parseResourceList(try JSONValue(parsing: try Gzip.decompress(bytes)))
    }

    // MARK: Helpers

    static func compareMetadata(_ bytes: [UInt8], with backup: KubernetesObject?, name: String) -> BackupValidationReport.Check {
        let stored: JSONValue
        do {
            stored = try JSONValue(parsing: bytes)
        } catch {
            return .init(name: "metadata", passed: false, detail: "velero-backup.json does not parse: \(describe(error))")
        }
        var differences: [String] = []
        if stored[path: ["metadata", "name"]]?.stringValue != name {
            differences.append("name is \(stored[path: ["metadata", "name"]]?.stringValue ?? "missing")")
        }
        if let backup {
            let storedSpec = stored["spec"] ?? .object([:])
            let liveSpec = backup.spec ?? .object([:])
            if storedSpec != liveSpec {
                let fields = Set(storedSpec.objectValue?.keys.map { $0 } ?? []).union(liveSpec.objectValue?.keys.map { $0 } ?? [])
                    .filter { storedSpec[$0] != liveSpec[$0] }.sorted()
                differences.append("spec differs in \(fields.joined(separator: ", "))")
            }
            let storedStart = stored[path: ["status", "startTimestamp"]]?.stringValue
            let liveStart = backup.status?["startTimestamp"]?.stringValue
            if storedStart != liveStart {
                differences.append("startTimestamp is \(storedStart ?? "missing") in storage, \(liveStart ?? "missing") on the object")
            }
        }
        return .init(
            name: "metadata", passed: differences.isEmpty,
            detail: differences.isEmpty
                ? "velero-backup.json matches the Backup object"
                : "velero-backup.json does not match the Backup object: " + differences.joined(separator: "; "))
    }

    /// The included namespaces that are names rather than globs, minus the excluded ones.
    static func concreteNamespaces(_ backup: KubernetesObject?) -> [String] {
        let spec = backup?.spec
        let included = spec?["includedNamespaces"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let excluded = Set(spec?["excludedNamespaces"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        return included.filter { !$0.contains("*") && !$0.contains("?") && !excluded.contains($0) }
    }

    static func describe(_ error: any Error) -> String {
        (error as? RecoveryError)?.message ?? String(describing: error)
    }

    /// The files under a backup's prefix without which Velero cannot restore it.
    static func requiredArtifacts(ofBackup name: String) -> [String] { ["velero-backup.json", "\(name).tar.gz"] }
}
