import Foundation

/// The comparison at the end of a whole-cluster recovery: each object the restores were
/// expected to bring back against what the target holds, both in the engine's comparable form
/// (``BackupEngine/comparableForm(of:resource:)``). Pure, so it is tested without a cluster.
public enum RecoveryVerification {
    /// `namespace/name` (empty namespace for cluster-scoped objects): how objects are matched
    /// within one resource.
    public static func key(namespace: String?, name: String?) -> String { "\(namespace ?? "")/\(name ?? "")" }

    /// An object of the backup as the restore is expected to write it: its namespace (or, for a
    /// `Namespace`, its name) renamed by `namespaceMappings`, and its storage classes by
    /// `storageClassMappings` (``renamingStorageClasses(_:resource:mappings:)``).
    public static func expectedForm(
        of object: BackedUpObject, namespaceMappings: [String: String], storageClassMappings: [String: String]
    ) -> BackedUpObject {
        var expected = object
        if let namespace = object.object.namespace, let target = namespaceMappings[namespace] {
            expected.object.json["metadata"]?["namespace"] = .string(target)
        }
        if object.resource == "namespaces", let name = object.object.name, let target = namespaceMappings[name] {
            expected.object.json["metadata"]?["name"] = .string(target)
        }
        renamingStorageClasses(&expected.object, resource: object.resource, mappings: storageClassMappings)
        return expected
    }

    /// Velero's `change-storage-class` restore item action: renames the storage class of a
    /// persistent volume claim, a persistent volume, and each claim template of a stateful set.
    public static func renamingStorageClasses(_ object: inout KubernetesObject, resource: String, mappings: [String: String]) {
        guard !mappings.isEmpty else { return }
        switch resource {
        case "persistentvolumeclaims", "persistentvolumes":
            if let old = object.json[path: ["spec", "storageClassName"]]?.stringValue, let new = mappings[old] {
                object.json["spec"]?["storageClassName"] = .string(new)
            }
        case "statefulsets.apps":
            guard case .array(var templates)? = object.json[path: ["spec", "volumeClaimTemplates"]] else { return }
            for index in templates.indices {
                if let old = templates[index][path: ["spec", "storageClassName"]]?.stringValue, let new = mappings[old] {
                    templates[index]["spec"]?["storageClassName"] = .string(new)
                }
            }
            object.json["spec"]?["volumeClaimTemplates"] = .array(templates)
        default:
            break
        }
    }

    /// Compares each expected object with the target's.
    ///
    /// - Parameters:
    ///   - expected: The objects in their expected form (``expectedForm(of:namespaceMappings:storageClassMappings:)``).
    ///   - found: What the target holds now, by resource and then by ``key(namespace:name:)``;
    ///     a resource missing from the map was not served (all its objects are missing).
    ///   - preExisting: `resource|key` of the objects that were on the target before the
    ///     recovery: left as they were by the restore, so a difference is reported, not failed.
    ///   - comparable: The engine's comparable form.
    public static func compare(
        expected: [BackedUpObject], found: [String: [String: KubernetesObject]], preExisting: Set<String>,
        comparable: (KubernetesObject, String) -> KubernetesObject
    ) -> ClusterRecoveryReport.Verification {
        var result = ClusterRecoveryReport.Verification(expected: expected.count, matched: 0, missing: [], different: [], keptAsFound: [])
        for entry in expected {
            let key = key(namespace: entry.object.namespace, name: entry.object.name)
            guard let current = found[entry.resource]?[key] else {
                result.missing.append(entry.item)
                continue
            }
            let want = comparable(entry.object, entry.resource), have = comparable(current, entry.resource)
            if want == have {
                result.matched += 1
            } else if preExisting.contains("\(entry.resource)|\(key)") {
                result.keptAsFound.append(entry.item)
            } else {
                result.different.append(.init(item: entry.item, field: firstDifference(want.json, have.json) ?? "(object)"))
            }
        }
        result.missing.sort()
        result.keptAsFound.sort()
        result.different.sort { $0.item < $1.item }
        return result
    }

    /// The dotted path of the first field that differs between two JSON values (keys in byte
    /// order, arrays by index), or `nil` when they are equal.
    public static func firstDifference(_ a: JSONValue, _ b: JSONValue, path: String = "") -> String? {
        if a == b { return nil }
        switch (a, b) {
        case (.object(let x), .object(let y)):
            for key in Set(x.keys).union(y.keys).sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                let child = path.isEmpty ? key : "\(path).\(key)"
                guard let left = x[key], let right = y[key] else { return child }
                if let found = firstDifference(left, right, path: child) { return found }
            }
            return path.isEmpty ? "(object)" : path
        case (.array(let x), .array(let y)):
            for index in 0..<min(x.count, y.count) {
                if let found = firstDifference(x[index], y[index], path: "\(path)[\(index)]") { return found }
            }
            return "\(path)[\(min(x.count, y.count))]"
        default:
            return path.isEmpty ? "(object)" : path
        }
    }
}
