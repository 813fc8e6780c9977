import Foundation

/// Who performed an operation: the operating-system user and the cluster identity.
public struct AuditActor: Sendable, Hashable {
    /// The OS user name (from the effective user id).
    public var user: String
    /// The cluster identity the operation ran as (kubeconfig context and user, server), if any.
    public var cluster: String?

    /// Creates an actor from an OS user name and an optional cluster identity.
    public init(user: String, cluster: String? = nil) {
        self.user = user
        self.cluster = cluster
    }

    /// The current OS user, with an optional cluster identity.
    public static func current(cluster: ClusterIdentity? = nil) -> AuditActor {
        AuditActor(user: currentOSUser(), cluster: cluster?.description)
    }

    static func currentOSUser() -> String {
        #if canImport(Glibc)
        let uid = geteuid()
        if let entry = getpwuid(uid), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid:\(uid)"
        #else
        return ProcessInfo.processInfo.userName
        #endif
    }
}
