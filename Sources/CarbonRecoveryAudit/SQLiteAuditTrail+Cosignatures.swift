import CarbonRecovery
import CarbonRecoverySQLite
import Foundation

/// Witnesses' cosignatures of the trail's checkpoints (C2SP tlog-cosignature v1), kept in
/// `audit_cosignatures` beside the checkpoints they cosign.
extension SQLiteAuditTrail {
    /// Stores a witness's cosignature of the stored checkpoint of `size` entries, after checking
    /// that it verifies over that checkpoint with `witness`'s key. Storing one already there does nothing.
    ///
    /// - Throws: ``RecoveryError/Code/notFound`` without a checkpoint of that size,
    ///   ``RecoveryError/Code/auditTampered`` when the line does not verify,
    ///   ``RecoveryError/Code/invalidInput`` on a read-only trail.
    public func addCosignature(_ line: String, by witness: AuditCosignerKey, size: Int64) async throws {
        guard !configuration.readOnly else { throw RecoveryError.invalidInput("the audit trail is open read-only") }
        try await database.run { [self] database in
            try writeTransaction(database, "store a cosignature") {
                let read = try database.prepare("SELECT note FROM audit_checkpoints WHERE size = ?1")
                defer { read.reset() }
                read.bind(1, size)
                guard try read.step(), let note = read.text(0) else {
                    throw RecoveryError(.notFound, "the audit trail has no checkpoint of \(size) entries to cosign", target: path)
                }
                let cosigned = note + (line.hasSuffix("\n") ? line : line + "\n")
                guard !line.dropLast().contains("\n"), let time = witness.cosignatureTime(in: cosigned) else {
                    throw RecoveryError(
                        .auditTampered, "the cosignature by witness '\(witness.name)' (\(witness.keyID)) does not verify over the checkpoint of \(size) entries")
                }
                let insert = try database.prepare("INSERT OR IGNORE INTO audit_cosignatures (size, witness, line, time) VALUES (?1, ?2, ?3, ?4)")
                insert.bind(1, size)
                insert.bind(2, witness.text)
                insert.bind(3, line.hasSuffix("\n") ? String(line.dropLast()) : line)
                insert.bind(4, Int64(clamping: time))
                try insert.run()
            }
        }
    }

    /// The stored checkpoint of `size` entries (the newest when `nil`) with every stored
    /// cosignature line appended to its note; `nil` when there is none.
    public func cosignedCheckpoint(size: Int64? = nil) async throws -> AuditCheckpoint? {
        try await database.run { [self] database in
            do {
                let read = try database.prepare(
                    "SELECT size, \(noteHashColumn), note FROM audit_checkpoints" + (size == nil ? " ORDER BY size DESC LIMIT 1" : " WHERE size = ?1"))
                defer { read.reset() }
                if let size { read.bind(1, size) }
                guard try read.step() else { return nil }
                var checkpoint = AuditCheckpoint(origin: checkpointOrigin, size: read.int64(0), headHash: read.text(1) ?? "", note: read.text(2) ?? "")
                for line in try Self.cosignatureLines(database, size: checkpoint.size, hasTable: writer.hasCosignatures) {
                    checkpoint.note += line.line + "\n"
                }
                return checkpoint
            } catch let error as SQLiteError {
                throw Self.wrap(error, "cannot read the audit trail's checkpoints", path: path)
            }
        }
    }

    /// The largest checkpoint size `witness` has a stored cosignature of; 0 when none.
    public func lastCosignedSize(by witness: AuditCosignerKey) async throws -> Int64 {
        guard writer.hasCosignatures else { return 0 }
        return try await database.run { [self] database in
            do {
                let read = try database.prepare("SELECT coalesce(max(size), 0) FROM audit_cosignatures WHERE witness = ?1")
                defer { read.reset() }
                read.bind(1, witness.text)
                _ = try read.step()
                return read.int64(0)
            } catch let error as SQLiteError {
                throw Self.wrap(error, "cannot read the audit trail's cosignatures", path: path)
            }
        }
    }

    /// Checks the witnesses' cosignatures: the newest stored checkpoint must carry valid
    /// cosignatures by at least `required` distinct keys of `witnesses`, and every stored
    /// cosignature by one of them must verify over a stored checkpoint.
    ///
    /// The newest, not any: a trail rewritten after a cosigned checkpoint still holds that
    /// older checkpoint and its cosignatures; what the rewrite cannot get is the witnesses'
    /// cosignature of its new checkpoint, because no honest witness cosigns a fork.
    ///
    /// - Returns: `nil` when the requirement is met, else an ``AuditProblem/Kind/insufficientCosignatures`` problem.
    public func cosignatureProblem(witnesses: [AuditCosignerKey], required: Int) async throws -> AuditProblem? {
        guard let newest = try await latestCheckpoint() else {
            return required > 0
                ? AuditProblem(kind: .insufficientCosignatures, sequence: nil, message: "the trail has no checkpoint, so nothing is cosigned") : nil
        }
        let hasTable = writer.hasCosignatures
        let rows = try await database.run { [self] database in
            guard hasTable else { return [(Int64, String, String, String?)]() }
            do {
                let read = try database.prepare(
                    "SELECT c.size, c.witness, c.line, k.note FROM audit_cosignatures c LEFT JOIN audit_checkpoints k ON k.size = c.size ORDER BY c.size")
                defer { read.reset() }
                var rows: [(Int64, String, String, String?)] = []
                while try read.step() { rows.append((read.int64(0), read.text(1) ?? "", read.text(2) ?? "", read.text(3))) }
                return rows
            } catch let error as SQLiteError {
                throw Self.wrap(error, "cannot read the audit trail's cosignatures", path: path)
            }
        }
        var cosignedNewest = Set<AuditCosignerKey>()
        for (size, witnessText, line, note) in rows {
            guard let witness = witnesses.first(where: { $0.text == witnessText }) else { continue }
            guard let note else {
                return AuditProblem(
                    kind: .insufficientCosignatures, sequence: size,
                    message: "a cosignature by witness '\(witness.name)' is stored for a checkpoint of \(size) entries that the trail no longer has: a checkpoint was removed")
            }
            guard witness.cosignatureTime(in: note + line + "\n") != nil else {
                return AuditProblem(
                    kind: .insufficientCosignatures, sequence: size,
                    message: "the stored cosignature by witness '\(witness.name)' does not verify over the checkpoint of \(size) entries: one of them was altered")
            }
            if size == newest.size { cosignedNewest.insert(witness) }
        }
        guard cosignedNewest.count >= required else {
            return AuditProblem(
                kind: .insufficientCosignatures, sequence: newest.size,
                message: "the newest checkpoint (\(newest.size) entries) is cosigned by \(cosignedNewest.count) of the \(witnesses.count) witnesses given, "
                    + "\(required) required: run 'carbon-recovery audit cosign', or the trail was rewritten and the witnesses refused it")
        }
        return nil
    }

    /// The cosignature lines stored for the checkpoint of `size` entries, by witness key text.
    static func cosignatureLines(_ database: SQLiteConnection, size: Int64, hasTable: Bool) throws -> [(witness: String, line: String)] {
        guard hasTable else { return [] }
        let read = try database.prepare("SELECT witness, line FROM audit_cosignatures WHERE size = ?1 ORDER BY witness")
        defer { read.reset() }
        read.bind(1, size)
        var lines: [(String, String)] = []
        while try read.step() { lines.append((read.text(0) ?? "", read.text(1) ?? "")) }
        return lines
    }
}
