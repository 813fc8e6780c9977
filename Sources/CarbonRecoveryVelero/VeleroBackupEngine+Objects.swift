import CarbonRecovery
import CarbonRecoveryCompression
import Foundation

extension VeleroBackupEngine {
    /// Every object in the backup's tarball (`<backup>.tar.gz`), from its
    /// `resources/<resource>/{cluster|namespaces/<ns>}/<name>.json` entries (the
    /// `-preferredversion` copies are left out, so each object comes once).
    ///
    /// - Throws: ``RecoveryError/Code/notFound`` when the tarball is missing;
    ///   ``RecoveryError/Code/invalidObject`` naming the entry when one does not parse, or when
    ///   an object's name, namespace or scope disagrees with the path it is stored under (a
    ///   tarball edited by hand or by an attacker).
    public func backupObjects(named name: String, in storage: any StorageBackend) async throws -> [BackedUpObject] {
        try await backupObjects(named: name, in: storage, omitting: [])
    }

    /// The tarball's objects, parsed without the members at `omitting` (they are passed over,
    /// not built), spread over the cores.
    public func backupObjects(named name: String, in storage: any StorageBackend, omitting: [[String]]) async throws -> [BackedUpObject] {
        let key = try await storagePrefix(ofBackup: name) + "\(name).tar.gz"
        guard let bytes = try await storage.get(key) else {
            throw RecoveryError(.notFound, "backup \(name) has no tarball in storage (\(key))", target: "backup/\(name)")
        }
        // Parsing the objects is most of the work: spread it over the cores, in order.
        let entries = try Self.objectEntries(inTarball: bytes, backup: name)
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let size = max(256, (entries.count + cores - 1) / cores)
        let chunks = stride(from: 0, to: entries.count, by: size).map { Array(entries[$0..<min($0 + size, entries.count)]) }
        return try await mapConcurrently(chunks, limit: cores) { chunk in try chunk.map { try Self.object(from: $0, backup: name, omitting: omitting) } }.flatMap { $0 }
    }

    /// The objects of a gzip'd Velero tarball.
    package static func objects(inTarball bytes: [UInt8], backup name: String) throws -> [BackedUpObject] {
        try objectEntries(inTarball: bytes, backup: name).map { try object(from: $0, backup: name) }
    }

    /// The tarball's object entries: `resources/…` without the `-preferredversion` copies.
    package static func objectEntries(inTarball bytes: [UInt8], backup name: String) throws -> [Tar.Entry] {
        let entries: [Tar.Entry]
        do {
            entries = try Tar.read(try Gzip.decompress(bytes))
        } catch {
            throw RecoveryError(.invalidObject, "the tarball of backup \(name) does not open: \(describe(error))", target: "backup/\(name)")
        }
        // `resources/<resource>/<version>-preferredversion/…` are the copies; checked on the path's
        // third part (a substring search over every path costs more than the parse on Linux).
        return entries.filter { entry in
            guard entry.path.hasPrefix("resources/") else { return false }
            let parts = entry.path.utf8.split(separator: UInt8(ascii: "/"), maxSplits: 3, omittingEmptySubsequences: false)
            return !(parts.count > 2 && parts[2].reversed().starts(with: "-preferredversion".utf8.reversed()))
        }
    }

    /// One entry's object, checked against its path.
    package static func object(from entry: Tar.Entry, backup name: String, omitting: [[String]] = []) throws -> BackedUpObject {
        let parts = entry.path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        func invalid(_ why: String) -> RecoveryError {
            RecoveryError(.invalidObject, "backup \(name): \(entry.path) \(why)", target: "backup/\(name)")
        }
        let clusterScoped = parts.count == 4 && parts[2] == "cluster"
        let namespaced = parts.count == 5 && parts[2] == "namespaces"
        guard clusterScoped || namespaced, !parts[1].isEmpty, let file = parts.last, file.hasSuffix(".json") else {
            throw invalid("is not resources/<resource>/cluster/<name>.json or resources/<resource>/namespaces/<namespace>/<name>.json")
        }
        let object: KubernetesObject
        do {
            object = KubernetesObject(try JSONValue(parsing: entry.data, omitting: omitting))
        } catch {
            throw invalid("does not parse as JSON: \(describe(error))")
        }
        guard object.apiVersion != nil, object.kind != nil, object.name == String(file.dropLast(5)) else {
            throw invalid("holds an object named \(object.name ?? "(none)") of kind \(object.kind ?? "(none)"), not the one its path names")
        }
        if namespaced, object.namespace != parts[3] { throw invalid("holds an object of namespace \(object.namespace ?? "(none)")") }
        if clusterScoped, let namespace = object.namespace, !namespace.isEmpty { throw invalid("holds a namespaced object (\(namespace)) under cluster/") }
        return BackedUpObject(resource: parts[1], object: object)
    }
}
