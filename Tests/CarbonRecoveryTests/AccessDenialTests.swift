// Refused calls as audited outcomes: an operation that the API server or the storage refused
// (HTTP 401/403) ends `denied`, in entry format 2, with the identity used and what was refused,
// and raises an `access-denied` event; the API server's RBAC message is parsed for both, and
// anything else — fuzzed — gives nothing rather than a wrong identity.
import CarbonRecovery
import CarbonRecoveryTestKit
import Foundation
import Testing
import TestSupport

@Suite("Refused calls: the denied outcome")
struct AccessDenialTests {
    func audited() -> (InMemoryAuditTrail, RecordingNotifier, OperationAudit) {
        let trail = InMemoryAuditTrail()
        let notifier = RecordingNotifier()
        let actor = AuditActor(user: "ops", cluster: "dr-viewer@sandbox (https://127.0.0.1:6443)")
        return (trail, notifier, OperationAudit(audit: trail, actor: actor, notifiers: [notifier]))
    }

    @Test("a forbidden call: outcome denied, format 2, the server's identity and the refused action, an access-denied event")
    func forbidden() async throws {
        let (trail, notifier, audit) = audited()
        let denial = AccessDenial(
            source: .kubernetes, status: 403, isUnauthenticated: false, identity: "system:serviceaccount:velero:viewer",
            refused: "create backups.velero.io in namespace velero")
        let error = await #expect(throws: RecoveryError.self) {
            try await audit.perform("backup.create", target: "velero/backup/nightly", parameters: [:]) { _, _ -> (Void, JSONValue) in
                throw RecoveryError(.forbidden, "kubectl create failed (exit status 1) — this user may not do this").denied(denial)
            }
        }
        #expect(error?.code == .forbidden && error?.denial == denial, "the caller gets the error as it was")
        let entries = await trail.allEntries
        #expect(entries.map(\.version) == [1, 2], "only the denied outcome is format 2")
        let outcome = try #require(entries.last)
        #expect(outcome.outcome == .denied)
        #expect(outcome.error?.contains("may not do this") == true)
        let recorded = try JSONValue(parsing: Array(outcome.parameters.utf8))["denied"]
        #expect(recorded?["identity"]?.stringValue == "system:serviceaccount:velero:viewer")
        #expect(recorded?["refused"]?.stringValue == "create backups.velero.io in namespace velero")
        #expect(recorded?["source"]?.stringValue == "kubernetes" && recorded?["status"] == .integer(403) && recorded?["unauthenticated"] == .bool(false))
        let events = await notifier.delivered
        #expect(events.map(\.kind) == [.accessDenied])
        #expect(events.first?.details["identity"] == "system:serviceaccount:velero:viewer" && events.first?.correlationID == outcome.correlationID)
        #expect(events.first?.summary.contains("The API server refused system:serviceaccount:velero:viewer") == true, "\(events.first?.summary ?? "")")
    }

    @Test("refused credentials without a named identity: the actor's cluster identity is recorded; a refusal without a denial still counts as one")
    func unauthenticated() async throws {
        let (trail, notifier, audit) = audited()
        await #expect(throws: RecoveryError.self) {
            try await audit.perform("status.read", target: "velero", parameters: [:]) { _, _ -> (Void, JSONValue) in
                throw RecoveryError(.unauthorized, "the credentials in the kubeconfig were refused", operation: "cluster.list", target: "velero/backups")
            }
        }
        let outcome = try #require(await trail.allEntries.last)
        #expect(outcome.outcome == .denied && outcome.version == 2)
        let recorded = try JSONValue(parsing: Array(outcome.parameters.utf8))["denied"]
        #expect(recorded?["identity"]?.stringValue == "dr-viewer@sandbox (https://127.0.0.1:6443)")
        #expect(recorded?["status"] == .integer(401) && recorded?["unauthenticated"] == .bool(true))
        #expect(recorded?["refused"]?.stringValue == "cluster.list velero/backups")
        #expect(await notifier.delivered.count == 1)
    }

    @Test("other failures stay failures, in format 1, and raise no access-denied event")
    func otherFailures() async throws {
        let (trail, notifier, audit) = audited()
        for code in [RecoveryError.Code.notFound, .unreachable, .invalidInput, .storageFailure] {
            await #expect(throws: RecoveryError.self) {
                try await audit.perform("backup.create", target: "t", parameters: [:]) { _, _ -> (Void, JSONValue) in throw RecoveryError(code, "no") }
            }
        }
        #expect(await trail.allEntries.filter { $0.kind == .outcome }.allSatisfy { $0.outcome == .failure && $0.version == 1 })
        #expect(await notifier.delivered.isEmpty)
        #expect(try await trail.verify().isValid)
    }

    @Test("the API server's RBAC refusal gives identity and action", arguments: [
        ("Error from server (Forbidden): backups.velero.io is forbidden: User \"system:serviceaccount:velero:viewer\" cannot create resource \"backups\" in API group \"velero.io\" in the namespace \"velero\"",
         "system:serviceaccount:velero:viewer", "create backups.velero.io in namespace velero"),
        ("Error from server (Forbidden): configmaps \"registry-config\" is forbidden: User \"system:serviceaccount:velero:velero\" cannot delete resource \"configmaps\" in API group \"\" in the namespace \"registry\"",
         "system:serviceaccount:velero:velero", "delete configmaps in namespace registry"),
        ("Error from server (Forbidden): clusterroles.rbac.authorization.k8s.io is forbidden: User \"alice\" cannot list resource \"clusterroles\" in API group \"rbac.authorization.k8s.io\" at the cluster scope",
         "alice", "list clusterroles.rbac.authorization.k8s.io at the cluster scope"),
    ])
    func parsesRBACMessages(message: String, identity: String, refused: String) {
        let parsed = AccessDenial.kubernetesForbidden(message: message)
        #expect(parsed?.identity == identity && parsed?.refused == refused, "\(String(describing: parsed))")
    }

    @Test("anything else — truncated, reordered, random — gives nothing, never a wrong identity")
    func parserFuzz() {
        let good = "User \"system:serviceaccount:velero:viewer\" cannot create resource \"backups\" in API group \"velero.io\" in the namespace \"velero\""
        for bad in ["", "User", "User \"", "User \"alice", "User \"alice\" can create resource \"x\"", "User \"alice\" cannot", "User \"alice\" cannot create",
                    "User \"alice\" cannot 3create resource \"x\"", "cannot create resource \"x\" User \"alice\""] {
            #expect(AccessDenial.kubernetesForbidden(message: bad) == nil, "\(bad)")
        }
        var random = SplitMix(state: 0x5eed_15)
        let alphabet = Array("User \"\\ cannot resource in API group the namespace at cluster scope abc:-\n\u{0}é")
        for _ in 0..<3_000 {
            var text = ""
            if Bool.random(using: &random) {
                // A prefix of the good message, sometimes with a character changed.
                text = String(good.prefix(Int.random(in: 0...good.count, using: &random)))
            } else {
                for _ in 0..<Int.random(in: 0...80, using: &random) { text.append(alphabet.randomElement(using: &random)!) }
            }
            if let parsed = AccessDenial.kubernetesForbidden(message: text) {
                #expect(!parsed.identity.contains("\"") && text.contains("User \"\(parsed.identity)\""), "\(text.debugDescription) → \(parsed)")
                #expect(!parsed.refused.isEmpty && !parsed.refused.contains("\""))
            }
        }
    }
}
