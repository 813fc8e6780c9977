import CSQLite
import CarbonRecovery
import CarbonRecoverySQLite
import Crypto
import Dispatch
import Foundation
import Synchronization

/// Recomputes the hash chain straight from SQLite's column bytes (no per-row `String`s), over
/// ranges of sequence numbers in parallel (one thread per core), each on its own read connection.
struct AuditChainVerifier {
    /// Hash at each checkpointed size, to compare while scanning.
    var checkpoints: [Int64: String]
    /// Whether the trail has the Merkle tree, to check along: each range recomputes the tree from
    /// its start (the right edge read from the rows before it, which the previous range checks)
    /// and compares every entry's stored tree hashes with the ones its leaf completes.
    var tree = false
    /// The root each stored tree checkpoint states, by size: checked against the verified tree.
    var treeCheckpoints: [Int64: String] = [:]
    /// A checkpoint from outside the trail within its size (with the tree): its hash must be the
    /// tree's root at its size or, for a checkpoint from before the tree, the chain's head there.
    var external: (size: Int64, hash: String)?

    /// What one range's scan found.
    struct RangeResult {
        var firstPreviousHash: [UInt8]?
        var lastHash: [UInt8]
        var checked: Int64
        var checkpointsChecked: Int
        var problem: AuditProblem?
    }

    /// Verifies entries 1…`lastSequence` of the database at `path`.
    ///
    /// - Parameters:
    ///   - path: The trail file (opened again, read-only, by each worker).
    ///   - lastSequence: The head when verification started; later appends are not checked.
    func verify(path: String, lastSequence: Int64) throws -> AuditVerificationReport {
        guard lastSequence > 0 else { return finish(checked: 0, head: Array(AuditCanonicalEncoding.genesisHash.utf8), checkpointsChecked: 0) }
        // From 50 k entries, ranges of about 12,500: the pool runs as many at once as there are
        // cores, and a core that finishes its range early takes the next one, so that no core
        // idles long at the end (with four ranges on two cores, one did for about a tenth of the
        // run). A range's own start costs a connection and one frontier read.
        let parts: Int64 = lastSequence >= 50_000 ? min(64, lastSequence / 12_500) : 1
        let ranges: [ClosedRange<Int64>] = (0..<parts).map { part in
            (lastSequence * part / parts + 1)...(lastSequence * (part + 1) / parts)
        }
        // One worker per core, each taking the next range until none is left: this thread and
        // threads of their own. (With DispatchQueue.concurrentPerform, a process whose dispatch
        // pool had no idle thread to lend, such as a busy `run` or a benchmark, scanned every
        // range on this thread alone.)
        let results = Results(count: ranges.count)
        let work = { @Sendable [self] in
            while let index = results.claim() {
                results.set(index, Result { try scan(path: path, range: ranges[index], isFirst: index == 0) })
            }
        }
        let finished = DispatchGroup()
        for _ in 1..<min(ProcessInfo.processInfo.activeProcessorCount, ranges.count) {
            finished.enter()
            Thread {
                work()
                finished.leave()
            }.start()
        }
        work()
        finished.wait()
        var previous = Array(AuditCanonicalEncoding.genesisHash.utf8)
        var checked: Int64 = 0
        var checkpointsChecked = 0
        for (index, result) in try results.values().enumerated() {
            if index > 0, let first = result.firstPreviousHash, first != previous, result.checked > 0 || result.problem == nil {
                let sequence = ranges[index].lowerBound
                return report(checked, previous, checkpointsChecked, AuditProblem(
                    kind: .brokenLink, sequence: sequence,
                    message: "prev_hash is not the hash of entry \(sequence - 1): an earlier entry was changed, removed or reordered"))
            }
            checked += result.checked
            checkpointsChecked += result.checkpointsChecked
            if let problem = result.problem { return report(checked, result.lastHash, checkpointsChecked, problem) }
            previous = result.lastHash
        }
        var verified = finish(checked: checked, head: previous, checkpointsChecked: checkpointsChecked)
        guard tree, verified.isValid else { return verified }
        // The tree is the entries' tree now: every root a checkpoint states must be its root at that size.
        let roots = try AuditTreeStore(SQLiteConnection(path: path, readOnly: true), path: path)
        for (size, stated) in treeCheckpoints.sorted(by: { $0.key < $1.key }) where size <= checked {
            let root = HexEncoding.string(try roots.root(size: size))
            guard root == stated else {
                verified.problem = AuditProblem(
                    kind: .checkpointMismatch, sequence: size,
                    message: "a signed checkpoint says the tree of \(size) entries had root \(stated), but it has \(root): the trail was rewritten at or before entry \(size)")
                return verified
            }
        }
        if let external, external.size <= checked {
            let root = external.size == 0 ? HexEncoding.string(MerkleTree.emptyTreeHash) : HexEncoding.string(try roots.root(size: external.size))
            let chainHash = external.size == 0 ? AuditCanonicalEncoding.genesisHash : try roots.entryHash(sequence: external.size)
            guard external.hash == root || external.hash == chainHash else {
                verified.problem = AuditProblem(
                    kind: .checkpointMismatch, sequence: external.size,
                    message: "the checkpoint says the trail of \(external.size) entries had hash \(external.hash), but its tree's root there is \(root) (and its chain's head \(chainHash)): the trail was rewritten at or before entry \(external.size)")
                return verified
            }
            verified.checkpointsChecked += 1
        }
        verified.rootHash = HexEncoding.string(try roots.root(size: checked))
        return verified
    }

    /// The report for a chain that verified up to `checked`: a problem only if a checkpoint lies beyond it.
    private func finish(checked: Int64, head: [UInt8], checkpointsChecked: Int) -> AuditVerificationReport {
        if let beyond = checkpoints.keys.filter({ $0 > checked }).min() {
            return report(checked, head, checkpointsChecked, AuditProblem(
                kind: .truncated, sequence: checked + 1,
                message: "a signed checkpoint says the trail had \(beyond) entries, but it ends at entry \(checked): entries were cut off the end"))
        }
        return report(checked, head, checkpointsChecked, nil)
    }

    private func report(_ checked: Int64, _ head: [UInt8], _ checkpoints: Int, _ problem: AuditProblem?) -> AuditVerificationReport {
        AuditVerificationReport(
            entriesChecked: checked, headSequence: checked, headHash: String(decoding: head, as: UTF8.self),
            checkpointsChecked: checkpoints, problem: problem)
    }

    /// Scans one range in sequence order. The first range starts from the genesis hash; a later
    /// one takes its first entry's `prev_hash` on trust and the caller checks it against the
    /// previous range's last hash.
    private func scan(path: String, range: ClosedRange<Int64>, isFirst: Bool) throws -> RangeResult {
        let database = try SQLiteConnection(path: path, readOnly: true)
        // No memory map: mapping the file made the process's resident memory grow with the trail
        // (~550 MB at 1 M entries) and measured no faster than SQLite's page cache of 2 MB.
        let statement = try database.prepare(
            "SELECT \(AuditSchema.entryColumns)\(tree ? ", tree" : "") FROM audit_entries WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq")
        statement.bind(1, range.lowerBound)
        statement.bind(2, range.upperBound)
        // A range that starts past a deleted row must still notice the gap.
        let previousRowCheck = isFirst ? nil : try database.prepare("SELECT max(seq) FROM audit_entries WHERE seq < ?1")
        defer { statement.reset() }
        // The tree hashes of entries from before the tree, read alongside when a row has none.
        let before = tree ? try database.prepare("SELECT seq, hashes FROM audit_tree_before WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq") : nil
        before?.bind(1, range.lowerBound)
        before?.bind(2, range.upperBound)
        defer { before?.reset() }
        var frontier = MerkleFrontier()
        // Where the `hash` member goes in the row's encoding without it: the leaf's data is that
        // encoding with `,"hash":"<hex>"` spliced in there, hashed in pieces (no second encoding).
        var hashSlot = 0

        var result = RangeResult(firstPreviousHash: nil, lastHash: Array(AuditCanonicalEncoding.genesisHash.utf8), checked: 0, checkpointsChecked: 0)
        var expected = range.lowerBound
        // The checkpoints inside this range, the next one last, so that each row costs one comparison.
        // (A plain variable, not a computed one over the list: a local that a nested function
        // captures is boxed, and every access to it is then checked for exclusivity at run time.)
        var pendingCheckpoints = checkpoints.filter { range.contains($0.key) }.sorted { $0.key > $1.key }.map { (size: $0.key, hash: Array($0.value.utf8)) }
        var nextCheckpointSize = pendingCheckpoints.last?.size ?? 0
        var buffer = ByteBuffer(capacity: 1 << 16)
        var leaf = ByteBuffer(capacity: 1 << 16)
        var row = AuditRowColumns()
        var computed = [UInt8](repeating: 0, count: 64)
        let plan = Self.plan

        if let previousRowCheck {
            previousRowCheck.bind(1, range.lowerBound)
            _ = try previousRowCheck.step()
            let before = previousRowCheck.int64(0)
            previousRowCheck.reset()
            if before != range.lowerBound - 1 {
                result.problem = AuditProblem(
                    kind: .sequenceGap, sequence: range.lowerBound,
                    message: "expected entry \(range.lowerBound - 1) before entry \(range.lowerBound), but the previous entry is \(before)")
                return result
            }
        }

        if tree, range.lowerBound > 1 {
            // The right edge before this range, from rows the previous range checks: were one of
            // them changed, that range reports it first.
            do {
                frontier = try AuditTreeStore(database, path: path).frontier(size: range.lowerBound - 1)
            } catch {
                result.problem = Self.treeProblem(range.lowerBound)
                return result
            }
        }
        var checker = StoredTreeChecker(frontier)

        while try statement.step() {
            row.load(statement)
            let sequence = row.integer(0)
            if sequence != expected {
                result.problem = AuditProblem(
                    kind: .sequenceGap, sequence: sequence,
                    message: sequence > expected
                        ? "expected entry \(expected) next but found \(sequence): entries \(expected)…\(sequence - 1) are missing"
                        : "entry \(sequence) appears again after entry \(expected - 1)")
                return result
            }
            if let malformed = Self.malformedField(row) {
                result.problem = AuditProblem(kind: .malformed, sequence: sequence, message: malformed)
                return result
            }
            guard let storedPrevious = row.text(14) else {
                result.problem = AuditProblem(kind: .malformed, sequence: sequence, message: "prev_hash is missing")
                return result
            }
            if result.firstPreviousHash == nil && !isFirst {
                result.firstPreviousHash = Array(storedPrevious)
            } else if !Self.equal(storedPrevious, result.lastHash) {
                result.problem = AuditProblem(
                    kind: .brokenLink, sequence: sequence,
                    message: "prev_hash is not the hash of entry \(sequence - 1): an earlier entry was changed, removed or reordered")
                return result
            }
            buffer.count = 0
            Self.encode(row, plan: plan, linked: result.checked > 0 || isFirst, into: &buffer, hashSlot: &hashSlot)
            HexEncoding.write(SHA256.hash(data: buffer.bytes), into: &computed)
            guard let storedHash = row.text(15), Self.equal(storedHash, computed) else {
                result.problem = AuditProblem(
                    kind: .hashMismatch, sequence: sequence,
                    message: "the stored hash is not the SHA-256 of the entry's fields: a field of entry \(sequence) was changed")
                return result
            }
            // Swapped, not assigned: assigning would share one buffer, and the next row's write
            // into `computed` would then copy it (an allocation per row).
            swap(&result.lastHash, &computed)
            if tree {
                // The canonical line, the stored hash (just found equal to the computed hex) spliced in.
                result.lastHash.withUnsafeBytes { MerkleTree.writeEntryLeaf(unhashed: buffer.bytes, hashSlot: hashSlot, hash: $0, into: &leaf) }
                guard let stored = try Self.storedTreeHashes(statement, before: before, sequence: sequence),
                    checker.append(leafHash: SHA256.hash(data: leaf.bytes), stored: stored.pointer, count: stored.count)
                else {
                    result.problem = Self.treeProblem(sequence)
                    return result
                }
            }
            result.checked += 1
            expected += 1
            if sequence == nextCheckpointSize, let checkpointHash = pendingCheckpoints.popLast()?.hash {
                nextCheckpointSize = pendingCheckpoints.last?.size ?? 0
                result.checkpointsChecked += 1
                guard Self.equal(checkpointHash, result.lastHash) else {
                    result.problem = AuditProblem(
                        kind: .checkpointMismatch, sequence: sequence,
                        message: "a signed checkpoint says entry \(sequence) had hash \(String(decoding: checkpointHash, as: UTF8.self)), but it has \(String(decoding: result.lastHash, as: UTF8.self)): the trail was rewritten at or before entry \(sequence)")
                    return result
                }
            }
        }
        if expected <= range.upperBound {
            // The range ends in a gap. Name the first entry after it, as a scan that ran on past
            // the range would: the verdict must not depend on where the trail was split.
            let next = try database.prepare("SELECT min(seq) FROM audit_entries WHERE seq > ?1")
            next.bind(1, range.upperBound)
            _ = try next.step()
            let found = next.type(0) == SQLITE_NULL ? nil : next.int64(0)
            next.reset()
            if let found {
                result.problem = AuditProblem(
                    kind: .sequenceGap, sequence: found,
                    message: "expected entry \(expected) next but found \(found): entries \(expected)…\(found - 1) are missing")
            } else {
                result.problem = AuditProblem(
                    kind: .sequenceGap, sequence: expected, message: "entries \(expected)…\(range.upperBound) are missing")
            }
        }
        return result
    }

    /// The tree hashes stored for entry `sequence`: column 16 of its row (a BLOB), or when that
    /// is NULL its `audit_tree_before` row. Valid until the statement steps again.
    private static func storedTreeHashes(_ statement: SQLiteStatement, before: SQLiteStatement?, sequence: Int64) throws -> (pointer: UnsafeRawPointer, count: Int)? {
        var source = statement, column: Int32 = 16
        if sqlite3_column_type(statement.handle, 16) == SQLITE_NULL {
            guard let before else { return nil }
            repeat {
                guard try before.step() else { return nil }
            } while before.int64(0) < sequence
            guard before.int64(0) == sequence else { return nil }
            (source, column) = (before, 1)
        }
        guard sqlite3_column_type(source.handle, column) == SQLITE_BLOB, let pointer = sqlite3_column_blob(source.handle, column) else { return nil }
        return (pointer, Int(sqlite3_column_bytes(source.handle, column)))
    }

    private static func treeProblem(_ sequence: Int64) -> AuditProblem {
        AuditProblem(
            kind: .treeMismatch, sequence: sequence,
            message: "the Merkle tree hashes stored with entry \(sequence) are not the ones its leaf completes: the tree was changed, or the entry was and its tree with it")
    }

    @inline(__always)
    static func equal(_ array: [UInt8], _ other: [UInt8]) -> Bool {
        array.withUnsafeBufferPointer { equal($0, other) }
    }

    @inline(__always)
    static func equal(_ bytes: UnsafeBufferPointer<UInt8>, _ array: [UInt8]) -> Bool {
        guard bytes.count == array.count else { return false }
        guard let left = bytes.baseAddress, bytes.count > 0 else { return true }
        return array.withUnsafeBufferPointer { memcmp($0.baseAddress!, left, bytes.count) == 0 }
    }

    // MARK: - Encoding from columns

    /// How to write one member: where its `"name":` prefix lies in ``Plan/prefixBytes``, its column, and its type.
    struct Step {
        /// `verbatim`: a string whose domain check (or link check) has already shown it holds no
        /// byte that needs escaping (digits, ASCII letters, hex), so it is copied without scanning.
        enum Kind { case text, nullableText, integer, nullableInteger, verbatim, nullableVerbatim, previousHash }
        var prefixStart: Int
        var prefixCount: Int
        var column: Int32
        var kind: Kind
    }

    /// One way of writing a row: its steps, and every member's prefix back to back (so that
    /// writing one copies from a single buffer).
    struct Plan {
        var steps: [Step]
        var prefixBytes: [UInt8]
        /// The step before which the left-out `hash` member would go (`steps.count` when none is left out).
        var hashSlotStep: Int
    }

    /// The members without `hash`, in canonical order, mapped to columns of ``AuditSchema/entryColumns``: what the entry's hash covers.
    static let plan = makePlan(includingHash: false)


    private static func makePlan(includingHash: Bool) -> Plan {
        var steps: [Step] = []
        var offset = 0
        var hashSlotStep: Int?
        let prefixes = includingHash ? AuditCanonicalEncoding.prefixesWithHash : AuditCanonicalEncoding.prefixesWithoutHash
        for (position, field) in AuditCanonicalEncoding.fieldsInOrder.enumerated() {
            if field == .hash && !includingHash {
                hashSlotStep = steps.count
                continue
            }
            let count = prefixes[position].count
            let (column, kind): (Int32, Step.Kind) =
                switch field {
                case .sequence: (0, .integer)
                case .version: (1, .integer)
                case .time: (2, .verbatim)
                case .kind: (3, .verbatim)
                case .actor: (4, .text)
                case .cluster: (5, .nullableText)
                case .operation: (6, .text)
                case .target: (7, .text)
                case .parameters: (8, .text)
                case .outcome: (9, .nullableVerbatim)
                case .error: (10, .nullableText)
                case .durationMilliseconds: (11, .nullableInteger)
                case .correlationID: (12, .text)
                case .session: (13, .text)
                case .previousHash: (14, .previousHash)
                case .hash: (15, .verbatim)
                }
            steps.append(Step(prefixStart: offset, prefixCount: count, column: column, kind: kind))
            offset += count
        }
        return Plan(steps: steps, prefixBytes: prefixes.flatMap { $0 }, hashSlotStep: hashSlotStep ?? steps.count)
    }

    /// The same bytes as ``AuditEntry/canonicalBytes(includingHash:)`` without the hash, read from a row.
    @inline(__always)
    ///
    /// `linked` says that `prev_hash` was found equal to the previous entry's hash (so it is hex);
    /// the first entry of a later range is linked only afterwards, and is escaped like any text.
    static func encode(_ row: borrowing AuditRowColumns, plan: Plan, linked: Bool, into buffer: inout ByteBuffer, hashSlot: inout Int) {
        hashSlot = -1
        plan.prefixBytes.withUnsafeBufferPointer { prefixes in
            plan.steps.withUnsafeBufferPointer { steps in
                for index in steps.indices {
                    let step = steps[index]
                    if index == plan.hashSlotStep { hashSlot = buffer.count }
                    buffer.append(UnsafeBufferPointer(rebasing: prefixes[step.prefixStart..<(step.prefixStart + step.prefixCount)]))
                    switch step.kind {
                    case .integer:
                        buffer.appendInteger(row.integer(Int(step.column)))
                    case .nullableInteger:
                        if row.type(Int(step.column)) == SQLITE_NULL { buffer.appendNull() } else { buffer.appendInteger(row.integer(Int(step.column))) }
                    case .text, .nullableText:
                        // The domain check ran first: a text member is TEXT here, or NULL where null is allowed.
                        if let bytes = row.text(Int(step.column)) { buffer.appendString(bytes) } else { buffer.appendNull() }
                    case .verbatim, .nullableVerbatim:
                        if let bytes = row.text(Int(step.column)) { buffer.appendQuoted(bytes) } else { buffer.appendNull() }
                    case .previousHash:
                        if let bytes = row.text(Int(step.column)) {
                            if linked { buffer.appendQuoted(bytes) } else { buffer.appendString(bytes) }
                        } else {
                            buffer.appendNull()
                        }
                    }
                }
            }
        }
        if hashSlot < 0 { hashSlot = buffer.count }
        buffer.append(closingBrace)
    }

    private static let closingBrace: [UInt8] = [UInt8(ascii: "}")]
}

/// Results of the parallel range scans, and which range is next.
private final class Results: Sendable {
    private let slots: Mutex<[Result<AuditChainVerifier.RangeResult, any Error>?]>

    private let next = Atomic<Int>(0)

    init(count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }

    /// The next range nobody has taken, if any.
    func claim() -> Int? {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue
        return index < slots.withLock { $0.count } ? index : nil
    }

    func set(_ index: Int, _ value: Result<AuditChainVerifier.RangeResult, any Error>) {
        slots.withLock { $0[index] = value }
    }

    func values() throws -> [AuditChainVerifier.RangeResult] {
        try slots.withLock { slots in try slots.map { try $0!.get() } }
    }
}
