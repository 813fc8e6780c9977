import Foundation

/// A JSON document: what Kubernetes objects, audit parameters and notifier payloads are made of.
///
/// `JSONValue` keeps integers and floating-point numbers apart so that a Kubernetes object read
/// back from the API server compares equal to the one that was sent.
///
/// ```swift
/// let value: JSONValue = ["kind": "Backup", "spec": ["ttl": "720h0m0s"]]
/// print(value.canonicalString)   // {"kind":"Backup","spec":{"ttl":"720h0m0s"}}
/// ```
public enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number without a fraction or exponent that fits in 64 bits.
    case integer(Int64)
    /// Any other number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object; member order is not significant.
    case object([String: JSONValue])

    /// The value at `key` when this is an object, else `nil`. A member whose value is `null`
    /// reads as missing, as Kubernetes reads it (`labelSelector: null` is no selector); the
    /// member itself stays in ``objectValue`` and in the canonical encoding.
    public subscript(key: String) -> JSONValue? {
        get {
            if case .object(let members) = self, let value = members[key], value != .null { return value }
            return nil
        }
        set {
            guard case .object(var members) = self else { return }
            members[key] = newValue
            self = .object(members)
        }
    }

    /// The value at a path of object keys, e.g. `["status", "phase"]`.
    public subscript(path path: [String]) -> JSONValue? {
        var current: JSONValue? = self
        for key in path { current = current?[key] }
        return current
    }

    /// The string, when this is a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer, when this is an integer (or a double with an integral value).
    public var integerValue: Int64? {
        switch self {
        case .integer(let value): return value
        case .double(let value) where value.rounded() == value && abs(value) < 9.2e18: return Int64(value)
        default: return nil
        }
    }

    /// The boolean, when this is a boolean.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements, when this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The members, when this is an object.
    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    /// A string from a literal.
    public init(stringLiteral value: String) { self = .string(value) }
    /// A string from a one-scalar literal.
    public init(unicodeScalarLiteral value: String) { self = .string(value) }
    /// A string from a literal.
    public init(extendedGraphemeClusterLiteral value: String) { self = .string(value) }
    /// An integer from a literal.
    public init(integerLiteral value: Int64) { self = .integer(value) }
    /// A boolean from a literal.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// A floating-point number from a literal.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// An array from a literal.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// `null` from `nil`.
    public init(nilLiteral: ()) { self = .null }
    /// An object from a literal; a repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue: Codable {
    /// Decodes any JSON value; integers that fit in 64 bits stay integers.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Encodes the value as it is.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension JSONValue {
    /// Parses JSON text.
    ///
    /// - Parameter text: UTF-8 JSON.
    /// - Throws: ``RecoveryError`` with code ``RecoveryError/Code/invalidObject`` when the text is not JSON.
    /// Removes the member at `path` (member names from the root), if there is one.
    public mutating func remove(path: [String]) {
        guard let first = path.first, case .object(var members) = self else { return }
        if path.count == 1 {
            members[first] = nil
        } else if var child = members[first] {
            child.remove(path: Array(path.dropFirst()))
            members[first] = child
        } else {
            return
        }
        self = .object(members)
    }

    public init(parsing text: some Collection<UInt8>) throws {
        try self.init(parsing: text, omitting: [])
    }

    /// Parses JSON text, passing over the members at `omitting` (paths of member names from
    /// the root, e.g. `["metadata", "managedFields"]`) without building them: they are checked
    /// for structure but left out of the value. What a reader that needs only part of large
    /// objects uses; a path through an array never matches.
    ///
    /// - Throws: ``RecoveryError/Code/invalidObject`` as ``init(parsing:)``.
    public init(parsing text: some Collection<UInt8>, omitting: [[String]]) throws {
        let parse = { (buffer: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, JSONParser.Failure> in
            do throws(JSONParser.Failure) { return .success(try JSONParser.parse(buffer, omitting: omitting)) } catch { return .failure(error) }
        }
        let result = text.withContiguousStorageIfAvailable(parse) ?? Array(text).withUnsafeBufferPointer(parse)
        switch result {
        case .success(let value): self = value
        case .failure(let failure):
            throw RecoveryError(.invalidObject, "the text is not valid JSON: \(failure)")
        }
    }

    /// The canonical JSON text of this value (the rules are in `docs/audit-trail.md`).
    public var canonicalString: String {
        var bytes: [UInt8] = []
        CanonicalJSON.append(self, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The canonical JSON encoding used for audit parameters and the audit hash chain.
///
/// The rules (also in `docs/audit-trail.md`): no insignificant white space; object members
/// sorted by key, comparing keys as sequences of Unicode scalar values; strings as UTF-8 with
/// only `"` and `\` and the control characters U+0000–U+001F escaped — `\b \t \n \f \r` in
/// their short form, the others as `\u00xx` with lower-case hex; integers in decimal; `true`,
/// `false`, `null`. This is what Python's `json.dumps(v, sort_keys=True,
/// separators=(",", ":"), ensure_ascii=False)` and RFC 8785 produce for the same values, so a
/// reviewer can re-derive it with other tools. Floating-point numbers use Swift's shortest
/// round-tripping form; the audit chain itself contains none.
package enum CanonicalJSON {
    /// Appends the canonical encoding of `value` to `bytes`.
    package static func append(_ value: JSONValue, to bytes: inout [UInt8]) {
        switch value {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let flag): bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        case .integer(let number): appendInteger(number, to: &bytes)
        case .double(let number):
            if number.isFinite, number.rounded() == number, abs(number) < 9.0e15 {
                appendInteger(Int64(number), to: &bytes)
            } else if number.isFinite {
                bytes.append(contentsOf: "\(number)".utf8)
            } else {
                bytes.append(contentsOf: "null".utf8)
            }
        case .string(let text): appendString(text, to: &bytes)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                append(element, to: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            let keys = members.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
            for (index, key) in keys.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                appendString(key, to: &bytes)
                bytes.append(UInt8(ascii: ":"))
                append(members[key]!, to: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// Appends a decimal integer.
    @inlinable
    package static func appendInteger(_ number: Int64, to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maximumIntegerLength) { scratch in
            let written = writeInteger(number, to: scratch.baseAddress!)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<written]))
        }
    }

    /// The most bytes ``writeInteger(_:to:)`` writes: a sign and 19 digits.
    package static let maximumIntegerLength = 20

    /// Writes `number` in decimal at `out`, which must have room for ``maximumIntegerLength``
    /// bytes, and returns how many bytes it wrote. The one implementation of integer output; the
    /// audit verifier writes with it straight into its buffer.
    @inlinable
    package static func writeInteger(_ number: Int64, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var written = 0
        if number < 0 {
            out[0] = UInt8(ascii: "-")
            written = 1
        }
        var magnitude = number.magnitude
        var digits = 1
        var probe = magnitude / 10
        while probe > 0 {
            digits += 1
            probe /= 10
        }
        for position in stride(from: written + digits - 1, through: written, by: -1) {
            out[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        }
        return written + digits
    }

    /// Appends a JSON string literal with the canonical escaping rules.
    package static func appendString(_ text: String, to bytes: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendStringBytes($0, to: &bytes) }
    }

    /// Appends a JSON string literal for UTF-8 bytes that are already valid UTF-8.
    @inlinable
    package static func appendStringBytes(_ utf8: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        if !needsEscape(utf8) {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: utf8)
            bytes.append(UInt8(ascii: "\""))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maximumStringLength(utf8.count)) { scratch in
            let written = writeString(utf8, to: scratch.baseAddress!)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[0..<written]))
        }
    }

    /// The most bytes ``writeString(_:to:)`` writes for `count` input bytes: quotes plus `\u00xx` for each byte.
    @inlinable
    package static func maximumStringLength(_ count: Int) -> Int { count * 6 + 2 }

    /// Whether any byte needs escaping.
    @inlinable
    package static func needsEscape(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = utf8.baseAddress else { return false }
        var index = 0
        while index + 8 <= utf8.count {
            if wordNeedsEscape(UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)) { return true }
            index += 8
        }
        while index < utf8.count {
            if byteNeedsEscape(base[index]) { return true }
            index += 1
        }
        return false
    }

    /// Whether one byte must be escaped: a control character, `"` or `\\`.
    @inlinable @inline(__always)
    static func byteNeedsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    /// Writes the JSON string literal of `utf8` (valid UTF-8) at `out`, which must have room for
    /// ``maximumStringLength(_:)`` bytes, and returns how many bytes it wrote.
    ///
    /// This is the one implementation of the escaping rules; the audit verifier writes with it
    /// straight into its buffer. It scans eight bytes at a time for the three things that need
    /// escaping (a control character, `"` and `\\`) and copies clean runs in one go.
    @inlinable
    package static func writeString(_ utf8: UnsafeBufferPointer<UInt8>, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var written = 0
        out[written] = UInt8(ascii: "\"")
        written += 1
        guard let base = utf8.baseAddress else {
            out[written] = UInt8(ascii: "\"")
            return written + 1
        }
        let count = utf8.count
        var runStart = 0
        var index = 0
        @inline(__always) func flush(upTo end: Int) {
            if runStart < end {
                (out + written).update(from: base + runStart, count: end - runStart)
                written += end - runStart
            }
        }
        while index + 8 <= count {
            let mask = escapeMask(UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)))
            if mask == 0 {
                index += 8
                continue
            }
            // The lowest flagged byte is exact (those above it may be flagged falsely by a
            // borrow): escape it and go on right after it.
            index += mask.trailingZeroBitCount >> 3
            flush(upTo: index)
            written += writeEscape(base[index], to: out + written)
            index += 1
            runStart = index
        }
        // Fewer than eight bytes left: when the last eight (overlapping what was checked) are
        // clean, so is the rest.
        if index < count, count >= 8, escapeMask(UnsafeRawPointer(base + count - 8).loadUnaligned(as: UInt64.self)) == 0 {
            index = count
        }
        while index < count {
            let byte = base[index]
            if byteNeedsEscape(byte) {
                flush(upTo: index)
                written += writeEscape(byte, to: out + written)
                runStart = index + 1
            }
            index += 1
        }
        flush(upTo: count)
        out[written] = UInt8(ascii: "\"")
        return written + 1
    }

    /// Whether any of the eight bytes is below 0x20, `"` or `\\` (SWAR: no branch per byte).
    @inlinable @inline(__always)
    static func wordNeedsEscape(_ word: UInt64) -> Bool { escapeMask(word) != 0 }

    /// The high bit of each of the eight bytes (little-endian) that is below 0x20, `"` or `\\`.
    /// The lowest bit set is always an exact hit; bits above it may be false (a borrow carries
    /// into the next byte), so a caller takes the lowest and looks again after it.
    @inlinable @inline(__always)
    static func escapeMask(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ value: UInt64) -> UInt64 { (value &- ones) & ~value & highs }
        let control = (word &- ones &* 0x20) & ~word & highs
        return control | hasZeroByte(word ^ (ones &* 0x22)) | hasZeroByte(word ^ (ones &* 0x5C))
    }

    /// Writes the escape of one byte that needs it; returns 2 or 6.
    @usableFromInline
    static func writeEscape(_ byte: UInt8, to out: UnsafeMutablePointer<UInt8>) -> Int {
        out[0] = UInt8(ascii: "\\")
        switch byte {
        case UInt8(ascii: "\""): out[1] = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): out[1] = UInt8(ascii: "\\")
        case 0x08: out[1] = UInt8(ascii: "b")
        case 0x09: out[1] = UInt8(ascii: "t")
        case 0x0A: out[1] = UInt8(ascii: "n")
        case 0x0C: out[1] = UInt8(ascii: "f")
        case 0x0D: out[1] = UInt8(ascii: "r")
        default:
            let hex: StaticString = "0123456789abcdef"
            out[1] = UInt8(ascii: "u")
            out[2] = UInt8(ascii: "0")
            out[3] = UInt8(ascii: "0")
            out[4] = hex.utf8Start[Int(byte >> 4)]
            out[5] = hex.utf8Start[Int(byte & 0x0F)]
            return 6
        }
        return 2
    }
}
