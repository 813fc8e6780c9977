import CSQLite
import CarbonRecovery
import CarbonRecoverySQLite
import Crypto
import Foundation
import Logging
import Synchronization

/// The default ``AuditTrail``: one SQLite file (WAL), append-only by triggers and
/// tamper-evident by a SHA-256 hash chain with signed Ed25519 checkpoints.
///
/// ```swift
/// let trail = try await SQLiteAuditTrail(path: "/var/lib/carbon-recovery/audit.db",
///                                        configuration: .init(signingKey: key))
/// let report = try await trail.verify()
/// print(report.isValid ? "ok: \(report.entriesChecked) entries" : "\(report.problem!)")
/// ```
///
/// The file is created with mode 0600. Several processes may append at once: each append is
/// one `BEGIN IMMEDIATE` transaction that reads the head and links to it, so the chain stays
/// one line. A process killed mid-append leaves nothing (SQLite rolls the transaction back); an
/// attempt whose process died is closed on the next writable open by an appended `abandoned`
/// outcome. The format is specified in `docs/audit-trail.md`.
///
/// Every SQLite call runs on the trail's own thread (an internal `SQLiteQueue`), never on Swift's
/// cooperative pool: an append that waits out another process's write lock holds that thread
/// only. Appends that arrive while one is being committed are committed together in the next
/// transaction (group commit); each caller still returns only once its own entries are on disk.
public final class SQLiteAuditTrail: AuditTrail, Sendable {

    /// Options of a trail.
    public struct Configuration: Sendable {
        /// Open for reading only: no schema creation, no crash recovery, no appends.
        public var readOnly: Bool
        /// Sign a checkpoint at the first commit that reaches each multiple of this many entries
        /// (needs ``signingKey``); `nil` for on-demand checkpoints only.
        public var checkpointInterval: Int64?
        /// The key that signs checkpoints. Without one, ``SQLiteAuditTrail/checkpoint()`` throws.
        public var signingKey: AuditSigningKey?
        /// The key that stored checkpoints' signatures are checked with during ``SQLiteAuditTrail/verify()``.
        /// Defaults to the signing key's public half. With a key, the rule is strict: every stored
        /// checkpoint must carry a valid signature by this key (or by one of
        /// ``previousVerifierKeys``) over the size and hash stored beside it; any other is
        /// `bad-signature`.
        public var verifierKey: AuditVerifierKey?
        /// Keys that signed this trail's checkpoints before the signing key was rotated. Naming
        /// them is the only way a checkpoint not signed by ``verifierKey`` is accepted: a
        /// reviewer who passes them says which earlier keys they trust.
        public var previousVerifierKeys: [AuditVerifierKey]
        /// How long an append waits for another writer's transaction.
        public var busyTimeout: Duration
        /// `FULL` (the default) syncs the WAL on every commit; `NORMAL` may lose the last
        /// commits on power loss (never on a process crash).
        public var durability: Durability
        /// Close attempts of dead processes as `abandoned` when opening for writing.
        public var recoverAbandonedAttempts: Bool
        /// Where checkpoints are anchored (an object-lock bucket); `nil` for nowhere. With it, a
        /// writable handle checks on open and at each checkpoint that the trail extends the
        /// newest anchored checkpoint, and refuses to append when it does not (see ``SQLiteAuditTrail/forkDetected``).
        public var anchors: AuditAnchors?

        /// SQLite's `synchronous` setting for the trail.
        public enum Durability: String, Sendable {
            /// `synchronous=FULL`: every commit is on disk before the append returns.
            case full = "FULL"
            /// `synchronous=NORMAL`: a power loss may lose the last commits; a crash never does.
            case normal = "NORMAL"
        }

        /// Creates a configuration: writable, durable, checkpoints every 10,000 entries when a key is given.
        public init(
            readOnly: Bool = false, checkpointInterval: Int64? = 10_000, signingKey: AuditSigningKey? = nil,
            verifierKey: AuditVerifierKey? = nil, previousVerifierKeys: [AuditVerifierKey] = [], busyTimeout: Duration = .seconds(30),
            durability: Durability = .full, recoverAbandonedAttempts: Bool = true, anchors: AuditAnchors? = nil
        ) {
            self.anchors = anchors
            self.previousVerifierKeys = previousVerifierKeys
            self.readOnly = readOnly
            self.checkpointInterval = checkpointInterval
            self.signingKey = signingKey
            self.verifierKey = verifierKey
            self.busyTimeout = busyTimeout
            self.durability = durability
            self.recoverAbandonedAttempts = recoverAbandonedAttempts
        }
    }

    /// The database file.
    public let path: String
    /// This handle's session id, recorded in every entry it appends.
    public let session: String
    /// The trail's id, fixed at creation; checkpoints name it as their origin.
    public let trailID: String

    let configuration: Configuration
    let database: SQLiteQueue
    /// What only the queue's jobs touch: prepared statements and the handle's bookkeeping.
    let writer: WriterState
    let sessionLock: SessionLock?
    let logger: Logger
    let clock: any WallClock
    /// Appends waiting for the next group commit, and whether a commit job is submitted.
    let waitingAppends = Mutex<(appends: [WaitingAppend], commitSubmitted: Bool)>(([], false))
    /// Why this handle refuses to append (a fork against the anchors), and checkpoints signed by
    /// appends that are still to be anchored.
    let anchorState = Mutex<(fork: String?, pending: [AuditCheckpoint])>((nil, []))

    /// The folder holding the session lock files of a trail.
    static func sessionDirectory(for path: String) -> String { path + "-sessions" }

    /// Opens (and when writable, creates or migrates) the trail at `path`.
    ///
    /// - Parameters:
    ///   - path: The database file. Parent folders are created with mode 0700.
    ///   - configuration: Read-only or writable, checkpoints, durability.
    ///   - logger: Where the trail logs (debug only; the trail itself is the user-facing record).
    ///     Without one, the trail logs nothing.
    ///   - clock: The time stamped on entries and checkpoints; inject a simulated clock in tests.
    /// - Throws: ``RecoveryError/Code/notFound`` when opening a missing file read-only,
    ///   ``RecoveryError/Code/auditFailure`` when the file cannot be opened or is of a newer schema,
    ///   ``RecoveryError/Code/timeout`` when another process held the write lock past the busy
    ///   timeout while the file was being created, migrated or recovered.
    public init(
        path: String, configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "carbon-recovery.audit", factory: { _ in SwiftLogNoOpLogHandler() }),
        clock: any WallClock = SystemWallClock()
    ) async throws {
        self.clock = clock
        var configuration = configuration
        if configuration.verifierKey == nil { configuration.verifierKey = configuration.signingKey?.verifierKey }
        self.path = path
        self.configuration = configuration
        self.logger = logger
        let session = UUID().uuidString.lowercased()
        self.session = session

        if configuration.readOnly {
            guard FileManager.default.fileExists(atPath: path) else {
                throw RecoveryError(.notFound, "there is no audit trail at \(path); pass --audit-db with the right path", target: path)
            }
        } else {
            try FileSecurity.createParentDirectories(of: path)
            try FileSecurity.ensurePrivateFile(at: path)
        }
        do {
            database = try SQLiteQueue(
                path: path, readOnly: configuration.readOnly, label: "audit.\(session)", busyTimeout: configuration.busyTimeout)
            let (readOnly, durability) = (configuration.readOnly, configuration.durability)
            let (trailID, writer) = try await database.run { database in
                if !readOnly {
                    try database.execute("PRAGMA journal_mode=WAL")
                }
                try database.execute("PRAGMA synchronous=\(durability.rawValue)")
                let version = try Self.migrate(database, readOnly: readOnly, path: path, at: clock.now())
                let trailID = try Self.readOrCreateTrailID(database, readOnly: readOnly)
                return (trailID, try WriterState(database, readOnly: readOnly, schemaVersion: version, path: path))
            }
            self.trailID = trailID
            self.writer = writer
        } catch let error as SQLiteError {
            throw Self.wrap(error, "cannot open the audit trail", path: path)
        }
        sessionLock = configuration.readOnly ? nil : try SessionLock(directory: Self.sessionDirectory(for: path), session: session)
        if !configuration.readOnly && configuration.recoverAbandonedAttempts {
            try await database.run { [self] database in try recoverAbandonedAttempts(database) }
        }
        if !configuration.readOnly { await checkAnchorsOnOpen() }
    }

    /// Ends this handle's session and closes its connection: forgets its row in
    /// `audit_sessions` (when none of its attempts is still open — an open one stays for the
    /// next writer to close as abandoned), releases its session lock and closes the database
    /// (the last connection checkpoints the WAL). Returns once that is done, so the files are
    /// quiet afterwards (to copy or compare them). A second call does nothing; any other call
    /// afterwards fails with ``RecoveryError/Code/auditFailure``.
    public func close() async {
        await database.close { [writer, session, sessionLock] database in
            Self.endSession(database, writer: writer, session: session, lock: sessionLock)
            writer.finalizeStatements()
        }
    }

    deinit {
        // Without close(): the handle's last job does the same, after every job submitted before.
        database.submit { [writer, session, sessionLock] database in
            Self.endSession(database, writer: writer, session: session, lock: sessionLock)
        }
    }

    static func endSession(_ database: SQLiteConnection, writer: WriterState, session: String, lock: SessionLock?) {
        guard !writer.closed else { return }
        writer.closed = true
        if writer.sessionRegistered && writer.openAttempts.isEmpty {
            try? database.execute("DELETE FROM audit_sessions WHERE session = '\(session)'")
        }
        lock?.release()
    }

    // MARK: - AuditTrail

    public func record(_ record: AuditRecord) async throws -> AuditEntry {
        try await self.record(contentsOf: [record])[0]
    }

    /// Appends `records` in one transaction, linked in order, and returns their entries.
    ///
    /// Appends from concurrent callers that arrive while a transaction is being committed share
    /// the next one (group commit: one disk flush for all of them). Each caller's records stay
    /// together and in order, and the call returns only after they are committed.
    public func record(contentsOf records: [AuditRecord]) async throws -> [AuditEntry] {
        guard !records.isEmpty else { return [] }
        for record in records { try record.validate() }
        if let fork = forkDetected {
            throw RecoveryError(.auditTampered, "fork detected, so nothing is appended: \(fork)", target: path)
        }
        let entries = try await withCheckedThrowingContinuation { continuation in
            let submit = waitingAppends.withLock { waiting in
                waiting.appends.append(WaitingAppend(records: records, continuation: continuation))
                defer { waiting.commitSubmitted = true }
                return !waiting.commitSubmitted
            }
            if submit { database.submit { [self] database in commitWaitingAppends(database) } }
        }
        await anchorPendingCheckpoints()
        return entries
    }

    /// On the queue: commits every waiting append in one transaction and resumes their callers.
    func commitWaitingAppends(_ database: SQLiteConnection) {
        // Appends that arrive from here on submit the next commit job.
        let batch = waitingAppends.withLock { waiting in
            defer { waiting = ([], false) }
            return waiting.appends
        }
        guard !batch.isEmpty else { return }
        let result = Result {
            try writeTransaction(database, "append to the audit trail") {
                let time = RFC3339.format(clock.now())
                return try batch.map { append in try append.records.map { try appendInTransaction(database, $0, time: time) } }
            }
        }
        switch result {
        case .success(let entries):
            for (append, entries) in zip(batch, entries) { append.continuation.resume(returning: entries) }
        case .failure(let error):
            for append in batch { append.continuation.resume(throwing: error) }
        }
    }

    public func entries(matching query: AuditQuery) async throws -> AuditPage {
        try query.validate()
        return try await database.run { [self] database in
            do {
                let (sql, bindings) = Self.selectSQL(query, columns: AuditSchema.entryColumns, limit: query.limit + 1)
                let statement = try database.cachedStatement(sql)
                bind(bindings, to: statement)
                var entries: [AuditEntry] = []
                while try statement.step() {
                    entries.append(try Self.entry(from: statement))
                }
                statement.reset()
                let hasMore = entries.count > query.limit
                if hasMore { entries.removeLast() }
                return AuditPage(entries: entries, nextCursor: hasMore ? entries.last?.sequence : nil)
            } catch let error as SQLiteError {
                throw Self.wrap(error, "cannot query the audit trail", path: path)
            }
        }
    }

    public func statistics(matching query: AuditQuery) async throws -> AuditStatistics {
        var unlimited = query
        unlimited.limit = 1
        try unlimited.validate()
        return try await database.run { [self] database in
            do {
                return try database.readTransaction {
                    let (whereClause, bindings) = Self.whereClause(query, paging: false)
                    let grouped = try database.prepare(
                        "SELECT operation, kind, outcome, count(*) FROM audit_entries\(whereClause) GROUP BY operation, kind, outcome ORDER BY operation, kind, outcome")
                    bind(bindings, to: grouped)
                    var rows: [AuditStatistics.Row] = []
                    var total: Int64 = 0
                    while try grouped.step() {
                        let count = grouped.int64(3)
                        total += count
                        rows.append(.init(
                            operation: grouped.text(0) ?? "", kind: AuditEntryKind(rawValue: grouped.text(1) ?? "") ?? .attempt,
                            outcome: grouped.text(2).flatMap(AuditOutcome.init(rawValue:)), count: count))
                    }
                    let range = try database.prepare("SELECT min(time), max(time) FROM audit_entries\(whereClause)")
                    bind(bindings, to: range)
                    _ = try range.step()
                    return AuditStatistics(rows: rows, totalEntries: total, firstTime: range.text(0), lastTime: range.text(1))
                }
            } catch let error as SQLiteError {
                throw Self.wrap(error, "cannot read the audit trail's statistics", path: path)
            }
        }
    }

    /// Recomputes the whole chain and checks every stored checkpoint against it (and, with a
    /// verifier key configured, its signature).
    public func verify() async throws -> AuditVerificationReport {
        try await verify(externalCheckpoint: nil)
    }

    /// Verifies the chain against a checkpoint kept outside the database (a file, a bucket with
    /// object lock): this detects a cut-off tail and a whole rebuilt file, which the chain alone cannot.
    ///
    /// - Parameters:
    ///   - note: The signed checkpoint note.
    ///   - key: The public key it must be signed with.
    /// - Returns: The report; a bad signature, a checkpoint of another trail, a missing tail or
    ///   a different hash at the checkpoint's size are problems in it.
    /// - Throws: ``RecoveryError/Code/invalidInput`` when the note cannot be parsed.
    public func verify(checkpointNote note: String, key: AuditVerifierKey) async throws -> AuditVerificationReport {
        let checkpoint: AuditCheckpoint
        do {
            checkpoint = try AuditCheckpoint(parsing: note, verifiedBy: key)
        } catch let error as RecoveryError where error.code == .auditTampered {
            return Self.failedBeforeScanning(AuditProblem(kind: .badSignature, sequence: nil, message: error.message))
        }
        return try await verify(externalCheckpoint: checkpoint)
    }

    // MARK: - Checkpoints

    /// Signs and stores a checkpoint of the trail as it is now.
    ///
    /// - Returns: The checkpoint; write ``AuditCheckpoint/note`` somewhere the trail's writers cannot change.
    /// - Throws: ``RecoveryError/Code/invalidInput`` without a signing key or on an empty trail.
    public func checkpoint() async throws -> AuditCheckpoint {
        guard configuration.signingKey != nil else {
            throw RecoveryError.invalidInput("no signing key is configured, so no checkpoint can be signed")
        }
        let checkpoint = try await database.run { [self] database in
            try writeTransaction(database, "write a checkpoint") {
                guard let checkpoint = try checkpointInTransaction(database) else {
                    throw RecoveryError.invalidInput("the audit trail is empty: there is nothing to checkpoint")
                }
                return checkpoint
            }
        }
        try await anchor(checkpoint)
        return checkpoint
    }

    /// The hash a stored checkpoint's note states: its tree root, or for a checkpoint from
    /// before the tree (and in a trail read without one) the chain's head.
    var noteHashColumn: String { writer.hasTree ? "coalesce(root_hash, head_hash)" : "head_hash" }

    /// The newest stored checkpoint, if any.
    public func latestCheckpoint() async throws -> AuditCheckpoint? {
        try await database.run { [self] database in
            let statement = try database.prepare("SELECT size, \(noteHashColumn), note FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
            defer { statement.reset() }
            guard try statement.step() else { return nil }
            return AuditCheckpoint(origin: "carbon-recovery.audit/\(trailID)", size: statement.int64(0), headHash: statement.text(1) ?? "", note: statement.text(2) ?? "")
        }
    }

    /// The stored checkpoints larger than `size`, smallest first: what a caller that copies
    /// checkpoints elsewhere (`carbon-recovery run`'s export) has not seen yet.
    ///
    /// - Parameters:
    ///   - size: The largest checkpoint already seen; 0 for all.
    ///   - limit: At most this many.
    public func checkpoints(after size: Int64, limit: Int = 1000) async throws -> [AuditCheckpoint] {
        try await database.run { [self] database in
            do {
                let statement = try database.prepare("SELECT size, \(noteHashColumn), note FROM audit_checkpoints WHERE size > ?1 ORDER BY size LIMIT ?2")
                defer { statement.reset() }
                statement.bind(1, size)
                statement.bind(2, Int64(max(0, limit)))
                var found: [AuditCheckpoint] = []
                while try statement.step() {
                    found.append(AuditCheckpoint(origin: checkpointOrigin, size: statement.int64(0), headHash: statement.text(1) ?? "", note: statement.text(2) ?? ""))
                }
                return found
            } catch let error as SQLiteError {
                throw Self.wrap(error, "cannot read the audit trail's checkpoints", path: path)
            }
        }
    }

    /// The number of entries in the trail (its head's sequence number).
    public func size() async throws -> Int64 {
        try await database.run { [self] database in
            do {
                let statement = try database.prepare("SELECT coalesce(max(seq), 0) FROM audit_entries")
                defer { statement.reset() }
                _ = try statement.step()
                return statement.int64(0)
            } catch let error as SQLiteError {
                throw Self.wrap(error, "cannot read the audit trail", path: path)
            }
        }
    }

    /// The first line of this trail's JSON Lines export (pass it as `export(_:matching:header:write:)`'s
    /// `header`): `{"origin":"carbon-recovery.audit/<trail_id>","trail_id":"<trail_id>","type":"carbon-recovery.audit-export","v":1}`.
    /// It names the trail, so that a reviewer picks the checkpoints whose origin it is.
    public var exportHeader: JSONValue {
        ["origin": .string(checkpointOrigin), "trail_id": .string(trailID), "type": "carbon-recovery.audit-export", "v": 1]
    }

    /// The checkpoints' origin line for this trail.
    public var checkpointOrigin: String { "carbon-recovery.audit/\(trailID)" }
}

/// An append waiting for the next group commit.
struct WaitingAppend {
    var records: [AuditRecord]
    var continuation: CheckedContinuation<[AuditEntry], any Error>
}

/// The trail's prepared statements and per-handle bookkeeping.
// `@unchecked Sendable`: only jobs on the trail's `SQLiteQueue` touch it (one at a time, on its
// thread), and the queue's last job is the trail's `deinit` clean-up.
final class WriterState: @unchecked Sendable {
    private(set) var insertStatement: SQLiteStatement?
    private var prepared: SQLiteStatement?
    /// Reads the head; only used while the connection is open.
    var headStatement: SQLiteStatement { prepared! }
    /// The head inside the current write transaction; `nil` outside one.
    var cachedHead: (Int64, String)?
    /// Whether this handle's row is in `audit_sessions` (written with its first append).
    var sessionRegistered = false
    /// Correlation ids of attempts this handle recorded without an outcome yet.
    var openAttempts: Set<String> = []
    /// Whether ``SQLiteAuditTrail/close()`` (or the handle's `deinit`) ended the session.
    var closed = false
    /// The Merkle tree's right edge inside the current write transaction; `nil` outside one.
    var cachedFrontier: MerkleFrontier?
    /// The right edge as this handle's last committed transaction left it, with the head it
    /// goes with: reused while the head is still that one.
    var committedFrontier: (frontier: MerkleFrontier, size: Int64, headHash: String)?
    /// Whether the file has the Merkle tree (schema 2 on); a reader of an older trail has none.
    let hasTree: Bool
    /// Whether the file has the cosignatures table (schema 3 on).
    let hasCosignatures: Bool
    /// Checkpoints signed inside the current write transaction, to be anchored once it commits.
    var uncommittedCheckpoints: [AuditCheckpoint] = []
    /// The stored tree's reader on this connection; `nil` for a trail from before it.
    private var treeStore: AuditTreeStore?

    init(_ database: SQLiteConnection, readOnly: Bool, schemaVersion: Int64, path: String) throws {
        self.hasTree = schemaVersion >= AuditSchema.treeVersion
        self.hasCosignatures = schemaVersion >= AuditSchema.cosignatureVersion
        prepared = try database.prepare("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1")
        insertStatement = readOnly ? nil : try database.prepare(AuditSchema.insertEntry)
        treeStore = hasTree ? try AuditTreeStore(database, path: path) : nil
    }

    /// The stored tree, read on this connection.
    ///
    /// - Throws: ``RecoveryError/Code/auditFailure`` for a trail without a tree.
    func tree(path: String) throws -> AuditTreeStore {
        guard let treeStore else {
            throw RecoveryError(.auditFailure, "the audit trail has no Merkle tree yet (a trail from before it): open it for writing once to add it", target: path)
        }
        return treeStore
    }

    /// Finalizes the statements, so that closing the connection closes it at once.
    func finalizeStatements() {
        prepared = nil
        insertStatement = nil
        treeStore = nil
    }
}
