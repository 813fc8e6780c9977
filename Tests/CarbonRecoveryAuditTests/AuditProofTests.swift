// Inclusion and consistency proofs from a real SQLite trail, written to their text format, read
// back and checked with only the public key; a forked trail's proof is refused; and no mutation
// of a proof file ever verifies as something other than what the original proved.
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import TestSupport
import Testing

@Suite("Audit proofs: inclusion and consistency, checked with the public key alone")
struct AuditProofTests {
    /// A signed trail of `pairs` pairs with a checkpoint at its end.
    static func signedTrail(_ directory: TemporaryDirectory, _ name: String = "audit.db", key: AuditSigningKey, pairs: Int) async throws -> (SQLiteAuditTrail, AuditCheckpoint) {
        let trail = try await SQLiteAuditTrail(path: directory.file(name), configuration: .init(checkpointInterval: nil, signingKey: key))
        try await fill(trail, pairs: pairs)
        return (trail, try await trail.checkpoint())
    }

    @Test("every entry's inclusion proof round-trips through its text and verifies; against another index, entry or key it does not")
    func inclusion() async throws {
        let directory = try TemporaryDirectory()
        let key = AuditSigningKey.generate()
        let (trail, checkpoint) = try await Self.signedTrail(directory, key: key, pairs: 19)
        #expect(checkpoint.size == 38)
        let root = try await trail.treeHead(size: 38)
        #expect(checkpoint.headHash == root.rootHash.map { String(format: "%02x", $0) }.joined(), "the note states the tree's root")
        for sequence in Int64(1)...38 {
            let (entry, path) = try await trail.inclusionProof(sequence: sequence, size: 38)
            #expect(entry.sequence == sequence)
            let proof = AuditProof.inclusion(index: sequence - 1, entry: entry.jsonLine, path: path, checkpoint: checkpoint.note)
            let parsed = try AuditProof(parsing: proof.text)
            #expect(parsed == proof)
            let verified = try parsed.verify(key: key.verifierKey)
            #expect(verified.sequence == sequence && verified.entry == entry.jsonLine && verified.checkpoint.size == 38)
        }
        // The line of entry 5 offered as entry 6, entry 6's path with entry 5's line, and another key: refused.
        let (five, _) = try await trail.inclusionProof(sequence: 5, size: 38)
        let (_, pathSix) = try await trail.inclusionProof(sequence: 6, size: 38)
        #expect(throws: RecoveryError.self) { try AuditProof.inclusion(index: 5, entry: five.jsonLine, path: pathSix, checkpoint: checkpoint.note).verify(key: key.verifierKey) }
        #expect(throws: RecoveryError.self) { try AuditProof.inclusion(index: 4, entry: five.jsonLine, path: pathSix, checkpoint: checkpoint.note).verify(key: key.verifierKey) }
        let (_, pathFive) = try await trail.inclusionProof(sequence: 5, size: 38)
        #expect(throws: RecoveryError.self) { try AuditProof.inclusion(index: 4, entry: five.jsonLine, path: pathFive, checkpoint: checkpoint.note).verify(key: AuditSigningKey.generate().verifierKey) }
        // An edited line (same seq) is not the trail's.
        let edited = five.jsonLine.replacingOccurrences(of: "alice", with: "mallory")
        #expect(throws: RecoveryError.self) { try AuditProof.inclusion(index: 4, entry: edited, path: pathFive, checkpoint: checkpoint.note).verify(key: key.verifierKey) }
        await trail.close()
    }

    @Test("a consistency proof between two checkpoints verifies; reversed, or from a forked copy of the trail, it is refused")
    func consistency() async throws {
        let directory = try TemporaryDirectory()
        let key = AuditSigningKey.generate()
        let (trail, first) = try await Self.signedTrail(directory, key: key, pairs: 10)
        await trail.close()
        // A copy of the file made now, then both go on differently: a fork with the same origin and key.
        try copyDatabase(directory.file("audit.db"), to: directory.file("fork.db"))
        let honest = try await SQLiteAuditTrail(path: directory.file("audit.db"), configuration: .init(checkpointInterval: nil, signingKey: key))
        try await fill(honest, pairs: 7, tag: "honest")
        let second = try await honest.checkpoint()
        let honestPath = try await honest.consistencyProof(from: first.size, to: second.size)
        let proof = AuditProof.consistency(path: honestPath, older: first.note, newer: second.note)
        let verified = try AuditProof(parsing: proof.text).verify(key: key.verifierKey)
        #expect(verified.older?.size == 20 && verified.checkpoint.size == 34)
        #expect(throws: RecoveryError.self) { try AuditProof.consistency(path: honestPath, older: second.note, newer: first.note).verify(key: key.verifierKey) }

        let fork = try await SQLiteAuditTrail(path: directory.file("fork.db"), configuration: .init(checkpointInterval: nil, signingKey: key))
        try await fill(fork, pairs: 7, tag: "forged")
        let forked = try await fork.checkpoint()
        #expect(forked.origin == second.origin && forked.size == second.size && forked.headHash != second.headHash)
        // The fork extends the first checkpoint (it was copied after it) but not the honest second one.
        let forkPath = try await fork.consistencyProof(from: first.size, to: forked.size)
        _ = try AuditProof.consistency(path: forkPath, older: first.note, newer: forked.note).verify(key: key.verifierKey)
        // Neither trail's proof shows the fork extends the honest checkpoint of the same size.
        #expect(throws: RecoveryError.self) { try AuditProof.consistency(path: forkPath, older: second.note, newer: forked.note).verify(key: key.verifierKey) }
        #expect(throws: RecoveryError.self) { try AuditProof.consistency(path: [], older: second.note, newer: forked.note).verify(key: key.verifierKey) }
        await honest.close()
        await fork.close()
    }

    @Test("bad sizes and entries are refused with a clear error")
    func badInput() async throws {
        let directory = try TemporaryDirectory()
        let (trail, _) = try await Self.signedTrail(directory, key: .generate(), pairs: 3)
        for (sequence, size) in [(0, 6), (7, 6), (3, 7), (-1, 6), (4, 3)] as [(Int64, Int64)] {
            await #expect(throws: RecoveryError.self, "entry \(sequence) of \(size)") { _ = try await trail.inclusionProof(sequence: sequence, size: size) }
        }
        for (old, new) in [(0, 6), (4, 3), (1, 7)] as [(Int64, Int64)] {
            await #expect(throws: RecoveryError.self, "\(old) → \(new)") { _ = try await trail.consistencyProof(from: old, to: new) }
        }
        await trail.close()
    }

    @Test("the parser refuses what the format does not allow", arguments: [
        ("", "it ends early"),
        ("carbon-recovery audit proof v2\ninclusion\n", "the first line must be"),
        ("carbon-recovery audit proof v1\nexclusion\n", "the second line must be"),
        ("carbon-recovery audit proof v1\ninclusion\nindex 01\n", "expected 'index"),
        ("carbon-recovery audit proof v1\ninclusion\nindex -1\n", "expected 'index"),
        ("carbon-recovery audit proof v1\ninclusion\nindex 0\nentry {}\nhash AAAA\n", "is not the standard base64 of 32 bytes"),
        ("carbon-recovery audit proof v1\ninclusion\nindex 0\nentry {}\ncheckpoint 999\nshort\n", "longer than"),
        ("carbon-recovery audit proof v1\ninclusion\nindex 0\nentry {}\ncheckpoint 3\nabc", "ending with a newline"),
        ("carbon-recovery audit proof v1\ninclusion\nindex 0\nentry {}\ncheckpoint 2\na\nextra", "there is more after"),
        ("carbon-recovery audit proof v1\nconsistency\ncheckpoint 2\na\n", "expected 'checkpoint"),
        ("carbon-recovery audit proof v1", "not ended by a newline"),
    ])
    func parser(text: String, message: String) {
        do {
            _ = try AuditProof(parsing: text)
            Issue.record("accepted: \(text)")
        } catch let error as RecoveryError {
            #expect(error.code == .invalidInput && error.message.contains(message), "\(error.message)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("fuzz: no mutation of a proof file verifies as anything but what the original proved")
    func fuzz() async throws {
        let directory = try TemporaryDirectory()
        let key = AuditSigningKey.generate()
        let (trail, checkpoint) = try await Self.signedTrail(directory, key: key, pairs: 9)
        let (entry, path) = try await trail.inclusionProof(sequence: 7, size: checkpoint.size)
        await trail.close()
        let original = Array(AuditProof.inclusion(index: 6, entry: entry.jsonLine, path: path, checkpoint: checkpoint.note).text.utf8)
        let proved = try AuditProof(parsing: String(decoding: original, as: UTF8.self)).verify(key: key.verifierKey)
        var generator = SystemRandomNumberGenerator()
        var accepted = 0
        for round in 0..<5_000 {
            var bytes = original
            switch round % 4 {
            case 0: bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
            case 1: bytes.removeSubrange(Int.random(in: 0..<bytes.count, using: &generator)..<bytes.count)
            case 2: bytes.insert(UInt8.random(in: 0...255, using: &generator), at: Int.random(in: 0...bytes.count, using: &generator))
            default: bytes.remove(at: Int.random(in: 0..<bytes.count, using: &generator))
            }
            guard let text = String(validating: bytes, as: UTF8.self), let proof = try? AuditProof(parsing: text),
                let verified = try? proof.verify(key: key.verifierKey)
            else { continue }
            // Only a change that proves the same thing (a base64 spelling of the same signature, say) may pass.
            accepted += 1
            #expect(verified.sequence == proved.sequence && verified.entry == proved.entry && verified.checkpoint.size == proved.checkpoint.size
                && verified.checkpoint.headHash == proved.checkpoint.headHash, "a mutation verified as something else: \(text)")
        }
        #expect(accepted < 50, "\(accepted) mutations still verified")
    }
}
