import CarbonRecovery
import CarbonRecoverySQLite
import Crypto
import Foundation

/// A witness's Ed25519 key that cosigns checkpoints (C2SP tlog-cosignature v1, note key type 0x04).
///
/// The private key text is `PRIVATE+KEY+<name>+<key id>+<base64(0x04 ‖ seed)>`; its public half is
/// an ``AuditCosignerKey``. The type byte differs from a checkpoint key's (0x01), so a witness key
/// is never taken for a trail key, nor the other way round.
///
/// A cosignature line is `— <name> <base64(key id ‖ time ‖ signature)>`: the time is 8 bytes,
/// big-endian seconds since 1970, and the Ed25519 signature covers
/// `cosignature/v1\ntime <time>\n` followed by the checkpoint's body.
public struct AuditCosigningKey: Sendable {
    /// The witness's name, the first part of its cosignature lines (a schema-less URL by convention).
    public let name: String
    /// The 32-byte Ed25519 seed (swift-crypto's key types are not `Sendable`).
    private let seed: [UInt8]

    static let noteKeyType: UInt8 = 0x04

    /// A new random key.
    public static func generate(name: String) throws -> AuditCosigningKey {
        try NoteKeyText.validateName(name)
        return AuditCosigningKey(name: name, seed: Array(Curve25519.Signing.PrivateKey().rawRepresentation))
    }

    private init(name: String, seed: [UInt8]) {
        self.name = name
        self.seed = seed
    }

    private var privateKey: Curve25519.Signing.PrivateKey {
        // The seed came from a valid key (checked when parsed or generated).
        try! Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    }

    /// Reads a private cosigning key from its text form.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when the text is not a private witness key.
    public init(parsing text: String) throws {
        let expected = "the witness key is not a private cosignature/v1 key (expected PRIVATE+KEY+<name>+<id>+<base64 of 0x04 and the seed>)"
        let parsed = try NoteKeyText.parsePrivate(text, type: Self.noteKeyType, expected: expected)
        guard (try? Curve25519.Signing.PrivateKey(rawRepresentation: parsed.seed)) != nil else { throw RecoveryError.invalidInput(expected) }
        self.init(name: parsed.name, seed: parsed.seed)
        guard cosignerKey.keyID == parsed.id else {
            throw RecoveryError.invalidInput("the witness key's id \(parsed.id) does not match its key material")
        }
    }

    /// Reads a private cosigning key file.
    public init(contentsOf url: URL) throws {
        try self.init(parsing: NoteKeyText.read(url, what: "the witness key"))
    }

    /// The private key text. Keep it secret: whoever has it can cosign as this witness.
    public var text: String {
        NoteKeyText.privateText(name: name, type: Self.noteKeyType, seed: seed, publicKey: Array(privateKey.publicKey.rawRepresentation))
    }

    /// The public half, which verifiers of the trail are given.
    public var cosignerKey: AuditCosignerKey {
        AuditCosignerKey(name: name, publicKey: Array(privateKey.publicKey.rawRepresentation))
    }

    /// Writes the private key to a new file with mode 0600 (never overwriting one).
    public func write(to url: URL) throws {
        try FileSecurity.createPrivateFile(at: url, contents: Array((text + "\n").utf8))
    }

    /// The cosignature line (with its newline) over a checkpoint's `body` (its lines before the
    /// blank line, each with its newline) at `time` (seconds since 1970).
    public func cosignatureLine(body: String, time: UInt64) throws -> String {
        let signature = try privateKey.signature(for: AuditCosignerKey.signedMessage(body: body, time: time))
        var raw = cosignerKey.keyHash
        withUnsafeBytes(of: time.bigEndian) { raw.append(contentsOf: $0) }
        raw.append(contentsOf: signature)
        return "— \(name) " + Data(raw).base64EncodedString() + "\n"
    }
}
