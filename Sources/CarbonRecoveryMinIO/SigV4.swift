import CarbonRecovery
import Crypto
import Foundation

/// AWS Signature Version 4 for S3 requests (header-based), as specified in
/// "Signing AWS API requests" and "Authenticating Requests (AWS Signature Version 4)" for S3.
///
/// S3 differs from other services in two ways that matter here: the canonical URI is the path
/// as sent, encoded once (not twice), and the payload hash is sent as `x-amz-content-sha256`.
struct SigV4Signer: Sendable {
    var region: String
    var service = "s3"

    /// The SHA-256 of an empty payload.
    static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// Adds `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (when needed) and
    /// `Authorization` to `headers`.
    ///
    /// - Parameters:
    ///   - method: `GET`, `PUT`, …
    ///   - encodedPath: the request path exactly as it goes on the wire (each segment
    ///     percent-encoded with ``S3URI/encode(_:encodeSlash:)``).
    ///   - query: decoded query parameters; they are encoded and sorted here.
    ///   - headers: the headers to sign, lower-cased names; `host` must be among them.
    ///   - payloadHash: hex SHA-256 of the body.
    /// - Throws: ``RecoveryError/Code/invalidInput`` when a header value holds a line break or
    ///   another control character (a tab aside). AWS folds such a value into one line for the
    ///   signature (`get-header-value-multiline`), but the value sent would then differ from the
    ///   value signed — and a line break in a header is header injection — so it is refused.
    func sign(
        method: String, encodedPath: String, query: [(String, String)], headers: inout [(String, String)],
        payloadHash: String, credentials: S3Credentials, date: Date
    ) throws {
        for (name, value) in headers {
            if let bad = value.unicodeScalars.first(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }) {
                throw RecoveryError.invalidInput(
                    "the S3 header '\(name)' holds the control character U+\(String(bad.value, radix: 16, uppercase: true).leftPadded(to: 4)) (a line break?); header values must be one line")
            }
        }
        let (amzDate, shortDate) = Self.timestamps(date)
        headers.append(("x-amz-date", amzDate))
        headers.append(("x-amz-content-sha256", payloadHash))
        if let token = credentials.sessionToken { headers.append(("x-amz-security-token", token)) }

        let canonicalQuery = Self.canonicalQuery(query)
        var byName: [String: [String]] = [:]
        for (name, value) in headers {
            let trimmed = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            byName[name.lowercased(), default: []].append(trimmed)
        }
        let signedNames = byName.keys.sorted()
        let canonicalHeaders = signedNames.map { "\($0):\(byName[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = signedNames.joined(separator: ";")
        let canonicalRequest = [method, encodedPath, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")

        let scope = "\(shortDate)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))].joined(separator: "\n")
        let signingKey = Self.signingKey(secret: credentials.secretAccessKey, shortDate: shortDate, region: region, service: service)
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: signingKey))
        headers.append(("authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
    }

    static func signingKey(secret: String, shortDate: String, region: String, service: String) -> SymmetricKey {
        func hmac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)))
        }
        let dateKey = hmac(SymmetricKey(data: Array("AWS4\(secret)".utf8)), shortDate)
        return hmac(hmac(hmac(dateKey, region), service), "aws4_request")
    }

    /// `20261125T063000Z` and `20261125`, in UTC.
    static func timestamps(_ date: Date) -> (String, String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let year: Int = c.year ?? 1970, month: Int = c.month ?? 1, day: Int = c.day ?? 1
        let hour: Int = c.hour ?? 0, minute: Int = c.minute ?? 0, second: Int = c.second ?? 0
        let short: String = String(format: "%04d%02d%02d", year, month, day)
        let time: String = String(format: "T%02d%02d%02dZ", hour, minute, second)
        return (short + time, short)
    }

    /// Encoded `name=value` pairs sorted by name, then value, joined with `&`.
    static func canonicalQuery(_ query: [(String, String)]) -> String {
        var pairs: [(name: String, value: String)] = []
        for (name, value) in query {
            pairs.append((S3URI.encode(name, encodeSlash: true), S3URI.encode(value, encodeSlash: true)))
        }
        pairs.sort { left, right in left.name == right.name ? left.value < right.value : left.name < right.name }
        var parts: [String] = []
        for pair in pairs { parts.append(pair.name + "=" + pair.value) }
        return parts.joined(separator: "&")
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hex(_ digest: SHA256.Digest) -> String { hex(Array(digest)) }
    static func hex(_ code: HashedAuthenticationCode<SHA256>) -> String { hex(Array(code)) }
}

/// Percent-encoding as SigV4 and S3 want it.
enum S3URI {
    /// RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) stay; every other byte of the
    /// UTF-8 form becomes `%XX` (upper-case hex). `/` stays unless `encodeSlash`.
    static func encode(_ text: String, encodeSlash: Bool) -> String {
        let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where !encodeSlash:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    /// The string with leading zeros up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
