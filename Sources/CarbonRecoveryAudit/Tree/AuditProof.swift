import CarbonRecovery
import Foundation

/// A proof about the audit trail that a reviewer checks with only this file and a public key:
/// that one entry is in the trail (inclusion), or that a later trail extends an earlier one
/// (consistency), each against signed checkpoints (C2SP tlog-checkpoint notes).
///
/// Its text (UTF-8, LF line ends, nothing before or after) is, for an inclusion proof:
/// ```
/// carbon-recovery audit proof v1
/// inclusion
/// index <leaf index: the entry's seq − 1>
/// entry <the entry's canonical line, as in an export>
/// hash <base64 of a 32-byte hash>          (the audit path, leaf's sibling first; 0 to 63 lines)
/// checkpoint <byte count of the note>
/// <the signed checkpoint note, byte for byte>
/// ```
/// and for a consistency proof:
/// ```
/// carbon-recovery audit proof v1
/// consistency
/// hash <base64 of a 32-byte hash>          (RFC 9162's PROOF(m, D[n]); 0 to 126 lines)
/// checkpoint <byte count>
/// <the older checkpoint note>
/// checkpoint <byte count>
/// <the newer checkpoint note>
/// ```
/// The notes are length-prefixed because a note holds a blank line of its own.
public enum AuditProof: Sendable, Hashable {
    /// Entry `index + 1`, whose export line is `entry`, is in the tree `checkpoint` signs.
    case inclusion(index: Int64, entry: String, path: [[UInt8]], checkpoint: String)
    /// The tree `newer` signs extends the tree `older` signs.
    case consistency(path: [[UInt8]], older: String, newer: String)

    /// What a verified proof proved.
    public struct Verified: Sendable, Hashable {
        /// The checkpoint the proof ends at (for consistency, the newer one).
        public var checkpoint: AuditCheckpoint
        /// For a consistency proof, the older checkpoint.
        public var older: AuditCheckpoint?
        /// For an inclusion proof, the entry's sequence number and its export line.
        public var sequence: Int64?
        /// The entry's export line (inclusion).
        public var entry: String?
    }

    static let magic = "carbon-recovery audit proof v1"
    /// Limits that keep a hostile file from costing much: no tree this side of 2^63 needs more.
    static let maximumHashes = 126
    static let maximumLine = 1 << 20
    static let maximumNote = 64 << 10

    /// The proof's text.
    public var text: String {
        var lines = [Self.magic]
        func hashes(_ path: [[UInt8]]) { lines += path.map { "hash " + Data($0).base64EncodedString() } }
        func note(_ note: String) { lines.append("checkpoint \(note.utf8.count)\n" + note) }
        switch self {
        case .inclusion(let index, let entry, let path, let checkpoint):
            lines += ["inclusion", "index \(index)", "entry \(entry)"]
            hashes(path)
            note(checkpoint)
            // The note ends with its own newline: join all but the last with one.
            return lines.joined(separator: "\n")
        case .consistency(let path, let older, let newer):
            lines.append("consistency")
            hashes(path)
            note(older)
            var text = lines.joined(separator: "\n")
            text += "checkpoint \(newer.utf8.count)\n" + newer
            return text
        }
    }

    /// Parses a proof's text.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` naming the first thing that is not as
    ///   specified; nothing is verified yet.
    public init(parsing text: String) throws {
        var reader = Reader(Array(text.utf8))
        guard try reader.line() == Self.magic else { throw Self.bad("the first line must be '\(Self.magic)'") }
        switch try reader.line() {
        case "inclusion":
            guard let indexLine = try reader.field("index"), let index = Int64(indexLine), index >= 0, String(index) == indexLine else {
                throw Self.bad("expected 'index <leaf index>' (a decimal number from 0)")
            }
            guard let entry = try reader.field("entry"), !entry.isEmpty else { throw Self.bad("expected 'entry <the entry's line>'") }
            let path = try reader.hashes()
            let checkpoint = try reader.note()
            guard reader.atEnd else { throw Self.bad("there is more after the checkpoint note") }
            self = .inclusion(index: index, entry: entry, path: path, checkpoint: checkpoint)
        case "consistency":
            let path = try reader.hashes()
            let older = try reader.note()
            let newer = try reader.note()
            guard reader.atEnd else { throw Self.bad("there is more after the second checkpoint note") }
            self = .consistency(path: path, older: older, newer: newer)
        default:
            throw Self.bad("the second line must be 'inclusion' or 'consistency'")
        }
    }

    /// Checks the proof with only `key` (the trail's public key; a checkpoint signed by another
    /// key is refused).
    ///
    /// - Returns: What it proved.
    /// - Throws: ``RecoveryError/Code/auditTampered`` when a signature or the proof does not
    ///   verify, ``RecoveryError/Code/invalidInput`` when a note or the entry is malformed.
    public func verify(key: AuditVerifierKey) throws -> Verified {
        switch self {
        case .inclusion(let index, let entry, let path, let note):
            let checkpoint = try AuditCheckpoint(parsing: note, verifiedBy: key)
            guard index < checkpoint.size else {
                throw RecoveryError(.auditTampered, "entry \(index + 1) is not in the checkpoint's tree of \(checkpoint.size) entries")
            }
            // The line names its own place: a proof of another entry's line at this index fails
            // the path anyway; this makes the message say so.
            guard let json = try? JSONValue(parsing: Array(entry.utf8)), json["seq"]?.integerValue == index + 1 else {
                throw RecoveryError(.auditTampered, "the entry's line is not an audit entry with seq \(index + 1)")
            }
            guard let root = hexBytes(checkpoint.headHash),
                MerkleTree.verifyInclusion(leafHash: MerkleTree.leafHash(Array(entry.utf8)), index: index, size: checkpoint.size, path: path, root: root)
            else {
                throw RecoveryError(
                    .auditTampered,
                    "the audit path does not lead from entry \(index + 1)'s line to the checkpoint's root: the entry, its place or the path is not the trail's")
            }
            return Verified(checkpoint: checkpoint, older: nil, sequence: index + 1, entry: entry)
        case .consistency(let path, let olderNote, let newerNote):
            let older = try AuditCheckpoint(parsing: olderNote, verifiedBy: key)
            let newer = try AuditCheckpoint(parsing: newerNote, verifiedBy: key)
            guard older.origin == newer.origin else {
                throw RecoveryError(.auditTampered, "the checkpoints are of two logs: '\(older.origin)' and '\(newer.origin)'")
            }
            guard older.size <= newer.size else {
                throw RecoveryError(.auditTampered, "the older checkpoint (\(older.size) entries) is larger than the newer one (\(newer.size))")
            }
            guard let oldRoot = hexBytes(older.headHash), let newRoot = hexBytes(newer.headHash),
                MerkleTree.verifyConsistency(oldSize: older.size, newSize: newer.size, oldRoot: oldRoot, newRoot: newRoot, proof: path)
            else {
                throw RecoveryError(
                    .auditTampered,
                    "the proof does not show that the tree of \(newer.size) entries extends the tree of \(older.size): the trail was rewritten between them, or the proof is not theirs")
            }
            return Verified(checkpoint: newer, older: older, sequence: nil, entry: nil)
        }
    }

    private static func bad(_ what: String) -> RecoveryError {
        RecoveryError.invalidInput("not a CarbonRecovery audit proof: \(what)")
    }

    /// Reads the text line by line, and a length-prefixed note as bytes.
    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { position == bytes.count }

        /// The next line without its newline; every line must end with one.
        mutating func line() throws -> String {
            guard let end = bytes[position...].firstIndex(of: 0x0A), end - position <= AuditProof.maximumLine else {
                throw AuditProof.bad(atEnd ? "it ends early" : "a line is not ended by a newline, or is longer than \(AuditProof.maximumLine) bytes")
            }
            defer { position = end + 1 }
            guard let text = String(validating: bytes[position..<end], as: UTF8.self) else { throw AuditProof.bad("a line is not UTF-8") }
            return text
        }

        /// The value of the next line if it is `<name> <value>`; `nil` (nothing read) otherwise.
        mutating func field(_ name: String) throws -> String? {
            let start = position
            let text = try line()
            guard text.hasPrefix(name + " ") else {
                position = start
                return nil
            }
            return String(text.dropFirst(name.count + 1))
        }

        /// Every `hash <base64>` line in a row.
        mutating func hashes() throws -> [[UInt8]] {
            var path: [[UInt8]] = []
            while !atEnd, let value = try field("hash") {
                guard path.count < AuditProof.maximumHashes else { throw AuditProof.bad("more than \(AuditProof.maximumHashes) hashes") }
                guard let hash = Data(base64Encoded: value), hash.count == 32, hash.base64EncodedString() == value else {
                    throw AuditProof.bad("'hash \(value.prefix(60))' is not the standard base64 of 32 bytes")
                }
                path.append(Array(hash))
            }
            return path
        }

        /// `checkpoint <n>` and the next `n` bytes, a note ending with a newline.
        mutating func note() throws -> String {
            guard !atEnd else { throw AuditProof.bad("it ends early: expected 'checkpoint <byte count>'") }
            guard let count = try field("checkpoint"), let length = Int(count), length > 0, String(length) == count else {
                throw AuditProof.bad("expected 'checkpoint <byte count>'")
            }
            guard length <= AuditProof.maximumNote, length <= bytes.count - position else {
                throw AuditProof.bad("the checkpoint note is longer than \(min(AuditProof.maximumNote, bytes.count - position)) bytes")
            }
            let note = bytes[position..<(position + length)]
            position += length
            guard note.last == 0x0A, let text = String(validating: note, as: UTF8.self) else {
                throw AuditProof.bad("the checkpoint note is not UTF-8 text ending with a newline")
            }
            return text
        }
    }
}
