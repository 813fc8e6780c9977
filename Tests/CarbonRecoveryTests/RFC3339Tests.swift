import CarbonRecovery
import Foundation
import Testing

@Suite("RFC 3339 timestamps")
struct RFC3339Tests {
    @Test("the hand-written ISO 8601 parser agrees with Foundation's", arguments: [
        "2026-11-25T06:31:59Z", "2026-11-25T06:31:59.123Z", "2000-02-29T23:59:59.999Z", "1970-01-01T00:00:00Z", "2038-01-19T03:14:08Z",
        "2026-03-01T00:00:00+02:00", "2026-12-31T23:59:59-05:30",
    ])
    func agrees(text: String) throws {
        let foundation = ISO8601DateFormatter()
        foundation.formatOptions = text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        let expected = try #require(foundation.date(from: text))
        let parsed = try #require(RFC3339.parse(text))
        #expect(abs(parsed.timeIntervalSince(expected)) < 0.0005)
    }

    @Test("malformed timestamps are refused", arguments: ["", "2026-11-25", "2026-13-01T00:00:00Z", "2026-11-25T06:31:59", "2026-11-25T06:31:59Zjunk", "abcd-ef-ghTij:kl:mnZ"])
    func refuses(text: String) {
        #expect(RFC3339.parse(text) == nil)
    }
}
