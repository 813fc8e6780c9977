// The API server's audit log as external operations: each result becomes an attempt and an
// outcome naming the Kubernetes user; a refusal is `denied` and told to the notifiers; a second
// ingestion adds nothing; a line that is not an event stops it before anything is added; the
// line parser survives anything (fuzzed).
import CarbonRecovery
import CarbonRecoveryTestKit
import Foundation
import Testing
import TestSupport

@Suite("External operations from the API server's audit log")
struct ExternalOperationsTests {
    // As kube-apiserver 1.20 writes them (--audit-log-format=json, Metadata level).
    static let restoreCreated = #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0f2b7c1e-1111-4a2b-9c3d-000000000001","stage":"ResponseComplete","requestURI":"/apis/velero.io/v1/namespaces/velero/restores?fieldManager=kubectl-create","verb":"create","user":{"username":"dr-operator","groups":["platform-dr-operators","system:authenticated"]},"sourceIPs":["127.0.0.1"],"userAgent":"kubectl/v1.32.0 (linux/amd64) kubernetes/abcdef","objectRef":{"resource":"restores","namespace":"velero","name":"by-hand","apiGroup":"velero.io","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestReceivedTimestamp":"2026-12-04T14:00:00.100000Z","stageTimestamp":"2026-12-04T14:00:00.142000Z","annotations":{"authorization.k8s.io/decision":"allow"}}"#
    static let secretRead = #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0f2b7c1e-1111-4a2b-9c3d-000000000002","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/velero/secrets/cloud-credentials","verb":"get","user":{"username":"admin","groups":["system:masters","system:authenticated"]},"sourceIPs":["127.0.0.1"],"userAgent":"kubectl/v1.32.0","objectRef":{"resource":"secrets","namespace":"velero","name":"cloud-credentials","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-12-04T14:00:01.000000Z","stageTimestamp":"2026-12-04T14:00:01.003000Z"}"#
    static let forgedToken = #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0f2b7c1e-1111-4a2b-9c3d-000000000003","stage":"ResponseStarted","requestURI":"/apis/velero.io/v1/namespaces/velero/restores","verb":"create","user":{},"sourceIPs":["127.0.0.1"],"userAgent":"kubectl/v1.32.0","objectRef":{"resource":"restores","namespace":"velero","apiGroup":"velero.io","apiVersion":"v1"},"responseStatus":{"metadata":{},"message":"Authentication failed, attempted: bearer","code":401},"requestReceivedTimestamp":"2026-12-04T14:00:02.000000Z","stageTimestamp":"2026-12-04T14:00:02.000400Z"}"#
    static let watchStarted = #"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0f2b7c1e-1111-4a2b-9c3d-000000000004","stage":"ResponseStarted","requestURI":"/apis/velero.io/v1/namespaces/velero/backups?watch=true","verb":"watch","user":{"username":"admin"},"sourceIPs":["127.0.0.1"],"objectRef":{"resource":"backups","namespace":"velero","apiGroup":"velero.io"},"responseStatus":{"metadata":{},"code":200}}"#

    static var log: [UInt8] { Array([restoreCreated, secretRead, "", forgedToken, watchStarted, ""].joined(separator: "\n").utf8) }

    @Test("each result is an attempt and an outcome with the Kubernetes user; a 401 is denied and told; a watch start is skipped; a second run adds nothing")
    func ingest() async throws {
        let trail = InMemoryAuditTrail()
        let notifier = RecordingNotifier()
        let ingester = ExternalOperations(audit: trail, actor: AuditActor(user: "auditor"), notifiers: [notifier])
        let events = try ExternalOperations.events(inLog: Self.log)
        #expect(events.count == 4)
        let report = try await ingester.ingest(events)
        #expect(report == .init(events: 4, ingested: 3, alreadyRecorded: 0, skipped: 1, denied: 1))
        let entries = await trail.allEntries
        #expect(entries.map { "\($0.kind.rawValue) \($0.operation) \($0.target) \($0.outcome?.rawValue ?? "-")" } == [
            "attempt external.create velero/restores.velero.io/by-hand -",
            "outcome external.create velero/restores.velero.io/by-hand success",
            "attempt external.get velero/secrets/cloud-credentials -",
            "outcome external.get velero/secrets/cloud-credentials success",
            "attempt external.create velero/restores.velero.io -",
            "outcome external.create velero/restores.velero.io denied",
        ])
        #expect(entries.allSatisfy { $0.actor == "auditor" && $0.correlationID.hasPrefix("kube-audit:0f2b7c1e-") })
        let external = try JSONValue(parsing: Array(entries[0].parameters.utf8))["external"]
        #expect(external?["user"]?.stringValue == "dr-operator" && external?["groups"]?.arrayValue?.count == 2)
        #expect(external?["sourceIPs"] == ["127.0.0.1"] && external?["stageTimestamp"]?.stringValue == "2026-12-04T14:00:00.142000Z")
        #expect(entries[1].durationMilliseconds == 42)
        let denied = try JSONValue(parsing: Array(entries[5].parameters.utf8))["denied"]
        #expect(denied?["status"] == .integer(401) && denied?["unauthenticated"] == .bool(true) && denied?["identity"]?.stringValue == nil, "no user to name: \(String(describing: denied))")
        #expect(denied?["refused"]?.stringValue == "create restores.velero.io in namespace velero")
        #expect(entries[5].version == 2 && entries[5].error == "HTTP 401")
        let told = await notifier.delivered
        #expect(told.map(\.kind) == [.accessDenied] && told.first?.details["identity"] == "an unauthenticated client")

        let again = try await ingester.ingest(try ExternalOperations.events(inLog: Self.log))
        #expect(again == .init(events: 4, ingested: 0, alreadyRecorded: 3, skipped: 1, denied: 0))
        #expect(await trail.allEntries.count == 6, "nothing twice")
        #expect(try await trail.verify().isValid)
    }

    @Test("a line that is not an audit event: an error naming the line, nothing ingested", arguments: [
        ("not json", "line 2", "not JSON"),
        (#"{"kind":"Pod","apiVersion":"v1"}"#, "line 2", "not an audit.k8s.io/v1 Event"),
        (#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseComplete","verb":"get","requestURI":"/"}"#, "line 2", "no auditID"),
        (#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"x","stage":"ResponseComplete","verb":"get"}"#, "line 2", "no requestURI"),
    ])
    func badLine(line: String, place: String, reason: String) async throws {
        let log = Array([Self.restoreCreated, line, Self.secretRead].joined(separator: "\n").utf8)
        let error = #expect(throws: RecoveryError.self) { try ExternalOperations.events(inLog: log) }
        #expect(error?.code == .invalidInput && error?.message.contains(place) == true && error?.message.contains(reason) == true, "\(String(describing: error))")
        #expect(error?.message.contains("nothing was ingested") == true)
    }

    @Test("the line parser takes anything: an event or a clear error, never a crash")
    func fuzz() {
        var random = SplitMix(state: 0xa0d17)
        let seeds = [Self.restoreCreated, Self.secretRead, Self.forgedToken].map { Array($0.utf8) }
        for _ in 0..<2_000 {
            var bytes = seeds.randomElement(using: &random)!
            switch Int.random(in: 0..<3, using: &random) {
            case 0: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &random)))
            case 1:
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            default: bytes = (0..<Int.random(in: 0...200, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            }
            do {
                let event = try KubernetesAuditEvent(line: bytes)
                #expect(!event.auditID.isEmpty && !event.verb.isEmpty)
            } catch let error as RecoveryError {
                #expect(error.code == .invalidInput)
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }
}
