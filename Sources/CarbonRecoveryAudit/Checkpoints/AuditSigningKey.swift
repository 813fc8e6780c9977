import CarbonRecovery
import CarbonRecoverySQLite
import Crypto
import Foundation

/// An Ed25519 key that signs audit checkpoints, in the C2SP signed-note key format.
///
/// The private key text is `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`; the public
/// (verifier) key text is `<name>+<key id>+<base64(0x01 ‖ public key)>`, where the key id is the
/// first four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key) in hex. Tools that read Go's
/// `golang.org/x/mod/sumdb/note` keys read these.
///
/// ```swift
/// let key = AuditSigningKey.generate(name: "carbon-recovery-audit")
/// try key.write(to: URL(fileURLWithPath: "audit-signing.key"))   // mode 0600
/// print(key.verifierKey.text)                                      // share this one
/// ```
public struct AuditSigningKey: Sendable {
    /// The key's name, the first part of its signature lines.
    public let name: String
    /// The 32-byte Ed25519 seed. Kept as bytes: swift-crypto's key types are not `Sendable`.
    private let seed: [UInt8]

    /// The name a key gets when none is given.
    public static let defaultName = "carbon-recovery-audit"

    /// A new random key.
    public static func generate(name: String = AuditSigningKey.defaultName) -> AuditSigningKey {
        AuditSigningKey(name: name, privateKey: Curve25519.Signing.PrivateKey())
    }

    init(name: String, privateKey: Curve25519.Signing.PrivateKey) {
        self.name = name
        self.seed = Array(privateKey.rawRepresentation)
    }

    private var privateKey: Curve25519.Signing.PrivateKey {
        // The seed came from a valid key, so it always makes one again.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    }

    /// Reads a private key from its text form.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when the text is not a private Ed25519 note key.
    public init(parsing text: String) throws {
        let parsed = try NoteKeyText.parsePrivate(
            text, type: 0x01, expected: "the signing key is not a private Ed25519 note key (expected PRIVATE+KEY+<name>+<id>+<base64>)")
        guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: parsed.seed) else {
            throw RecoveryError.invalidInput("the signing key is not a private Ed25519 note key (expected PRIVATE+KEY+<name>+<id>+<base64>)")
        }
        self.init(name: parsed.name, privateKey: key)
        guard verifierKey.keyID == parsed.id else {
            throw RecoveryError.invalidInput("the signing key's id \(parsed.id) does not match its key material")
        }
    }

    /// Reads a private key file.
    ///
    /// - Throws: ``RecoveryError`` when the file cannot be read or does not hold a key.
    public init(contentsOf url: URL) throws {
        try self.init(parsing: NoteKeyText.read(url, what: "the audit signing key"))
    }

    /// The private key text. Keep it secret: whoever has it can sign checkpoints.
    public var text: String {
        NoteKeyText.privateText(name: name, type: 0x01, seed: seed, publicKey: Array(privateKey.publicKey.rawRepresentation))
    }

    /// The public half, to give to whoever verifies.
    public var verifierKey: AuditVerifierKey {
        AuditVerifierKey(name: name, publicKey: privateKey.publicKey)
    }

    /// Writes the private key to a new file with mode 0600 (never overwriting one).
    ///
    /// - Throws: ``RecoveryError/Code/conflict`` when the file exists, or an ``RecoveryError/Code/auditFailure``.
    public func write(to url: URL) throws {
        try FileSecurity.createPrivateFile(at: url, contents: Array((text + "\n").utf8))
    }

    func signature(for message: [UInt8]) throws -> [UInt8] {
        Array(try privateKey.signature(for: message))
    }
}

/// The public half of an ``AuditSigningKey``: `<name>+<key id>+<base64(0x01 ‖ public key)>`.
public struct AuditVerifierKey: Sendable, Hashable {
    /// The key's name, the first part of its text and of its signature lines.
    public let name: String
    /// The 32-byte Ed25519 public key. Kept as bytes: swift-crypto's key types are not `Sendable`.
    private let publicKeyBytes: [UInt8]

    init(name: String, publicKey: Curve25519.Signing.PublicKey) {
        self.name = name
        self.publicKeyBytes = Array(publicKey.rawRepresentation)
    }

    private var publicKey: Curve25519.Signing.PublicKey {
        // The bytes came from a valid key, so they always make one again.
        try! Curve25519.Signing.PublicKey(rawRepresentation: publicKeyBytes)
    }

    /// Reads a verifier key from its text form.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when the text is not an Ed25519 note verifier key.
    public init(parsing text: String) throws {
        let expected = "the public key is not an Ed25519 note verifier key (expected <name>+<id>+<base64>)"
        let parsed = try NoteKeyText.parsePublic(text, type: 0x01, expected: expected)
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: parsed.key) else { throw RecoveryError.invalidInput(expected) }
        self.init(name: parsed.name, publicKey: key)
        guard keyID == parsed.id else {
            throw RecoveryError.invalidInput("the public key's id \(parsed.id) does not match its key material")
        }
    }

    /// Reads a verifier key file.
    public init(contentsOf url: URL) throws {
        try self.init(parsing: NoteKeyText.read(url, what: "the public key file"))
    }

    /// The 4-byte key hash in hex.
    public var keyID: String { HexEncoding.string(keyHash) }

    /// The verifier key text.
    public var text: String {
        NoteKeyText.publicText(name: name, type: 0x01, key: publicKeyBytes)
    }

    var keyHash: [UInt8] { NoteKeyText.keyHash(name: name, type: 0x01, publicKey: publicKeyBytes) }

    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        publicKey.isValidSignature(signature, for: message)
    }
}

/// A signed statement that the trail had `size` entries whose Merkle tree had the root
/// `headHash` (a C2SP tlog-checkpoint), or, for a checkpoint signed before the trail had its
/// tree (schema 1), that its entry `size` had the chain hash `headHash`.
///
/// Its text is a C2SP signed note:
/// ```
/// carbon-recovery.audit/<trail id>
/// <size>
/// <base64 of the 32-byte root hash (or, before the tree, head hash)>
///
/// — <key name> <base64(key id ‖ Ed25519 signature of the three lines above, newlines included)>
/// ```
public struct AuditCheckpoint: Sendable, Hashable {
    /// The trail this checkpoint is about.
    public var origin: String
    /// How many entries the trail had.
    public var size: Int64
    /// The hash the note states, in hex: the RFC 9162 root of the first `size` entries' Merkle
    /// tree; for a checkpoint from before the tree, the hash of entry `size`. (The name is from
    /// before the tree.)
    public var headHash: String
    /// The whole signed note.
    public var note: String

    /// The signed part of the note.
    static func body(origin: String, size: Int64, headHash: String) -> String {
        let hashBytes = hexBytes(headHash) ?? []
        return "\(origin)\n\(size)\n\(Data(hashBytes).base64EncodedString())\n"
    }

    /// Signs a checkpoint.
    package static func sign(origin: String, size: Int64, headHash: String, key: AuditSigningKey) throws -> AuditCheckpoint {
        try sign(origin: origin, size: size, headHash: headHash, keys: [key])
    }

    /// Signs a checkpoint with several keys: one signature line each, in order (a key rotation's
    /// checkpoint carries the old key's line and the new key's).
    package static func sign(origin: String, size: Int64, headHash: String, keys: [AuditSigningKey]) throws -> AuditCheckpoint {
        let body = body(origin: origin, size: size, headHash: headHash)
        var lines = ""
        for key in keys {
            let signature = try key.signature(for: Array(body.utf8))
            lines += "— \(key.name) " + Data(key.verifierKey.keyHash + signature).base64EncodedString() + "\n"
        }
        return AuditCheckpoint(origin: origin, size: size, headHash: headHash, note: body + "\n" + lines)
    }

    /// Parses a note and checks its signature with `key`.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when the note is malformed, and
    ///   ``RecoveryError/Code/auditTampered`` when no signature by `key` verifies.
    public init(parsing note: String, verifiedBy key: AuditVerifierKey) throws {
        guard let signed = SignedNote(note) else {
            throw RecoveryError.invalidInput("the checkpoint is not a signed note (no blank line before the signatures)")
        }
        guard let fields = signed.fields else {
            throw RecoveryError.invalidInput("the checkpoint body must be three lines: origin, size, base64 head hash")
        }
        switch signed.signature(by: key) {
        case .valid: break
        case .absent:
            throw RecoveryError(
                .auditTampered, "the checkpoint carries no signature by key '\(key.name)' (\(key.keyID)): it was signed by another key")
        case .invalid:
            throw RecoveryError(
                .auditTampered, "the checkpoint's signature by key '\(key.name)' (\(key.keyID)) does not verify: the checkpoint was altered")
        }
        self.init(origin: fields.origin, size: fields.size, headHash: fields.headHash, note: note)
    }

    /// Reads a note's origin, size and hash *without* checking any signature: for choosing a
    /// checkpoint (what to prove against), never for trusting one.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when the note is not a checkpoint note.
    public init(unverified note: String) throws {
        guard let signed = SignedNote(note), let fields = signed.fields else {
            throw RecoveryError.invalidInput("not a checkpoint note: origin, size and base64 hash lines, a blank line, then signatures")
        }
        self.init(origin: fields.origin, size: fields.size, headHash: fields.headHash, note: note)
    }

    /// Whether a checkpoint stored in the trail is vouched for by one of `keys` (the verifier
    /// key first, then the keys it replaced): a note that parses, carries a valid signature by
    /// one of them, and states the stored size, hash and origin. A signature line by one of the
    /// keys that does not verify fails the checkpoint even when another key's verifies. `nil`
    /// when it is consistent, else why not.
    static func inconsistency(storedNote note: String, keys: [AuditVerifierKey], size: Int64, headHash: String, origin: String) -> String? {
        guard let signed = SignedNote(note), let fields = signed.fields else { return "its note is not a signed checkpoint note" }
        var validBy: AuditVerifierKey?
        for key in keys {
            switch signed.signature(by: key) {
            case .absent: continue
            case .invalid: return "its signature by key '\(key.name)' does not verify: the checkpoint was altered"
            case .valid: if validBy == nil { validBy = key }
            }
        }
        guard let validBy else {
            return "it carries no signature by key '\(keys[0].name)'" + (keys.count > 1 ? " nor by the \(keys.count - 1) previous keys given" : "")
                + " (a checkpoint by another key is accepted only when that key is passed as a previous key)"
        }
        guard fields.size == size, fields.headHash == headHash, fields.origin == origin else {
            return "its note, signed by key '\(validBy.name)', states another size, hash or trail than the ones stored beside it"
        }
        return nil
    }

    init(origin: String, size: Int64, headHash: String, note: String) {
        self.origin = origin
        self.size = size
        self.headHash = headHash
        self.note = note
    }
}

func hexBytes(_ hex: String) -> [UInt8]? {
    let utf8 = Array(hex.utf8)
    guard utf8.count % 2 == 0 else { return nil }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(utf8.count / 2)
    var index = 0
    while index < utf8.count {
        guard let high = hexValue(utf8[index]), let low = hexValue(utf8[index + 1]) else { return nil }
        bytes.append(high << 4 | low)
        index += 2
    }
    return bytes
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    default: nil
    }
}
