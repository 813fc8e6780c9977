import CarbonRecovery
import CarbonRecoveryCompression
import Crypto
import Foundation

/// A PostgreSQL cluster's WAL archive on a ``StorageBackend``: what `archive_command` stores and
/// `restore_command` fetches.
///
/// Layout, under `<prefix>postgres/<stanza>/wal/`:
///
/// ```
/// 0000000100000000/000000010000000000000003-<sha256>.gz    a segment (first 16 digits: timeline and log)
/// 0000000100000000/000000010000000000000002.00000028.backup-<sha256>
/// 0000000200000000/000000020000000000000007.partial-<sha256>.gz
/// history/00000002.history-<sha256>
/// ```
///
/// `<sha256>` is the SHA-256 of the file as PostgreSQL wrote it (before compression), in
/// lower-case hex; `.gz` marks a gzip-compressed object. The checksum in the key is what makes
/// archiving idempotent and conflicts visible without object metadata (pgBackRest names its
/// archive the same way, with SHA-1): archiving a file whose name is already archived with the
/// same checksum succeeds and stores nothing; with another checksum it is refused.
///
/// ```swift
/// let archive = WALArchive(storage: backend, stanza: "main")
/// let result = try await archive.archive(contents, name: try WALFileName("000000010000000000000003"))
/// ```
public struct WALArchive: Sendable {
    /// How archived files are stored.
    public enum Compression: String, Sendable, CaseIterable {
        /// As PostgreSQL wrote them.
        case none
        /// gzip (zlib's default level).
        case gzip
    }

    /// What ``archive(_:name:)`` did.
    public struct Result: Sendable, Equatable {
        /// The storage key of the archived object.
        public var key: String
        /// The SHA-256 of the file, lower-case hex.
        public var sha256: String
        /// The file's size.
        public var bytes: Int
        /// The stored object's size (after compression).
        public var storedBytes: Int
        /// `false` when the same file was archived before and nothing was written.
        public var stored: Bool
    }

    /// One archived file, as listed.
    public struct Entry: Sendable, Equatable {
        /// The file's name.
        public var file: WALFileName
        /// The SHA-256 its key records.
        public var sha256: String
        /// How it is stored.
        public var compression: Compression
        /// The storage key.
        public var key: String
        /// The stored object's size.
        public var storedBytes: Int64
        /// When the storage says the object was written (listings say), roughly when
        /// PostgreSQL finished the file.
        public var archivedAt: Date?
    }

    /// Where the archive is.
    public let storage: any StorageBackend
    /// The cluster's name in the archive (`main`): one archive per PostgreSQL cluster.
    public let stanza: String
    /// A prefix before `postgres/` (empty, or ending in `/`).
    public let prefix: String
    /// How new files are stored.
    public let compression: Compression

    /// Creates an archive handle; nothing is read or written.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` for a stanza that is not a DNS-1123 label or a
    ///   prefix that does not end in `/`.
    public init(storage: any StorageBackend, stanza: String, prefix: String = "", compression: Compression = .gzip) throws {
        try KubernetesName.validateLabel(stanza, what: "stanza")
        guard prefix.isEmpty || (prefix.hasSuffix("/") && !prefix.hasPrefix("/") && !prefix.contains("//") && !prefix.contains("..")) else {
            throw RecoveryError(.invalidInput, "the archive prefix '\(prefix)' must be empty or a relative folder ending in '/' (e.g. 'databases/')", target: prefix)
        }
        self.storage = storage
        self.stanza = stanza
        self.prefix = prefix
        self.compression = compression
    }

    /// The folder every file of this archive is under.
    public var root: String { "\(prefix)postgres/\(stanza)/wal/" }

    /// The folder a file's objects are in.
    public func folder(of file: WALFileName) -> String {
        file.kind == .history ? root + "history/" : root + file.name.prefix(16) + "/"
    }

    /// Archives one file: `archive_command`'s work.
    ///
    /// Succeeds without writing when the name is already archived with the same checksum (PostgreSQL
    /// archives a segment again after a crash between the upload and its own bookkeeping). Reads
    /// the object back after writing, so success means the storage holds it.
    ///
    /// - Throws: ``RecoveryError/Code/conflict`` when the name is archived with another checksum
    ///   (two clusters archiving into one stanza, or a restored cluster writing on the old
    ///   timeline); what the storage throws.
    public func archive(_ contents: [UInt8], name file: WALFileName) async throws -> Result {
        // The name check is a round trip to the storage; hashing and compressing are CPU work.
        // They overlap: the compressed bytes are only used once the check says the name is free.
        async let listed = entries(named: file)
        let compression = self.compression
        async let compressed = compression == .gzip ? Gzip.compress(contents, parts: ProcessInfo.processInfo.activeProcessorCount) : contents
        let sha256 = hexSHA256(contents)
        let existing = try await listed
        if let same = existing.first(where: { $0.sha256 == sha256 }) {
            return Result(key: same.key, sha256: sha256, bytes: contents.count, storedBytes: Int(same.storedBytes), stored: false)
        }
        if let other = existing.first {
            throw RecoveryError(
                .conflict,
                "\(file.name) is already archived with different contents (sha256 \(other.sha256.prefix(16))…, this one \(sha256.prefix(16))…): "
                    + "another PostgreSQL cluster archives into stanza '\(stanza)', or a restored cluster was not promoted onto a new timeline; "
                    + "give each cluster its own stanza. Nothing was written",
                target: other.key)
        }
        let data = try await compressed
        let key = folder(of: file) + file.name + "-" + sha256 + (compression == .gzip ? ".gz" : "")
        try await storage.put(key, data: data)
        guard let written = try await storage.head(key), written.size == Int64(data.count) else {
            throw RecoveryError(.storageFailure, "\(key) was written but the storage does not report it with \(data.count) bytes; PostgreSQL will retry", target: key)
        }
        return Result(key: key, sha256: sha256, bytes: contents.count, storedBytes: data.count, stored: true)
    }

    /// Every archived object for one file name (normally one).
    public func entries(named file: WALFileName) async throws -> [Entry] {
        var found: [Entry] = []
        for try await object in storage.list(prefix: folder(of: file) + file.name + "-") {
            if let entry = Self.entry(for: object), entry.file == file { found.append(entry) }
        }
        return found
    }

    /// Every archived file, in WAL order; objects whose key is not in the layout are skipped.
    public func entries() async throws -> [Entry] {
        var found: [Entry] = []
        for try await object in storage.list(prefix: root) {
            if let entry = Self.entry(for: object) { found.append(entry) }
        }
        return found.sorted { $0.file < $1.file }
    }

    /// Fetches an archived file and checks it against the checksum in its key.
    ///
    /// - Throws: ``RecoveryError/Code/notFound`` when the object is gone,
    ///   ``RecoveryError/Code/validationFailed`` when its contents do not hash to its key (a
    ///   damaged or tampered file is never handed to PostgreSQL).
    public func fetch(_ entry: Entry) async throws -> [UInt8] {
        guard let stored = try await storage.get(entry.key) else {
            throw RecoveryError(.notFound, "\(entry.file.name) (\(entry.key)) is no longer in the archive", target: entry.key)
        }
        let contents: [UInt8]
        do {
            contents = entry.compression == .gzip ? try Gzip.decompress(stored, limit: Self.largestFile) : stored
        } catch let error as RecoveryError {
            throw RecoveryError(.validationFailed, "\(entry.file.name) in the archive is damaged or tampered (\(error.message)): refused (\(entry.key))", target: entry.key)
        }
        guard hexSHA256(contents) == entry.sha256 else {
            throw RecoveryError(
                .validationFailed, "\(entry.file.name) in the archive does not match its SHA-256 (damaged or tampered): refused (\(entry.key))", target: entry.key)
        }
        return contents
    }

    /// The largest file PostgreSQL archives: a WAL segment of the largest `wal_segment_size` (1 GiB).
    static let largestFile = 1 << 30

    /// The SHA-256 of a file in lower-case hex, as the archive's keys carry it.
    public static func sha256(of contents: [UInt8]) -> String { hexSHA256(contents) }

    /// Parses a key of the layout; `nil` for anything else.
    static func entry(for object: StorageObject) -> Entry? {
        entry(forKey: object.key, storedBytes: object.size, archivedAt: object.lastModified)
    }

    /// Parses a key of the layout (`…/<name>-<sha256>[.gz]`); `nil` for anything else.
    public static func entry(forKey key: String, storedBytes: Int64 = 0, archivedAt: Date? = nil) -> Entry? {
        var base = Substring(key.split(separator: "/").last ?? "")
        var compression = Compression.none
        if base.hasSuffix(".gz") {
            base = base.dropLast(3)
            compression = .gzip
        }
        guard let dash = base.lastIndex(of: "-") else { return nil }
        let sha = base[base.index(after: dash)...]
        guard sha.count == 64, sha.allSatisfy({ $0.isHexDigit && !$0.isUppercase }), let file = try? WALFileName(String(base[..<dash])) else { return nil }
        return Entry(file: file, sha256: String(sha), compression: compression, key: key, storedBytes: storedBytes, archivedAt: archivedAt)
    }
}

/// The SHA-256 of `bytes` in lower-case hex, as the archive's keys and manifests carry it.
func hexSHA256(_ bytes: some Collection<UInt8>) -> String {
    hex(SHA256.hash(data: Array(bytes)))
}

/// A digest in lower-case hex.
func hex(_ digest: some Sequence<UInt8>) -> String {
    digest.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
}
