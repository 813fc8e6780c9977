import CarbonRecovery

/// The name of a file PostgreSQL hands to its archiver: a WAL segment, a timeline history file,
/// a backup history (label) file or a partial segment.
///
/// PostgreSQL writes these names in upper-case hexadecimal (`XLogFileName`, `TLHistoryFileName`,
/// `BackupHistoryFileName`):
///
/// | kind | form | example |
/// |---|---|---|
/// | ``Kind-swift.enum/segment`` | `TTTTTTTTLLLLLLLLSSSSSSSS` | `000000010000000000000003` |
/// | ``Kind-swift.enum/partial`` | segment + `.partial` | `000000020000000000000007.partial` |
/// | ``Kind-swift.enum/backupLabel`` | segment + `.OOOOOOOO.backup` | `000000010000000000000002.00000028.backup` |
/// | ``Kind-swift.enum/history`` | `TTTTTTTT.history` | `00000002.history` |
///
/// `T` is the timeline, `L` the high 32 bits of the segment number ("log"), `S` the low part.
/// Anything else — lower case, a path, another suffix — is refused: the name becomes part of a
/// storage key, and a name PostgreSQL never writes is a mistyped `archive_command`.
public struct WALFileName: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// What the file is.
    public enum Kind: String, Sendable, Hashable {
        /// A WAL segment.
        case segment
        /// The last, incomplete segment of a timeline, archived at promotion.
        case partial
        /// A backup history file: where a base backup started and stopped.
        case backupLabel = "backup-label"
        /// A timeline history file: where each earlier timeline ended.
        case history
    }

    /// The name as PostgreSQL wrote it.
    public let name: String
    /// What the file is.
    public let kind: Kind
    /// The timeline (never 0).
    public let timeline: UInt32
    /// The high part of the segment number (0 for a history file).
    public let log: UInt32
    /// The low part of the segment number (0 for a history file).
    public let segment: UInt32

    /// Parses a name.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` naming what is wrong.
    public init(_ name: String) throws {
        func refuse(_ why: String) -> RecoveryError {
            RecoveryError(.invalidInput, "'\(name.prefix(80))' is not a WAL file name PostgreSQL archives: \(why)", target: String(name.prefix(80)))
        }
        let bytes = Array(name.utf8)
        func hex(_ range: Range<Int>) throws -> UInt32 {
            var value: UInt32 = 0
            for byte in bytes[range] {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "A")...UInt8(ascii: "F"): value = value << 4 | UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw refuse("expected upper-case hexadecimal digits")
                }
            }
            return value
        }
        switch bytes.count {
        case 16 where name.hasSuffix(".history"):
            kind = .history
            timeline = try hex(0..<8)
            log = 0
            segment = 0
        case 24, 32, 40:
            timeline = try hex(0..<8)
            log = try hex(8..<16)
            segment = try hex(16..<24)
            if bytes.count == 24 {
                kind = .segment
            } else if bytes.count == 32 && name.hasSuffix(".partial") {
                kind = .partial
            } else if bytes.count == 40 && bytes[24] == UInt8(ascii: ".") && name.hasSuffix(".backup") {
                _ = try hex(25..<33)
                kind = .backupLabel
            } else {
                throw refuse("expected a segment name, optionally with .partial or .OFFSET.backup")
            }
        default:
            throw refuse("expected 24 hexadecimal digits (a segment), or TIMELINE.history")
        }
        guard timeline != 0 else { throw refuse("timeline 0 does not exist") }
        self.name = name
    }

    /// The name.
    public var description: String { name }

    /// The segment this file belongs to (its own name for a segment; the segment a partial file or
    /// a backup label is about); `nil` for a history file.
    public var segmentName: String? {
        kind == .history ? nil : String(name.prefix(24))
    }

    /// The segment number across log and segment parts, for a segment size in bytes: what WAL
    /// gaps and the "next" segment are computed on.
    public func segmentNumber(segmentSize: Int) -> UInt64 {
        UInt64(log) * Self.segmentsPerLog(segmentSize: segmentSize) + UInt64(segment)
    }

    /// How many segments of this size one "log" (4 GiB of WAL) holds: 256 for PostgreSQL's
    /// default 16 MiB.
    public static func segmentsPerLog(segmentSize: Int) -> UInt64 {
        0x1_0000_0000 / UInt64(max(segmentSize, 1))
    }

    /// The segment name for a timeline and segment number.
    public static func segment(timeline: UInt32, number: UInt64, segmentSize: Int) -> String {
        let perLog = segmentsPerLog(segmentSize: segmentSize)
        return hex8(timeline) + hex8(UInt32(truncatingIfNeeded: number / perLog)) + hex8(UInt32(truncatingIfNeeded: number % perLog))
    }

    /// Eight upper-case hexadecimal digits, as PostgreSQL prints each part.
    static func hex8(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// Orders by timeline, then position, history files first within a timeline.
    public static func < (lhs: WALFileName, rhs: WALFileName) -> Bool {
        (lhs.timeline, lhs.log, lhs.segment, lhs.kind == .history ? 0 : 1, lhs.name) < (rhs.timeline, rhs.log, rhs.segment, rhs.kind == .history ? 0 : 1, rhs.name)
    }
}
