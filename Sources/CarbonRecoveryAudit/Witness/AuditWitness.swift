import CarbonRecovery
import CarbonRecoverySQLite
import Foundation

/// A C2SP tlog-witness: it cosigns a log's checkpoint only when it extends the last checkpoint
/// it cosigned for that log, and keeps that state durably in a SQLite file.
///
/// Every ``addCheckpoint(_:)`` runs in one `BEGIN IMMEDIATE` transaction (check and store are
/// atomic, also across processes sharing the file) committed with `synchronous=FULL` before the
/// answer is returned: a witness that cosigned a size never forgets it, also after a crash. A
/// request signed by the log that it refuses as a fork (422) is kept in `witness_refusals`: it
/// is the log's own signed evidence of a split view.
///
/// ```swift
/// let witness = try await AuditWitness(path: "witness.db", key: key, logs: [origin: trailKey])
/// let response = await witness.addCheckpoint(Array(requestBody.utf8))   // status 200: a cosignature line
/// ```
public final class AuditWitness: Sendable {
    /// The answer to an `add-checkpoint` request, as the HTTP response carries it.
    public struct Response: Sendable, Hashable {
        /// The HTTP status: 200 cosigned, 400 malformed, 403 not signed by the log's key, 404
        /// unknown log, 409 wrong old size (the body gives the witness's size), 422 not an extension.
        public var status: Int
        /// The body's media type: `text/x.tlog.size` for a 409, else `text/plain; charset=utf-8`.
        public var contentType: String
        /// The cosignature line (200), the witness's size (409), or why not.
        public var body: String

        /// Creates a response.
        public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    /// The witness's public key, which verifiers of the log are given.
    public let cosignerKey: AuditCosignerKey
    private let key: AuditCosigningKey
    private let logs: [String: AuditVerifierKey]
    private let database: SQLiteQueue
    private let clock: any WallClock

    /// Opens (or creates, mode 0600) the witness's state file.
    ///
    /// - Parameters:
    ///   - path: The state file.
    ///   - key: The witness's cosigning key.
    ///   - logs: The logs it witnesses: checkpoint origin → the key their checkpoints are signed with.
    ///   - clock: The time put in cosignatures.
    public init(path: String, key: AuditCosigningKey, logs: [String: AuditVerifierKey], clock: any WallClock = SystemWallClock()) async throws {
        self.key = key
        self.cosignerKey = key.cosignerKey
        self.logs = logs
        self.clock = clock
        try FileSecurity.createParentDirectories(of: path)
        try FileSecurity.ensurePrivateFile(at: path)
        do {
            database = try SQLiteQueue(path: path, readOnly: false, label: "witness", busyTimeout: .seconds(30))
            try await database.run { database in
                try database.execute("PRAGMA journal_mode=WAL")
                try database.execute("PRAGMA synchronous=FULL")
                try database.execute(
                    """
                    CREATE TABLE IF NOT EXISTS witness_logs (
                        origin     TEXT NOT NULL PRIMARY KEY,
                        size       INTEGER NOT NULL,
                        root_hash  TEXT NOT NULL,
                        note       TEXT NOT NULL,
                        time       TEXT NOT NULL
                    );
                    CREATE TABLE IF NOT EXISTS witness_refusals (
                        id       INTEGER PRIMARY KEY,
                        origin   TEXT NOT NULL,
                        time     TEXT NOT NULL,
                        reason   TEXT NOT NULL,
                        request  TEXT NOT NULL
                    );
                    """)
            }
        } catch let error as SQLiteError {
            throw RecoveryError(.auditFailure, "cannot open the witness state: \(error.message)", target: path, underlying: error)
        }
    }

    /// Closes the state file.
    public func close() async { await database.close() }

    /// The size and root (hex) this witness last cosigned for `origin`; `nil` before the first.
    public func latest(origin: String) async throws -> (size: Int64, rootHash: String)? {
        try await database.run { database in
            let read = try database.prepare("SELECT size, root_hash FROM witness_logs WHERE origin = ?1")
            read.bind(1, origin)
            guard try read.step() else { return nil }
            return (read.int64(0), read.text(1) ?? "")
        }
    }

    /// The checkpoints this witness refused as forks, oldest first: each the request's body,
    /// whose checkpoint the log signed.
    public func refusals(origin: String) async throws -> [String] {
        try await database.run { database in
            let read = try database.prepare("SELECT request FROM witness_refusals WHERE origin = ?1 ORDER BY id")
            read.bind(1, origin)
            var found: [String] = []
            while try read.step() { found.append(read.text(0) ?? "") }
            return found
        }
    }

    /// Handles an `add-checkpoint` request body. Never throws: every failure is a response.
    public func addCheckpoint(_ body: [UInt8]) async -> Response {
        let request: AddCheckpointRequest
        do { request = try AddCheckpointRequest(parsing: body) } catch let error as RecoveryError {
            return Response(status: 400, body: error.message + "\n")
        } catch { return Response(status: 400, body: "malformed request\n") }
        guard let checkpoint = try? AuditCheckpoint(unverified: request.checkpoint) else {
            return Response(status: 403, body: "the checkpoint is not a checkpoint note\n")
        }
        guard let logKey = logs[checkpoint.origin] else {
            return Response(status: 404, body: "this witness does not witness the log '\(checkpoint.origin)'\n")
        }
        guard (try? AuditCheckpoint(parsing: request.checkpoint, verifiedBy: logKey)) != nil else {
            return Response(status: 403, body: "the checkpoint carries no valid signature by the log's key '\(logKey.name)' (\(logKey.keyID))\n")
        }
        guard request.oldSize <= checkpoint.size else {
            return Response(status: 400, body: "the old size \(request.oldSize) is larger than the checkpoint's size \(checkpoint.size)\n")
        }
        let (key, clock) = (key, clock)
        do {
            return try await database.run { database in
                try database.immediateTransaction {
                    let read = try database.prepare("SELECT size, root_hash FROM witness_logs WHERE origin = ?1")
                    read.bind(1, checkpoint.origin)
                    var (size, root): (Int64, [UInt8]) = (0, MerkleTree.emptyTreeHash)
                    if try read.step() { (size, root) = (read.int64(0), hexBytes(read.text(1) ?? "") ?? []) }
                    read.reset()
                    guard request.oldSize == size else {
                        return Response(status: 409, contentType: "text/x.tlog.size", body: "\(size)\n")
                    }
                    guard let newRoot = hexBytes(checkpoint.headHash),
                        MerkleTree.verifyConsistency(oldSize: size, newSize: checkpoint.size, oldRoot: root, newRoot: newRoot, proof: request.proof)
                    else {
                        let reason = "the checkpoint of \(checkpoint.size) entries does not extend the one of \(size) entries this witness cosigned"
                        let refusal = try database.prepare("INSERT INTO witness_refusals (origin, time, reason, request) VALUES (?1, ?2, ?3, ?4)")
                        refusal.bind(1, checkpoint.origin)
                        refusal.bind(2, RFC3339.format(clock.now()))
                        refusal.bind(3, reason)
                        refusal.bind(4, request.body)
                        try refusal.run()
                        return Response(status: 422, body: reason + "\n")
                    }
                    let store = try database.prepare(
                        "INSERT OR REPLACE INTO witness_logs (origin, size, root_hash, note, time) VALUES (?1, ?2, ?3, ?4, ?5)")
                    store.bind(1, checkpoint.origin)
                    store.bind(2, checkpoint.size)
                    store.bind(3, checkpoint.headHash)
                    store.bind(4, request.checkpoint)
                    store.bind(5, RFC3339.format(clock.now()))
                    try store.run()
                    let body = request.checkpoint[..<(request.checkpoint.range(of: "\n\n")!.lowerBound)] + "\n"
                    let time = UInt64(max(0, clock.now().timeIntervalSince1970))
                    return Response(status: 200, body: try key.cosignatureLine(body: String(body), time: time))
                }
            }
        } catch {
            return Response(status: 500, body: "the witness could not read or store its state\n")
        }
    }
}
