import CarbonRecovery

/// A position in the write-ahead log, as PostgreSQL prints it: `X/Y`, two hexadecimal numbers
/// (the high and low 32 bits).
public struct LSN: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The position in bytes.
    public var value: UInt64

    /// An LSN from its byte position.
    public init(_ value: UInt64) {
        self.value = value
    }

    /// Parses `X/Y`.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` for anything else.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ (1...8).contains($0.count) && $0.allSatisfy(\.isHexDigit) }),
              let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16)
        else {
            throw RecoveryError(.invalidInput, "'\(text.prefix(40))' is not a WAL position (LSN) like 0/3000028", target: String(text.prefix(40)))
        }
        value = high << 32 | low
    }

    /// `X/Y`, as PostgreSQL prints it.
    public var description: String {
        String(value >> 32, radix: 16, uppercase: true) + "/" + String(value & 0xFFFF_FFFF, radix: 16, uppercase: true)
    }

    /// The name of the segment holding this position on a timeline.
    public func segment(timeline: UInt32, segmentSize: Int) -> String {
        WALFileName.segment(timeline: timeline, number: value / UInt64(max(segmentSize, 1)), segmentSize: segmentSize)
    }

    /// Orders by position.
    public static func < (lhs: LSN, rhs: LSN) -> Bool { lhs.value < rhs.value }
}
