import CarbonRecovery
import Foundation

/// A base backup in the archive: what `manifest.json` beside its tar says.
///
/// A base backup exists once its manifest does: the manifest is written last, after the tar
/// and after every WAL segment from ``startSegment`` to ``stopSegment`` is in the archive, so a
/// listed backup can always be made consistent.
public struct BaseBackup: Sendable, Equatable {
    /// The backup's name: when it started on this machine's clock, `yyyyMMdd'T'HHmmssSSS'Z'`
    /// (sorts by time; the key is chosen before the tar streams to it).
    public var id: String
    /// The storage key of the tar (`pg_basebackup --format=tar`, the main data folder, with
    /// PostgreSQL's own `backup_manifest` inside).
    public var key: String
    /// The SHA-256 of the tar as `pg_basebackup` wrote it (before compression).
    public var sha256: String
    /// The tar's size.
    public var bytes: Int
    /// The stored object's size.
    public var storedBytes: Int
    /// How the tar is stored.
    public var compression: WALArchive.Compression
    /// The timeline the backup was taken on.
    public var timeline: UInt32
    /// Where replay must start, and the position the backup is consistent at.
    public var startLSN: LSN
    public var stopLSN: LSN
    /// The segments holding those positions.
    public var startSegment: String
    public var stopSegment: String
    /// The server's WAL segment size in bytes.
    public var walSegmentSize: Int
    /// When the backup started (the server's `backup_label`) and when it was complete (this
    /// machine's clock once `pg_basebackup` ended: at or after the consistent point).
    public var startTime: Date
    public var stopTime: Date
    /// How many files PostgreSQL's `backup_manifest` lists (each with a SHA-256 of its own).
    public var files: Int
    /// The server's version number (`server_version_num`).
    public var serverVersion: Int

    /// Creates a description.
    public init(
        id: String, key: String, sha256: String, bytes: Int, storedBytes: Int, compression: WALArchive.Compression, timeline: UInt32,
        startLSN: LSN, stopLSN: LSN, startSegment: String, stopSegment: String, walSegmentSize: Int, startTime: Date, stopTime: Date,
        files: Int, serverVersion: Int
    ) {
        self.id = id
        self.key = key
        self.sha256 = sha256
        self.bytes = bytes
        self.storedBytes = storedBytes
        self.compression = compression
        self.timeline = timeline
        self.startLSN = startLSN
        self.stopLSN = stopLSN
        self.startSegment = startSegment
        self.stopSegment = stopSegment
        self.walSegmentSize = walSegmentSize
        self.startTime = startTime
        self.stopTime = stopTime
        self.files = files
        self.serverVersion = serverVersion
    }

    /// The manifest's JSON (`format: 1`).
    public var json: JSONValue {
        [
            "format": 1, "id": .string(id), "key": .string(key), "sha256": .string(sha256), "bytes": .integer(Int64(bytes)),
            "storedBytes": .integer(Int64(storedBytes)), "compression": .string(compression.rawValue), "timeline": .integer(Int64(timeline)),
            "startLSN": .string(startLSN.description), "stopLSN": .string(stopLSN.description), "startSegment": .string(startSegment),
            "stopSegment": .string(stopSegment), "walSegmentSize": .integer(Int64(walSegmentSize)), "startTime": .string(RFC3339.format(startTime)),
            "stopTime": .string(RFC3339.format(stopTime)), "files": .integer(Int64(files)), "serverVersion": .integer(Int64(serverVersion)),
        ]
    }

    /// Reads a manifest.
    ///
    /// - Throws: ``RecoveryError/Code/invalidObject`` naming the field that is missing or wrong.
    public init(json: JSONValue) throws {
        func field(_ name: String) throws -> JSONValue {
            guard let value = json[name] else { throw RecoveryError(.invalidObject, "the base backup manifest has no \(name)") }
            return value
        }
        func text(_ name: String) throws -> String {
            guard let value = try field(name).stringValue else { throw RecoveryError(.invalidObject, "the base backup manifest's \(name) is not a string") }
            return value
        }
        func number(_ name: String) throws -> Int {
            guard case .integer(let value) = try field(name), value >= 0 else { throw RecoveryError(.invalidObject, "the base backup manifest's \(name) is not a count") }
            return Int(value)
        }
        func date(_ name: String) throws -> Date {
            guard let value = RFC3339.parse(try text(name)) else { throw RecoveryError(.invalidObject, "the base backup manifest's \(name) is not an RFC 3339 time") }
            return value
        }
        guard try number("format") == 1 else { throw RecoveryError(.invalidObject, "the base backup manifest is of a format this version does not read") }
        guard let compression = WALArchive.Compression(rawValue: try text("compression")) else {
            throw RecoveryError(.invalidObject, "the base backup manifest's compression is unknown")
        }
        let sha256 = try text("sha256")
        guard sha256.count == 64, sha256.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw RecoveryError(.invalidObject, "the base backup manifest's sha256 is not 64 lower-case hex digits")
        }
        let timeline = try number("timeline")
        guard (1...Int(UInt32.max)).contains(timeline) else { throw RecoveryError(.invalidObject, "the base backup manifest's timeline is out of range") }
        let startSegment = try text("startSegment"), stopSegment = try text("stopSegment")
        guard (try? WALFileName(startSegment))?.kind == .segment, (try? WALFileName(stopSegment))?.kind == .segment else {
            throw RecoveryError(.invalidObject, "the base backup manifest's start or stop segment is not a segment name")
        }
        self.init(
            id: try text("id"), key: try text("key"), sha256: sha256, bytes: try number("bytes"), storedBytes: try number("storedBytes"),
            compression: compression, timeline: UInt32(timeline), startLSN: try LSN(parsing: try text("startLSN")), stopLSN: try LSN(parsing: try text("stopLSN")),
            startSegment: startSegment, stopSegment: stopSegment, walSegmentSize: try number("walSegmentSize"), startTime: try date("startTime"),
            stopTime: try date("stopTime"), files: try number("files"), serverVersion: try number("serverVersion"))
    }
}
