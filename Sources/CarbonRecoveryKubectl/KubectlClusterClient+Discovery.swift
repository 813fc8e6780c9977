import CarbonRecovery
import Foundation

extension KubectlClusterClient {
    /// API discovery through `kubectl get --raw`: `/version`, `/api/v1`, `/apis`, then every
    /// served group version (four at a time). Subresources (`pods/log`) are left out.
    ///
    /// The result is kept (in this client and its copies) and reused while `/version`, `/apis`
    /// and the names and generations of the custom resource definitions read the same, for
    /// at most ``Configuration/discoveryCacheLifetime``: three calls instead of one per
    /// group version. A result is kept only when every custom resource definition listed is
    /// served in it (one being established is read again next time).
    public func discover() async throws -> ClusterDiscovery {
        async let versionOutput = runner.run(["get", "--raw=/version"], operation: "discover", target: "/version")
        async let groupsOutput = runner.run(["get", "--raw=/apis"], operation: "discover", target: "/apis")
        // Who may not list definitions gets no cache, never a stale answer.
        async let definitionsOutput = try? runner.run(
            ["get", "customresourcedefinitions.apiextensions.k8s.io", "--output=custom-columns=NAME:.metadata.name,GENERATION:.metadata.generation", "--no-headers"],
            operation: "discover", target: "customresourcedefinitions")
        let versionBytes = try await versionOutput, groupsBytes = try await groupsOutput
        var key: [UInt8]?
        var definitions: [String] = []
        if let listed = await definitionsOutput, configuration.discoveryCacheLifetime > .zero {
            key = versionBytes + [0] + groupsBytes + [0] + listed
            definitions = String(decoding: listed, as: UTF8.self).split(whereSeparator: \.isNewline).compactMap { $0.split(separator: " ").first.map(String.init) }
            if let key, let cached = discoveryCache.discovery(for: key, lifetime: configuration.discoveryCacheLifetime) { return cached }
        }
        let versionJSON = try KubectlRunner.parse(versionBytes, operation: "discover", target: "/version")
        let version = try KubernetesVersion(
            gitVersion: versionJSON["gitVersion"]?.stringValue ?? "", major: versionJSON["major"]?.stringValue, minor: versionJSON["minor"]?.stringValue)
        let groups = try KubectlRunner.parse(groupsBytes, operation: "discover", target: "/apis")
        var preferred: [String: String] = ["": "v1"]
        var groupVersions = ["v1"]
        for group in groups["groups"]?.arrayValue ?? [] {
            guard let name = group["name"]?.stringValue else { continue }
            if let version = group[path: ["preferredVersion", "version"]]?.stringValue { preferred[name] = version }
            for version in group["versions"]?.arrayValue ?? [] {
                if let groupVersion = version["groupVersion"]?.stringValue { groupVersions.append(groupVersion) }
            }
        }
        let lists = try await withThrowingTaskGroup(of: (String, JSONValue?).self) { group in
            var results: [(String, JSONValue?)] = []
            var pending = groupVersions[...]
            func startNext() {
                guard let groupVersion = pending.popFirst() else { return }
                group.addTask {
                    let path = groupVersion.contains("/") ? "/apis/\(groupVersion)" : "/api/\(groupVersion)"
                    do {
                        let output = try await self.runner.run(["get", "--raw=\(path)"], operation: "discover", target: path)
                        return (groupVersion, try KubectlRunner.parse(output, operation: "discover", target: path))
                    } catch let error as RecoveryError where error.code == .notFound {
                        // Gone since /apis was read (a definition being deleted): served no
                        // longer, as client-go's discovery treats it; this answer is not kept.
                        return (groupVersion, nil)
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
        var resources: [ClusterDiscovery.ServedResource] = []
        for case let (groupVersion, list?) in lists.sorted(by: { $0.0 < $1.0 }) {
            let group = groupVersion.contains("/") ? String(groupVersion.split(separator: "/")[0]) : ""
            for resource in list["resources"]?.arrayValue ?? [] {
                guard let name = resource["name"]?.stringValue, !name.contains("/"), let kind = resource["kind"]?.stringValue else { continue }
                let verbs = Set(resource["verbs"]?.arrayValue?.compactMap(\.stringValue) ?? [])
                resources.append(ClusterDiscovery.ServedResource(
                    kind: ResourceKind(apiVersion: groupVersion, kind: kind, resource: group.isEmpty ? name : "\(name).\(group)", isNamespaced: resource["namespaced"]?.boolValue ?? true),
                    verbs: verbs))
            }
        }
        let discovery = ClusterDiscovery(version: version, resources: resources, preferredVersions: preferred)
        let served = Set(resources.map(\.kind.resource))
        if let key, definitions.allSatisfy(served.contains), lists.allSatisfy({ $0.1 != nil }) { discoveryCache.store(discovery, for: key) }
        return discovery
    }
}
