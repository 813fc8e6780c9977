import CSQLite
import CarbonRecovery
import CarbonRecoverySQLite
import Crypto
import Foundation
import Logging
import Synchronization

/// Reading: verification, queries and the rows they return.
extension SQLiteAuditTrail {
    func verify(externalCheckpoint: AuditCheckpoint?) async throws -> AuditVerificationReport {
        try await database.run { [self] database in
            do {
                return try database.readTransaction {
                    var checkpoints: [Int64: String] = [:]
                    var plan: CheckpointKeyPlan?
                    if let key = configuration.verifierKey {
                        switch try checkpointKeyPlan(database, trusting: [key] + configuration.previousVerifierKeys) {
                        case .plan(let keys): plan = keys
                        case .problem(let problem): return Self.failedBeforeScanning(problem)
                        }
                    }
                    var treeCheckpoints: [Int64: String] = [:]
                    let stored = try database.prepare(
                        "SELECT size, head_hash, note, \(writer.hasTree ? "root_hash" : "NULL") FROM audit_checkpoints ORDER BY size")
                    while try stored.step() {
                        let size = stored.int64(0)
                        let chainHash = stored.text(1) ?? ""
                        let root = stored.text(3)
                        // What the note states: the tree's root, or for a checkpoint from before the tree the chain's head.
                        let hash = root ?? chainHash
                        if let plan {
                            let (accepted, alsoRequired) = plan.keys(at: size)
                            let note = stored.text(2) ?? ""
                            let why = AuditCheckpoint.inconsistency(storedNote: note, keys: accepted, size: size, headHash: hash, origin: checkpointOrigin)
                                ?? alsoRequired.flatMap {
                                    AuditCheckpoint.inconsistency(storedNote: note, keys: [$0], size: size, headHash: hash, origin: checkpointOrigin)
                                        .map { "the key rotation's checkpoint must carry both keys' signatures, and \($0)" }
                                }
                            if let why {
                                stored.reset()
                                return Self.failedBeforeScanning(AuditProblem(
                                    kind: .badSignature, sequence: size, message: "the stored checkpoint at size \(size) is not vouched for: \(why)"))
                            }
                        }
                        checkpoints[size] = chainHash
                        if let root { treeCheckpoints[size] = root }
                    }
                    stored.reset()
                    if let rotation = plan?.rotations.first(where: { checkpoints[$0.size] == nil }) {
                        return Self.failedBeforeScanning(AuditProblem(
                            kind: .badSignature, sequence: rotation.size,
                            message: "the key rotation at entry \(rotation.size) has no checkpoint signed by both keys, so nothing vouches for it"))
                    }
                    if let externalCheckpoint {
                        guard externalCheckpoint.origin == checkpointOrigin else {
                            return Self.failedBeforeScanning(AuditProblem(
                                kind: .checkpointMismatch, sequence: nil,
                                message: "the checkpoint is for '\(externalCheckpoint.origin)' but this trail is '\(checkpointOrigin)': the file was replaced or it is another trail"))
                        }
                    }
                    // Two subqueries: SQLite answers a lone max() or min() from the primary key's
                    // ends, but both in one SELECT read the whole table (a tenth of the verify time).
                    let head = try database.prepare(
                        "SELECT coalesce((SELECT max(seq) FROM audit_entries), 0), (SELECT min(seq) FROM audit_entries)")
                    _ = try head.step()
                    let lastSequence = head.int64(0)
                    let lowest = head.type(1) == SQLITE_NULL ? nil : head.int64(1)
                    head.reset()
                    // The chain is entries 1…max: a row below 1 would never be scanned, yet
                    // queries, exports and statistics show it.
                    if let lowest, lowest < 1 {
                        return Self.failedBeforeScanning(AuditProblem(
                            kind: .rowOutsideChain, sequence: lowest,
                            message: "a row with seq \(lowest) is outside the chain (which starts at 1): a row was inserted into the trail"))
                    }
                    var verifier = AuditChainVerifier(checkpoints: checkpoints, tree: writer.hasTree, treeCheckpoints: treeCheckpoints)
                    if let externalCheckpoint {
                        if writer.hasTree && externalCheckpoint.size <= lastSequence {
                            // Its hash is the tree's root at its size, or (a checkpoint from before the
                            // tree) the chain's head there: checked once both are verified.
                            verifier.external = (externalCheckpoint.size, externalCheckpoint.headHash)
                        } else {
                            // At the same size the external checkpoint wins: a stored one may have been
                            // rewritten along with the chain. Past the end it is a cut-off tail.
                            verifier.checkpoints[externalCheckpoint.size] = externalCheckpoint.headHash
                        }
                    }
                    return try verifier.verify(path: path, lastSequence: lastSequence)
                }
            } catch let error as SQLiteError {
                throw Self.wrap(error, "cannot read the audit trail to verify it", path: path)
            }
        }
    }

    /// A report for a problem found before any entry was read (checkpoints, signatures).
    static func failedBeforeScanning(_ problem: AuditProblem) -> AuditVerificationReport {
        AuditVerificationReport(
            entriesChecked: 0, headSequence: 0, headHash: AuditCanonicalEncoding.genesisHash, checkpointsChecked: 0, problem: problem)
    }

    enum Binding {
        case text(String)
        case integer(Int64)
    }

    func bind(_ bindings: [Binding], to statement: SQLiteStatement) {
        for (index, binding) in bindings.enumerated() {
            switch binding {
            case .text(let text): statement.bind(Int32(index + 1), text)
            case .integer(let number): statement.bind(Int32(index + 1), number)
            }
        }
    }

    static func whereClause(_ query: AuditQuery, paging: Bool) -> (String, [Binding]) {
        var clauses: [String] = []
        var bindings: [Binding] = []
        func add(_ clause: String, _ binding: Binding) {
            clauses.append(clause.replacingOccurrences(of: "?", with: "?\(bindings.count + 1)"))
            bindings.append(binding)
        }
        if let from = query.from { add("time >= ?", .text(RFC3339.format(from))) }
        if let to = query.to { add("time < ?", .text(RFC3339.format(to))) }
        if let actor = query.actor { add("actor = ?", .text(actor)) }
        if let operation = query.operation { add("operation = ?", .text(operation)) }
        if let target = query.target { add("target = ?", .text(target)) }
        if let kind = query.kind { add("kind = ?", .text(kind.rawValue)) }
        if let outcome = query.outcome { add("outcome = ?", .text(outcome.rawValue)) }
        if let correlationID = query.correlationID { add("correlation_id = ?", .text(correlationID)) }
        if paging, let cursor = query.afterSequence { add(query.newestFirst ? "seq < ?" : "seq > ?", .integer(cursor)) }
        return (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "), bindings)
    }

    static func selectSQL(_ query: AuditQuery, columns: String, limit: Int) -> (String, [Binding]) {
        let (whereClause, bindings) = whereClause(query, paging: true)
        return ("SELECT \(columns) FROM audit_entries\(whereClause) ORDER BY seq \(query.newestFirst ? "DESC" : "ASC") LIMIT \(limit)", bindings)
    }

    /// The entry in the current row. Text is taken as stored, never repaired: a member that is
    /// not valid UTF-8 fails (as `verify` does) instead of being exported with U+FFFD in place
    /// of the bytes its hash covers.
    static func entry(from statement: SQLiteStatement) throws -> AuditEntry {
        let sequence = statement.int64(0)
        func text(_ column: Int32, _ name: String) throws -> String? {
            guard let bytes = statement.textBytes(column) else { return nil }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw RecoveryError(
                    .auditTampered, "entry \(sequence): \(name) is not valid UTF-8, which no writer stores; run `carbon-recovery audit verify`")
            }
            return text
        }
        guard let kind = statement.text(3).flatMap(AuditEntryKind.init(rawValue:)) else {
            throw RecoveryError(.auditTampered, "entry \(sequence) has an unknown kind; run `carbon-recovery audit verify`")
        }
        return AuditEntry(
            version: statement.int64(1), sequence: sequence, time: try text(2, "time") ?? "", kind: kind,
            actor: try text(4, "actor") ?? "", cluster: try text(5, "cluster"), operation: try text(6, "operation") ?? "",
            target: try text(7, "target") ?? "", parameters: try text(8, "parameters") ?? "",
            outcome: statement.text(9).flatMap(AuditOutcome.init(rawValue:)), error: try text(10, "error"),
            durationMilliseconds: statement.isNull(11) ? nil : statement.int64(11), correlationID: try text(12, "correlation_id") ?? "",
            session: try text(13, "session") ?? "", previousHash: try text(14, "prev_hash") ?? "", hash: try text(15, "hash") ?? "")
    }
}
