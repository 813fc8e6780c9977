import CarbonRecovery
import Crypto
import Foundation

/// The text forms of C2SP signed-note keys, shared by checkpoint keys (type 0x01, Ed25519) and
/// witness cosigner keys (type 0x04, Ed25519 cosignature/v1):
///
/// - public: `<name>+<key id>+<base64(type ‖ 32-byte public key)>`
/// - private: `PRIVATE+KEY+<name>+<key id>+<base64(type ‖ 32-byte seed)>`
///
/// where the key id is the first four bytes of SHA-256(name ‖ "\n" ‖ type ‖ public key), in hex.
/// A key of one type is never read as the other: a witness key cannot pass for a trail key.
enum NoteKeyText {
    /// The 4-byte key hash.
    static func keyHash(name: String, type: UInt8, publicKey: [UInt8]) -> [UInt8] {
        var input = Array(name.utf8)
        input.append(0x0A)
        input.append(type)
        input.append(contentsOf: publicKey)
        return Array(SHA256.hash(data: input).prefix(4))
    }

    /// Parses a public key text: its name, stated key id and key bytes.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` saying `expected` when it is not one of `type`.
    static func parsePublic(_ text: String, type: UInt8, expected: String) throws -> (name: String, id: String, key: [UInt8]) {
        // The base64 key data may itself contain '+': split off only the two fields before it.
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let raw = Data(base64Encoded: String(parts[2])), raw.count == 33, raw.first == type else {
            throw RecoveryError.invalidInput(expected)
        }
        try validateName(String(parts[0]))
        return (String(parts[0]), String(parts[1]), Array(raw.dropFirst()))
    }

    /// Parses a private key text: its name, stated key id and seed.
    static func parsePrivate(_ text: String, type: UInt8, expected: String) throws -> (name: String, id: String, seed: [UInt8]) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY",
            let raw = Data(base64Encoded: String(parts[4])), raw.count == 33, raw.first == type
        else { throw RecoveryError.invalidInput(expected) }
        try validateName(String(parts[2]))
        return (String(parts[2]), String(parts[3]), Array(raw.dropFirst()))
    }

    static func publicText(name: String, type: UInt8, key: [UInt8]) -> String {
        "\(name)+\(HexEncoding.string(keyHash(name: name, type: type, publicKey: key)))+" + Data([type] + key).base64EncodedString()
    }

    static func privateText(name: String, type: UInt8, seed: [UInt8], publicKey: [UInt8]) -> String {
        "PRIVATE+KEY+\(name)+\(HexEncoding.string(keyHash(name: name, type: type, publicKey: publicKey)))+" + Data([type] + seed).base64EncodedString()
    }

    /// Reads a key file's text.
    static func read(_ url: URL, what: String) throws -> String {
        do { return try String(contentsOf: url, encoding: .utf8) } catch {
            throw RecoveryError(.notFound, "cannot read \(what)", target: url.path, underlying: error)
        }
    }

    static func validateName(_ name: String) throws {
        guard !name.isEmpty, !name.contains("+"), !name.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else {
            throw RecoveryError.invalidInput("key name '\(name)' must be non-empty with no '+' or white space")
        }
    }
}
