// Witnesses (C2SP tlog-witness and tlog-cosignature v1) in process: cosignatures in the spec's
// format and interoperable with a cosigner written from the spec in Python; a witness that
// answers every bad request with the spec's status and keeps its state; a collector that gets
// K of N; and a rewritten trail re-signed with its own key that no witness cosigns.
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import TestSupport
import Testing

@Suite("Audit witnesses: cosignatures, the add-checkpoint protocol, K of N")
struct AuditWitnessTests {
    /// A fixed clock: cosignature times are then known.
    struct FixedClock: WallClock {
        let date = Date(timeIntervalSince1970: 1_764_950_400)
        func now() -> Date { date }
        func sleep(until deadline: Date) async throws {}
        func startStopwatch() -> @Sendable () -> Duration { { .zero } }
    }

    static func witness(_ directory: TemporaryDirectory, _ name: String, key: AuditCosigningKey, logs: [String: AuditVerifierKey]) async throws -> AuditWitness {
        try await AuditWitness(path: directory.file("\(name).db"), key: key, logs: logs, clock: FixedClock())
    }

    /// A collector whose requests go straight to in-process witnesses (by URL).
    static func collector(_ trail: SQLiteAuditTrail, _ witnesses: [(AuditWitness, AuditCosignerKey)]) -> AuditWitnessCollector {
        let byURL = Dictionary(uniqueKeysWithValues: witnesses.enumerated().map { ("http://w\($0.offset)/add-checkpoint", $0.element.0) })
        return AuditWitnessCollector(
            trail: trail, witnesses: witnesses.enumerated().map { .init(url: "http://w\($0.offset)/add-checkpoint", key: $0.element.1) }
        ) { url, body in await byURL[url]!.addCheckpoint(Array(body.utf8)) }
    }

    @Test("the spec's example cosignature line has the layout we write: key id, 8-byte big-endian time, 64-byte signature")
    func specExample() throws {
        // From c2sp.org/tlog-cosignature: the line by witness.example.com/w1.
        let example = "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
        let raw = try #require(Data(base64Encoded: example))
        #expect(raw.count == 76)
        #expect(raw.prefix(4).map { String(format: "%02x", $0) }.joined() == "8d66cf3f")
        #expect(raw.dropFirst(4).prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } == 1_679_315_147)
        // Ours: the same 76 bytes, the time where the spec puts it.
        let key = try AuditCosigningKey.generate(name: "witness.example.com/w1")
        let line = try key.cosignatureLine(body: "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", time: 1_679_315_147)
        let fields = line.dropLast().split(separator: " ")
        #expect(fields.count == 3 && fields[0] == "—" && fields[1] == "witness.example.com/w1")
        let ours = try #require(Data(base64Encoded: String(fields[2])))
        #expect(ours.count == 76 && Array(ours.dropFirst(4).prefix(8)) == Array(raw.dropFirst(4).prefix(8)))
        #expect(ours.prefix(4).map { String(format: "%02x", $0) }.joined() == key.cosignerKey.keyID)
    }

    @Test("our cosignatures and those of a cosigner written from the spec in Python verify each other; a changed byte does not")
    func pythonInterop() async throws {
        let directory = try TemporaryDirectory()
        let body = "carbon-recovery.audit/0f3c\n42\n" + Data(repeating: 7, count: 32).base64EncodedString() + "\n"
        let note = body + "\n— carbon-recovery-audit AAAA\n"
        let script = """
            import base64, hashlib, struct, sys
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
            from cryptography.hazmat.primitives import serialization
            mode, body = sys.argv[1], sys.argv[2]
            def key_id(name, pub): return hashlib.sha256(name.encode() + b"\\n" + b"\\x04" + pub).digest()[:4]
            def message(t): return b"cosignature/v1\\ntime " + str(t).encode() + b"\\n" + body.encode()
            if mode == "sign":
                name, seed = "python.example/w", bytes(range(32))
                k = Ed25519PrivateKey.from_private_bytes(seed)
                pub = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                t = 1700000000
                line = "— " + name + " " + base64.b64encode(key_id(name, pub) + struct.pack(">Q", t) + k.sign(message(t))).decode()
                print(name + "+" + key_id(name, pub).hex() + "+" + base64.b64encode(b"\\x04" + pub).decode())
                print(line)
            else:
                vkey, line = sys.argv[3], sys.argv[4]
                name, kid, data = vkey.split("+", 2)
                raw = base64.b64decode(data); assert raw[0] == 4; pub = raw[1:]
                assert key_id(name, pub).hex() == kid
                lname, sig = line.split(" ")[1], base64.b64decode(line.split(" ")[2])
                assert lname == name and sig[:4] == key_id(name, pub)
                t = struct.unpack(">Q", sig[4:12])[0]
                Ed25519PublicKey.from_public_bytes(pub).verify(sig[12:], message(t))
                print(t)
            """
        try script.write(toFile: directory.file("cosigner.py"), atomically: true, encoding: .utf8)
        let python = try python3()
        // Python's line, checked by us.
        let signed = try await run(python, [directory.file("cosigner.py"), "sign", body])
        #expect(signed.status == 0, "\(signed.standardError)")
        let output = signed.standardOutput.split(separator: "\n").map(String.init)
        let theirKey = try AuditCosignerKey(parsing: output[0])
        #expect(theirKey.cosignatureTime(in: note + output[1] + "\n") == 1_700_000_000)
        #expect(theirKey.cosignatureTime(in: note.replacingOccurrences(of: "\n42\n", with: "\n43\n") + output[1] + "\n") == nil)
        // Our line, checked by Python.
        let ours = try AuditCosigningKey.generate(name: "carbon.example/w1")
        let line = try ours.cosignatureLine(body: body, time: 1_764_950_400).trimmingCharacters(in: .newlines)
        let checked = try await run(python, [directory.file("cosigner.py"), "verify", body, ours.cosignerKey.text, line])
        #expect(checked.status == 0 && checked.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "1764950400", "\(checked.standardError)")
        let other = try await run(python, [directory.file("cosigner.py"), "verify", body + "x\n", ours.cosignerKey.text, line])
        #expect(other.status != 0, "Python accepted our cosignature over another body")
        // Every single-byte change of our line, or of the body, fails our own check.
        let good = note + line + "\n"
        #expect(ours.cosignerKey.cosignatureTime(in: good) == 1_764_950_400)
        var generator = SplitMix(state: 18)
        for _ in 0..<300 {
            var bytes = Array(good.utf8)
            let index = Int.random(in: 0..<bytes.count, using: &generator)
            bytes[index] ^= UInt8.random(in: 1...255, using: &generator)
            guard let mutated = String(validating: bytes, as: UTF8.self), mutated != good else { continue }
            // Only a change in the trail's own (fake) signature line leaves the cosignature valid.
            let inTrailLine = index >= body.utf8.count + 1 && index < note.utf8.count
            if !inTrailLine { #expect(ours.cosignerKey.cosignatureTime(in: mutated) == nil, "byte \(index) changed and the cosignature still verified") }
        }
        // Keys of the other type are refused both ways.
        #expect(throws: RecoveryError.self) { try AuditCosignerKey(parsing: AuditSigningKey.generate().verifierKey.text) }
        #expect(throws: RecoveryError.self) { try AuditVerifierKey(parsing: ours.cosignerKey.text) }
        #expect(throws: RecoveryError.self) { try AuditCosigningKey(parsing: AuditSigningKey.generate().text) }
        #expect(try AuditCosigningKey(parsing: ours.text).cosignerKey == ours.cosignerKey)
    }

    @Test("three witnesses cosign a growing trail; K of N verifies; the state survives a restart")
    func collectAndVerify() async throws {
        let directory = try TemporaryDirectory()
        let key = AuditSigningKey.generate()
        let (trail, _) = try await AuditProofTests.signedTrail(directory, key: key, pairs: 5)
        let keys = try (1...3).map { try AuditCosigningKey.generate(name: "witness.test/w\($0)") }
        var witnesses = try await keys.enumerated().asyncMap { try await Self.witness(directory, "w\($0.offset)", key: $0.element, logs: [trail.checkpointOrigin: key.verifierKey]) }
        let outcomes = try await Self.collector(trail, zip(witnesses, keys.map(\.cosignerKey)).map { ($0, $1) }).cosignNewest()
        #expect(outcomes.filter { !$0.cosigned }.isEmpty, "\(outcomes)")
        #expect(try await trail.cosignatureProblem(witnesses: keys.map(\.cosignerKey), required: 3) == nil)
        let cosigned = try #require(try await trail.cosignedCheckpoint())
        for key in keys { #expect(key.cosignerKey.cosignatureTime(in: cosigned.note) == 1_764_950_400) }
        // The trail grows; witness 2 is restarted from its file meanwhile.
        await witnesses[1].close()
        witnesses[1] = try await Self.witness(directory, "w1", key: keys[1], logs: [trail.checkpointOrigin: key.verifierKey])
        #expect(try await witnesses[1].latest(origin: trail.checkpointOrigin)?.size == 10)
        try await fill(trail, pairs: 9, tag: "more")
        _ = try await trail.checkpoint()
        #expect(try await trail.cosignatureProblem(witnesses: keys.map(\.cosignerKey), required: 1)?.kind == .insufficientCosignatures,
                "a new checkpoint nobody has cosigned yet")
        // Only two of three are asked this time: 2 of 3 verifies, 3 of 3 does not.
        let two = try await Self.collector(trail, [(witnesses[0], keys[0].cosignerKey), (witnesses[1], keys[1].cosignerKey)]).cosignNewest()
        #expect(two.filter { !$0.cosigned }.isEmpty, "\(two)")
        #expect(try await witnesses[1].latest(origin: trail.checkpointOrigin)?.size == 28)
        #expect(try await trail.cosignatureProblem(witnesses: keys.map(\.cosignerKey), required: 2) == nil)
        #expect(try await trail.cosignatureProblem(witnesses: keys.map(\.cosignerKey), required: 3)?.kind == .insufficientCosignatures)
        // A witness key the verifier was not given counts for nothing.
        #expect(try await trail.cosignatureProblem(witnesses: [keys[2].cosignerKey], required: 1)?.kind == .insufficientCosignatures)
        await trail.close()
        for witness in witnesses { await witness.close() }
    }

    @Test("a trail rewritten from a copy and re-signed with its own key is refused by every witness (422) and fails verification that requires cosignatures")
    func forkRefused() async throws {
        let directory = try TemporaryDirectory()
        let key = AuditSigningKey.generate()
        let (trail, _) = try await AuditProofTests.signedTrail(directory, key: key, pairs: 6)
        let keys = try (1...3).map { try AuditCosigningKey.generate(name: "witness.test/w\($0)") }
        let witnesses = try await keys.enumerated().asyncMap { try await Self.witness(directory, "w\($0.offset)", key: $0.element, logs: [trail.checkpointOrigin: key.verifierKey]) }
        let pairs = zip(witnesses, keys.map(\.cosignerKey)).map { ($0, $1) }
        #expect(try await Self.collector(trail, pairs).cosignNewest().allSatisfy(\.cosigned))
        await trail.close()
        try copyDatabase(directory.file("audit.db"), to: directory.file("fork.db"))
        let honest = try await SQLiteAuditTrail(path: directory.file("audit.db"), configuration: .init(checkpointInterval: nil, signingKey: key))
        try await fill(honest, pairs: 4, tag: "honest")
        _ = try await honest.checkpoint()
        #expect(try await Self.collector(honest, pairs).cosignNewest().allSatisfy(\.cosigned))
        // The fork: the copy goes on with other entries, past the honest size, and signs with the same key.
        let fork = try await SQLiteAuditTrail(path: directory.file("fork.db"), configuration: .init(checkpointInterval: nil, signingKey: key))
        try await fill(fork, pairs: 8, tag: "forged")
        _ = try await fork.checkpoint()
        let refused = try await Self.collector(fork, pairs).cosignNewest()
        #expect(refused.count == 3 && refused.allSatisfy { !$0.cosigned && $0.status == 422 }, "\(refused)")
        #expect(try await fork.verify().isValid, "on its own, the fork is a consistent trail")
        let problem = try await fork.cosignatureProblem(witnesses: keys.map(\.cosignerKey), required: 1)
        #expect(problem?.kind == .insufficientCosignatures && problem?.sequence == 28, "\(String(describing: problem))")
        for witness in witnesses {
            #expect(try await witness.latest(origin: honest.checkpointOrigin)?.size == 20, "the witness keeps the honest size")
            #expect(try await witness.refusals(origin: honest.checkpointOrigin).count == 1, "the signed fork is kept as evidence")
        }
        await honest.close()
        await fork.close()
        for witness in witnesses { await witness.close() }
    }

    @Test("every bad request gets its status from the spec and changes nothing")
    func badRequests() async throws {
        let directory = try TemporaryDirectory()
        let key = AuditSigningKey.generate()
        let (trail, first) = try await AuditProofTests.signedTrail(directory, key: key, pairs: 4)
        let cosigning = try AuditCosigningKey.generate(name: "witness.test/w")
        let witness = try await Self.witness(directory, "w", key: cosigning, logs: [trail.checkpointOrigin: key.verifierKey])
        let accepted = await witness.addCheckpoint(Array(AddCheckpointRequest(oldSize: 0, proof: [], checkpoint: first.note).body.utf8))
        #expect(accepted.status == 200 && cosigning.cosignerKey.cosignatureTime(in: first.note + accepted.body) != nil, "\(accepted)")
        try await fill(trail, pairs: 3, tag: "next")
        let second = try await trail.checkpoint()
        let proof = try await trail.consistencyProof(from: 8, to: 14)
        let otherKey = AuditSigningKey.generate()
        let foreign = try await SQLiteAuditTrail(path: directory.file("foreign.db"), configuration: .init(checkpointInterval: nil, signingKey: otherKey))
        try await fill(foreign, pairs: 7)
        let foreignCheckpoint = try await foreign.checkpoint()
        // The honest body under another key's signature line: an impostor's note.
        let resigned = second.note.components(separatedBy: "\n\n")[0] + "\n\n" + foreignCheckpoint.note.components(separatedBy: "\n\n")[1]
        var flipped = proof
        flipped[0][0] ^= 1
        let cases: [(String, Int, String)] = [
            ("", 400, "no blank line"),
            ("old x\n\n" + second.note, 400, "size in decimal"),
            ("old 08\n\n" + second.note, 400, "size in decimal"),
            ("old 8\nnot base64\n\n" + second.note, 400, "base64"),
            ("old 8\n" + String(repeating: Data(repeating: 1, count: 32).base64EncodedString() + "\n", count: 64) + "\n" + second.note, 400, "more than 63"),
            ("old 99\n\n" + second.note, 400, "larger than the checkpoint"),
            (AddCheckpointRequest(oldSize: 8, proof: proof, checkpoint: resigned).body, 403, "no valid signature"),
            (AddCheckpointRequest(oldSize: 8, proof: proof, checkpoint: "not a note\n").body, 403, "not a checkpoint"),
            (AddCheckpointRequest(oldSize: 0, proof: [], checkpoint: foreignCheckpoint.note).body, 404, "does not witness"),
            (AddCheckpointRequest(oldSize: 2, proof: try await trail.consistencyProof(from: 2, to: 14), checkpoint: second.note).body, 409, "8"),
            (AddCheckpointRequest(oldSize: 8, proof: flipped, checkpoint: second.note).body, 422, "does not extend"),
            (AddCheckpointRequest(oldSize: 8, proof: [], checkpoint: second.note).body, 422, "does not extend"),
        ]
        for (body, status, message) in cases {
            let response = await witness.addCheckpoint(Array(body.utf8))
            #expect(response.status == status && response.body.contains(message), "\(body.prefix(40)): \(response)")
            if status == 409 { #expect(response.contentType == "text/x.tlog.size" && response.body == "8\n") }
            #expect(try await witness.latest(origin: trail.checkpointOrigin)?.size == 8, "a refused request changed the witness's state")
        }
        #expect(await witness.addCheckpoint(Array(repeating: 0x41, count: AddCheckpointRequest.maximumBytes + 1)).status == 400)
        // Random changes to a good request: never a cosignature, never a changed state.
        let good = Array(AddCheckpointRequest(oldSize: 8, proof: proof, checkpoint: second.note).body.utf8)
        var generator = SplitMix(state: 7)
        for _ in 0..<400 {
            var bytes = good
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
            }
            guard bytes != good else { continue }
            let response = await witness.addCheckpoint(bytes)
            #expect(response.status != 200, "a changed request was cosigned: \(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(try await witness.latest(origin: trail.checkpointOrigin)?.size == 8)
        #expect(await witness.addCheckpoint(good).status == 200)
        #expect(try await witness.latest(origin: trail.checkpointOrigin)?.size == 14)
        // A cosignature that does not verify is not stored.
        await #expect(throws: RecoveryError.self) {
            try await trail.addCosignature(accepted.body, by: cosigning.cosignerKey, size: 14)
        }
        await trail.close()
        await foreign.close()
        await witness.close()
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
