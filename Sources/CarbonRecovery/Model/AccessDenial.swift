import Foundation

/// A call the API server or the storage refused: unauthenticated (HTTP 401, or S3's unknown key
/// and bad signature) or forbidden (HTTP 403). Attached to the ``RecoveryError`` the refusal
/// becomes, and recorded with the operation's `denied` outcome in the audit trail, so a
/// reviewer sees every refused attempt with the identity used and what it was refused.
///
/// Nothing in it is secret: the identity is a user or service account name, or an access key
/// id shortened as ``StorageKeyPair/shortID`` shortens it.
public struct AccessDenial: Sendable, Hashable {
    /// Who refused the call.
    public struct Source: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The Kubernetes API server.
        public static let kubernetes = Source(rawValue: "kubernetes")
        /// The backup storage (S3).
        public static let storage = Source(rawValue: "storage")
    }

    /// Who refused the call.
    public var source: Source
    /// 401 (not authenticated) or 403 (authenticated, not allowed). S3 answers an unknown key or
    /// a bad signature with 403 too; ``isUnauthenticated`` tells those apart.
    public var status: Int
    /// Whether the credentials themselves were refused (unknown, wrong or expired), rather than
    /// an action of a known identity.
    public var isUnauthenticated: Bool
    /// The identity used, as the server named it (`system:serviceaccount:velero:velero`) or as
    /// the caller knows it (the kubeconfig's user, a shortened access key id); `nil` when unknown.
    public var identity: String?
    /// What was refused: `create restores.velero.io in namespace velero`,
    /// `s3.put 254carbon-backups/backups/daily/velero-backup.json`.
    public var refused: String

    /// Creates a denial.
    public init(source: Source, status: Int, isUnauthenticated: Bool, identity: String?, refused: String) {
        self.source = source
        self.status = status
        self.isUnauthenticated = isUnauthenticated
        self.identity = identity
        self.refused = refused
    }

    /// The denial as recorded in an audit outcome's parameters (`denied`), `identity` filled in
    /// with `fallbackIdentity` when the server did not name one.
    public func json(fallbackIdentity: String?) -> JSONValue {
        [
            "source": .string(source.rawValue), "status": .integer(Int64(status)),
            "unauthenticated": .bool(isUnauthenticated), "identity": (identity ?? fallbackIdentity).map(JSONValue.string) ?? .null,
            "refused": .string(refused),
        ]
    }

    /// Reads the identity and the refused action from the API server's RBAC message
    /// (`User "system:serviceaccount:velero:viewer" cannot create resource "restores" in API
    /// group "velero.io" in the namespace "velero"`); `nil` when the text is not one.
    public static func kubernetesForbidden(message: String) -> (identity: String, refused: String)? {
        func quoted(after marker: String, in text: Substring) -> (String, Substring)? {
            guard let start = text.range(of: marker) else { return nil }
            let rest = text[start.upperBound...]
            guard let end = rest.firstIndex(of: "\"") else { return nil }
            return (String(rest[..<end]), rest[rest.index(after: end)...])
        }
        guard let (user, afterUser) = quoted(after: "User \"", in: message[...]) else { return nil }
        guard let cannot = afterUser.range(of: " cannot ") else { return nil }
        let words = afterUser[cannot.upperBound...].split(separator: " ", maxSplits: 1)
        guard let verb = words.first, !verb.isEmpty, verb.allSatisfy({ $0.isLetter }) else { return nil }
        guard let (resource, afterResource) = quoted(after: "resource \"", in: afterUser) else { return nil }
        var refused = "\(verb) \(resource)"
        if let (group, _) = quoted(after: "in API group \"", in: afterResource), !group.isEmpty { refused += ".\(group)" }
        if let (namespace, _) = quoted(after: "in the namespace \"", in: afterResource) {
            refused += " in namespace \(namespace)"
        } else if afterResource.contains("at the cluster scope") {
            refused += " at the cluster scope"
        }
        return (user, refused)
    }
}
