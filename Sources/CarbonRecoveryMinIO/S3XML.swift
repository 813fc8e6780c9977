import CarbonRecovery

/// A small XML reader for S3 response bodies: elements, text, the five predefined entities
/// and numeric character references, CDATA, comments and the XML declaration. No DTDs, no
/// namespaces beyond ignoring `xmlns` attributes — S3 responses use none of that. A
/// ListObjectsV2 page of 1,000 keys is about 300 KB; reading it this way costs far less than
/// a DOM or SAX parser with callbacks per event.
struct S3XMLElement: Sendable {
    var name: String
    var text: String = ""
    var children: [S3XMLElement] = []

    /// The first child with this name.
    func child(_ name: String) -> S3XMLElement? { children.first { $0.name == name } }
    /// Every child with this name.
    func children(_ name: String) -> [S3XMLElement] { children.filter { $0.name == name } }
    /// The text of the first child with this name.
    subscript(_ name: String) -> String? { child(name)?.text }

    struct Failure: Error, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "\(reason) at byte \(offset)" }
    }

    /// Parses a document and returns its root element.
    static func parse(_ bytes: [UInt8]) throws -> S3XMLElement {
        do {
            return try bytes.withUnsafeBufferPointer { buffer throws(Failure) in
                var reader = Reader(bytes: buffer)
                return try reader.document()
            }
        } catch {
            throw RecoveryError(.storageFailure, "the S3 server's answer is not well-formed XML (\(error))")
        }
    }

    private struct Reader: ~Copyable {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0
        var depth = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func failure(_ reason: String) -> Failure { Failure(offset: index, reason: reason) }

        func starts(with literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count else { return false }
            return literal.withUTF8Buffer { expected in (0..<count).allSatisfy { bytes[index + $0] == expected[$0] } }
        }

        mutating func skip(past literal: StaticString) throws(Failure) {
            while index < bytes.count {
                if starts(with: literal) { index += literal.utf8CodeUnitCount; return }
                index += 1
            }
            throw failure("unterminated construct")
        }

        mutating func skipMisc() throws(Failure) {
            while true {
                while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
                if starts(with: "<?") { try skip(past: "?>") } else if starts(with: "<!--") { try skip(past: "-->") } else { return }
            }
        }

        mutating func document() throws(Failure) -> S3XMLElement {
            if starts(with: "\u{FEFF}") { index += 3 }
            try skipMisc()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "<") else { throw failure("expected the root element") }
            let root = try element()
            try skipMisc()
            guard index == bytes.count else { throw failure("data after the root element") }
            return root
        }

        mutating func name() throws(Failure) -> String {
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=") { break }
                index += 1
            }
            guard index > start else { throw failure("expected a name") }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        }

        /// At `<name`: reads the element through its end tag.
        mutating func element() throws(Failure) -> S3XMLElement {
            depth += 1
            guard depth <= 64 else { throw failure("nesting deeper than 64") }
            defer { depth -= 1 }
            index += 1
            var element = S3XMLElement(name: try self.name())
            // Attributes are skipped (S3 only sends xmlns).
            while true {
                guard index < bytes.count else { throw failure("unterminated start tag") }
                let byte = bytes[index]
                if byte == UInt8(ascii: "/") {
                    guard index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: ">") else { throw failure("expected '/>'") }
                    index += 2
                    return element
                }
                if byte == UInt8(ascii: ">") { index += 1; break }
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    index += 1
                    while index < bytes.count, bytes[index] != byte { index += 1 }
                    guard index < bytes.count else { throw failure("unterminated attribute value") }
                }
                index += 1
            }
            var text: [UInt8] = []
            while true {
                guard index < bytes.count else { throw failure("missing end tag for <\(element.name)>") }
                let byte = bytes[index]
                if byte == UInt8(ascii: "<") {
                    if starts(with: "</") {
                        index += 2
                        let closing = try name()
                        guard closing == element.name else { throw failure("</\(closing)> closes <\(element.name)>") }
                        while index < bytes.count, bytes[index] != UInt8(ascii: ">") { index += 1 }
                        guard index < bytes.count else { throw failure("unterminated end tag") }
                        index += 1
                        if element.children.isEmpty {
                            guard let decoded = String(validating: text, as: UTF8.self) else { throw failure("invalid UTF-8 in text") }
                            element.text = decoded
                        }
                        return element
                    } else if starts(with: "<!--") {
                        try skip(past: "-->")
                    } else if starts(with: "<![CDATA[") {
                        index += 9
                        let start = index
                        try skip(past: "]]>")
                        text.append(contentsOf: bytes[start..<(index - 3)])
                    } else if starts(with: "<?") {
                        try skip(past: "?>")
                    } else {
                        let child = try self.element()
                        element.children.append(child)
                    }
                } else if byte == UInt8(ascii: "&") {
                    try entity(into: &text)
                } else {
                    text.append(byte)
                    index += 1
                }
            }
        }

        mutating func entity(into text: inout [UInt8]) throws(Failure) {
            let start = index
            while index < bytes.count, bytes[index] != UInt8(ascii: ";"), index - start < 12 { index += 1 }
            guard index < bytes.count, bytes[index] == UInt8(ascii: ";") else { throw failure("unterminated entity") }
            let body = String(decoding: UnsafeBufferPointer(rebasing: bytes[(start + 1)..<index]), as: UTF8.self)
            index += 1
            switch body {
            case "amp": text.append(UInt8(ascii: "&"))
            case "lt": text.append(UInt8(ascii: "<"))
            case "gt": text.append(UInt8(ascii: ">"))
            case "quot": text.append(UInt8(ascii: "\""))
            case "apos": text.append(UInt8(ascii: "'"))
            default:
                var scalarValue: UInt32?
                if body.hasPrefix("#x") { scalarValue = UInt32(body.dropFirst(2), radix: 16) } else if body.hasPrefix("#") { scalarValue = UInt32(body.dropFirst(), radix: 10) }
                guard let value = scalarValue, let scalar = Unicode.Scalar(value) else { throw Failure(offset: start, reason: "unknown entity &\(body);") }
                text.append(contentsOf: String(Character(scalar)).utf8)
            }
        }
    }
}
