import CarbonRecovery
import CarbonRecoveryTestKit
import Foundation
import Testing

@Suite("Test kit doubles pass the conformance suites")
struct TestKitConformanceTests {
    @Test func storage() async throws {
        try await StorageBackendConformance.run(InMemoryStorageBackend(pageSize: 7), prefix: "conformance/")
    }

    @Test func cluster() async throws {
        try await ClusterClientConformance.run(InMemoryClusterClient(), namespace: "data-platform")
    }

    @Test func audit() async throws {
        try await AuditTrailConformance.run(InMemoryAuditTrail())
    }

    @Test("the redaction check fails a trail that does not hand back the parameters it was given")
    func redactionCheckCanFail() async throws {
        /// Stores faithfully, but reads every entry back with its parameters re-encoded from scratch.
        struct ReencodingTrail: AuditTrail {
            let inner = InMemoryAuditTrail()
            func record(_ record: AuditRecord) async throws -> AuditEntry { try await inner.record(record) }
            func record(contentsOf records: [AuditRecord]) async throws -> [AuditEntry] { try await inner.record(contentsOf: records) }
            func entries(matching query: AuditQuery) async throws -> AuditPage {
                var page = try await inner.entries(matching: query)
                for index in page.entries.indices { page.entries[index].parameters = "{}" }
                return page
            }
            func verify() async throws -> AuditVerificationReport { try await inner.verify() }
            func statistics(matching query: AuditQuery) async throws -> AuditStatistics { try await inner.statistics(matching: query) }
        }
        let failure = await #expect(throws: ConformanceFailure.self) { try await AuditTrailConformance.run(ReencodingTrail()) }
        #expect(failure?.check == "redaction", "\(String(describing: failure))")
    }

    @Test("the in-memory trail's verify notices a changed entry")
    func inMemoryTamper() async throws {
        let trail = InMemoryAuditTrail()
        for index in 0..<5 {
            _ = try await trail.record(.attempt(operation: "backup.create", target: "backup/b\(index)", actor: AuditActor(user: "u"), correlationID: "c\(index)"))
        }
        await trail.tamper(sequence: 3) { $0.target = "backup/forged" }
        let report = try await trail.verify()
        #expect(report.problem?.kind == .hashMismatch)
        #expect(report.problem?.sequence == 3)
    }

    @Test("an unreachable in-memory storage fails with unreachable")
    func unreachable() async throws {
        let storage = InMemoryStorageBackend()
        await storage.setUnreachable(true)
        let error = await #expect(throws: RecoveryError.self) { try await storage.checkAccess() }
        #expect(error?.code == .unreachable)
    }

    @Test("a conformance failure names the suite and check")
    func failureDescription() {
        let failure = ConformanceFailure(suite: "StorageBackend", check: "list", message: "listed 3 keys")
        #expect(failure.description == "StorageBackend › list: listed 3 keys")
    }
}
