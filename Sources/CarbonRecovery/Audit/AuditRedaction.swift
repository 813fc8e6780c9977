import Foundation

/// Removes secrets from what is about to be audited, logged or printed.
///
/// Object members whose key names a secret (`password`, `secret`, `token`, `accessKey`,
/// `credentials`, `authorization`, `apiKey`, `privateKey`, …) get the value `"[REDACTED]"`,
/// and in every string the user-info part of a URL (`https://user:pass@host`) and query
/// values named like secrets (`?token=…`) are replaced. Redaction is deliberately eager: a
/// reviewer can ask for a value again, but cannot un-leak one.
package enum AuditRedaction {
    /// The text that replaces a secret.
    package static let placeholder = "[REDACTED]"

    private static let secretKeyFragments = [
        "password", "passwd", "secret", "token", "accesskey", "access_key", "apikey", "api_key", "privatekey",
        "private_key", "credential", "authorization", "signature", "cookie", "sessionkey", "webhookurl", "webhook_url",
    ]

    /// Whether a member name suggests that its value is a secret.
    package static func isSecretKey(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return secretKeyFragments.contains { lowered.contains($0) }
    }

    /// Redacts a JSON value recursively.
    package static func redact(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            var result: [String: JSONValue] = [:]
            for (key, member) in members {
                result[key] = isSecretKey(key) && member != .null ? .string(placeholder) : redact(member)
            }
            return .object(result)
        case .array(let elements):
            return .array(elements.map(redact))
        case .string(let text):
            return .string(redact(text: text))
        default:
            return value
        }
    }

    /// `scheme://user:password@host` → `scheme://[REDACTED]@host`.
    private static let urlCredentials = try! NSRegularExpression(pattern: "([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\\s]+@")

    /// `token=…`, `secret_key: …`, `Authorization: Bearer …` up to white space, `&`, a quote or a comma.
    private static let secretPairs = try! NSRegularExpression(
        pattern: "((?:[A-Za-z0-9_-]*(?:\(secretKeyFragments.joined(separator: "|")))[A-Za-z0-9_-]*)\\s*[=:]\\s*)(?:bearer\\s+|basic\\s+)?[^\\s&\"',]+",
        options: [.caseInsensitive])

    /// Redacts URL credentials and secret-named query or `key=value` pairs in free text.
    package static func redact(text: String) -> String {
        guard text.contains("@") || text.contains("=") || text.contains(":") else { return text }
        var result = urlCredentials.stringByReplacingMatches(
            in: text, range: NSRange(text.startIndex..., in: text), withTemplate: "$1\(placeholder)@")
        result = secretPairs.stringByReplacingMatches(
            in: result, range: NSRange(result.startIndex..., in: result), withTemplate: "$1\(placeholder)")
        return result
    }
}
