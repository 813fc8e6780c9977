import CarbonRecovery
import Foundation

/// Collects witnesses' cosignatures of a trail's newest checkpoint (C2SP tlog-witness
/// `add-checkpoint`) and stores them in the trail.
///
/// For each witness it sends the checkpoint with a consistency proof from the size that witness
/// last cosigned (as the trail recorded it). A witness that answers 409 knows another size (the
/// trail's record was lost, or another writer asked it): the collector retries once from the
/// size it gave. Every returned cosignature is checked against the witness's key before it is
/// stored. How requests travel is injected (`post`), so the logic runs without a network.
///
/// ```swift
/// let collector = AuditWitnessCollector(trail: trail, witnesses: witnesses, post: client.post)
/// for outcome in try await collector.cosignNewest() { print(outcome) }
/// ```
public struct AuditWitnessCollector: Sendable {
    /// A witness to ask: its `add-checkpoint` URL and the public key its cosignatures verify with.
    public struct Witness: Sendable, Hashable {
        /// The witness's `add-checkpoint` endpoint, e.g. `http://127.0.0.1:7380/add-checkpoint`.
        public var url: String
        /// The witness's public cosigner key.
        public var key: AuditCosignerKey

        /// Creates a witness entry.
        public init(url: String, key: AuditCosignerKey) {
            self.url = url
            self.key = key
        }
    }

    /// What one witness did with the newest checkpoint.
    public struct Outcome: Sendable, Hashable, CustomStringConvertible {
        /// The witness asked.
        public var witness: Witness
        /// Whether the trail now holds its cosignature of the checkpoint.
        public var cosigned: Bool
        /// The witness's HTTP status (0 when it could not be reached).
        public var status: Int
        /// What happened, in words.
        public var message: String

        public var description: String { "\(witness.key.name): \(message)" }
    }

    /// Sends one request body to a witness's URL and returns its answer.
    public typealias Post = @Sendable (_ url: String, _ body: String) async throws -> AuditWitness.Response

    private let trail: SQLiteAuditTrail
    private let witnesses: [Witness]
    private let post: Post

    /// Creates a collector for `trail` (opened for writing) and `witnesses`.
    public init(trail: SQLiteAuditTrail, witnesses: [Witness], post: @escaping Post) {
        self.trail = trail
        self.witnesses = witnesses
        self.post = post
    }

    /// Asks every witness to cosign the trail's newest checkpoint, all at once.
    ///
    /// - Returns: One outcome per witness, in the order given; empty when the trail has no checkpoint.
    public func cosignNewest() async throws -> [Outcome] {
        guard let checkpoint = try await trail.latestCheckpoint() else { return [] }
        return try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
            for (index, witness) in witnesses.enumerated() {
                group.addTask { (index, try await cosign(checkpoint, by: witness)) }
            }
            var outcomes: [(Int, Outcome)] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    private func cosign(_ checkpoint: AuditCheckpoint, by witness: Witness) async throws -> Outcome {
        var oldSize = try await trail.lastCosignedSize(by: witness.key)
        if oldSize == checkpoint.size {
            return Outcome(witness: witness, cosigned: true, status: 200, message: "already cosigned \(checkpoint.size) entries")
        }
        for attempt in 0..<2 {
            guard oldSize <= checkpoint.size else {
                return Outcome(
                    witness: witness, cosigned: false, status: 409,
                    message: "the witness has cosigned \(oldSize) entries, more than this trail's newest checkpoint (\(checkpoint.size)): the trail was rolled back")
            }
            let proof = oldSize == 0 ? [] : try await trail.consistencyProof(from: oldSize, to: checkpoint.size)
            let request = AddCheckpointRequest(oldSize: oldSize, proof: proof, checkpoint: checkpoint.note)
            let response: AuditWitness.Response
            do { response = try await post(witness.url, request.body) } catch {
                return Outcome(witness: witness, cosigned: false, status: 0, message: "cannot reach \(witness.url): \(error)")
            }
            switch response.status {
            case 200:
                let line = response.body.split(separator: "\n").first { $0.hasPrefix("— \(witness.key.name) ") }.map(String.init)
                guard let line, witness.key.cosignatureTime(in: checkpoint.note + line + "\n") != nil else {
                    return Outcome(witness: witness, cosigned: false, status: 200, message: "its answer holds no cosignature that verifies with its key")
                }
                try await trail.addCosignature(line, by: witness.key, size: checkpoint.size)
                return Outcome(witness: witness, cosigned: true, status: 200, message: "cosigned \(checkpoint.size) entries")
            case 409 where attempt == 0:
                guard let size = Int64(response.body.trimmingCharacters(in: .whitespacesAndNewlines)), size >= 0 else {
                    return Outcome(witness: witness, cosigned: false, status: 409, message: "a 409 whose body is not a size")
                }
                oldSize = size
            default:
                let reason = response.body.trimmingCharacters(in: .whitespacesAndNewlines).prefix(300)
                return Outcome(witness: witness, cosigned: false, status: response.status, message: "refused (HTTP \(response.status)): \(reason)")
            }
        }
        return Outcome(witness: witness, cosigned: false, status: 409, message: "the witness's size changed again while asking")
    }
}
