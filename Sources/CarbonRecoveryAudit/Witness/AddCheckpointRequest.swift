import CarbonRecovery
import Foundation

/// The body of a C2SP tlog-witness `add-checkpoint` request:
///
/// ```
/// old <the size the witness last cosigned for this log, 0 at first>
/// <base64 of a 32-byte consistency proof hash>     (0 to 63 lines)
///
/// <the checkpoint note, signed by the log>
/// ```
///
/// The parser is strict: anything else is refused before a signature is checked.
public struct AddCheckpointRequest: Sendable, Hashable {
    /// The size the client believes the witness last cosigned.
    public var oldSize: Int64
    /// RFC 9162's consistency proof from `oldSize` to the checkpoint's size.
    public var proof: [[UInt8]]
    /// The signed checkpoint note.
    public var checkpoint: String

    /// The largest body a witness reads.
    public static let maximumBytes = 64 << 10
    /// No tree this side of 2^63 entries needs more proof hashes.
    public static let maximumProofHashes = 63

    /// Creates a request.
    public init(oldSize: Int64, proof: [[UInt8]], checkpoint: String) {
        self.oldSize = oldSize
        self.proof = proof
        self.checkpoint = checkpoint
    }

    /// The request's body.
    public var body: String {
        var text = "old \(oldSize)\n"
        for hash in proof { text += Data(hash).base64EncodedString() + "\n" }
        return text + "\n" + checkpoint
    }

    /// Parses a request body.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` naming what is not as specified.
    public init(parsing bytes: [UInt8]) throws {
        func bad(_ what: String) -> RecoveryError { RecoveryError.invalidInput("not an add-checkpoint request: \(what)") }
        guard bytes.count <= Self.maximumBytes else { throw bad("the body is longer than \(Self.maximumBytes) bytes") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw bad("the body is not UTF-8") }
        guard let split = text.range(of: "\n\n") else { throw bad("no blank line before the checkpoint") }
        let head = text[..<split.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = head.first, first.hasPrefix("old ") else { throw bad("the first line must be 'old <size>'") }
        let sizeText = first.dropFirst(4)
        guard let oldSize = Int64(sizeText), oldSize >= 0, String(oldSize) == sizeText else {
            throw bad("'\(first.prefix(40))' does not give a size in decimal")
        }
        guard head.count - 1 <= Self.maximumProofHashes else { throw bad("more than \(Self.maximumProofHashes) proof hashes") }
        var proof: [[UInt8]] = []
        for line in head.dropFirst() {
            guard let hash = Data(base64Encoded: String(line)), hash.count == 32, hash.base64EncodedString() == line else {
                throw bad("'\(line.prefix(60))' is not the standard base64 of a 32-byte hash")
            }
            proof.append(Array(hash))
        }
        let checkpoint = String(text[split.upperBound...])
        guard !checkpoint.isEmpty, checkpoint.hasSuffix("\n") else { throw bad("the checkpoint note is missing or does not end with a newline") }
        self.init(oldSize: oldSize, proof: proof, checkpoint: checkpoint)
    }
}
