/// The include/exclude filters that backups and restores share (Velero's
/// `--include-namespaces`, `--exclude-namespaces`, `--include-resources`, `--exclude-resources`).
enum ResourceFilter {
    /// Checks all four lists.
    static func validate(
        includedNamespaces: [String], excludedNamespaces: [String], includedResources: [String], excludedResources: [String]
    ) throws {
        try validateNamespacePatterns(includedNamespaces, field: "included namespace")
        try validateNamespacePatterns(excludedNamespaces, field: "excluded namespace")
        try validateResourcePatterns(includedResources, field: "included resource")
        try validateResourcePatterns(excludedResources, field: "excluded resource")
    }

    /// The four lists as audit parameters.
    static func auditParameters(
        includedNamespaces: [String], excludedNamespaces: [String], includedResources: [String], excludedResources: [String]
    ) -> [String: JSONValue] {
        [
            "includedNamespaces": .array(includedNamespaces.map { .string($0) }),
            "excludedNamespaces": .array(excludedNamespaces.map { .string($0) }),
            "includedResources": .array(includedResources.map { .string($0) }),
            "excludedResources": .array(excludedResources.map { .string($0) }),
        ]
    }

    static func validateNamespacePatterns(_ patterns: [String], field: String) throws {
        for pattern in patterns {
            if pattern == "*" { continue }
            let isGlob = pattern.contains("*") || pattern.contains("?")
            let plain = pattern.replacingOccurrences(of: "*", with: "a").replacingOccurrences(of: "?", with: "a")
            guard isGlob ? KubernetesName.isSubdomain(plain) && plain.count <= 63 : KubernetesName.isLabel(pattern) else {
                throw RecoveryError.invalidInput(
                    "\(field) '\(pattern)' is not a DNS-1123 label or a glob of one (use lowercase letters, digits, '-', and '*' or '?' as wildcards)")
            }
        }
    }

    static func validateResourcePatterns(_ patterns: [String], field: String) throws {
        for pattern in patterns {
            if pattern == "*" { continue }
            let plain = pattern.replacingOccurrences(of: "*", with: "a")
            guard KubernetesName.isSubdomain(plain) else {
                throw RecoveryError.invalidInput(
                    "\(field) '\(pattern)' is not a resource name (use the plural, lowercase form such as 'deployments.apps' or 'secrets')")
            }
        }
    }
}
