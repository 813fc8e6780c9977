import CSQLite
import CarbonRecovery
import CarbonRecoverySQLite
import Crypto
import Foundation
import Logging
import Synchronization

/// The schema: migrations, the trail's id, and SQLite errors as `RecoveryError`s.
extension SQLiteAuditTrail {
    /// Brings the schema to ``AuditSchema/currentVersion`` (a writer) and returns the version the
    /// file has now. A reader leaves an older trail as it is: it is read without what it lacks
    /// (a trail from before the tree verifies its chain; its tree comes with the next writer).
    @discardableResult
    static func migrate(_ database: SQLiteConnection, readOnly: Bool, path: String, at time: Date) throws -> Int64 {
        let exists = try database.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
        _ = try exists.step()
        let hasSchema = exists.int64(0) > 0
        exists.reset()
        var version: Int64 = 0
        if hasSchema {
            let current = try database.prepare("SELECT max(version) FROM schema_version")
            _ = try current.step()
            version = current.int64(0)
            current.reset()
        }
        if version > AuditSchema.currentVersion {
            throw RecoveryError(
                .auditFailure,
                "the audit trail has schema version \(version), newer than this CarbonRecovery understands (\(AuditSchema.currentVersion)); upgrade CarbonRecovery",
                target: path)
        }
        guard version < AuditSchema.currentVersion else { return version }
        if readOnly, version >= 1 { return version }
        if readOnly {
            throw RecoveryError(
                .auditFailure, "the file is not a CarbonRecovery audit trail (or an older one that must be opened for writing once)",
                target: path)
        }
        try database.immediateTransaction {
            // Re-read inside the write lock: another process may have migrated meanwhile.
            let again = try database.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
            _ = try again.step()
            var current: Int64 = 0
            if again.int64(0) > 0 {
                let read = try database.prepare("SELECT max(version) FROM schema_version")
                _ = try read.step()
                current = read.int64(0)
            }
            again.reset()
            while current < AuditSchema.currentVersion {
                try database.execute(AuditSchema.migrations[Int(current)])
                current += 1
                if current == AuditSchema.treeVersion { try buildTree(database, path: path) }
                let record = try database.prepare("INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)")
                record.bind(1, current)
                record.bind(2, RFC3339.format(time))
                try record.run()
            }
        }
        return AuditSchema.currentVersion
    }

    static func readOrCreateTrailID(_ database: SQLiteConnection, readOnly: Bool) throws -> String {
        let read = try database.prepare("SELECT value FROM audit_meta WHERE key = 'trail_id'")
        defer { read.reset() }
        if try read.step(), let id = read.text(0) { return id }
        read.reset()
        guard !readOnly else { return "unknown" }
        let id = UUID().uuidString.lowercased()
        let insert = try database.prepare("INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('trail_id', ?1)")
        insert.bind(1, id)
        try insert.run()
        // Another process may have won the race: read back the one that stuck.
        if try read.step(), let stored = read.text(0) { return stored }
        return id
    }

    static func wrap(_ error: SQLiteError, _ what: String, path: String) -> RecoveryError {
        if error.isBusy {
            return RecoveryError(.timeout, "\(what): another process held the trail's write lock past the busy timeout", target: path, underlying: error)
        }
        return RecoveryError(.auditFailure, "\(what): \(error.message)", target: path, underlying: error)
    }
}
