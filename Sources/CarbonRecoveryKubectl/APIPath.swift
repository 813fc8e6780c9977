import CarbonRecovery
import Foundation

/// Builds API server paths for `kubectl get --raw` from validated parts only.
enum APIPath {
    /// `/api/v1/namespaces/NS/configmaps/NAME` or `/apis/velero.io/v1/namespaces/NS/backups/NAME`.
    static func object(_ reference: ObjectReference) throws -> String {
        "\(try base(reference.kind, namespace: reference.namespace))/\(reference.name)"
    }

    /// A collection, optionally filtered by labels, optionally as a watch from a resource version.
    static func collection(
        _ kind: ResourceKind, namespace: String?, labelSelector: LabelSelector?, name: String? = nil,
        watch: (resourceVersion: String, timeoutSeconds: Int)?
    ) throws -> String {
        if let namespace { try KubernetesName.validateLabel(namespace, what: "namespace") }
        var path = try base(kind, namespace: namespace)
        var query: [String] = []
        if let labelSelector { query.append("labelSelector=\(percentEncoded(labelSelector.description))") }
        if let name {
            try KubernetesName.validateSubdomain(name, what: "\(kind.kind) name")
            query.append("fieldSelector=\(percentEncoded("metadata.name=\(name)"))")
        }
        if let watch {
            try validateResourceVersion(watch.resourceVersion)
            query += ["watch=1", "allowWatchBookmarks=true", "resourceVersion=\(watch.resourceVersion)", "timeoutSeconds=\(watch.timeoutSeconds)"]
        }
        if !query.isEmpty { path += "?" + query.joined(separator: "&") }
        return path
    }

    private static func base(_ kind: ResourceKind, namespace: String?) throws -> String {
        let plural = try pluralName(kind)
        try validateAPIVersion(kind.apiVersion)
        let group = kind.apiVersion.contains("/") ? "/apis/\(kind.apiVersion)" : "/api/\(kind.apiVersion)"
        if kind.isNamespaced, let namespace {
            return "\(group)/namespaces/\(namespace)/\(plural)"
        }
        if !kind.isNamespaced, namespace != nil {
            throw RecoveryError.invalidInput("\(kind.kind) is cluster-scoped; it has no namespace", target: kind.resource)
        }
        return "\(group)/\(plural)"
    }

    /// `backups` from `backups.velero.io`; lower-case letters, digits, `-` and `.` only.
    static func pluralName(_ kind: ResourceKind) throws -> String {
        let resource = kind.resource
        guard !resource.isEmpty, resource.utf8.allSatisfy({ isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }),
              let plural = resource.split(separator: ".").first, !plural.isEmpty else {
            throw RecoveryError.invalidInput("resource name \(String(reflecting: resource)) is not a Kubernetes resource name", target: resource)
        }
        return String(plural)
    }

    static func validateAPIVersion(_ apiVersion: String) throws {
        let parts = apiVersion.split(separator: "/", omittingEmptySubsequences: false)
        let valid = (1...2).contains(parts.count) && parts.allSatisfy { part in
            !part.isEmpty && part.utf8.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
        }
        guard valid else { throw RecoveryError.invalidInput("apiVersion \(String(reflecting: apiVersion)) is not group/version", target: apiVersion) }
    }

    private static func validateResourceVersion(_ version: String) throws {
        guard !version.isEmpty, version.utf8.count <= 64, version.utf8.allSatisfy({ isLowerAlphanumeric($0) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) else {
            throw RecoveryError(.invalidObject, "the API server sent a resourceVersion that is not a plain token")
        }
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// RFC 3986 unreserved characters stay; everything else is %XX.
    static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += String(format: "%%%02X", byte)
            }
        }
        return result
    }

    /// The API server leaves `apiVersion` and `kind` out of the items of built-in lists.
    static func fillTypeMeta(_ json: inout JSONValue, kind: ResourceKind) {
        guard case .object(var members) = json else { return }
        if members["apiVersion"] == nil { members["apiVersion"] = .string(kind.apiVersion) }
        if members["kind"] == nil { members["kind"] = .string(kind.kind) }
        json = .object(members)
    }
}

/// Checks what goes on kubectl's command line.
enum KubectlArguments {
    /// A setting (path, context, executable) must not look like a flag nor hold control characters.
    static func validateSetting(_ value: String, what: String) throws {
        guard !value.isEmpty, !value.hasPrefix("-"), !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw RecoveryError.invalidInput("the \(what) \(String(reflecting: value)) is empty, starts with '-' or holds a control character", target: what)
        }
    }

    /// A field manager: printable ASCII without spaces, at most 128 characters (the API server's limit).
    static func validateFieldManager(_ manager: String) throws {
        guard !manager.isEmpty, manager.utf8.count <= 128, manager.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw RecoveryError.invalidInput("field manager \(String(reflecting: manager)) must be 1–128 printable ASCII characters without spaces")
        }
    }

    /// The reference of an object about to be applied: it must have apiVersion, kind and a valid name.
    static func reference(of object: KubernetesObject) throws -> ObjectReference {
        guard case .object = object.json else { throw RecoveryError(.invalidObject, "the object to apply is not a JSON object") }
        guard let apiVersion = object.apiVersion, let kindName = object.kind else {
            throw RecoveryError(.invalidObject, "the object to apply has no apiVersion or kind", target: object.name)
        }
        guard let name = object.name else {
            throw RecoveryError(.invalidObject, "the object to apply has no metadata.name", target: "\(kindName).\(apiVersion)")
        }
        let kind = ResourceKind(apiVersion: apiVersion, kind: kindName, resource: kindName.lowercased(), isNamespaced: object.namespace != nil)
        return try ObjectReference(kind: kind, namespace: object.namespace, name: name)
    }
}
