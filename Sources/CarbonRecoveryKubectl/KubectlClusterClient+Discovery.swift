import CarbonRecovery
import Foundation

extension KubectlClusterClient {
    /// API discovery through `kubectl get --raw`: `/version`, `/api/v1`, `/apis`, then every
    /// served group version (four at a time). Subresources (`pods/log`) are left out.
    public func discover() async throws -> ClusterDiscovery {
        async let versionOutput = runner.run(["get", "--raw=/version"], operation: "discover", target: "/version")
        async let groupsOutput = runner.run(["get", "--raw=/apis"], operation: "discover", target: "/apis")
        let versionJSON = try KubectlRunner.parse(try await versionOutput, operation: "discover", target: "/version")
        let version = try KubernetesVersion(
            gitVersion: versionJSON["gitVersion"]?.stringValue ?? "", major: versionJSON["major"]?.stringValue, minor: versionJSON["minor"]?.stringValue)
        let groups = try KubectlRunner.parse(try await groupsOutput, operation: "discover", target: "/apis")
        var preferred: [String: String] = ["": "v1"]
        var groupVersions = ["v1"]
        for group in groups["groups"]?.arrayValue ?? [] {
            guard let name = group["name"]?.stringValue else { continue }
            if let version = group[path: ["preferredVersion", "version"]]?.stringValue { preferred[name] = version }
            for version in group["versions"]?.arrayValue ?? [] {
                if let groupVersion = version["groupVersion"]?.stringValue { groupVersions.append(groupVersion) }
            }
        }
        let lists = try await withThrowingTaskGroup(of: (String, JSONValue).self) { group in
            var results: [(String, JSONValue)] = []
            var pending = groupVersions[...]
            func startNext() {
                guard let groupVersion = pending.popFirst() else { return }
                group.addTask {
                    let path = groupVersion.contains("/") ? "/apis/\(groupVersion)" : "/api/\(groupVersion)"
                    let output = try await self.runner.run(["get", "--raw=\(path)"], operation: "discover", target: path)
                    return (groupVersion, try KubectlRunner.parse(output, operation: "discover", target: path))
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
        for (groupVersion, list) in lists.sorted(by: { $0.0 < $1.0 }) {
            let group = groupVersion.contains("/") ? String(groupVersion.split(separator: "/")[0]) : ""
            for resource in list["resources"]?.arrayValue ?? [] {
                guard let name = resource["name"]?.stringValue, !name.contains("/"), let kind = resource["kind"]?.stringValue else { continue }
                let verbs = Set(resource["verbs"]?.arrayValue?.compactMap(\.stringValue) ?? [])
                resources.append(ClusterDiscovery.ServedResource(
                    kind: ResourceKind(apiVersion: groupVersion, kind: kind, resource: group.isEmpty ? name : "\(name).\(group)", isNamespaced: resource["namespaced"]?.boolValue ?? true),
                    verbs: verbs))
            }
        }
        return ClusterDiscovery(version: version, resources: resources, preferredVersions: preferred)
    }
}
