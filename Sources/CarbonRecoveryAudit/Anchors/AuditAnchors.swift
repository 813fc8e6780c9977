import CarbonRecovery
import Foundation

/// The trail's checkpoints, anchored in an S3 bucket with object lock in compliance mode: one
/// object per checkpoint, locked for ``retention``, beside the consistency proof from the
/// checkpoint anchored before it. Nobody — not the trail's writer, not the bucket's owner — can
/// delete or shorten a compliance-mode lock, so the anchored sequence is a history the writer
/// cannot roll back.
///
/// Objects, under `<prefix>/<origin>/` (the origin is `carbon-recovery.audit/<trail id>`):
/// - `checkpoint-<size, 20 digits>.note`: the signed checkpoint note, byte for byte;
/// - `checkpoint-<size, 20 digits>.proof`: an ``AuditProof`` consistency proof from the previous
///   anchored checkpoint to this one (none for the first);
/// - `checkpoint-<size, 20 digits>.entries`: the entries since the previous anchored checkpoint,
///   their export lines (JSON Lines): the mirror from which ``SQLiteAuditTrail/restoreTail(from:keys:actor:)``
///   gets back a tail lost by restoring the database from a backup.
///
/// A writer checks, when it opens the trail and at each checkpoint, that its tree extends the
/// newest anchored checkpoint (``forkProblem(in:)``); ``verify(origin:keys:trail:)`` checks the whole
/// anchored sequence, each anchor against the one before it, with the public key alone.
///
/// ```swift
/// let anchors = AuditAnchors(storage: lockedBucket, prefix: "audit-anchors", retention: .seconds(86_400 * 400))
/// let trail = try await SQLiteAuditTrail(path: path, configuration: .init(signingKey: key, anchors: anchors))
/// ```
public struct AuditAnchors: Sendable {
    /// The bucket (with object lock enabled).
    public let storage: any StorageBackend
    /// The key prefix, without a trailing slash ("" for the bucket's root).
    public let prefix: String
    /// How long each anchor stays locked (compliance mode), from when it is written.
    public let retention: Duration
    let clock: any WallClock

    /// Creates the anchors' location.
    ///
    /// - Parameters:
    ///   - storage: A bucket with object lock enabled.
    ///   - prefix: Where under it the anchors go.
    ///   - retention: How long each anchor is locked; at least a day.
    ///   - clock: The time retention periods start from.
    public init(storage: any StorageBackend, prefix: String, retention: Duration, clock: any WallClock = SystemWallClock()) {
        self.storage = storage
        self.prefix = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        self.retention = retention
        self.clock = clock
    }

    /// One anchored checkpoint, as read from the bucket.
    public struct Anchor: Sendable, Hashable {
        /// The checkpoint (its note as stored; not yet verified unless it came from ``AuditAnchors/verify(origin:keys:trail:)``).
        public var checkpoint: AuditCheckpoint
        /// The note object's key.
        public var key: String
    }

    /// What ``AuditAnchors/verify(origin:keys:trail:)`` found.
    public struct Report: Sendable, Hashable {
        /// The anchors checked, smallest first.
        public var anchors: [Anchor]
        /// The first problem, or `nil` when the whole sequence verifies.
        public var problem: AuditProblem?
        /// Whether it verified.
        public var isValid: Bool { problem == nil }
    }

    func folder(_ origin: String) -> String { (prefix.isEmpty ? "" : prefix + "/") + origin + "/" }

    /// The key of an anchor's object: `suffix` is `.note` for the checkpoint, `.proof` for its proof.
    public func objectKey(_ origin: String, size: Int64, _ suffix: String) -> String {
        let digits = String(size)
        return folder(origin) + "checkpoint-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// The anchored sizes of `origin`, smallest first.
    public func sizes(origin: String) async throws -> [Int64] {
        var sizes: [Int64] = []
        let folder = folder(origin)
        for try await object in storage.list(prefix: folder) {
            let name = object.key.dropFirst(folder.count)
            guard name.hasPrefix("checkpoint-"), name.hasSuffix(".note"), let size = Int64(name.dropFirst(11).dropLast(5)) else { continue }
            sizes.append(size)
        }
        return sizes.sorted()
    }

    /// The newest anchored checkpoint of `origin` (signature not checked); `nil` when none.
    public func newest(origin: String) async throws -> Anchor? {
        guard let size = try await sizes(origin: origin).last else { return nil }
        return try await anchor(origin: origin, size: size)
    }

    func anchor(origin: String, size: Int64) async throws -> Anchor {
        let key = objectKey(origin, size: size, ".note")
        guard let bytes = try await storage.get(key), let note = String(validating: bytes, as: UTF8.self) else {
            throw RecoveryError(.auditTampered, "the anchored checkpoint \(key) is gone or not text", target: key)
        }
        let checkpoint: AuditCheckpoint
        do { checkpoint = try AuditCheckpoint(unverified: note) } catch {
            throw RecoveryError(.auditTampered, "the anchored object \(key) is not a checkpoint note", target: key)
        }
        guard checkpoint.origin == origin, checkpoint.size == size else {
            throw RecoveryError(.auditTampered, "the anchored note \(key) states trail '\(checkpoint.origin)' at \(checkpoint.size) entries, not its name", target: key)
        }
        return Anchor(checkpoint: checkpoint, key: key)
    }

    /// Why `trail` is not an extension of the newest anchored checkpoint (a copied, rolled-back
    /// or rewritten database); `nil` when it is, or when nothing is anchored yet.
    public func forkProblem(in trail: SQLiteAuditTrail) async throws -> String? {
        guard let newest = try await newest(origin: trail.checkpointOrigin) else { return nil }
        return try await forkProblem(in: trail, against: newest.checkpoint)
    }

    func forkProblem(in trail: SQLiteAuditTrail, against anchored: AuditCheckpoint) async throws -> String? {
        let size = try await trail.size()
        guard size >= anchored.size else {
            return "the trail has \(size) entries, but a checkpoint of \(anchored.size) entries is anchored: this database was rolled back (restored from a backup, or copied before its last entries)"
        }
        let root = try await trail.treeHead(size: anchored.size).rootHash
        guard HexEncoding.string(root) == anchored.headHash else {
            return "the trail's first \(anchored.size) entries are not the ones of the anchored checkpoint: this database is a rewritten or forked copy"
        }
        return nil
    }

    /// Anchors `checkpoint` (stored in `trail`): checks that the trail extends the newest anchor,
    /// then writes the proof from it, the entries since and the note, each locked in compliance
    /// mode. Anchoring a checkpoint already anchored with the same root does nothing; one smaller
    /// than the newest anchor is only checked against it (anchors are never added in the middle).
    ///
    /// - Throws: ``RecoveryError/Code/auditTampered`` ("fork detected") when the trail does not
    ///   extend the newest anchor or another note is anchored at that size; storage errors as they come.
    public func anchor(_ checkpoint: AuditCheckpoint, of trail: SQLiteAuditTrail) async throws {
        let origin = checkpoint.origin
        // Only a checkpoint of the trail as committed: its root must be the stored tree's.
        guard checkpoint.size <= (try await trail.size()),
            HexEncoding.string(try await trail.treeHead(size: checkpoint.size).rootHash) == checkpoint.headHash
        else {
            throw RecoveryError(.auditFailure, "the checkpoint of \(checkpoint.size) entries is not of the trail as it is stored: not anchored", target: trail.path)
        }
        let sizes = try await sizes(origin: origin)
        let noteKey = objectKey(origin, size: checkpoint.size, ".note")
        if sizes.contains(checkpoint.size) {
            let existing = try await storage.get(noteKey) ?? []
            guard let text = String(validating: existing, as: UTF8.self), (try? AuditCheckpoint(unverified: text))?.headHash == checkpoint.headHash else {
                throw RecoveryError(.auditTampered, "fork detected: another checkpoint of \(checkpoint.size) entries is anchored at \(noteKey)", target: noteKey)
            }
            return
        }
        if let newest = sizes.last, newest > checkpoint.size {
            // A larger one is anchored already (another writer was quicker): the trail must extend
            // it; this one is not added in the middle, where the next anchor's proof does not start.
            if let problem = try await forkProblem(in: trail, against: try await anchor(origin: origin, size: newest).checkpoint) {
                throw RecoveryError(.auditTampered, "fork detected: \(problem)", target: noteKey)
            }
            return
        }
        // The newest anchor, below this one: the trail must extend it, and the proof starts there.
        let previousSize = sizes.last
        if let previousSize {
            let previous = try await anchor(origin: origin, size: previousSize)
            if let problem = try await forkProblem(in: trail, against: previous.checkpoint) {
                throw RecoveryError(.auditTampered, "fork detected: \(problem)", target: previous.key)
            }
            let path = try await trail.consistencyProof(from: previousSize, to: checkpoint.size)
            let proof = AuditProof.consistency(path: path, older: previous.checkpoint.note, newer: checkpoint.note)
            try await putLocked(objectKey(origin, size: checkpoint.size, ".proof"), Array(proof.text.utf8))
        }
        let lines = try await trail.exportLines(after: previousSize ?? 0, through: checkpoint.size)
        try await putLocked(objectKey(origin, size: checkpoint.size, ".entries"), Array(lines.joined().utf8))
        try await putLocked(noteKey, Array(checkpoint.note.utf8))
    }

    private func putLocked(_ key: String, _ bytes: [UInt8]) async throws {
        try await storage.put(key, data: bytes)
        let until = clock.now().addingTimeInterval(Double(retention.components.seconds))
        try await storage.setRetention(ObjectRetention(mode: .compliance, retainUntil: until), for: key)
    }

    /// Checks the whole anchored sequence of `origin` with the public keys alone: every note is
    /// signed by one of `keys` and names its own size; every anchor after the first has a
    /// consistency proof from the one before it that verifies; every object is locked in
    /// compliance mode. With `trail`, also that the trail extends every anchor (its root at each
    /// anchored size is the anchored root, and it is not shorter than the newest).
    public func verify(origin: String, keys: [AuditVerifierKey], trail: SQLiteAuditTrail? = nil) async throws -> Report {
        var anchors: [Anchor] = []
        func failed(_ size: Int64?, _ message: String, _ kind: AuditProblem.Kind = .anchorMismatch) -> Report {
            Report(anchors: anchors, problem: AuditProblem(kind: kind, sequence: size, message: message))
        }
        var previous: AuditCheckpoint?
        let localSize = try await trail?.size()
        for size in try await sizes(origin: origin) {
            let anchor: Anchor
            do { anchor = try await self.anchor(origin: origin, size: size) } catch let error as RecoveryError { return failed(size, error.message) }
            guard let checkpoint = keys.lazy.compactMap({ try? AuditCheckpoint(parsing: anchor.checkpoint.note, verifiedBy: $0) }).first else {
                return failed(size, "the anchored checkpoint \(anchor.key) carries no valid signature by the keys given", .badSignature)
            }
            for suffix in [".note", ".entries"] + (previous == nil ? [] : [".proof"]) {
                let key = objectKey(origin, size: size, suffix)
                guard let lock = try await storage.retention(of: key), lock.mode == .compliance else {
                    return failed(size, "\(key) is not locked in compliance mode: it could be deleted or replaced")
                }
            }
            if let previous {
                let proofKey = objectKey(origin, size: size, ".proof")
                guard let bytes = try await storage.get(proofKey), let text = String(validating: bytes, as: UTF8.self),
                    case .consistency(let path, let older, let newer)? = try? AuditProof(parsing: text)
                else { return failed(size, "\(proofKey) is missing or is not a consistency proof") }
                guard older == previous.note, newer == anchor.checkpoint.note, let oldRoot = hexBytes(previous.headHash), let newRoot = hexBytes(checkpoint.headHash),
                    MerkleTree.verifyConsistency(oldSize: previous.size, newSize: size, oldRoot: oldRoot, newRoot: newRoot, proof: path)
                else {
                    return failed(size, "the anchored checkpoint of \(size) entries does not extend the one of \(previous.size): the anchored history forks there")
                }
            }
            if let trail, let localSize, size <= localSize {
                let root = try await trail.treeHead(size: size).rootHash
                guard HexEncoding.string(root) == checkpoint.headHash else {
                    return failed(size, "the trail's first \(size) entries are not the anchored ones: the database was rewritten or is a forked copy")
                }
            }
            anchors.append(Anchor(checkpoint: checkpoint, key: anchor.key))
            previous = checkpoint
        }
        if let localSize, let newest = previous, localSize < newest.size {
            return failed(newest.size, "the trail has \(localSize) entries, but a checkpoint of \(newest.size) entries is anchored: the database was rolled back", .truncated)
        }
        return Report(anchors: anchors, problem: nil)
    }
}
