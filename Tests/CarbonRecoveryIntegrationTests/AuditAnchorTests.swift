// Checkpoints anchored in the sandbox's object-lock S3 server (moto, compliance mode): the
// whole anchored sequence verifies with the public key; a rolled-back or forked copy of the
// database is refused on open ("fork detected") and fails `audit verify --anchors`; a replaced
// anchor is caught.
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryMinIO
import Foundation
import TestSupport
import Testing

@Suite("Audit anchors in an object-lock bucket", .timeLimit(.minutes(10)))
struct AuditAnchorTests {
    static func lockedBucket() throws -> MinIOStorageBackend {
        try sandboxStorage(
            credentials: .fixed(S3Credentials(accessKeyID: "moto-unauthenticated", secretAccessKey: "unused")), endpoint: try Sandbox.current().lockEndpoint)
    }

    static func append(_ trail: SQLiteAuditTrail, pairs: Int, tag: String) async throws {
        let actor = AuditActor(user: "alice", cluster: "admin@sandbox")
        for index in 0..<pairs {
            let id = "\(tag)-\(index)"
            _ = try await trail.record(.attempt(operation: "backup.create", target: "backup/\(id)", parameters: [:], actor: actor, correlationID: id))
            _ = try await trail.record(.outcome(.success, operation: "backup.create", target: "backup/\(id)", error: nil, durationMilliseconds: 1, actor: actor, correlationID: id))
        }
    }

    @Test("every tenth entry's checkpoint is anchored, locked in compliance mode, each with a proof from the one before; a rolled-back and a forked copy are refused, and a replaced anchor is caught")
    func anchoredHistory() async throws {
        let directory = try TemporaryDirectory()
        let key = AuditSigningKey.generate()
        let storage = try Self.lockedBucket()
        let anchors = AuditAnchors(storage: storage, prefix: String(uniquePrefix("anchors").dropLast()), retention: .seconds(2 * 86_400))
        let configuration = SQLiteAuditTrail.Configuration(checkpointInterval: 10, signingKey: key, anchors: anchors)
        let path = directory.file("audit.db")
        var trail = try await SQLiteAuditTrail(path: path, configuration: configuration)
        let origin = trail.checkpointOrigin
        try await Self.append(trail, pairs: 10, tag: "a")
        #expect(try await anchors.sizes(origin: origin) == [10, 20])
        await trail.close()
        try copyDatabase(path, to: directory.file("rolled-back.db"))   // a backup of the database, taken at 20 entries
        try copyDatabase(path, to: directory.file("fork.db"))
        try copyDatabase(path, to: directory.file("rolled-back-2.db"))
        trail = try await SQLiteAuditTrail(path: path, configuration: configuration)
        #expect(trail.forkDetected == nil)
        try await Self.append(trail, pairs: 12, tag: "b")
        _ = try await trail.record(.attempt(operation: "restore.create", target: "restore/x", parameters: [:], actor: AuditActor(user: "bob", cluster: nil), correlationID: "r"))
        let explicit = try await trail.checkpoint()   // on demand: anchored too
        #expect(explicit.size == 45)
        #expect(try await anchors.sizes(origin: origin) == [10, 20, 30, 40, 45])
        let lock = try #require(try await storage.retention(of: anchors.objectKey(origin, size: 30, ".note")))
        #expect(lock.mode == .compliance && lock.retainUntil > Date().addingTimeInterval(86_400))
        let report = try await anchors.verify(origin: origin, keys: [key.verifierKey], trail: trail)
        #expect(report.isValid && report.anchors.map(\.checkpoint.size) == [10, 20, 30, 40, 45], "\(String(describing: report.problem))")
        #expect(try await anchors.verify(origin: origin, keys: [key.verifierKey]).isValid, "with the public key alone, no database")
        #expect(try await anchors.verify(origin: origin, keys: [AuditSigningKey.generate().verifierKey]).problem?.kind == .badSignature)
        await trail.close()

        // The backup restored: it ends at 20 entries, but 45 are anchored. It refuses to append.
        let rolledBack = try await SQLiteAuditTrail(path: directory.file("rolled-back.db"), configuration: configuration)
        let fork = try #require(rolledBack.forkDetected)
        #expect(fork.contains("has 20 entries, but a checkpoint of 45 entries is anchored"), "\(fork)")
        await #expect(throws: RecoveryError.self) { try await Self.append(rolledBack, pairs: 1, tag: "late") }
        #expect(try await entryCount(directory.file("rolled-back.db")) == 20, "nothing was appended")
        #expect(try await anchors.verify(origin: origin, keys: [key.verifierKey], trail: rolledBack).problem?.kind == .truncated)
        // The way back: the lost tail, fetched from the anchors' mirror and checked against their roots.
        let restored = try await rolledBack.restoreTail(from: anchors, keys: [key.verifierKey], actor: AuditActor(user: "ops", cluster: nil))
        #expect(restored.previousSize == 20 && restored.size == 45)
        #expect(rolledBack.forkDetected == nil)
        #expect(try await rolledBack.verify().isValid)
        #expect(try await anchors.verify(origin: origin, keys: [key.verifierKey], trail: rolledBack).isValid)
        #expect(try await rolledBack.treeHead(size: 45).rootHash == (try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true)).treeHead(size: 45).rootHash))
        try await Self.append(rolledBack, pairs: 1, tag: "after")
        let last = try await rolledBack.entries(matching: AuditQuery(limit: 3, newestFirst: true)).entries.map(\.operation)
        #expect(last == ["backup.create", "backup.create", "audit.tail-restore"], "\(last)")
        await rolledBack.close()
        // A mirror altered by someone with write access (a new version of the object): nothing is restored.
        let tailKey = anchors.objectKey(origin, size: 45, ".entries")
        let original = try #require(try await storage.get(tailKey))
        try await storage.put(tailKey, data: Array(String(decoding: original, as: UTF8.self).replacingOccurrences(of: "\"bob\"", with: "\"eve\"").utf8))
        let second = try await SQLiteAuditTrail(path: directory.file("rolled-back-2.db"), configuration: configuration)
        await #expect(throws: RecoveryError.self) { _ = try await second.restoreTail(from: anchors, keys: [key.verifierKey], actor: AuditActor(user: "ops", cluster: nil)) }
        #expect(try await entryCount(directory.file("rolled-back-2.db")) == 20, "a refused restore inserted nothing")
        #expect(second.forkDetected != nil)
        await second.close()
        try await storage.put(tailKey, data: original)

        // A copy extended with other entries past the anchored size (no anchors configured while
        // it was written): opened with the anchors, it is a fork.
        let forked = try await SQLiteAuditTrail(path: directory.file("fork.db"), configuration: .init(checkpointInterval: nil, signingKey: key))
        try await Self.append(forked, pairs: 14, tag: "forged")
        await forked.close()
        let reopened = try await SQLiteAuditTrail(path: directory.file("fork.db"), configuration: configuration)
        #expect(reopened.forkDetected?.contains("rewritten or forked copy") == true, "\(String(describing: reopened.forkDetected))")
        #expect(try await anchors.verify(origin: origin, keys: [key.verifierKey], trail: reopened).problem?.kind == .anchorMismatch)
        await #expect(throws: RecoveryError.self, "a fork is refused, not repaired") {
            _ = try await reopened.restoreTail(from: anchors, keys: [key.verifierKey], actor: AuditActor(user: "ops", cluster: nil))
        }
        // Its own checkpoint is not anchored: the bucket already holds the honest history.
        await #expect(throws: RecoveryError.self) { _ = try await reopened.checkpoint() }
        #expect(try await anchors.sizes(origin: origin) == [10, 20, 30, 40, 45])
        await reopened.close()

        // Someone with write access replaces the proof of 30 (a new version of the object): caught.
        try await storage.put(anchors.objectKey(origin, size: 30, ".proof"), data: Array("carbon-recovery audit proof v1\nconsistency\n".utf8))
        let replaced = try await anchors.verify(origin: origin, keys: [key.verifierKey])
        #expect(replaced.problem?.kind == .anchorMismatch && replaced.problem?.sequence == 30, "\(String(describing: replaced.problem))")
    }

    @Test("the CLI: audit checkpoint --config anchors, audit verify --anchors checks the sequence, and a rolled-back database is refused")
    func cli() async throws {
        let sandbox = try Sandbox.current()
        let directory = try TemporaryDirectory()
        let keys = try TemporaryDirectory()
        let database = directory.file("audit.db")
        let policy = directory.file("policy.yaml")
        let prefix = String(uniquePrefix("cli-anchors").dropLast())
        try """
            storage:
              endpoint: \(sandbox.s3Endpoint)
              bucket: \(sandbox.bucket)
              credentials: {file: {path: \(sandbox.credentialsFile)}}
            audit:
              checkpointInterval: 1000
              anchors:
                endpoint: \(sandbox.lockEndpoint)
                bucket: \(sandbox.bucket)
                prefix: \(prefix)
                retention: 48h
                credentials: {environment: {accessKeyID: ANCHOR_KEY_ID, secretAccessKey: ANCHOR_SECRET}}
            """.write(toFile: policy, atomically: true, encoding: .utf8)
        let environment = ["HOME": keys.path, "ANCHOR_KEY_ID": "moto-unauthenticated", "ANCHOR_SECRET": "unused", "CARBON_RECOVERY_AUDIT_DB": database]
        let cli = try executable("carbon-recovery")
        let trail = try await SQLiteAuditTrail(path: database)
        try await Self.append(trail, pairs: 3, tag: "a")
        await trail.close()
        let signingKey = keys.file("audit.key")
        let first = try await run(cli, ["audit", "checkpoint", "--signing-key", signingKey, "--public-key-file", keys.file("audit.pub"), "--config", policy], environment: environment)
        #expect(first.status == 0, "\(first.standardError)")
        try copyDatabase(database, to: directory.file("backup.db"))
        let more = try await SQLiteAuditTrail(path: database)
        try await Self.append(more, pairs: 2, tag: "b")
        await more.close()
        #expect(try await run(cli, ["audit", "checkpoint", "--signing-key", signingKey, "--config", policy], environment: environment).status == 0)
        let verified = try await run(cli, ["audit", "verify", "--public-key", keys.file("audit.pub"), "--anchors", "--config", policy], environment: environment)
        #expect(verified.status == 0 && verified.standardOutput.contains("2 anchored checkpoints extend one another"), "\(verified.standardOutput)\(verified.standardError)")
        let missingPolicy = try await run(cli, ["audit", "verify", "--public-key", keys.file("audit.pub"), "--anchors"], environment: environment.merging(["CARBON_RECOVERY_CONFIG": ""]) { $1 })
        #expect(missingPolicy.status != 0 && missingPolicy.standardError.contains("--anchors needs a policy with audit.anchors"), "\(missingPolicy.standardError)")

        // The database restored from the backup: verify --anchors fails, and a writer refuses.
        var restored = environment
        restored["CARBON_RECOVERY_AUDIT_DB"] = directory.file("backup.db")
        let rolledBack = try await run(cli, ["audit", "verify", "--public-key", keys.file("audit.pub"), "--anchors", "--config", policy, "--output", "json"], environment: restored)
        #expect(rolledBack.status == 1 && rolledBack.standardOutput.contains("\"kind\":\"truncated\""), "\(rolledBack.standardOutput)")
        let refused = try await run(cli, ["audit", "checkpoint", "--signing-key", signingKey, "--config", policy], environment: restored)
        #expect(refused.status != 0 && refused.standardError.contains("fork detected"), "\(refused.standardError)")
        let back = try await run(cli, ["audit", "restore-tail", "--config", policy, "--public-key", keys.file("audit.pub")], environment: restored)
        #expect(back.status == 0 && back.standardOutput.contains("restored entries 7 to 10 from the anchors"), "\(back.standardOutput)\(back.standardError)")
        let again = try await run(cli, ["audit", "verify", "--public-key", keys.file("audit.pub"), "--anchors", "--config", policy], environment: restored)
        #expect(again.status == 0, "\(again.standardOutput)\(again.standardError)")
        #expect(try await run(cli, ["audit", "checkpoint", "--signing-key", signingKey, "--config", policy], environment: restored).status == 0)
    }
}

/// The number of entries in the trail file, read through a read-only handle.
func entryCount(_ path: String) async throws -> Int64 {
    let trail = try await SQLiteAuditTrail(path: path, configuration: .init(readOnly: true))
    let size = try await trail.size()
    await trail.close()
    return size
}
