import CarbonRecovery
import Foundation
import Yams

/// The `audit` section: the checkpoint signing key, when checkpoints are signed and copied, the
/// witnesses that cosign them and the object-lock bucket they are anchored in.
extension Reader {
    mutating func audit(_ node: Node) throws -> AuditPolicy {
        var audit = AuditPolicy()
        note(node, "audit")
        let fields = try mapping(node, "audit", allowed: ["signingKey", "checkpointInterval", "checkpointExport", "checkpointEvery", "witnesses", "anchors"])
        func absolutePath(_ key: String) throws -> String? {
            guard let value = fields[key] else { return nil }
            note(value, "audit.\(key)")
            let path = try string(value, "audit.\(key)")
            guard path.hasPrefix("/") else { throw fail(value, "audit.\(key)", "write an absolute path, not '\(path)': the commands that read the policy run from any folder") }
            return path
        }
        audit.signingKey = try absolutePath("signingKey")
        audit.checkpointExport = try absolutePath("checkpointExport")
        if let value = fields["checkpointInterval"] {
            note(value, "audit.checkpointInterval")
            guard let interval = try int(value, "audit.checkpointInterval"), interval >= 1 else {
                throw fail(value, "audit.checkpointInterval", "write a whole number of entries, 1 or more")
            }
            audit.checkpointInterval = Int64(interval)
        }
        if let value = fields["checkpointEvery"] {
            note(value, "audit.checkpointEvery")
            if try string(value, "audit.checkpointEvery") == "off" {
                audit.checkpointEvery = nil
            } else {
                let every = try duration(value, "audit.checkpointEvery")
                guard every.nanoseconds >= 1_000_000_000 else {
                    throw fail(value, "audit.checkpointEvery", "write a duration of 1s or more (such as 1h), or off")
                }
                audit.checkpointEvery = .nanoseconds(every.nanoseconds)
            }
        }
        if let value = fields["witnesses"] {
            note(value, "audit.witnesses")
            for (index, item) in try sequence(value, "audit.witnesses").enumerated() {
                let path = "audit.witnesses[\(index)]"
                note(item, path)
                let witness = try mapping(item, path, allowed: ["url", "publicKey"], required: ["url", "publicKey"])
                let url = try string(witness["url"]!, path + ".url")
                guard url.hasPrefix("http://") || url.hasPrefix("https://"), URL(string: url)?.host != nil else {
                    throw fail(witness["url"]!, path + ".url", "write the witness's add-checkpoint URL, such as http://127.0.0.1:7380/add-checkpoint")
                }
                let key = try string(witness["publicKey"]!, path + ".publicKey")
                guard key.split(separator: "+", omittingEmptySubsequences: false).count >= 3 else {
                    throw fail(witness["publicKey"]!, path + ".publicKey", "write the witness's public key text (<name>+<key id>+<base64>), as `carbon-recovery witness keygen` prints it")
                }
                audit.witnesses.append(AuditWitnessPolicy(url: url, publicKey: key))
            }
        }
        if let value = fields["anchors"] {
            note(value, "audit.anchors")
            let anchor = try mapping(
                value, "audit.anchors", allowed: ["endpoint", "bucket", "prefix", "region", "credentials", "retention"],
                required: ["endpoint", "bucket", "credentials"])
            let endpoint = try string(anchor["endpoint"]!, "audit.anchors.endpoint")
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil, url.user == nil, url.password == nil else {
                throw fail(anchor["endpoint"]!, "audit.anchors.endpoint", "'\(AuditRedaction.redact(text: endpoint))' is not an http(s)://host:port URL without credentials")
            }
            let bucket = try string(anchor["bucket"]!, "audit.anchors.bucket")
            try checked(anchor["bucket"]!, "audit.anchors.bucket") { try KubernetesName.validateSubdomain(bucket, what: "bucket") }
            var policy = AuditAnchorPolicy(
                endpoint: endpoint, bucket: bucket, credentials: try credentials(anchor["credentials"]!, "audit.anchors.credentials", allowSecret: false))
            if let prefix = anchor["prefix"] { policy.prefix = try string(prefix, "audit.anchors.prefix") }
            if let region = anchor["region"] { policy.region = try string(region, "audit.anchors.region") }
            if let node = anchor["retention"] {
                let retention = try duration(node, "audit.anchors.retention")
                guard retention.nanoseconds >= 86_400 * 1_000_000_000 else {
                    throw fail(node, "audit.anchors.retention", "write a retention of a day or more (such as 9600h): an anchor that unlocks soon protects nothing")
                }
                policy.retention = .nanoseconds(retention.nanoseconds)
            }
            audit.anchors = policy
        }
        return audit
    }
}
