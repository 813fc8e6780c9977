import Foundation

/// A length of time in Go's `time.Duration` syntax, as Velero writes TTLs (`ttl: 720h0m0s`).
///
/// Parsing follows Go's `time.ParseDuration` and ``description`` follows Go's `Duration.String()`
/// exactly, so a value read from a Velero object and written back is unchanged. The value is a
/// signed count of nanoseconds, as in Go, so it spans about ±292 years.
///
/// ```swift
/// let ttl = try GoDuration(parsing: "720h")
/// print(ttl)                          // 720h0m0s
/// print(GoDuration.minutes(90))       // 1h30m0s
/// print(try GoDuration(parsing: "1.5s").nanoseconds)   // 1500000000
/// ```
public struct GoDuration: Sendable, Hashable, Comparable, CustomStringConvertible, Codable, StringCodable {
    /// The length in nanoseconds; negative durations are allowed, as in Go.
    public var nanoseconds: Int64

    /// Creates a duration of a number of nanoseconds.
    ///
    /// ```swift
    /// GoDuration(nanoseconds: 1_500)   // 1.5µs
    /// ```
    ///
    /// - Parameter nanoseconds: The length in nanoseconds.
    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// Creates a duration of whole seconds.
    ///
    /// The result must fit in an `Int64` of nanoseconds (about ±292 years); a larger value traps,
    /// like any overflowing Swift arithmetic.
    ///
    /// ```swift
    /// GoDuration(seconds: 90)   // 1m30s
    /// ```
    ///
    /// - Parameter seconds: The length in seconds.
    public init(seconds: Int64) {
        self.nanoseconds = seconds * Self.nanosecondsPerSecond
    }

    /// A duration of whole hours, e.g. `GoDuration.hours(720)` prints `720h0m0s`.
    ///
    /// - Parameter hours: The length in hours.
    /// - Returns: The duration.
    public static func hours(_ hours: Int64) -> GoDuration { GoDuration(seconds: hours * 3_600) }

    /// A duration of whole minutes, e.g. `GoDuration.minutes(90)` prints `1h30m0s`.
    ///
    /// - Parameter minutes: The length in minutes.
    /// - Returns: The duration.
    public static func minutes(_ minutes: Int64) -> GoDuration { GoDuration(seconds: minutes * 60) }

    /// A duration of whole seconds, e.g. `GoDuration.seconds(30)` prints `30s`.
    ///
    /// - Parameter seconds: The length in seconds.
    /// - Returns: The duration.
    public static func seconds(_ seconds: Int64) -> GoDuration { GoDuration(seconds: seconds) }

    /// Parses Go duration syntax, exactly as Go's `time.ParseDuration` does.
    ///
    /// The text is an optional sign followed by one or more numbers, each with an optional
    /// fraction and a unit of `ns`, `us` (or `µs`, `μs`), `ms`, `s`, `m` or `h`: `720h0m0s`,
    /// `1.5h`, `90m`, `-2m3.5s`, `300ms`. A lone `0` needs no unit; any other number does.
    /// Durations beyond the range of Go's `time.Duration` are rejected.
    ///
    /// ```swift
    /// let ttl = try GoDuration(parsing: "1h30m")   // 1h30m0s
    /// ```
    ///
    /// - Parameter text: The duration text.
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` whose message
    ///   quotes the text and says what is wrong with it.
    public init(parsing text: String) throws(RecoveryError) {
        try self.init(parsing: text, what: "duration")
    }

    /// Parses a Velero TTL: Go duration syntax that must not be negative.
    ///
    /// Velero keeps a backup for its TTL; a negative TTL would make it expire at once. Zero is
    /// accepted (Velero then applies its default TTL).
    ///
    /// ```swift
    /// let ttl = try GoDuration.parseTTL("168h")   // 168h0m0s
    /// try GoDuration.parseTTL("-1h")               // throws
    /// ```
    ///
    /// - Parameter text: The TTL text, e.g. `720h0m0s`.
    /// - Returns: The TTL.
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidInput`` when the text is
    ///   not a Go duration or is negative (the message suggests a positive duration such as `720h0m0s`).
    public static func parseTTL(_ text: String) throws(RecoveryError) -> GoDuration {
        let duration = try GoDuration(parsing: text, what: "TTL")
        guard duration.nanoseconds >= 0 else {
            throw RecoveryError.invalidInput(
                "TTL '\(KubernetesName.printable(text))' is negative: use a positive duration such as 720h0m0s",
                target: KubernetesName.printable(text))
        }
        return duration
    }

    private init(parsing text: String, what: String) throws(RecoveryError) {
        var parser = GoDurationParser(text: text, what: what)
        self.nanoseconds = try parser.parse()
    }

    /// The duration exactly as Go's `Duration.String()` prints it.
    ///
    /// Whole hours, minutes and seconds for a second or more (`720h0m0s`, `1h30m0s`, `1.5s`,
    /// `-2m3.5s`), a single smaller unit below a second (`300ms`, `1µs`, `12ns`) and `0s` for zero.
    public var description: String {
        let magnitude = nanoseconds.magnitude
        let text = magnitude < UInt64(Self.nanosecondsPerSecond) ? Self.formatBelowOneSecond(magnitude) : Self.formatClock(magnitude)
        return nanoseconds < 0 ? "-" + text : text
    }

    /// The same length as a Swift `Duration`.
    public var swiftDuration: Duration { .nanoseconds(nanoseconds) }

    /// The length in seconds, as Foundation measures intervals.
    public var timeInterval: Double { Double(nanoseconds) / Double(Self.nanosecondsPerSecond) }

    /// Whether the left duration is shorter than the right one (negative durations come first).
    ///
    /// - Parameters:
    ///   - lhs: A duration.
    ///   - rhs: Another duration.
    /// - Returns: `true` when `lhs` is shorter.
    public static func < (lhs: GoDuration, rhs: GoDuration) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    // MARK: - Formatting

    static let nanosecondsPerSecond: Int64 = 1_000_000_000

    /// Below one second Go prints one unit with a fraction: `12ns`, `1.5µs`, `300ms`.
    private static func formatBelowOneSecond(_ magnitude: UInt64) -> String {
        switch magnitude {
        case 0: "0s"
        case ..<1_000: "\(magnitude)ns"
        case ..<1_000_000: withFraction(magnitude, digits: 3) + "\u{00B5}s"
        default: withFraction(magnitude, digits: 6) + "ms"
        }
    }

    /// From one second on Go prints hours, minutes and seconds with a fraction: `1h0m0.5s`, `2m3s`.
    private static func formatClock(_ magnitude: UInt64) -> String {
        let nanosecondsPerMinute = UInt64(nanosecondsPerSecond) * 60
        let seconds = withFraction(magnitude % nanosecondsPerMinute, digits: 9) + "s"
        let totalMinutes = magnitude / nanosecondsPerMinute
        guard totalMinutes > 0 else { return seconds }
        let minutes = "\(totalMinutes % 60)m" + seconds
        let hours = totalMinutes / 60
        return hours > 0 ? "\(hours)h" + minutes : minutes
    }

    /// `value` divided by 10^digits, with the fraction's trailing zeros (and a bare `.`) dropped.
    private static func withFraction(_ value: UInt64, digits: Int) -> String {
        var scale: UInt64 = 1
        for _ in 0..<digits { scale *= 10 }
        let whole = value / scale
        var fraction = value % scale
        guard fraction > 0 else { return "\(whole)" }
        var fractionDigits = digits
        while fraction % 10 == 0 {
            fraction /= 10
            fractionDigits -= 1
        }
        let padded = String(repeating: "0", count: fractionDigits - String(fraction).count) + String(fraction)
        return "\(whole).\(padded)"
    }
}

/// A parser for Go's duration grammar `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, following
/// `time.ParseDuration` step by step (including how it accumulates and bounds values).
private struct GoDurationParser {
    private static let units: [String: UInt64] = [
        "ns": 1, "us": 1_000, "\u{00B5}s": 1_000, "\u{03BC}s": 1_000, "ms": 1_000_000,
        "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
    ]
    /// 2^63: the magnitude of the most negative duration; one more than the largest positive one.
    private static let limit: UInt64 = 1 << 63

    private let text: String
    private let what: String
    private var rest: ArraySlice<UInt8>

    init(text: String, what: String) {
        self.text = text
        self.what = what
        self.rest = Array(text.utf8)[...]
    }

    mutating func parse() throws(RecoveryError) -> Int64 {
        let negative = consumeSign()
        if rest.elementsEqual("0".utf8) { return 0 }
        guard !rest.isEmpty else { throw invalid(text.isEmpty ? "it is empty" : "a sign needs a number and a unit after it") }
        var total: UInt64 = 0
        while !rest.isEmpty {
            let (sum, overflow) = total.addingReportingOverflow(try component())
            guard !overflow, sum <= Self.limit else { throw tooLong() }
            total = sum
        }
        if negative { return total == Self.limit ? Int64.min : -Int64(total) }
        guard total < Self.limit else { throw tooLong() }
        return Int64(total)
    }

    private mutating func consumeSign() -> Bool {
        guard let first = rest.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") else { return false }
        rest = rest.dropFirst()
        return first == UInt8(ascii: "-")
    }

    /// One `<number><unit>` pair, in nanoseconds.
    private mutating func component() throws(RecoveryError) -> UInt64 {
        guard let first = rest.first, first == UInt8(ascii: ".") || Self.isDigit(first) else {
            throw invalid("expected a number at '\(Self.string(rest))'")
        }
        let numberStart = rest
        let (whole, sawWhole) = try leadingInteger()
        var fraction: (value: UInt64, scale: Double, sawDigits: Bool) = (0, 1, false)
        if rest.first == UInt8(ascii: ".") {
            rest = rest.dropFirst()
            fraction = leadingFraction()
        }
        guard sawWhole || fraction.sawDigits else { throw invalid("'.' must have digits before or after it") }
        let number = Self.string(numberStart.prefix(numberStart.count - rest.count))
        let unit = try consumeUnit(after: number)
        guard whole <= Self.limit / unit else { throw tooLong() }
        var value = whole * unit
        if fraction.value > 0 {
            // As Go: a Double is precise enough here, because the fraction of the largest unit is below 3.6e12 ns.
            value += UInt64(Double(fraction.value) * (Double(unit) / fraction.scale))
            guard value <= Self.limit else { throw tooLong() }
        }
        return value
    }

    /// Go's `leadingInt`: the digits before a `.` or unit, failing on overflow.
    private mutating func leadingInteger() throws(RecoveryError) -> (value: UInt64, sawDigits: Bool) {
        var value: UInt64 = 0
        var sawDigits = false
        while let byte = rest.first, Self.isDigit(byte) {
            guard value <= Self.limit / 10 else { throw tooLong() }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
            guard value <= Self.limit else { throw tooLong() }
            sawDigits = true
            rest = rest.dropFirst()
        }
        return (value, sawDigits)
    }

    /// Go's `leadingFraction`: digits after a `.`; precision past what fits is dropped, not an error.
    private mutating func leadingFraction() -> (value: UInt64, scale: Double, sawDigits: Bool) {
        var value: UInt64 = 0
        var scale: Double = 1
        var sawDigits = false
        var overflowed = false
        while let byte = rest.first, Self.isDigit(byte) {
            sawDigits = true
            rest = rest.dropFirst()
            guard !overflowed else { continue }
            guard value <= (Self.limit - 1) / 10 else {
                overflowed = true
                continue
            }
            let next = value * 10 + UInt64(byte - UInt8(ascii: "0"))
            guard next <= Self.limit else {
                overflowed = true
                continue
            }
            value = next
            scale *= 10
        }
        return (value, scale, sawDigits)
    }

    /// The unit after a number: everything up to the next digit or `.`.
    private mutating func consumeUnit(after number: String) throws(RecoveryError) -> UInt64 {
        let unitBytes = rest.prefix { !Self.isDigit($0) && $0 != UInt8(ascii: ".") }
        rest = rest.dropFirst(unitBytes.count)
        guard !unitBytes.isEmpty else {
            throw invalid("'\(number)' has no unit (only a lone 0 may be written without one)")
        }
        let unit = Self.string(unitBytes)
        guard let nanoseconds = Self.units[unit] else {
            throw invalid("'\(KubernetesName.printable(unit))' is not a unit (use ns, us, ms, s, m or h)")
        }
        return nanoseconds
    }

    private func invalid(_ reason: String) -> RecoveryError {
        RecoveryError.invalidInput(
            "\(what) '\(KubernetesName.printable(text))' is invalid: \(reason); write it like 720h0m0s, 24h, 90m or 1.5h",
            target: KubernetesName.printable(text))
    }

    private func tooLong() -> RecoveryError {
        invalid("it is longer than the longest Go duration, 2562047h47m16.854775807s")
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
