// The anchoring rules that keep the anchored sequence one chain, on an in-memory object-lock
// bucket (the real one is in AuditAnchorTests): a checkpoint smaller than the newest anchor is
// never added in the middle, and a checkpoint that is not of the stored tree is never anchored.
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryTestKit
import Foundation
import TestSupport
import Testing

@Suite("Audit anchors: the sequence stays one chain")
struct AuditAnchorLogicTests {
    @Test("a late, smaller checkpoint is checked against the newest anchor but not inserted before it; a checkpoint not of the stored tree is refused")
    func orderAndRoots() async throws {
        let directory = try TemporaryDirectory()
        let key = AuditSigningKey.generate()
        let storage = InMemoryStorageBackend()
        let anchors = AuditAnchors(storage: storage, prefix: "a", retention: .seconds(86_400))
        let trail = try await SQLiteAuditTrail(path: directory.file("audit.db"), configuration: .init(checkpointInterval: nil, signingKey: key, anchors: anchors))
        try await fill(trail, pairs: 3)
        let early = try await trail.checkpoint()
        try await fill(trail, pairs: 2, tag: "c")
        let late = try await trail.checkpoint()
        // Another writer anchored 10 first; the checkpoint of 6 arrives afterwards.
        let fresh = AuditAnchors(storage: InMemoryStorageBackend(), prefix: "b", retention: .seconds(86_400))
        try await fresh.anchor(late, of: trail)
        try await fresh.anchor(early, of: trail)
        #expect(try await fresh.sizes(origin: trail.checkpointOrigin) == [10])
        #expect(try await fresh.verify(origin: trail.checkpointOrigin, keys: [key.verifierKey], trail: trail).isValid)
        // In order, both are anchored, the second with its proof from the first.
        #expect(try await anchors.sizes(origin: trail.checkpointOrigin) == [6, 10])
        #expect(try await storage.get(anchors.objectKey(trail.checkpointOrigin, size: 10, ".proof")) != nil)
        // A checkpoint signed over another tree (of the same origin and key) is not anchored.
        let other = try await SQLiteAuditTrail(path: directory.file("other.db"), configuration: .init(checkpointInterval: nil, signingKey: key))
        try await fill(other, pairs: 7, tag: "x")
        let foreign = try await other.checkpoint()
        let forged = try AuditCheckpoint(unverified: foreign.note.replacingOccurrences(of: other.checkpointOrigin, with: trail.checkpointOrigin))
        await #expect(throws: RecoveryError.self) { try await anchors.anchor(forged, of: trail) }
        #expect(try await anchors.sizes(origin: trail.checkpointOrigin) == [6, 10])
        await other.close()
        await trail.close()
    }
}
