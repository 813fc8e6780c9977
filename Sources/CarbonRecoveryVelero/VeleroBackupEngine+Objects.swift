import CarbonRecovery
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
        let key = try await storagePrefix(ofBackup: name) + "\(name).tar.gz"
        guard let bytes = try await storage.get(key) else {
            throw RecoveryError(.notFound, "backup \(name) has no tarball in storage (\(key))", target: "backup/\(name)")
        }
        return try Self.objects(inTarball: bytes, backup: name)
    }

    /// The objects of a gzip'd Velero tarball.
    package static func objects(inTarball bytes: [UInt8], backup name: String) throws -> [BackedUpObject] {
        let entries: [Tar.Entry]
        do {
            entries = try Tar.read(try Gzip.decompress(bytes))
        } catch {
            throw RecoveryError(.invalidObject, "the tarball of backup \(name) does not open: \(describe(error))", target: "backup/\(name)")
        }
        var objects: [BackedUpObject] = []
        for entry in entries where entry.path.hasPrefix("resources/") && !entry.path.contains("-preferredversion/") {
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
                object = KubernetesObject(try JSONValue(parsing: entry.data))
            } catch {
                throw invalid("does not parse as JSON: \(describe(error))")
            }
            guard object.apiVersion != nil, object.kind != nil, object.name == String(file.dropLast(5)) else {
                throw invalid("holds an object named \(object.name ?? "(none)") of kind \(object.kind ?? "(none)"), not the one its path names")
            }
            if namespaced, object.namespace != parts[3] { throw invalid("holds an object of namespace \(object.namespace ?? "(none)")") }
            if clusterScoped, let namespace = object.namespace, !namespace.isEmpty { throw invalid("holds a namespaced object (\(namespace)) under cluster/") }
            objects.append(BackedUpObject(resource: parts[1], object: object))
        }
        return objects
    }
}
