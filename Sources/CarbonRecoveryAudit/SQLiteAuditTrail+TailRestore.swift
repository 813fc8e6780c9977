import CarbonRecovery
import CarbonRecoverySQLite
import Crypto
import Foundation

/// The way back after the audit database was restored from a backup: the backup ends before the
/// newest anchored checkpoint (a rollback, refused as a fork), and the entries after it are
/// fetched again from the anchors' mirror, checked against the anchored roots, and put back.
extension SQLiteAuditTrail {
    /// Puts back the entries this trail lacks that the anchors hold: for a database restored
    /// from a backup taken before the newest anchored checkpoint.
    ///
    /// The anchored history is verified first with `keys` (signatures, consistency proofs,
    /// locks). The trail must be a prefix of it: its root at every anchored size it reaches is
    /// the anchored root (a forked or rewritten database is refused, not repaired). Then every
    /// missing entry is read from the `.entries` objects and inserted byte for byte in one
    /// transaction: each must be canonical, hash to its `hash`, link to the entry before it,
    /// and the tree must reach each anchored root. Anything else rolls the whole restore back.
    /// On success the handle appends again, and an `audit.tail-restore` attempt and outcome by
    /// `actor` record what was done. Entries written after the newest anchored checkpoint and
    /// lost with the database cannot be restored: anchor often (`audit.checkpointEvery`).
    ///
    /// - Returns: The trail's size before and after (equal when nothing was missing).
    /// - Throws: ``RecoveryError/Code/auditTampered`` when the anchors do not verify, the trail
    ///   is not a prefix of them, or a fetched entry is not the anchored one;
    ///   ``RecoveryError/Code/conflict`` when another writer appended meanwhile.
    public func restoreTail(from anchors: AuditAnchors, keys: [AuditVerifierKey], actor: AuditActor) async throws -> (previousSize: Int64, size: Int64) {
        guard !configuration.readOnly else { throw RecoveryError.invalidInput("the audit trail is open read-only") }
        let report = try await anchors.verify(origin: checkpointOrigin, keys: keys)
        if let problem = report.problem {
            throw RecoveryError(.auditTampered, "the anchored history does not verify, so nothing is restored from it: \(problem)", target: path)
        }
        let local = try await size()
        guard let newest = report.anchors.last?.checkpoint, newest.size > local else { return (local, local) }
        for anchor in report.anchors where anchor.checkpoint.size <= local {
            let root = HexEncoding.string(try await treeHead(size: anchor.checkpoint.size).rootHash)
            guard root == anchor.checkpoint.headHash else {
                throw RecoveryError(
                    .auditTampered,
                    "the trail's first \(anchor.checkpoint.size) entries are not the anchored ones: this database is a fork, not a backup of the anchored trail; nothing is restored",
                    target: path)
            }
        }
        // The mirrored lines after the trail's head, in order, each anchored size's root beside.
        var lines: [(line: String, anchoredRoot: String?)] = []
        for anchor in report.anchors where anchor.checkpoint.size > local {
            let key = anchors.objectKey(checkpointOrigin, size: anchor.checkpoint.size, ".entries")
            guard let bytes = try await anchors.storage.get(key), let text = String(validating: bytes, as: UTF8.self) else {
                throw RecoveryError(.auditTampered, "the anchored entries \(key) are missing or not text", target: key)
            }
            let batch = text.split(separator: "\n").map(String.init)
            let first = anchor.checkpoint.size - Int64(batch.count) + 1
            for (offset, line) in batch.enumerated() where first + Int64(offset) > local {
                lines.append((line, first + Int64(offset) == anchor.checkpoint.size ? anchor.checkpoint.headHash : nil))
            }
        }
        let inserted = try await database.run { [self, lines] database in
            try writeTransaction(database, "restore the audit trail's tail") {
                var (head, headHash) = try head()
                guard head == local else {
                    throw RecoveryError(.conflict, "another writer appended to the trail during the restore; run it again", target: path)
                }
                var frontier = try frontier()
                for (line, anchoredRoot) in lines {
                    let entry = try Self.entry(exportLine: line)
                    guard entry.sequence == head + 1, entry.previousHash == headHash else {
                        throw RecoveryError(.auditTampered, "the anchored entry \(entry.sequence) does not follow entry \(head): the mirror is not the trail's", target: path)
                    }
                    try insert(entry, frontier: &frontier)
                    (head, headHash) = (entry.sequence, entry.hash)
                    if let anchoredRoot, HexEncoding.string(frontier.rootHash) != anchoredRoot {
                        throw RecoveryError(.auditTampered, "the restored entries up to \(head) do not have the anchored root: the mirror was altered; nothing is restored", target: path)
                    }
                }
                guard head == newest.size else {
                    throw RecoveryError(.auditTampered, "the anchored entries end at \(head), the anchored checkpoints at \(newest.size); nothing is restored", target: path)
                }
                return head
            }
        }
        anchorState.withLock { $0.fork = nil }
        let id = "tail-restore-\(UUID().uuidString.lowercased())"
        let parameters: JSONValue = ["from": .integer(local), "to": .integer(inserted), "anchors": .string(anchors.folder(checkpointOrigin))]
        _ = try await record(contentsOf: [
            .attempt(operation: "audit.tail-restore", target: "audit/\(checkpointOrigin)", parameters: parameters, actor: actor, correlationID: id),
            .outcome(.success, operation: "audit.tail-restore", target: "audit/\(checkpointOrigin)", parameters: parameters, durationMilliseconds: 0, actor: actor, correlationID: id),
        ])
        return (local, inserted)
    }

    /// An entry from its export line; only a canonical line whose hash is its own is accepted.
    static func entry(exportLine line: String) throws -> AuditEntry {
        func bad(_ what: String) -> RecoveryError { RecoveryError(.auditTampered, "an anchored entry line is not an audit entry: \(what)") }
        guard let json = try? JSONValue(parsing: Array(line.utf8)), let object = json.objectValue else { throw bad("not a JSON object") }
        func text(_ name: String) throws -> String {
            guard let value = object[name]?.stringValue else { throw bad("\(name) is missing") }
            return value
        }
        func optionalText(_ name: String) throws -> String? {
            switch object[name] {
            case .null?: return nil
            case .string(let value)?: return value
            default: throw bad("\(name) is missing")
            }
        }
        guard let version = object["v"]?.integerValue, let sequence = object["seq"]?.integerValue,
            let kind = AuditEntryKind(rawValue: try text("kind"))
        else { throw bad("v, seq or kind is missing") }
        let outcome = try optionalText("outcome")
        let duration: Int64?
        switch object["duration_ms"] {
        case .null?: duration = nil
        case .integer(let value)?: duration = value
        default: throw bad("duration_ms is missing")
        }
        let entry = AuditEntry(
            version: version, sequence: sequence, time: try text("time"), kind: kind, actor: try text("actor"), cluster: try optionalText("cluster"),
            operation: try text("operation"), target: try text("target"), parameters: try text("parameters"),
            outcome: try outcome.map { guard let value = AuditOutcome(rawValue: $0) else { throw bad("outcome '\($0)'") }; return value },
            error: try optionalText("error"), durationMilliseconds: duration, correlationID: try text("correlation_id"), session: try text("session"),
            previousHash: try text("prev_hash"), hash: try text("hash"))
        guard entry.jsonLine == line else { throw bad("entry \(sequence)'s line is not in the canonical encoding") }
        guard HexEncoding.string(SHA256.hash(data: entry.canonicalBytes(includingHash: false))) == entry.hash else {
            throw bad("entry \(sequence)'s hash is not the hash of its members")
        }
        return entry
    }
}
