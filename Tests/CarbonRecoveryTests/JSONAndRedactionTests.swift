import CarbonRecovery
import Foundation
import Testing
import TestSupport

@Suite("Canonical JSON and redaction")
struct JSONAndRedactionTests {
    @Test("canonical encoding", arguments: [
        (JSONValue.object(["b": 1, "a": [true, nil, "x"]]), #"{"a":[true,null,"x"],"b":1}"#),
        (.string("quote \" backslash \\ newline \n tab \t cr \r bell \u{07} del \u{7f} é 😀"),
         #""quote \" backslash \\ newline \n tab \t cr \r bell \u0007 del "# + "\u{7f} é 😀\""),
        (.object(["é": 1, "z": 2, "Z": 3, "_": 4]), #"{"Z":3,"_":4,"z":2,"é":1}"#),
        (.integer(-9_007_199_254_740_993), "-9007199254740993"),
        (.double(2.0), "2"),
        (.double(0.5), "0.5"),
        (.object([:]), "{}"),
        (.array([]), "[]"),
    ])
    func canonical(value: JSONValue, expected: String) {
        #expect(value.canonicalString == expected)
    }

    @Test("canonical JSON parses back to the same value")
    func roundTrip() throws {
        let value: JSONValue = ["spec": ["ttl": "720h0m0s", "includedNamespaces": ["a", "b"], "n": 3, "f": 1.25, "ok": false]]
        #expect(try JSONValue(parsing: Array(value.canonicalString.utf8)) == value)
    }

    @Test("string escaping, eight bytes at a time, writes what the byte-by-byte rule writes, and Foundation reads it back")
    func stringEscapingMatchesTheRule() throws {
        // Weighted towards what must be escaped, at every position of an eight-byte word and in
        // the tail after the last whole word (lengths 0…40).
        let pieces: [String] = ["\"", "\\", "\u{0}", "\u{8}", "\u{9}", "\n", "\u{c}", "\r", "\u{1f}", "\u{7f}", " ", "a", "Z", "0", "/", "é", "€", "𝄞", "\u{0301}"]
        var random = SystemRandomNumberGenerator()
        for _ in 0..<3_000 {
            let text = (0..<Int.random(in: 0...40, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            var written: [UInt8] = []
            CanonicalJSON.appendString(text, to: &written)
            // The rule (docs/audit-trail.md, "The canonical encoding"), one byte at a time.
            var expected: [UInt8] = [0x22]
            for byte in text.utf8 {
                switch byte {
                case 0x22: expected += Array(#"\""#.utf8)
                case 0x5C: expected += Array(#"\\"#.utf8)
                case 0x08: expected += Array(#"\b"#.utf8)
                case 0x09: expected += Array(#"\t"#.utf8)
                case 0x0A: expected += Array(#"\n"#.utf8)
                case 0x0C: expected += Array(#"\f"#.utf8)
                case 0x0D: expected += Array(#"\r"#.utf8)
                case 0x00..<0x20: expected += Array(String(format: "\\u%04x", byte).utf8)
                default: expected.append(byte)
                }
            }
            expected.append(0x22)
            #expect(written == expected, "\(Array(text.utf8))")
            let parsed = try JSONSerialization.jsonObject(with: Data(written), options: .fragmentsAllowed) as? String
            #expect(parsed == text, "\(Array(text.utf8))")
        }
    }

    @Test("invalid JSON is a clear invalid-object error")
    func invalidJSON() {
        let error = #expect(throws: RecoveryError.self) { try JSONValue(parsing: Array("{\"a\":".utf8)) }
        #expect(error?.code == .invalidObject)
    }

    @Test("secret-named members are redacted at any depth", arguments: [
        "password", "secretKey", "aws_secret_access_key", "token", "Authorization", "apiKey", "webhookURL", "credentials",
    ])
    func redactsKeys(key: String) {
        let redacted = AuditRedaction.redact(["outer": [key: "s3cr3t-value"], "plain": "visible"])
        #expect(!redacted.canonicalString.contains("s3cr3t-value"))
        #expect(redacted.canonicalString.contains("visible"))
    }

    @Test("secrets inside free text are redacted", arguments: [
        ("https://admin:hunter2@minio.local:9000/bucket", "hunter2"),
        ("POST https://hooks.slack.com/x?token=xoxb-123-456 failed", "xoxb-123-456"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ("aws_secret_access_key=fake-example-value-00", "fake-example-value-00"),
    ])
    func redactsText(text: String, secret: String) {
        let redacted = AuditRedaction.redact(text: text)
        #expect(!redacted.contains(secret), "\(redacted)")
        #expect(redacted.contains(AuditRedaction.placeholder))
    }

    @Test("ordinary text is left alone")
    func leavesPlainText() {
        let text = "backup 'daily-1' finished PartiallyFailed with 3 errors: namespace=data-platform"
        #expect(AuditRedaction.redact(text: text) == text)
    }

    @Test("audit timestamps are fixed-width UTC with milliseconds and parse back")
    func timestamps() throws {
        let date = Date(timeIntervalSince1970: 1_795_000_000.123)
        let text = RFC3339.format(date)
        #expect(text == "2026-11-18T11:06:40.123Z")
        let parsed = try #require(RFC3339.parse(text))
        #expect(abs(parsed.timeIntervalSince(date)) < 0.001)
        #expect(RFC3339.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(RFC3339.parse("yesterday") == nil)
    }

    @Test("CSV fields are quoted and formula-looking cells neutralised")
    func csvQuoting() {
        #expect(AuditCSV.quote("plain") == "plain")
        #expect(AuditCSV.quote("") == "\"\"", "the empty string is quoted; an unquoted empty field is null")
        #expect(AuditCSV.quote("a,b") == "\"a,b\"")
        #expect(AuditCSV.quote("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(AuditCSV.quote("=HYPERLINK(\"x\")") == "\"'=HYPERLINK(\"\"x\"\")\"")
        #expect(AuditCSV.quote("line\nbreak") == "\"line\nbreak\"")
        // One `Character` each, yet a separator, a quote and a line break to a CSV reader.
        #expect(AuditCSV.quote("a,\u{301}b") == "\"a,\u{301}b\"")
        #expect(AuditCSV.quote("x\"\u{301}") == "\"x\"\"\u{301}\"")
        #expect(AuditCSV.quote("x\r\ny") == "\"x\r\ny\"")
        #expect(AuditCSV.quote("\t=1") == "\"'\t=1\"")
    }

    @Test("fuzzed fields with combining marks, CR LF and quotes read back as one field each")
    func csvFuzz() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [Unicode.Scalar] = [",", "\"", "\r", "\n", "\u{301}", "\u{308}", "=", "-", "a", "é", " ", "\u{200D}", "\t"]
        for _ in 0..<2_000 {
            let fields = (0..<3).map { _ in
                var scalars = String.UnicodeScalarView()
                for _ in 0..<Int.random(in: 0...8, using: &generator) { scalars.append(alphabet.randomElement(using: &generator)!) }
                return String(scalars)
            }
            let row = fields.map(AuditCSV.quote).joined(separator: ",")
            let read = Self.readCSVRow(row)
            let expected = fields.map { field -> String in
                // A formula-looking field comes back with the neutralising apostrophe.
                guard let first = field.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return field }
                return "'" + field
            }
            #expect(read.map { Array($0.unicodeScalars) } == expected.map { Array($0.unicodeScalars) }, "row \(row.debugDescription)")
        }
    }

    /// An RFC 4180 reader over Unicode scalars (one row, no trailing line break).
    static func readCSVRow(_ row: String) -> [String] {
        var fields: [String] = []
        var current = String.UnicodeScalarView()
        var quoted = false
        var scalars = row.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = scalars.next()
        var atFieldStart = true
        while let scalar = pending {
            pending = scalars.next()
            if quoted {
                if scalar == "\"" {
                    if pending == "\"" { current.append("\""); pending = scalars.next() } else { quoted = false }
                } else {
                    current.append(scalar)
                }
            } else if scalar == "\"" && atFieldStart {
                quoted = true
            } else if scalar == "\r" || scalar == "\n" {
                // Outside quotes a line break ends the row: the rest would be an injected row.
                fields.append(String(current))
                fields.append("<row break>")
                current = String.UnicodeScalarView()
                atFieldStart = true
                continue
            } else if scalar == "," {
                fields.append(String(current))
                current = String.UnicodeScalarView()
                atFieldStart = true
                continue
            } else {
                current.append(scalar)
            }
            atFieldStart = false
        }
        fields.append(String(current))
        return fields
    }
}

@Suite("JSON parser")
struct JSONParserTests {
    @Test("accepts RFC 8259 JSON", arguments: [
        (#"{"a":1,"b":[true,false,null],"c":"x"}"#, JSONValue.object(["a": 1, "b": [true, false, nil], "c": "x"])),
        (#"  [ ]  "#, .array([])),
        (#"{}"#, .object([:])),
        (#"-0"#, .integer(0)),
        (#"9223372036854775807"#, .integer(Int64.max)),
        (#"-9223372036854775808"#, .integer(Int64.min)),
        (#"9223372036854775808"#, .double(9223372036854775808)),
        (#"1.5e3"#, .double(1500)),
        (#"1E-2"#, .double(0.01)),
        // The number kinds stay as written (JSONDecoder reads these two as the integers 1 and 100).
        (#"1.0"#, .double(1)),
        (#"1e2"#, .double(100)),
        (#"[9007199254740993,true,1]"#, .array([.integer(9_007_199_254_740_993), .bool(true), .integer(1)])),
        (#""\u00e9\ud83d\ude00\n\t\"\\\/""#, .string("é😀\n\t\"\\/")),
        (#""ünïcødé raw""#, .string("ünïcødé raw")),
        (#"{"k":1,"k":2}"#, .object(["k": 2])),
        ("\"\u{2028}\"", .string("\u{2028}")),
    ])
    func accepts(text: String, expected: JSONValue) throws {
        #expect(try JSONValue(parsing: Array(text.utf8)) == expected)
    }

    @Test("rejects what RFC 8259 rejects, naming the byte", arguments: [
        "", " ", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "1e", "+1", "tru", "nul", "[1 2]",
        "{\"a\" 1}", "{a:1}", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\u12\"", "\"a\nb\"", "\"open",
        "[1]x", "{\"a\":1}}", "NaN", "Infinity",
    ])
    func rejects(text: String) {
        let error = #expect(throws: RecoveryError.self) { try JSONValue(parsing: Array(text.utf8)) }
        #expect(error?.code == .invalidObject)
        #expect(error?.message.contains("at byte") == true)
    }

    @Test("rejects invalid UTF-8 and nesting beyond the limit")
    func rejectsBytes() {
        #expect(throws: RecoveryError.self) { try JSONValue(parsing: [0x22, 0xC3, 0x28, 0x22]) }
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: RecoveryError.self) { try JSONValue(parsing: Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect((try? JSONValue(parsing: Array(fine.utf8))) != nil)
    }

    @Test("omitting members: passed over, not built; everything else as a full parse, a path through an array never matches")
    func omitting() throws {
        let text = #"{"metadata":{"name":"a","managedFields":[{"f:x":{"\u00e9":[1,2.5e3,true,null]}}],"labels":{"x":"y"}},"data":{"k":"v\n"},"spec":{"list":[{"data":1}]}}"#
        let omitted = try JSONValue(parsing: Array(text.utf8), omitting: [["metadata", "managedFields"], ["data"], ["spec", "list", "data"]])
        #expect(omitted == ["metadata": ["name": "a", "labels": ["x": "y"]], "spec": ["list": [["data": 1]]]])
        var removed = try JSONValue(parsing: Array(text.utf8))
        for path in [["metadata", "managedFields"], ["data"]] { removed.remove(path: path) }
        #expect(omitted == removed)
        #expect(try JSONValue(parsing: Array(text.utf8), omitting: [["nothing", "here"]]) == JSONValue(parsing: Array(text.utf8)))
    }

    @Test("omitting members keeps the parser strict: what a full parse rejects is rejected when skipped", arguments: [
        #"{"skip":[1,]}"#, #"{"skip":{"a":1,}}"#, #"{"skip":01}"#, #"{"skip":"\x"}"#, #"{"skip":"\u12"}"#, "{\"skip\":\"a\nb\"}",
        #"{"skip":tru}"#, #"{"skip":[1 2]}"#, #"{"skip":{a:1}}"#, #"{"skip":"open}"#, #"{"skip":[}"#, #"{"skip":1}x"#, #"{"skip":}"#,
    ])
    func omittingStaysStrict(text: String) {
        #expect(throws: RecoveryError.self) { try JSONValue(parsing: Array(text.utf8)) }
        #expect(throws: RecoveryError.self) { try JSONValue(parsing: Array(text.utf8), omitting: [["skip"]]) }
        let deep = #"{"skip":"# + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}"
        #expect(throws: RecoveryError.self) { try JSONValue(parsing: Array(deep.utf8), omitting: [["skip"]]) }
    }

    @Test("fuzzed: omitting agrees with a full parse and removal, accepting and rejecting alike (but for UTF-8 inside what is skipped)")
    func omittingFuzz() throws {
        var generator = SplitMix(state: 0x5EED_1404)
        let pieces = [
            "{", "}", "[", "]", ",", ":", "\"skip\"", "\"keep\"", "\"a\"", "\"\\n\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"", "1", "-0.5e2", "01",
            "true", "null", "fals", " ", "\"\\q\"", "\"x",
        ]
        let paths: [[String]] = [["skip"], ["keep", "skip"], ["a"]]
        var agreed = 0
        for _ in 0..<20_000 {
            // Mostly well-formed objects with random damage, so both outcomes are common.
            var text = "{\"skip\":"
            for _ in 0..<Int.random(in: 1...12, using: &generator) { text += pieces.randomElement(using: &generator)! }
            text += Bool.random(using: &generator) ? ",\"keep\":{\"skip\":[1,{\"a\":2}],\"b\":3}}" : "}"
            let bytes = Array(text.utf8)
            let full = try? JSONValue(parsing: bytes)
            let partial = try? JSONValue(parsing: bytes, omitting: paths)
            #expect((full == nil) == (partial == nil), "accepted differently: \(text)")
            if var full, let partial {
                for path in paths { full.remove(path: path) }
                #expect(full == partial, "\(text)")
                agreed += 1
            }
        }
        #expect(agreed > 500, "the fuzz reached well-formed inputs \(agreed) times")
    }

    @Test("agrees with Foundation's JSONSerialization on a Kubernetes list")
    func agreesWithFoundation() throws {
        let items = (0..<50).map { index in
            #"{"apiVersion":"velero.io/v1","kind":"Backup","metadata":{"name":"b-\#(index)","labels":{"velero.io/schedule-name":"daily"},"resourceVersion":"\#(1000 + index)"},"spec":{"ttl":"720h0m0s","includedNamespaces":["data-platform","vault-prod"]},"status":{"phase":"Completed","progress":{"itemsBackedUp":\#(index),"totalItems":50},"expiration":"2026-12-25T02:00:00Z","warnings":0}}"#
        }
        let text = #"{"apiVersion":"v1","kind":"List","items":[\#(items.joined(separator: ","))]}"#
        let ours = try JSONValue(parsing: Array(text.utf8))
        let theirs = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        let theirItems = theirs?["items"] as? [[String: Any]]
        #expect(ours["items"]?.arrayValue?.count == theirItems?.count)
        #expect(ours["items"]?.arrayValue?[7][path: ["status", "progress", "itemsBackedUp"]] == 7)
        #expect(ours.canonicalString == (try JSONValue(parsing: Array(ours.canonicalString.utf8))).canonicalString)
    }
}
