import Foundation

/// What verification found wrong first.
public struct AuditProblem: Sendable, Hashable, CustomStringConvertible {
    /// The kind of problem. New kinds may be added.
    public struct Kind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The entry's stored hash is not the hash of its fields: a field was changed.
        public static let hashMismatch = Kind(rawValue: "hash-mismatch")
        /// The entry's `prev_hash` is not the previous entry's hash: entries were removed, inserted or reordered.
        public static let brokenLink = Kind(rawValue: "broken-link")
        /// Sequence numbers skip or repeat.
        public static let sequenceGap = Kind(rawValue: "sequence-gap")
        /// The entry at a checkpoint's size does not have the checkpoint's hash: the trail was rewritten.
        public static let checkpointMismatch = Kind(rawValue: "checkpoint-mismatch")
        /// The trail is shorter than a checkpoint says it was: the tail was cut off.
        public static let truncated = Kind(rawValue: "truncated")
        /// A checkpoint's signature does not verify with the public key.
        public static let badSignature = Kind(rawValue: "bad-signature")
        /// An entry could not be read (a field is missing or has the wrong type).
        public static let malformed = Kind(rawValue: "malformed")
        /// A row whose `seq` is below 1: outside the chain, yet shown by queries and exports.
        public static let rowOutsideChain = Kind(rawValue: "row-outside-chain")
        /// The Merkle tree does not match the entries: a stored leaf is not its entry's hash, or a
        /// stored node is not the hash of its two children, or one is missing.
        public static let treeMismatch = Kind(rawValue: "tree-mismatch")
        /// The newest checkpoint is not cosigned by as many of the given witnesses as required,
        /// or a stored cosignature does not verify or belongs to no stored checkpoint.
        public static let insufficientCosignatures = Kind(rawValue: "insufficient-cosignatures")
        /// The checkpoints anchored in the object-lock bucket do not form one history, are not
        /// locked, or the trail is not an extension of them (a rolled-back or forked database).
        public static let anchorMismatch = Kind(rawValue: "anchor-mismatch")
    }

    /// What kind of problem it is.
    public var kind: Kind
    /// The first bad entry's sequence number, when the problem is in an entry.
    public var sequence: Int64?
    /// What is wrong, in words.
    public var message: String

    /// Creates a problem report.
    public init(kind: Kind, sequence: Int64?, message: String) {
        self.kind = kind
        self.sequence = sequence
        self.message = message
    }

    public var description: String {
        if let sequence { return "entry \(sequence): \(kind): \(message)" }
        return "\(kind): \(message)"
    }
}

/// The result of verifying an audit trail.
public struct AuditVerificationReport: Sendable, Hashable {
    /// How many entries were checked.
    public var entriesChecked: Int64
    /// The last entry's sequence and hash (of the entries checked).
    public var headSequence: Int64
    /// The hash of the last entry checked (64 zeros for an empty trail).
    public var headHash: String
    /// How many signed checkpoints were checked against the chain.
    public var checkpointsChecked: Int
    /// The first problem found; `nil` when the trail verified.
    public var problem: AuditProblem?
    /// The Merkle tree's root hash over the entries checked (RFC 9162, lowercase hex), when the
    /// trail has the tree and it verified; `nil` for a trail from before the tree, or on a problem.
    public var rootHash: String?

    /// Creates a report.
    public init(entriesChecked: Int64, headSequence: Int64, headHash: String, checkpointsChecked: Int, problem: AuditProblem?, rootHash: String? = nil) {
        self.entriesChecked = entriesChecked
        self.headSequence = headSequence
        self.headHash = headHash
        self.checkpointsChecked = checkpointsChecked
        self.problem = problem
        self.rootHash = rootHash
    }

    /// Whether the trail verified.
    public var isValid: Bool { problem == nil }
}
