import CarbonRecovery

/// Velero's resource list (`<backup>-resource-list.json.gz`: `{"v1/ConfigMap": ["ns/name", …],
/// "v1/Namespace": ["ns"], …}`) and which of its items a restore puts back.
extension VeleroBackupEngine {
    /// Whether Velero restores objects of this kind. Velero backs up but never restores events,
    /// nodes and its own objects (its `nonRestorableResources`), so a restore test must not
    /// expect them back.
    public func restores(_ item: BackupItem) -> Bool {
        let group = item.apiVersion.contains("/") ? String(item.apiVersion.split(separator: "/")[0]) : ""
        if group == "velero.io" { return false }
        if item.kind == "Event" && (group == "" || group == "events.k8s.io") { return false }
        if group == "" && item.kind == "Node" { return false }
        if group == "storage.k8s.io" && (item.kind == "CSINode" || item.kind == "VolumeAttachment") { return false }
        return true
    }

    /// Parses Velero's resource list (the decompressed JSON).
    ///
    /// - Throws: ``RecoveryError/Code/invalidObject`` when it is not a map of `apiVersion/Kind` to names.
    package static func parseResourceList(_ json: JSONValue) throws -> [BackupItem] {
        guard let groups = json.objectValue else {
            throw RecoveryError(.invalidObject, "the resource list is not a JSON object of `apiVersion/Kind` to names")
        }
        var items: [BackupItem] = []
        for (key, names) in groups {
            guard let slash = key.lastIndex(of: "/"), let names = names.arrayValue else {
                throw RecoveryError(.invalidObject, "the resource list has a malformed entry '\(key)'")
            }
            let apiVersion = String(key[..<slash])
            let kind = String(key[key.index(after: slash)...])
            for name in names {
                guard let text = name.stringValue, !text.isEmpty else {
                    throw RecoveryError(.invalidObject, "the resource list has a non-string name under '\(key)'")
                }
                let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
                items.append(parts.count == 2
                    ? BackupItem(apiVersion: apiVersion, kind: kind, namespace: parts[0], name: parts[1])
                    : BackupItem(apiVersion: apiVersion, kind: kind, namespace: nil, name: text))
            }
        }
        return items.sorted()
    }
}
