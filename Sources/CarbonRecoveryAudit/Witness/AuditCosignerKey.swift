import CarbonRecovery
import Crypto
import Foundation

/// The public half of a witness's ``AuditCosigningKey``: `<name>+<key id>+<base64(0x04 ‖ public key)>`.
///
/// It checks the witness's cosignature lines on a checkpoint note (C2SP tlog-cosignature v1).
public struct AuditCosignerKey: Sendable, Hashable {
    /// The witness's name, the first part of its cosignature lines.
    public let name: String
    private let publicKey: [UInt8]

    init(name: String, publicKey: [UInt8]) {
        self.name = name
        self.publicKey = publicKey
    }

    /// Reads a cosigner key from its text form.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when the text is not a cosignature/v1 key
    ///   (a checkpoint key, type 0x01, is refused here).
    public init(parsing text: String) throws {
        let expected = "the witness public key is not a cosignature/v1 note key (expected <name>+<id>+<base64 of 0x04 and the key>)"
        let parsed = try NoteKeyText.parsePublic(text, type: AuditCosigningKey.noteKeyType, expected: expected)
        guard (try? Curve25519.Signing.PublicKey(rawRepresentation: parsed.key)) != nil else { throw RecoveryError.invalidInput(expected) }
        self.init(name: parsed.name, publicKey: parsed.key)
        guard keyID == parsed.id else {
            throw RecoveryError.invalidInput("the witness public key's id \(parsed.id) does not match its key material")
        }
    }

    /// Reads a cosigner key file.
    public init(contentsOf url: URL) throws {
        try self.init(parsing: NoteKeyText.read(url, what: "the witness public key file"))
    }

    /// The 4-byte key hash in hex.
    public var keyID: String { HexEncoding.string(keyHash) }

    /// The key's text.
    public var text: String { NoteKeyText.publicText(name: name, type: AuditCosigningKey.noteKeyType, key: publicKey) }

    var keyHash: [UInt8] { NoteKeyText.keyHash(name: name, type: AuditCosigningKey.noteKeyType, publicKey: publicKey) }

    /// The time (seconds since 1970) of this witness's valid cosignature on `note`, a checkpoint
    /// note with its signature lines; `nil` when it carries none that verifies.
    public func cosignatureTime(in note: String) -> UInt64? {
        guard let signed = SignedNote(note), case .valid(let time) = state(in: signed) else { return nil }
        return time
    }

    /// What `signed`'s lines say about this witness.
    func state(in signed: SignedNote) -> SignedNote.SignatureState {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return .absent }
        return signed.signature(name: name, keyHash: keyHash, length: 72) { raw, body in
            let time = raw.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return key.isValidSignature(Array(raw.dropFirst(8)), for: Self.signedMessage(body: body, time: time)) ? .some(time) : nil
        }
    }

    /// What a cosignature/v1 signature covers.
    static func signedMessage(body: String, time: UInt64) -> [UInt8] {
        Array("cosignature/v1\ntime \(time)\n\(body)".utf8)
    }
}
