import CSQLite
import CarbonRecovery
import CarbonRecoverySQLite
import Crypto
import Foundation
import Logging
import Synchronization

/// Appending: one transaction per group of waiting appends, linking each entry to the head; crash
/// recovery of attempts whose process died.
extension SQLiteAuditTrail {
    func appendInTransaction(_ database: SQLiteConnection, _ record: AuditRecord, time: String, periodicCheckpoint: Bool = true) throws -> AuditEntry {
        let (lastSequence, lastHash) = try head()
        // Read before the insert moves the head: the tree as of the entry before this one.
        var frontier = try frontier()
        var entry = AuditEntry(
            version: AuditEntry.version(for: record.outcome), sequence: lastSequence + 1, time: time, kind: record.kind, actor: record.actor.user, cluster: record.actor.cluster,
            operation: record.operation, target: record.target, parameters: record.parameters, outcome: record.outcome,
            error: record.error, durationMilliseconds: record.durationMilliseconds, correlationID: record.correlationID,
            session: session, previousHash: lastHash, hash: "")
        // One encoding for both hashes: the chain's over it, the leaf's with the hash spliced in.
        let (unhashed, hashSlot) = entry.canonicalEncoding(includingHash: false)
        entry.hash = HexEncoding.string(SHA256.hash(data: unhashed))
        var leaf = ByteBuffer(capacity: unhashed.count + 80)
        var hash = entry.hash
        unhashed.withUnsafeBytes { unhashed in
            hash.withUTF8 { MerkleTree.writeEntryLeaf(unhashed: unhashed, hashSlot: hashSlot, hash: UnsafeRawBufferPointer($0), into: &leaf) }
        }
        let leafHash = MerkleTree.hash(SHA256.hash(data: leaf.bytes))

        try insert(entry, leafHash: leafHash, frontier: &frontier)

        if !writer.sessionRegistered {
            let register = try database.prepare("INSERT OR IGNORE INTO audit_sessions (session, first_seq, pid, started) VALUES (?1, ?2, ?3, ?4)")
            register.bind(1, session)
            register.bind(2, entry.sequence)
            register.bind(3, Int64(getpid()))
            register.bind(4, time)
            try register.run()
            writer.sessionRegistered = true
        }
        switch entry.kind {
        case .attempt: writer.openAttempts.insert(entry.correlationID)
        case .outcome: writer.openAttempts.remove(entry.correlationID)
        }
        if periodicCheckpoint, let interval = configuration.checkpointInterval, interval > 0, configuration.signingKey != nil,
            entry.sequence % interval == 0
        {
            if let checkpoint = try checkpointInTransaction(database), configuration.anchors != nil {
                // Anchored once committed, by the append that made it (see anchorPendingCheckpoints);
                // dropped if the transaction rolls back.
                writer.uncommittedCheckpoints.append(checkpoint)
            }
        }
        return entry
    }

    /// Inserts `entry` as the next row with the tree hashes it completes; `frontier` is the tree
    /// before it and becomes the tree with it. The transaction's head moves to it.
    ///
    /// - Parameter leafHash: The entry's leaf hash when the caller has it; else computed here.
    func insert(_ entry: AuditEntry, leafHash: MerkleTree.Hash? = nil, frontier: inout MerkleFrontier) throws {
        guard let insertStatement = writer.insertStatement else {
            throw RecoveryError(.auditFailure, "the audit trail was opened read-only", target: path)
        }
        insertStatement.bind(1, entry.sequence)
        insertStatement.bind(2, entry.version)
        insertStatement.bind(3, entry.time)
        insertStatement.bind(4, entry.kind.rawValue)
        insertStatement.bind(5, entry.actor)
        insertStatement.bind(6, entry.cluster)
        insertStatement.bind(7, entry.operation)
        insertStatement.bind(8, entry.target)
        insertStatement.bind(9, entry.parameters)
        insertStatement.bind(10, entry.outcome?.rawValue)
        insertStatement.bind(11, entry.error)
        insertStatement.bind(12, entry.durationMilliseconds)
        insertStatement.bind(13, entry.correlationID)
        insertStatement.bind(14, entry.session)
        insertStatement.bind(15, entry.previousHash)
        insertStatement.bind(16, entry.hash)
        let treeHashes = try leafHash.map { try Self.treeHashes(leafHash: $0, sequence: entry.sequence, frontier: &frontier, path: path) }
            ?? Self.treeHashes(entry, frontier: &frontier, path: path)
        insertStatement.bind(17, bytes: treeHashes)
        try insertStatement.run()
        writer.cachedHead = (entry.sequence, entry.hash)
        writer.cachedFrontier = frontier
    }

    /// The head as of this transaction. Inside one transaction the head only moves by our own
    /// inserts, so it is read from the database once per transaction and then carried along.
    func head() throws -> (Int64, String) {
        if let cachedHead = writer.cachedHead { return cachedHead }
        let headStatement = writer.headStatement
        defer { headStatement.reset() }
        let head = try headStatement.step()
            ? (headStatement.int64(0), headStatement.text(1) ?? "")
            : (0, AuditCanonicalEncoding.genesisHash)
        writer.cachedHead = head
        return head
    }

    func checkpointInTransaction(_ database: SQLiteConnection, alsoSignedBy extraKey: AuditSigningKey? = nil) throws -> AuditCheckpoint? {
        guard let key = configuration.signingKey else { return nil }
        let (size, hash) = try head()
        guard size > 0 else { return nil }
        // C2SP tlog-checkpoint: the note states the tree's root; the chain's head is stored beside it.
        let root = HexEncoding.string(try frontier().rootHash)
        let checkpoint = try AuditCheckpoint.sign(origin: checkpointOrigin, size: size, headHash: root, keys: [key] + (extraKey.map { [$0] } ?? []))
        let statement = try database.prepare(
            "INSERT OR IGNORE INTO audit_checkpoints (size, head_hash, time, note, root_hash) VALUES (?1, ?2, ?3, ?4, ?5)")
        statement.bind(1, size)
        statement.bind(2, hash)
        statement.bind(3, RFC3339.format(clock.now()))
        statement.bind(4, checkpoint.note)
        statement.bind(5, root)
        try statement.run()
        return checkpoint
    }

    func writeTransaction<T>(_ database: SQLiteConnection, _ what: String, _ body: () throws -> T) throws -> T {
        guard !configuration.readOnly else {
            throw RecoveryError(.auditFailure, "cannot \(what): the trail was opened read-only", target: path)
        }
        guard !writer.closed else {
            throw RecoveryError(.auditFailure, "cannot \(what): this handle of the trail was closed; open it again", target: path)
        }
        writer.cachedHead = nil
        writer.cachedFrontier = nil
        writer.uncommittedCheckpoints = []
        defer { (writer.cachedHead, writer.cachedFrontier, writer.uncommittedCheckpoints) = (nil, nil, []) }
        // What the body changes in memory must be undone if the transaction rolls back.
        let (registered, open) = (writer.sessionRegistered, writer.openAttempts)
        do {
            let result = try database.immediateTransaction(body)
            if let frontier = writer.cachedFrontier, let head = writer.cachedHead, frontier.size == head.0 {
                writer.committedFrontier = (frontier, head.0, head.1)
            }
            if !writer.uncommittedCheckpoints.isEmpty {
                let committed = writer.uncommittedCheckpoints
                anchorState.withLock { $0.pending += committed }
            }
            return result
        } catch {
            (writer.sessionRegistered, writer.openAttempts) = (registered, open)
            if let error = error as? SQLiteError { throw Self.wrap(error, "cannot \(what)", path: path) }
            throw error
        }
    }

    /// Appends an `abandoned` outcome for every attempt whose process is gone.
    func recoverAbandonedAttempts(_ database: SQLiteConnection) throws {
        let directory = Self.sessionDirectory(for: path)
        let recovered: Int = try writeTransaction(database, "close abandoned attempts") {
            let sessions = try database.prepare("SELECT session, first_seq FROM audit_sessions ORDER BY first_seq")
            var dead: [(String, Int64)] = []
            while try sessions.step() {
                let owner = sessions.text(0) ?? ""
                if owner != session && !SessionLock.isAlive(directory: directory, session: owner) {
                    dead.append((owner, sessions.int64(1)))
                }
            }
            sessions.reset()
            guard !dead.isEmpty else { return 0 }
            let unfinished = try database.prepare("""
                SELECT a.operation, a.target, a.actor, a.cluster, a.correlation_id, a.seq FROM audit_entries a
                WHERE a.seq >= ?1 AND a.session = ?2 AND a.kind = 'attempt'
                  AND NOT EXISTS (SELECT 1 FROM audit_entries o
                                  WHERE o.correlation_id = a.correlation_id AND o.kind = 'outcome' AND o.seq > a.seq)
                ORDER BY a.seq
                """)
            let forget = try database.prepare("DELETE FROM audit_sessions WHERE session = ?1")
            let time = RFC3339.format(clock.now())
            var count = 0
            for (owner, firstSequence) in dead {
                unfinished.bind(1, firstSequence)
                unfinished.bind(2, owner)
                var records: [AuditRecord] = []
                while try unfinished.step() {
                    records.append(.outcome(
                        .abandoned, operation: unfinished.text(0) ?? "", target: unfinished.text(1) ?? "",
                        error: "the process that recorded attempt \(unfinished.int64(5)) (session \(owner)) ended before recording an outcome",
                        durationMilliseconds: nil, actor: AuditActor(user: unfinished.text(2) ?? "", cluster: unfinished.text(3)),
                        correlationID: unfinished.text(4) ?? ""))
                }
                unfinished.reset()
                for record in records { _ = try appendInTransaction(database, record, time: time) }
                forget.bind(1, owner)
                try forget.run()
                count += records.count
            }
            return count
        }
        if recovered > 0 {
            logger.debug("closed abandoned audit attempts", metadata: ["count": "\(recovered)", "trail": "\(path)"])
        }
        // Lock files of processes that ended without closing their handle (no pending attempts
        // left behind, or just closed above): remove them so the folder does not grow.
        let lockFiles = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for file in lockFiles where file.hasSuffix(".lock") && file != "\(session).lock" {
            _ = SessionLock.isAlive(directory: directory, session: String(file.dropLast(5)))
        }
    }
}
