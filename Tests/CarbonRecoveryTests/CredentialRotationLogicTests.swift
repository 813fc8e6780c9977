// VeleroCredentialRotation's logic over the in-memory doubles: keys the storage refuses change
// nothing; Velero finding the location Unavailable with the new key puts the old secret back;
// the key in use and a bad smoke namespace are refused before anything is recorded; operations
// Velero started with the old key are waited for, and those still running are named.
import CarbonRecovery
import CarbonRecoveryTestKit
import CarbonRecoveryVelero
import Foundation
import Logging
import Synchronization
import Testing

@Suite("Credential rotation logic")
struct CredentialRotationLogicTests {
    let oldText = "[default]\naws_access_key_id = CARBONOLD\naws_secret_access_key = old-secret-0\n"
    let new = try! StorageKeyPair(accessKeyID: "CARBONNEW", secretAccessKey: "new-secret-1")

    func fixture() async throws -> (InMemoryClusterClient, InMemoryAuditTrail, RecoveryCoordinator, ObjectReference) {
        let cluster = InMemoryClusterClient()
        var location = VeleroObjects.backupStorageLocation(VeleroStorageLocation(bucket: "b", s3URL: "http://127.0.0.1:9"), namespace: "velero")
        location.json["status"] = ["phase": "Available", "lastValidationTime": "2026-01-01T00:00:00Z"]
        _ = try await cluster.apply(location, fieldManager: "test")
        let secret = KubernetesObject(kind: .secret, namespace: "velero", name: "cloud-credentials", body: ["data": ["cloud": .string(Data(oldText.utf8).base64EncodedString())]])
        _ = try await cluster.apply(secret, fieldManager: "test")
        let trail = InMemoryAuditTrail()
        let storage = InMemoryStorageBackend()
        let coordinator = RecoveryCoordinator(
            engine: InMemoryBackupEngine(storage: storage), storage: storage, audit: trail, cluster: cluster, logger: Logger(label: "test"))
        return (cluster, trail, coordinator, try ObjectReference(kind: .secret, namespace: "velero", name: "cloud-credentials"))
    }

    func contents(_ cluster: InMemoryClusterClient, _ reference: ObjectReference) async throws -> String {
        let encoded = try #require(try await cluster.get(reference)?.json[path: ["data", "cloud"]]?.stringValue)
        return String(decoding: Data(base64Encoded: encoded) ?? Data(), as: UTF8.self)
    }

    @Test("keys the storage refuses: an audited failure, and the secret is as it was")
    func refused() async throws {
        let (cluster, trail, coordinator, secret) = try await fixture()
        let rotation = VeleroCredentialRotation(cluster: cluster, coordinator: coordinator) { _ in
            throw RecoveryError(.unauthorized, "the S3 server does not know access key CARB…(9 chars)")
        }
        await #expect(throws: RecoveryError.self) { try await rotation.rotate(to: new, smokeNamespace: "velero") }
        #expect(try await contents(cluster, secret) == oldText)
        let operations = await trail.allEntries.filter { $0.kind == .outcome }.map { "\($0.operation) \($0.outcome?.rawValue ?? "")" }
        #expect(operations == ["credentials.check denied", "credentials.rotate denied"], "the storage refused the new keys: \(operations)")
    }

    @Test("Velero finds the location Unavailable with the new key: the old secret goes back, audited")
    func rolledBack() async throws {
        let (cluster, trail, coordinator, secret) = try await fixture()
        let rotation = VeleroCredentialRotation(cluster: cluster, coordinator: coordinator) { _ in }
        // Velero's validation, seen from outside: once the secret holds the new key, the location is validated Unavailable.
        let velero = Task {
            while !Task.isCancelled {
                if (try? await contents(cluster, secret))?.contains("CARBONNEW") == true {
                    let now = RFC3339.format(Date().addingTimeInterval(2))
                    try await cluster.setStatus(
                        try ObjectReference(kind: .veleroBackupStorageLocation, namespace: "velero", name: "default"),
                        ["phase": "Unavailable", "lastValidationTime": .string(now)])
                    return
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        let error = await #expect(throws: RecoveryError.self) { try await rotation.rotate(to: new, smokeNamespace: "velero", timeout: .seconds(20)) }
        velero.cancel()
        #expect(error?.message.contains("found it Unavailable") == true, "\(String(describing: error))")
        #expect(try await contents(cluster, secret) == oldText, "the old key is back")
        let operations = await trail.allEntries.filter { $0.kind == .outcome }.map { "\($0.operation) \($0.outcome?.rawValue ?? "")" }
        #expect(operations == [
            "credentials.check success", "credentials.update-secret success", "credentials.revalidate failure", "credentials.roll-back success",
            "credentials.rotate failure",
        ], "\(operations)")
        let recorded = await trail.allEntries.map(\.jsonLine).joined()
        #expect(!recorded.contains("new-secret-1") && !recorded.contains("old-secret-0"), "no secret in the trail")
    }

    @Test("operations started with the old key are waited for; one still running at the timeout is named, not called revocable")
    func drained() async throws {
        let (cluster, trail, coordinator, secret) = try await fixture()
        func backup(_ name: String, phase: String) async throws -> ObjectReference {
            let object = KubernetesObject(kind: .veleroBackup, namespace: "velero", name: name, body: ["spec": ["includedNamespaces": ["app"]]])
            _ = try await cluster.apply(object, fieldManager: "test")
            let reference = try ObjectReference(kind: .veleroBackup, namespace: "velero", name: name)
            try await cluster.setStatus(reference, ["phase": .string(phase)])
            return reference
        }
        let ending = try await backup("ending", phase: "InProgress")
        _ = try await backup("stuck", phase: "InProgress")
        _ = try await backup("done", phase: "Completed")
        _ = try await cluster.apply(KubernetesObject(kind: .veleroDeleteBackupRequest, namespace: "velero", name: "gone-1"), fieldManager: "test")
        try await cluster.setStatus(try ObjectReference(kind: .veleroDeleteBackupRequest, namespace: "velero", name: "gone-1"), ["phase": "Processed"])
        let rotation = VeleroCredentialRotation(cluster: cluster, coordinator: coordinator) { _ in }
        // Velero, seen from outside: validates the location with the new key, then ends `ending`; `stuck` never ends.
        let velero = Task {
            while !Task.isCancelled {
                if (try? await contents(cluster, secret))?.contains("CARBONNEW") == true {
                    try await cluster.setStatus(
                        try ObjectReference(kind: .veleroBackupStorageLocation, namespace: "velero", name: "default"),
                        ["phase": "Available", "lastValidationTime": .string(RFC3339.format(Date().addingTimeInterval(2)))])
                    try await Task.sleep(for: .milliseconds(500))
                    try await cluster.setStatus(ending, ["phase": "Completed"])
                    return
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        defer { velero.cancel() }
        let lines = LockedLines()
        // The timeout bounds both the wait for Velero's validation and the drain, which waits it
        // out for `stuck`: 20 s, not 5 — on a loaded CI machine the validation (this task's
        // polling, the rotation's half-second polls) once took longer than 5 s.
        let report = try await rotation.rotate(to: new, smokeNamespace: "velero", timeout: .seconds(20)) { lines.append($0) }
        #expect(report.oldKeyInUse == ["velero/backup/stuck"], "\(report.oldKeyInUse)")
        #expect(report.steps.map(\.name) == ["check", "update-secret", "revalidate", "smoke-backup", "validate", "drain"])
        #expect(lines.all.contains { $0.contains("2 operation(s)") && $0.contains("velero/backup/ending") && $0.contains("velero/backup/stuck") }, "\(lines.all)")
        let drain = try #require(await trail.allEntries.last { $0.kind == .outcome && $0.operation == "credentials.drain" })
        #expect(drain.outcome == .success && drain.jsonLine.contains("velero/backup/stuck") && !drain.jsonLine.contains("velero/backup/done"), "\(drain.jsonLine)")
    }

    @Test("the key in use, or a smoke namespace that is not a name: refused before anything is recorded")
    func refusedEarly() async throws {
        let (cluster, trail, coordinator, secret) = try await fixture()
        let rotation = VeleroCredentialRotation(cluster: cluster, coordinator: coordinator) { _ in }
        let same = try StorageKeyPair(accessKeyID: "CARBONOLD", secretAccessKey: "anything")
        let inUse = await #expect(throws: RecoveryError.self) { try await rotation.rotate(to: same, smokeNamespace: "velero") }
        #expect(inUse?.code == .invalidInput)
        await #expect(throws: RecoveryError.self) { try await rotation.rotate(to: new, smokeNamespace: "Not_A_Name") }
        #expect(await trail.allEntries.isEmpty)
        #expect(try await contents(cluster, secret) == oldText)
    }
}

/// Progress lines collected from a `@Sendable` callback.
private final class LockedLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}
