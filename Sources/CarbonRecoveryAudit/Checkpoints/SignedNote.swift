import Foundation

/// A C2SP signed note split into its signed body and its signature lines; nothing is verified yet.
///
/// A signature line is `— <key name> <base64(key id ‖ signature bytes)>`. Which bytes a line's
/// signature covers depends on the key's type: a checkpoint key (0x01) signs the body itself, a
/// cosigner (0x04) signs `cosignature/v1`, its time and the body.
struct SignedNote {
    /// What a note's signature lines say about one key.
    enum SignatureState: Equatable {
        /// A line by the key verifies; for a cosignature, at the time it states (seconds since 1970).
        case valid(time: UInt64?)
        /// No line is by the key (matching name and key id).
        case absent
        /// A line is by the key, and none of the key's lines verifies.
        case invalid
    }

    /// The signed text: the lines before the blank line, with their final newline.
    let body: String
    let signatureLines: [Substring]

    /// `nil` when there is no blank line between body and signatures.
    init?(_ note: String) {
        guard let split = note.range(of: "\n\n") else { return nil }
        body = String(note[..<split.lowerBound]) + "\n"
        signatureLines = note[split.upperBound...].split(separator: "\n")
    }

    /// The checkpoint body's origin, size and head hash (hex), when it has exactly that shape.
    var fields: (origin: String, size: Int64, headHash: String)? {
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        guard lines.count == 3, let size = Int64(lines[lines.startIndex + 1]), size >= 0,
            let hash = Data(base64Encoded: String(lines[lines.startIndex + 2])), hash.count == 32
        else { return nil }
        return (String(lines[lines.startIndex]), size, hash.map { String(format: "%02x", $0) }.joined())
    }

    /// Checks the signature lines that name a key: `name` and the 4-byte `keyHash` pick the
    /// lines; `verify` checks the bytes after the key id (which must be `length` long) against
    /// the body and returns the time it vouches for, or `nil` when they do not verify.
    func signature(name: String, keyHash: [UInt8], length: Int, verify: (ArraySlice<UInt8>, String) -> UInt64??) -> SignatureState {
        var state = SignatureState.absent
        for line in signatureLines {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 3, fields[0] == "—", fields[1] == Substring(name),
                let raw = Data(base64Encoded: String(fields[2])), raw.count == 4 + length, Array(raw.prefix(4)) == keyHash,
                // Canonical base64 only: otherwise the spare bits of the last character make one
                // signature line many, and a changed line could still verify.
                raw.base64EncodedString() == fields[2]
            else { continue }
            if let time = verify(Array(raw)[4...], body) { return .valid(time: time) }
            state = .invalid
        }
        return state
    }

    /// Checks the signature lines by a checkpoint key.
    func signature(by key: AuditVerifierKey) -> SignatureState {
        signature(name: key.name, keyHash: key.keyHash, length: 64) { signature, body in
            key.isValidSignature(Array(signature), for: Array(body.utf8)) ? .some(nil) : nil
        }
    }
}
