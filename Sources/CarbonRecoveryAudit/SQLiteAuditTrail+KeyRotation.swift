import CarbonRecovery
import CarbonRecoverySQLite
import Foundation

/// Key rotation as a signed event in the trail: the rule `docs/audit-trail.md` ("Key rotation")
/// states, and what `verify` derives from it.
extension SQLiteAuditTrail {
    /// The operation name of a key rotation's entries.
    public static let keyRotationOperation = "audit.rotate-key"

    /// Records that checkpoints are signed with `newKey` from now on, instead of the configured
    /// signing key.
    ///
    /// In one transaction: an attempt and a `success` outcome of `audit.rotate-key` whose
    /// parameters name both public keys (`{"from": old, "to": new}`), then a checkpoint at the
    /// outcome signed by both keys. A verifier that trusts either key then trusts the other's
    /// checkpoints on their side of the rotation, and nothing else: a checkpoint by the old key
    /// after the rotation, or by any key the chain of rotations does not name, fails.
    ///
    /// This handle keeps signing with the old key; open the trail again with `newKey`.
    ///
    /// - Returns: The rotation's checkpoint (signed by both keys).
    /// - Throws: ``RecoveryError/Code/invalidInput`` without a configured signing key, or when
    ///   `newKey` is the same key.
    public func rotateSigningKey(to newKey: AuditSigningKey, actor: AuditActor) async throws -> AuditCheckpoint {
        guard let oldKey = configuration.signingKey else {
            throw RecoveryError.invalidInput("no signing key is configured: there is no key to rotate from")
        }
        guard oldKey.verifierKey != newKey.verifierKey else {
            throw RecoveryError.invalidInput("the new signing key is the key in use; create a new one with `carbon-recovery audit keygen`")
        }
        let parameters: JSONValue = ["from": .string(oldKey.verifierKey.text), "to": .string(newKey.verifierKey.text)]
        let target = "audit-key/\(newKey.name)+\(newKey.verifierKey.keyID)"
        let correlationID = UUID().uuidString.lowercased()
        let records = [
            AuditRecord.attempt(operation: Self.keyRotationOperation, target: target, parameters: parameters, actor: actor, correlationID: correlationID),
            AuditRecord.outcome(
                .success, operation: Self.keyRotationOperation, target: target, parameters: parameters, durationMilliseconds: 0, actor: actor,
                correlationID: correlationID),
        ]
        return try await database.run { [self] database in
            try writeTransaction(database, "record the key rotation") {
                let time = RFC3339.format(clock.now())
                // No periodic checkpoint inside: the rotation's own checkpoint, signed by both, is the one at its size.
                for record in records { _ = try appendInTransaction(database, record, time: time, periodicCheckpoint: false) }
                guard let checkpoint = try checkpointInTransaction(database, alsoSignedBy: newKey) else {
                    throw RecoveryError(.auditFailure, "the key rotation's checkpoint was not written", target: path)
                }
                return checkpoint
            }
        }
    }

    /// One recorded rotation: from which key to which, and the size of its checkpoint (the outcome's entry).
    struct KeyRotation {
        var from: AuditVerifierKey
        var to: AuditVerifierKey
        var size: Int64
    }

    /// Which keys may sign the stored checkpoint at each size, for a verifier that trusts `trusted`.
    struct CheckpointKeyPlan {
        /// The keys the reviewer named (verifier key first, then previous keys): accepted at every size.
        var trusted: [AuditVerifierKey]
        /// The rotations, by size, when the reviewer's keys are on their chain; empty otherwise.
        var rotations: [KeyRotation]

        /// The keys that may sign at `size`, and the second key a rotation's checkpoint must also carry.
        func keys(at size: Int64) -> (accepted: [AuditVerifierKey], alsoRequired: AuditVerifierKey?) {
            guard !rotations.isEmpty else { return (trusted, nil) }
            if let rotation = rotations.first(where: { $0.size == size }) { return ([rotation.from], rotation.to) }
            // The key in force: the first rotation's `from` before it, each rotation's `to` after it.
            let epochKey = rotations.last(where: { $0.size < size })?.to ?? rotations[0].from
            return ([epochKey] + trusted.filter { $0 != epochKey }, nil)
        }
    }

    /// A plan, or why the rotations make none.
    enum KeyPlanResult {
        case plan(CheckpointKeyPlan)
        case problem(AuditProblem)
    }

    /// The successful key rotations, oldest first (`?1`: ``keyRotationOperation``).
    ///
    /// `+o.outcome` keeps SQLite off the outcome index: without statistics it preferred that one,
    /// and read the row of every successful entry (a third of a second at a million entries, on
    /// every verification with a key) to find the few rotations the operation index lists directly.
    static let keyRotationsSQL = """
        SELECT o.seq, o.parameters FROM audit_entries o
        WHERE o.operation = ?1 AND o.kind = 'outcome' AND +o.outcome = 'success' ORDER BY o.seq
        """

    /// Reads the trail's key rotations and decides which keys vouch for which checkpoints.
    ///
    /// - Returns: The plan, or the problem that makes the rotations unusable (a rotation that does
    ///   not start from the key then in force, or one whose parameters do not name two keys).
    func checkpointKeyPlan(_ database: SQLiteConnection, trusting trusted: [AuditVerifierKey]) throws -> KeyPlanResult {
        let statement = try database.prepare(Self.keyRotationsSQL)
        defer { statement.reset() }
        statement.bind(1, Self.keyRotationOperation)
        var rotations: [KeyRotation] = []
        while try statement.step() {
            let size = statement.int64(0)
            guard let text = statement.text(1), let parameters = try? JSONValue(parsing: Array(text.utf8)),
                let from = parameters["from"]?.stringValue.flatMap({ try? AuditVerifierKey(parsing: $0) }),
                let to = parameters["to"]?.stringValue.flatMap({ try? AuditVerifierKey(parsing: $0) })
            else {
                return .problem(AuditProblem(
                    kind: .badSignature, sequence: size, message: "the key rotation at entry \(size) does not name the keys it rotates from and to"))
            }
            if let previous = rotations.last, previous.to != from {
                return .problem(AuditProblem(
                    kind: .badSignature, sequence: size,
                    message: "the key rotation at entry \(size) is from key '\(from.name)' (\(from.keyID)), but the key in force was '\(previous.to.name)' (\(previous.to.keyID))"))
            }
            rotations.append(KeyRotation(from: from, to: to, size: size))
        }
        // Rotations count only when the reviewer trusts a key on their chain; otherwise the rule
        // is the plain one (every checkpoint by a key the reviewer named).
        let chain = rotations.isEmpty ? [] : [rotations[0].from] + rotations.map(\.to)
        let onChain = trusted.contains { chain.contains($0) }
        return .plan(CheckpointKeyPlan(trusted: trusted, rotations: onChain ? rotations : []))
    }
}
