// The property test extended past the database: random honest trails with checkpoints, three
// witnesses' cosignatures and anchors (in an in-memory bucket: the logic; the object-lock
// server is in AuditAnchorTests) verify; no random change to a cosigned checkpoint, an anchor
// object or the anchors' entry mirror ever verifies or is restored. Set
// CARBON_RECOVERY_PROPERTY_SEED to replay; every failure prints its seed.
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryTestKit
import Foundation
import TestSupport
import Testing

@Suite("Audit properties: cosignatures and anchors never say yes to a forgery")
struct AuditWitnessAnchorPropertyTests {
    static let seed = AuditPropertyTests.seed

    /// Replaces 1 to 3 random bytes with printable ASCII or a newline (so most results are still
    /// text a parser reads on); `nil` when the result is not UTF-8 or is unchanged.
    static func mutate(_ text: String, _ random: inout SplitMix) -> String? {
        var bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return nil }
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            let replacement = UInt8.random(in: 0x1F...0x7E, using: &random)
            bytes[Int.random(in: 0..<bytes.count, using: &random)] = replacement == 0x1F ? 0x0A : replacement
        }
        guard let mutated = String(validating: bytes, as: UTF8.self), mutated != text else { return nil }
        return mutated
    }

    @Test("random trails, cosigned by three witnesses and anchored at random sizes, verify; 600 random changes to cosigned notes and anchor objects never do, and a changed mirror is never restored")
    func cosignaturesAndAnchors() async throws {
        var random = SplitMix(state: Self.seed)
        let directory = try TemporaryDirectory()
        var mutationsTried = 0
        for round in 0..<6 {
            let key = AuditSigningKey.generate()
            let storage = VersionedBucket()
            let anchors = AuditAnchors(storage: storage, prefix: "p\(round)", retention: .seconds(86_400 * 2))
            let path = directory.file("trail-\(round).db")
            let configuration = SQLiteAuditTrail.Configuration(checkpointInterval: nil, signingKey: key, anchors: anchors)
            var trail = try await SQLiteAuditTrail(path: path, configuration: configuration)
            let witnessKeys = try (1...3).map { try AuditCosigningKey.generate(name: "w\($0).test") }
            var witnesses: [(AuditWitness, AuditCosignerKey)] = []
            for (index, witnessKey) in witnessKeys.enumerated() {
                witnesses.append((try await AuditWitnessTests.witness(directory, "r\(round)-w\(index)", key: witnessKey, logs: [trail.checkpointOrigin: key.verifierKey]), witnessKey.cosignerKey))
            }
            var backupAt: Int64 = 0
            for step in 0..<Int.random(in: 2...5, using: &random) {
                try await fill(trail, pairs: Int.random(in: 1...9, using: &random), tag: "r\(round)s\(step)")
                _ = try await trail.checkpoint()
                let outcomes = try await AuditWitnessTests.collector(trail, witnesses).cosignNewest()
                #expect(outcomes.filter { !$0.cosigned }.isEmpty, "seed \(Self.seed): \(outcomes)")
                if step == 0 {   // a backup of the database, to be restored later
                    backupAt = try await trail.size()
                    await trail.close()
                    try copyDatabase(path, to: directory.file("backup-\(round).db"))
                    trail = try await SQLiteAuditTrail(path: path, configuration: configuration)
                }
            }
            let honest = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
            let origin = honest.checkpointOrigin
            let report = try await anchors.verify(origin: origin, keys: [key.verifierKey], trail: honest)
            #expect(report.isValid, "seed \(Self.seed): \(String(describing: report.problem))")
            #expect(try await trail.cosignatureProblem(witnesses: witnesses.map(\.1), required: 3) == nil, "seed \(Self.seed)")

            // Cosigned notes: a changed note keeps a witness's cosignature only when neither the
            // body nor that witness's own line changed.
            let cosigned = try #require(try await trail.cosignedCheckpoint())
            let body = String(cosigned.note[..<cosigned.note.range(of: "\n\n")!.upperBound])
            for _ in 0..<60 {
                guard let mutated = Self.mutate(cosigned.note, &random) else { continue }
                mutationsTried += 1
                for (_, witness) in witnesses where witness.cosignatureTime(in: mutated) != nil {
                    let line = cosigned.note.split(separator: "\n").first { $0.hasPrefix("— \(witness.name) ") }!
                    #expect(mutated.hasPrefix(body) && mutated.contains(line + "\n"), "seed \(Self.seed): a changed cosignature or body verified:\n\(mutated)")
                }
            }

            // Anchor objects: any change to a note or a proof fails the anchored sequence.
            let sizes = try await anchors.sizes(origin: origin)
            for _ in 0..<40 {
                let size = sizes[Int.random(in: 0..<sizes.count, using: &random)]
                let suffix = size == sizes[0] ? ".note" : [".note", ".proof"][Int.random(in: 0...1, using: &random)]
                let objectKey = anchors.objectKey(origin, size: size, suffix)
                let original = try #require(try await storage.get(objectKey))
                guard let mutated = Self.mutate(String(decoding: original, as: UTF8.self), &random) else { continue }
                mutationsTried += 1
                await storage.putNewerVersion(objectKey, Array(mutated.utf8))
                let forged = try await anchors.verify(origin: origin, keys: [key.verifierKey])
                #expect(!forged.isValid, "seed \(Self.seed): \(objectKey) changed and the anchors verified:\n\(mutated)")
                await storage.dropNewerVersion(objectKey)
            }

            // The mirror: a changed entries object is never restored into the backup; the honest one is.
            let backup = directory.file("backup-\(round).db")
            let restorable = sizes.filter { $0 > backupAt }
            for _ in 0..<4 where !restorable.isEmpty {
                let size = restorable[Int.random(in: 0..<restorable.count, using: &random)]
                let objectKey = anchors.objectKey(origin, size: size, ".entries")
                let original = try #require(try await storage.get(objectKey))
                guard let mutated = Self.mutate(String(decoding: original, as: UTF8.self), &random) else { continue }
                mutationsTried += 1
                await storage.putNewerVersion(objectKey, Array(mutated.utf8))
                let restoring = try await SQLiteAuditTrail(path: backup, configuration: .init(checkpointInterval: nil, signingKey: key, anchors: anchors))
                await #expect(throws: RecoveryError.self, "seed \(Self.seed): a changed mirror was restored") {
                    _ = try await restoring.restoreTail(from: anchors, keys: [key.verifierKey], actor: AuditActor(user: "ops", cluster: nil))
                }
                #expect(try await restoring.size() == backupAt, "seed \(Self.seed): a refused restore changed the database")
                await restoring.close()
                await storage.dropNewerVersion(objectKey)
            }
            let restoring = try await SQLiteAuditTrail(path: backup, configuration: .init(checkpointInterval: nil, signingKey: key, anchors: anchors))
            if !restorable.isEmpty { #expect(restoring.forkDetected != nil, "seed \(Self.seed): a rolled-back copy was not detected") }
            let restored = try await restoring.restoreTail(from: anchors, keys: [key.verifierKey], actor: AuditActor(user: "ops", cluster: nil))
            #expect(restored.size == sizes.last, "seed \(Self.seed)")
            #expect(try await anchors.verify(origin: origin, keys: [key.verifierKey], trail: restoring).isValid, "seed \(Self.seed)")
            await restoring.close()
            await honest.close()
            await trail.close()
            for (witness, _) in witnesses { await witness.close() }
        }
        #expect(mutationsTried > 300, "seed \(Self.seed): only \(mutationsTried) mutations were tried")
    }
}

/// A versioned object-lock bucket as a forger with the writer's credentials sees it: the locked
/// versions stay (an in-memory bucket that refuses to overwrite them), and a newer version put
/// on top is what readers get.
actor VersionedBucket: StorageBackend {
    private let locked = InMemoryStorageBackend()
    private var newer: [String: [UInt8]] = [:]

    func putNewerVersion(_ key: String, _ bytes: [UInt8]) { newer[key] = bytes }
    func dropNewerVersion(_ key: String) { newer[key] = nil }

    func checkAccess() async throws { try await locked.checkAccess() }
    nonisolated func list(prefix: String) -> AsyncThrowingStream<StorageObject, any Error> { locked.list(prefix: prefix) }
    func head(_ key: String) async throws -> StorageObject? { try await locked.head(key) }
    func get(_ key: String) async throws -> [UInt8]? {
        if let bytes = newer[key] { return bytes }
        return try await locked.get(key)
    }
    func put(_ key: String, data: [UInt8]) async throws { try await locked.put(key, data: data) }
    func delete(_ key: String) async throws { try await locked.delete(key) }
    func retention(of key: String) async throws -> ObjectRetention? { try await locked.retention(of: key) }
    func setRetention(_ retention: ObjectRetention, for key: String) async throws { try await locked.setRetention(retention, for: key) }
}
