import CarbonRecovery
import CarbonRecoveryVelero
import Foundation

/// The filters a Backup or Restore spec shares: namespace globs, resources (plural or
/// `plural.group`, `*`), and a label selector.
struct Selection {
    let includedNamespaces: [String]
    let excludedNamespaces: [String]
    let includedResources: [String]
    let excludedResources: [String]
    let labels: LabelSelector?
    /// `includeClusterResources`: `nil` means "when every namespace is included".
    let includeClusterResources: Bool?

    init(_ spec: JSONValue) throws {
        func strings(_ key: String) -> [String] { spec[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        includedNamespaces = strings("includedNamespaces")
        excludedNamespaces = strings("excludedNamespaces")
        includedResources = strings("includedResources")
        excludedResources = strings("excludedResources")
        labels = try spec["labelSelector"].map(VeleroObjects.labelSelector(from:))
        includeClusterResources = spec["includeClusterResources"]?.boolValue
    }

    /// Every namespace is included (Velero's `IncludeEverything()` of the namespace filter).
    var includesEveryNamespace: Bool {
        (includedNamespaces.isEmpty || includedNamespaces == ["*"]) && excludedNamespaces.isEmpty
    }

    /// Whether cluster-scoped resources other than namespaces are backed up or restored:
    /// `true`, or unset with every namespace included (Velero's auto mode).
    var coversClusterResources: Bool {
        includeClusterResources ?? includesEveryNamespace
    }

    /// Whether a resource name was named in `includedResources` or `excludedResources` literally.
    func names(resource: String) -> (included: Bool, excluded: Bool) {
        let short = resource.split(separator: ".").first.map(String.init) ?? resource
        let matches: (String) -> Bool = { $0 == resource || $0 == short }
        return (includedResources.contains(where: matches), excludedResources.contains(where: matches))
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
