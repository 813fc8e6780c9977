import Foundation

/// One event of a Kubernetes API server's audit log (`audit.k8s.io/v1` `Event`, one JSON object
/// per line of `--audit-log-path` in `--audit-log-format=json`): who did what to which object,
/// and what the server answered. ``ExternalOperations`` turns them into audit-trail entries.
///
/// Only the members a reviewer needs are kept; request and response bodies (`RequestResponse`
/// level) are never read, so a secret's data in a badly chosen policy never reaches the trail.
public struct KubernetesAuditEvent: Sendable, Hashable {
    /// The server's unique id of the request; the trail's correlation id is derived from it.
    public var auditID: String
    /// `ResponseComplete`, `ResponseStarted`, `Panic` or `RequestReceived` (see ``isResult``).
    public var stage: String
    /// `create`, `get`, `list`, `update`, `patch`, `delete`, … (the API server's verb).
    public var verb: String
    /// The authenticated user; `system:anonymous` or empty for a request that failed authentication.
    public var user: String
    /// The user's groups.
    public var groups: [String]
    /// Addresses the request came from.
    public var sourceIPs: [String]
    /// The client's user agent.
    public var userAgent: String?
    /// The request path.
    public var requestURI: String
    /// `resource.group` (`restores.velero.io`, `secrets`), the namespace and the name, when the
    /// request was about an object.
    public var resource: String?
    public var namespace: String?
    public var name: String?
    /// The HTTP status the server answered.
    public var status: Int?
    /// Its reason, for a failure (`Forbidden`, `NotFound`).
    public var reason: String?
    /// When the server received the request and when this stage ended (RFC 3339, microseconds).
    public var requestReceived: String?
    public var stageTimestamp: String?

    /// Reads one line of the log.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when the line is not a JSON object of kind
    ///   `Event` in `audit.k8s.io/v1` with an `auditID`, a `stage`, a `verb` and a `requestURI`.
    public init(line: some Collection<UInt8>) throws {
        let json: JSONValue
        do {
            json = try JSONValue(parsing: line)
        } catch {
            throw RecoveryError.invalidInput("not JSON: \((error as? RecoveryError)?.message ?? "\(error)")")
        }
        guard json["kind"]?.stringValue == "Event", json["apiVersion"]?.stringValue == "audit.k8s.io/v1" else {
            throw RecoveryError.invalidInput("not an audit.k8s.io/v1 Event (kind \(json["kind"]?.stringValue ?? "missing"), apiVersion \(json["apiVersion"]?.stringValue ?? "missing"))")
        }
        func required(_ member: String) throws -> String {
            guard let value = json[member]?.stringValue, !value.isEmpty, value.utf8.count <= 4_096 else {
                throw RecoveryError.invalidInput("the event has no \(member)")
            }
            return value
        }
        auditID = try required("auditID")
        stage = try required("stage")
        verb = try required("verb")
        requestURI = try required("requestURI")
        user = json[path: ["user", "username"]]?.stringValue ?? ""
        groups = json[path: ["user", "groups"]]?.arrayValue?.compactMap(\.stringValue) ?? []
        sourceIPs = json["sourceIPs"]?.arrayValue?.compactMap(\.stringValue) ?? []
        userAgent = json["userAgent"]?.stringValue
        if let reference = json["objectRef"] {
            let plural = reference["resource"]?.stringValue ?? ""
            let group = reference["apiGroup"]?.stringValue ?? ""
            let subresource = reference["subresource"]?.stringValue.map { "/\($0)" } ?? ""
            resource = plural.isEmpty ? nil : plural + (group.isEmpty ? "" : ".\(group)") + subresource
            namespace = reference["namespace"]?.stringValue
            name = reference["name"]?.stringValue
        }
        status = json[path: ["responseStatus", "code"]]?.integerValue.map(Int.init)
        reason = json[path: ["responseStatus", "reason"]]?.stringValue
        requestReceived = json["requestReceivedTimestamp"]?.stringValue
        stageTimestamp = json["stageTimestamp"]?.stringValue
    }

    /// `namespace/resource.group/name`, or the request path when the request was not about an object.
    public var target: String {
        guard let resource else { return requestURI }
        return [namespace, resource, name].compactMap { $0 }.joined(separator: "/")
    }

    /// Whether this stage carries the request's result: `ResponseComplete`, `Panic`, or a
    /// `ResponseStarted` that refused the request (the API server logs a failed authentication
    /// at that stage only). A long-running request's `ResponseStarted` with a 2xx is not.
    public var isResult: Bool {
        stage == "ResponseComplete" || stage == "Panic" || (stage == "ResponseStarted" && (status ?? 0) >= 400)
    }
}
