import Foundation

/// A duration in Go's `time.Duration` syntax, as Velero writes TTLs (`720h0m0s`).
///
/// Parsing follows `time.ParseDuration` exactly and ``description`` follows `Duration.String()`,
/// so a value read from a Velero object and written back is unchanged.
///
/// ```swift
/// let ttl = try GoDuration(parsing: "720h")
/// print(ttl)                 // 720h0m0s
/// print(GoDuration.minutes(90))   // 1h30m0s
/// ```
public struct GoDuration: Sendable, Hashable, Comparable, CustomStringConvertible, Codable, StringCodable {
    /// The length in nanoseconds (negative durations are allowed, as in Go).
    public var nanoseconds: Int64

    /// A duration of `nanoseconds`.
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// A duration of whole seconds.
    public init(seconds: Int64) { self.nanoseconds = seconds * 1_000_000_000 }

    /// `hours` hours.
    public static func hours(_ hours: Int64) -> GoDuration { GoDuration(seconds: hours * 3600) }
    /// `minutes` minutes.
    public static func minutes(_ minutes: Int64) -> GoDuration { GoDuration(seconds: minutes * 60) }
    /// `seconds` seconds.
    public static func seconds(_ seconds: Int64) -> GoDuration { GoDuration(seconds: seconds) }

    private static let units: [String: UInt64] = [
        "ns": 1, "us": 1_000, "\u{00B5}s": 1_000, "\u{03BC}s": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
        "m": 60_000_000_000, "h": 3_600_000_000_000,
    ]

    /// Parses Go duration syntax: an optional sign, then one or more decimal numbers (with an
    /// optional fraction) each followed by a unit of `ns`, `us`, `µs`, `ms`, `s`, `m` or `h`.
    ///
    /// - Parameter text: e.g. `720h0m0s`, `1.5h`, `90m`, `300ms`, `0`.
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` for anything else.
    public init(parsing text: String) throws {
        func invalid(_ reason: String) -> RecoveryError {
            RecoveryError.invalidInput("duration '\(KubernetesName.printable(text))' is invalid: \(reason) (write it like 720h0m0s, 24h or 90m)")
        }
        var scalars = Substring(text).unicodeScalars[...]
        var negative = false
        if let first = scalars.first, first == "-" || first == "+" {
            negative = first == "-"
            scalars = scalars.dropFirst()
        }
        if String(scalars) == "0" {
            self.nanoseconds = 0
            return
        }
        guard !scalars.isEmpty else { throw invalid("it is empty") }
        let limit: UInt64 = 1 << 63
        var total: UInt64 = 0
        while !scalars.isEmpty {
            guard let first = scalars.first, first == "." || ("0"..."9").contains(first) else {
                throw invalid("expected a number at '\(String(scalars))'")
            }
            // The whole part.
            var whole: UInt64 = 0
            var sawWhole = false
            while let digit = scalars.first, ("0"..."9").contains(digit) {
                let value = UInt64(digit.value - 48)
                guard whole <= (limit - value) / 10 else { throw invalid("it is too large") }
                whole = whole * 10 + value
                sawWhole = true
                scalars = scalars.dropFirst()
            }
            // The fraction, if any: digits past what fits are ignored, as Go does.
            var fraction: UInt64 = 0
            var scale: Double = 1
            var sawFraction = false
            if scalars.first == "." {
                scalars = scalars.dropFirst()
                var overflowed = false
                while let digit = scalars.first, ("0"..."9").contains(digit) {
                    sawFraction = true
                    if !overflowed {
                        let value = UInt64(digit.value - 48)
                        if fraction > (UInt64.max >> 1 - value) / 10 {
                            overflowed = true
                        } else {
                            fraction = fraction * 10 + value
                            scale *= 10
                        }
                    }
                    scalars = scalars.dropFirst()
                }
            }
            guard sawWhole || sawFraction else { throw invalid("a '.' needs digits") }
            // The unit.
            var unitText = ""
            while let scalar = scalars.first, scalar != ".", !("0"..."9").contains(scalar) {
                unitText.unicodeScalars.append(scalar)
                scalars = scalars.dropFirst()
            }
            guard !unitText.isEmpty else { throw invalid("a number has no unit") }
            guard let unit = Self.units[unitText] else { throw invalid("'\(unitText)' is not a unit (use ns, us, ms, s, m or h)") }
            guard whole <= limit / unit else { throw invalid("it is too large") }
            var value = whole * unit
            if fraction > 0 {
                value += UInt64(Double(fraction) * (Double(unit) / scale))
                guard value <= limit else { throw invalid("it is too large") }
            }
            total += value
            guard total <= limit else { throw invalid("it is too large") }
        }
        if negative {
            self.nanoseconds = total == limit ? Int64.min : -Int64(total)
        } else {
            guard total < limit else { throw invalid("it is too large") }
            self.nanoseconds = Int64(total)
        }
    }

    /// Parses a Velero TTL: a duration that must not be negative.
    ///
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput``.
    public static func parseTTL(_ text: String) throws -> GoDuration {
        let duration = try GoDuration(parsing: text)
        guard duration.nanoseconds >= 0 else {
            throw RecoveryError.invalidInput("TTL '\(text)' is negative: use a positive duration such as 720h0m0s")
        }
        return duration
    }

    /// Go's `Duration.String()`: `720h0m0s`, `1.5s`, `300ms`, `0s`.
    public var description: String {
        var magnitude = nanoseconds.magnitude
        var reversed: [Character] = []
        func writeFraction(_ precision: Int) {
            var printed = false
            for _ in 0..<precision {
                let digit = magnitude % 10
                printed = printed || digit != 0
                if printed { reversed.append(Character(String(digit))) }
                magnitude /= 10
            }
            if printed { reversed.append(".") }
        }
        func writeInteger(_ value: UInt64) {
            reversed.append(contentsOf: String(value).reversed())
        }
        if magnitude < 1_000_000_000 {
            reversed.append("s")
            if magnitude == 0 { return "0s" }
            if magnitude < 1_000 {
                reversed.append("n")
                writeFraction(0)
            } else if magnitude < 1_000_000 {
                reversed.append("\u{00B5}")
                writeFraction(3)
            } else {
                reversed.append("m")
                writeFraction(6)
            }
            writeInteger(magnitude)
        } else {
            reversed.append("s")
            writeFraction(9)
            writeInteger(magnitude % 60)
            magnitude /= 60
            if magnitude > 0 {
                reversed.append("m")
                writeInteger(magnitude % 60)
                magnitude /= 60
                if magnitude > 0 {
                    reversed.append("h")
                    writeInteger(magnitude)
                }
            }
        }
        if nanoseconds < 0 { reversed.append("-") }
        return String(reversed.reversed())
    }

    /// The same length as a Swift `Duration`.
    public var swiftDuration: Duration { .nanoseconds(nanoseconds) }

    /// The length in seconds.
    public var timeInterval: Double { Double(nanoseconds) / 1e9 }

    /// Whether `lhs` is shorter than `rhs`.
    public static func < (lhs: GoDuration, rhs: GoDuration) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
}
