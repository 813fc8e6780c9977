import CarbonRecovery
import Foundation
import Testing

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
        let text = AuditTimestamp.format(date)
        #expect(text == "2026-11-18T11:06:40.123Z")
        let parsed = try #require(AuditTimestamp.parse(text))
        #expect(abs(parsed.timeIntervalSince(date)) < 0.001)
        #expect(AuditTimestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(AuditTimestamp.parse("yesterday") == nil)
    }

    @Test("CSV fields are quoted and formula-looking cells neutralised")
    func csvQuoting() {
        #expect(AuditCSV.quote("plain") == "plain")
        #expect(AuditCSV.quote("a,b") == "\"a,b\"")
        #expect(AuditCSV.quote("say \"hi\"") == "\"say \"\"hi\"\"\"")
        #expect(AuditCSV.quote("=HYPERLINK(\"x\")") == "\"'=HYPERLINK(\"\"x\"\")\"")
        #expect(AuditCSV.quote("line\nbreak") == "\"line\nbreak\"")
    }
}
