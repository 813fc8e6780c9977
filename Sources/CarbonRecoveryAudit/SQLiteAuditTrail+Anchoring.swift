import CarbonRecovery
import CarbonRecoverySQLite
import Foundation
import Logging

/// Anchoring checkpoints in an object-lock bucket, and refusing to write from a database that
/// does not extend them (``AuditAnchors``).
extension SQLiteAuditTrail {
    /// Why this handle refuses to append: its trail does not extend the newest checkpoint
    /// anchored in the object-lock bucket (a copied, rolled-back or rewritten database). `nil`
    /// when it appends normally. Checked when a writable handle opens and at each checkpoint.
    public var forkDetected: String? { anchorState.withLock { $0.fork } }

    /// On a writable open: compares the trail with the newest anchor. An unreachable bucket does
    /// not stop the trail (the audit record must go on during an outage); it is logged, and
    /// `audit verify --anchors` still finds a fork later.
    func checkAnchorsOnOpen() async {
        guard let anchors = configuration.anchors else { return }
        do {
            if let problem = try await anchors.forkProblem(in: self) {
                anchorState.withLock { $0.fork = problem }
                logger.error("audit trail fork detected", metadata: ["problem": "\(problem)", "path": "\(path)"])
            }
        } catch {
            logger.warning("cannot read the audit trail's anchors", metadata: ["error": "\(error)", "path": "\(path)"])
        }
    }

    /// Anchors `checkpoint`; a fork found on the way makes this handle refuse further appends.
    ///
    /// - Throws: ``RecoveryError/Code/auditTampered`` on a fork, storage errors as they come.
    func anchor(_ checkpoint: AuditCheckpoint) async throws {
        guard let anchors = configuration.anchors else { return }
        do {
            try await anchors.anchor(checkpoint, of: self)
        } catch let error as RecoveryError where error.code == .auditTampered {
            anchorState.withLock { $0.fork = error.message }
            throw error
        }
    }

    /// Anchors the checkpoints that appends signed (every `checkpointInterval` entries). Their
    /// entries are committed already, so a failure here does not fail the append: a fork makes
    /// the next append refuse; an unreachable bucket is logged, and the next anchored checkpoint
    /// carries a consistency proof from the last one anchored, so the sequence has no hole.
    func anchorPendingCheckpoints() async {
        let pending = anchorState.withLock { state in
            defer { state.pending = [] }
            return state.pending
        }
        for checkpoint in pending {
            do { try await anchor(checkpoint) } catch {
                logger.warning("cannot anchor the audit checkpoint", metadata: ["size": "\(checkpoint.size)", "error": "\(error)"])
            }
        }
    }

    /// The export lines (each with its newline) of the entries after `after` up to `through`.
    func exportLines(after: Int64, through: Int64) async throws -> [String] {
        try await database.run { [self] database in
            do {
                let read = try database.prepare("SELECT \(AuditSchema.entryColumns) FROM audit_entries WHERE seq > ?1 AND seq <= ?2 ORDER BY seq")
                defer { read.reset() }
                read.bind(1, after)
                read.bind(2, through)
                var lines: [String] = []
                while try read.step() { lines.append(try Self.entry(from: read).jsonLine + "\n") }
                return lines
            } catch let error as SQLiteError {
                throw Self.wrap(error, "cannot read the audit trail", path: path)
            }
        }
    }
}
