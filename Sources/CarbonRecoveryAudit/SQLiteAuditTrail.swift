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
        /// Defaults to the signing key's public half.
        public var verifierKey: AuditVerifierKey?
        /// How long an append waits for another writer's transaction.
        public var busyTimeout: Duration
        /// `FULL` (the default) syncs the WAL on every commit; `NORMAL` may lose the last
        /// commits on power loss (never on a process crash).
        public var durability: Durability
        /// Close attempts of dead processes as `abandoned` when opening for writing.
        public var recoverAbandonedAttempts: Bool

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
            verifierKey: AuditVerifierKey? = nil, busyTimeout: Duration = .seconds(30), durability: Durability = .full,
            recoverAbandonedAttempts: Bool = true
        ) {
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

    private let configuration: Configuration
    private let database: SQLiteQueue
    /// What only the queue's jobs touch: prepared statements and the handle's bookkeeping.
    private let writer: WriterState
    private let sessionLock: SessionLock?
    private let logger: Logger
    private let clock: any WallClock
    /// Appends waiting for the next group commit, and whether a commit job is submitted.
    private let waitingAppends = Mutex<(appends: [WaitingAppend], commitSubmitted: Bool)>(([], false))

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
                try Self.migrate(database, readOnly: readOnly, path: path, at: clock.now())
                let trailID = try Self.readOrCreateTrailID(database, readOnly: readOnly)
                return (trailID, try WriterState(database, readOnly: readOnly))
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

    private static func endSession(_ database: SQLiteConnection, writer: WriterState, session: String, lock: SessionLock?) {
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
        return try await withCheckedThrowingContinuation { continuation in
            let submit = waitingAppends.withLock { waiting in
                waiting.appends.append(WaitingAppend(records: records, continuation: continuation))
                defer { waiting.commitSubmitted = true }
                return !waiting.commitSubmitted
            }
            if submit { database.submit { [self] database in commitWaitingAppends(database) } }
        }
    }

    /// On the queue: commits every waiting append in one transaction and resumes their callers.
    private func commitWaitingAppends(_ database: SQLiteConnection) {
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
        return try await database.run { [self] database in
            try writeTransaction(database, "write a checkpoint") {
                guard let checkpoint = try checkpointInTransaction(database) else {
                    throw RecoveryError.invalidInput("the audit trail is empty: there is nothing to checkpoint")
                }
                return checkpoint
            }
        }
    }

    /// The newest stored checkpoint, if any.
    public func latestCheckpoint() async throws -> AuditCheckpoint? {
        try await database.run { [self] database in
            let statement = try database.prepare("SELECT size, head_hash, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1")
            defer { statement.reset() }
            guard try statement.step() else { return nil }
            return AuditCheckpoint(origin: "carbon-recovery.audit/\(trailID)", size: statement.int64(0), headHash: statement.text(1) ?? "", note: statement.text(2) ?? "")
        }
    }

    /// The checkpoints' origin line for this trail.
    public var checkpointOrigin: String { "carbon-recovery.audit/\(trailID)" }

    // MARK: - Internals: appending

    private func appendInTransaction(_ database: SQLiteConnection, _ record: AuditRecord, time: String) throws -> AuditEntry {
        guard let insertStatement = writer.insertStatement else {
            throw RecoveryError(.auditFailure, "the audit trail was opened read-only", target: path)
        }
        let (lastSequence, lastHash) = try head()
        var entry = AuditEntry(
            sequence: lastSequence + 1, time: time, kind: record.kind, actor: record.actor.user, cluster: record.actor.cluster,
            operation: record.operation, target: record.target, parameters: record.parameters, outcome: record.outcome,
            error: record.error, durationMilliseconds: record.durationMilliseconds, correlationID: record.correlationID,
            session: session, previousHash: lastHash, hash: "")
        entry.hash = HexEncoding.string(SHA256.hash(data: entry.canonicalBytes(includingHash: false)))

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
        try insertStatement.run()
        writer.cachedHead = (entry.sequence, entry.hash)

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
        if let interval = configuration.checkpointInterval, interval > 0, configuration.signingKey != nil,
            entry.sequence % interval == 0
        {
            _ = try checkpointInTransaction(database)
        }
        return entry
    }

    /// The head as of this transaction. Inside one transaction the head only moves by our own
    /// inserts, so it is read from the database once per transaction and then carried along.
    private func head() throws -> (Int64, String) {
        if let cachedHead = writer.cachedHead { return cachedHead }
        let headStatement = writer.headStatement
        defer { headStatement.reset() }
        let head = try headStatement.step()
            ? (headStatement.int64(0), headStatement.text(1) ?? "")
            : (0, AuditCanonicalEncoding.genesisHash)
        writer.cachedHead = head
        return head
    }

    private func checkpointInTransaction(_ database: SQLiteConnection) throws -> AuditCheckpoint? {
        guard let key = configuration.signingKey else { return nil }
        let (size, hash) = try head()
        guard size > 0 else { return nil }
        let checkpoint = try AuditCheckpoint.sign(origin: checkpointOrigin, size: size, headHash: hash, key: key)
        let statement = try database.prepare("INSERT OR IGNORE INTO audit_checkpoints (size, head_hash, time, note) VALUES (?1, ?2, ?3, ?4)")
        statement.bind(1, size)
        statement.bind(2, hash)
        statement.bind(3, RFC3339.format(clock.now()))
        statement.bind(4, checkpoint.note)
        try statement.run()
        return checkpoint
    }

    private func writeTransaction<T>(_ database: SQLiteConnection, _ what: String, _ body: () throws -> T) throws -> T {
        guard !configuration.readOnly else {
            throw RecoveryError(.auditFailure, "cannot \(what): the trail was opened read-only", target: path)
        }
        guard !writer.closed else {
            throw RecoveryError(.auditFailure, "cannot \(what): this handle of the trail was closed; open it again", target: path)
        }
        writer.cachedHead = nil
        defer { writer.cachedHead = nil }
        // What the body changes in memory must be undone if the transaction rolls back.
        let (registered, open) = (writer.sessionRegistered, writer.openAttempts)
        do {
            return try database.immediateTransaction(body)
        } catch {
            (writer.sessionRegistered, writer.openAttempts) = (registered, open)
            if let error = error as? SQLiteError { throw Self.wrap(error, "cannot \(what)", path: path) }
            throw error
        }
    }

    /// Appends an `abandoned` outcome for every attempt whose process is gone.
    private func recoverAbandonedAttempts(_ database: SQLiteConnection) throws {
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

    // MARK: - Internals: reading

    private func verify(externalCheckpoint: AuditCheckpoint?) async throws -> AuditVerificationReport {
        try await database.run { [self] database in
            do {
                return try database.readTransaction {
                    var checkpoints: [Int64: String] = [:]
                    let stored = try database.prepare("SELECT size, head_hash, note FROM audit_checkpoints ORDER BY size")
                    while try stored.step() {
                        let size = stored.int64(0)
                        let hash = stored.text(1) ?? ""
                        if let key = configuration.verifierKey,
                            !AuditCheckpoint.isConsistent(storedNote: stored.text(2) ?? "", with: key, size: size, headHash: hash, origin: checkpointOrigin)
                        {
                            stored.reset()
                            return Self.failedBeforeScanning(AuditProblem(
                                kind: .badSignature, sequence: size,
                                message: "the stored checkpoint at size \(size) claims a signature by key '\(key.name)' that does not verify for this trail's size and hash: the checkpoint was altered"))
                        }
                        checkpoints[size] = hash
                    }
                    stored.reset()
                    if let externalCheckpoint {
                        guard externalCheckpoint.origin == checkpointOrigin else {
                            return Self.failedBeforeScanning(AuditProblem(
                                kind: .checkpointMismatch, sequence: nil,
                                message: "the checkpoint is for '\(externalCheckpoint.origin)' but this trail is '\(checkpointOrigin)': the file was replaced or it is another trail"))
                        }
                        // At the same size the external checkpoint wins: a stored one may have been
                        // rewritten along with the chain.
                        checkpoints[externalCheckpoint.size] = externalCheckpoint.headHash
                    }
                    let head = try database.prepare("SELECT coalesce(max(seq), 0) FROM audit_entries")
                    _ = try head.step()
                    let lastSequence = head.int64(0)
                    head.reset()
                    return try AuditChainVerifier(checkpoints: checkpoints).verify(path: path, lastSequence: lastSequence)
                }
            } catch let error as SQLiteError {
                throw Self.wrap(error, "cannot read the audit trail to verify it", path: path)
            }
        }
    }

    /// A report for a problem found before any entry was read (checkpoints, signatures).
    private static func failedBeforeScanning(_ problem: AuditProblem) -> AuditVerificationReport {
        AuditVerificationReport(
            entriesChecked: 0, headSequence: 0, headHash: AuditCanonicalEncoding.genesisHash, checkpointsChecked: 0, problem: problem)
    }

    private enum Binding {
        case text(String)
        case integer(Int64)
    }

    private func bind(_ bindings: [Binding], to statement: SQLiteStatement) {
        for (index, binding) in bindings.enumerated() {
            switch binding {
            case .text(let text): statement.bind(Int32(index + 1), text)
            case .integer(let number): statement.bind(Int32(index + 1), number)
            }
        }
    }

    private static func whereClause(_ query: AuditQuery, paging: Bool) -> (String, [Binding]) {
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

    private static func selectSQL(_ query: AuditQuery, columns: String, limit: Int) -> (String, [Binding]) {
        let (whereClause, bindings) = whereClause(query, paging: true)
        return ("SELECT \(columns) FROM audit_entries\(whereClause) ORDER BY seq \(query.newestFirst ? "DESC" : "ASC") LIMIT \(limit)", bindings)
    }

    private static func entry(from statement: SQLiteStatement) throws -> AuditEntry {
        guard let kind = statement.text(3).flatMap(AuditEntryKind.init(rawValue:)) else {
            throw RecoveryError(.auditTampered, "entry \(statement.int64(0)) has an unknown kind; run `carbon-recovery audit verify`")
        }
        return AuditEntry(
            version: statement.int64(1), sequence: statement.int64(0), time: statement.text(2) ?? "", kind: kind,
            actor: statement.text(4) ?? "", cluster: statement.text(5), operation: statement.text(6) ?? "",
            target: statement.text(7) ?? "", parameters: statement.text(8) ?? "",
            outcome: statement.text(9).flatMap(AuditOutcome.init(rawValue:)), error: statement.text(10),
            durationMilliseconds: statement.isNull(11) ? nil : statement.int64(11), correlationID: statement.text(12) ?? "",
            session: statement.text(13) ?? "", previousHash: statement.text(14) ?? "", hash: statement.text(15) ?? "")
    }

    // MARK: - Internals: schema and plumbing

    private static func migrate(_ database: SQLiteConnection, readOnly: Bool, path: String, at time: Date) throws {
        let exists = try database.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
        _ = try exists.step()
        let hasSchema = exists.int64(0) > 0
        exists.reset()
        var version: Int64 = 0
        if hasSchema {
            let current = try database.prepare("SELECT max(version) FROM schema_version")
            _ = try current.step()
            version = current.int64(0)
            current.reset()
        }
        if version > AuditSchema.currentVersion {
            throw RecoveryError(
                .auditFailure,
                "the audit trail has schema version \(version), newer than this CarbonRecovery understands (\(AuditSchema.currentVersion)); upgrade CarbonRecovery",
                target: path)
        }
        guard version < AuditSchema.currentVersion else { return }
        if readOnly {
            throw RecoveryError(
                .auditFailure, "the file is not a CarbonRecovery audit trail (or an older one that must be opened for writing once)",
                target: path)
        }
        try database.immediateTransaction {
            // Re-read inside the write lock: another process may have migrated meanwhile.
            let again = try database.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
            _ = try again.step()
            var current: Int64 = 0
            if again.int64(0) > 0 {
                let read = try database.prepare("SELECT max(version) FROM schema_version")
                _ = try read.step()
                current = read.int64(0)
            }
            again.reset()
            while current < AuditSchema.currentVersion {
                try database.execute(AuditSchema.migrations[Int(current)])
                current += 1
                let record = try database.prepare("INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)")
                record.bind(1, current)
                record.bind(2, RFC3339.format(time))
                try record.run()
            }
        }
    }

    private static func readOrCreateTrailID(_ database: SQLiteConnection, readOnly: Bool) throws -> String {
        let read = try database.prepare("SELECT value FROM audit_meta WHERE key = 'trail_id'")
        defer { read.reset() }
        if try read.step(), let id = read.text(0) { return id }
        read.reset()
        guard !readOnly else { return "unknown" }
        let id = UUID().uuidString.lowercased()
        let insert = try database.prepare("INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('trail_id', ?1)")
        insert.bind(1, id)
        try insert.run()
        // Another process may have won the race: read back the one that stuck.
        if try read.step(), let stored = read.text(0) { return stored }
        return id
    }

    private static func wrap(_ error: SQLiteError, _ what: String, path: String) -> RecoveryError {
        if error.isBusy {
            return RecoveryError(.timeout, "\(what): another process held the trail's write lock past the busy timeout", target: path, underlying: error)
        }
        return RecoveryError(.auditFailure, "\(what): \(error.message)", target: path, underlying: error)
    }
}

/// An append waiting for the next group commit.
private struct WaitingAppend {
    var records: [AuditRecord]
    var continuation: CheckedContinuation<[AuditEntry], any Error>
}

/// The trail's prepared statements and per-handle bookkeeping.
// `@unchecked Sendable`: only jobs on the trail's `SQLiteQueue` touch it (one at a time, on its
// thread), and the queue's last job is the trail's `deinit` clean-up.
private final class WriterState: @unchecked Sendable {
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

    init(_ database: SQLiteConnection, readOnly: Bool) throws {
        prepared = try database.prepare("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1")
        insertStatement = readOnly ? nil : try database.prepare(AuditSchema.insertEntry)
    }

    /// Finalizes the statements, so that closing the connection closes it at once.
    func finalizeStatements() {
        prepared = nil
        insertStatement = nil
    }
}
