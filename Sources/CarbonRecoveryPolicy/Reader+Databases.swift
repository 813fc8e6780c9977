import CarbonRecovery
import Foundation
import Yams

/// The `databases` section: PostgreSQL clusters recovered to a point in time from their WAL
/// archives, with their objectives, base-backup cron and retention.
extension Reader {
    mutating func databases(_ node: Node?) throws -> [DatabasePolicy] {
        var databases: [DatabasePolicy] = []
        for (index, entry) in (try sequence(node, "databases")).enumerated() {
            let path = "databases[\(index)]"
            note(entry, path)
            let fields = try mapping(
                entry, path,
                allowed: [
                    "stanza", "host", "port", "user", "passwordFile", "bin", "runAs", "bucket", "prefix", "compression", "rpo", "rto", "baseBackup",
                    "keepBaseBackups",
                ],
                required: ["stanza", "rpo", "rto"])
            func text(_ key: String) throws -> String? { try fields[key].map { try string($0, "\(path).\(key)") } }
            var database = DatabasePolicy(
                stanza: try text("stanza")!, rpo: try duration(fields["rpo"]!, "\(path).rpo"), rto: try duration(fields["rto"]!, "\(path).rto"))
            if let host = try text("host") { database.host = host }
            if let port = try int(fields["port"], "\(path).port") { database.port = port }
            if let user = try text("user") { database.user = user }
            database.passwordFile = try text("passwordFile")
            if let file = database.passwordFile, !file.hasPrefix("/") {
                throw fail(fields["passwordFile"], "\(path).passwordFile", "give an absolute path to libpq's password file (the password itself never goes in the policy)")
            }
            database.binDirectory = try text("bin")
            database.runAs = try text("runAs")
            if let bucket = try text("bucket") {
                try checked(fields["bucket"]!, "\(path).bucket") { try KubernetesName.validateSubdomain(bucket, what: "bucket") }
                database.bucket = bucket
            }
            if let prefix = try text("prefix") {
                guard prefix.isEmpty || (prefix.hasSuffix("/") && !prefix.hasPrefix("/") && !prefix.contains("//") && !prefix.contains("..")) else {
                    throw fail(fields["prefix"], "\(path).prefix", "'\(prefix)' must be empty or a relative folder ending in '/' (e.g. 'databases/')")
                }
                database.prefix = prefix
            }
            if let compression = try text("compression") { database.compression = compression }
            database.baseBackup = try fields["baseBackup"].map { try cron($0, "\(path).baseBackup") }
            database.keepBaseBackups = try int(fields["keepBaseBackups"], "\(path).keepBaseBackups")
            try checked(entry, path) { try database.validate() }
            if databases.contains(where: { $0.stanza == database.stanza && $0.bucket == database.bucket && $0.prefix == database.prefix }) {
                throw fail(fields["stanza"], "\(path).stanza", "stanza '\(database.stanza)' is named twice for one archive: give each database its own stanza")
            }
            databases.append(database)
        }
        return databases
    }
}
