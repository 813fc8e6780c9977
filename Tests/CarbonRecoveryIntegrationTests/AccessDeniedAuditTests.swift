// Access attempts seen (issue 15, part 5): a call the sandbox's real API server or real S3
// server refuses — a user whose role does not allow it, a token nobody issued, a wrong secret
// key — is an audited `denied` outcome naming the identity used and what was refused, found by
// `audit query --outcome denied`, with nothing changed and no credential in the trail. And what
// others do around us — a Restore created with plain kubectl, a read of the credentials secret,
// a forged token — comes into the trail from the API server's own audit log.
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryVelero
import Foundation
import Testing
import TestSupport

@Suite("Refused calls in the audit trail, on the sandbox", .timeLimit(.minutes(8)))
struct AccessDeniedAuditTests {
    /// The `denied` member of an entry of `audit query --output json`.
    func denial(_ entry: JSONValue) throws -> JSONValue? {
        let parameters = try #require(entry["parameters"])
        if let text = parameters.stringValue { return try JSONValue(parsing: Array(text.utf8))["denied"] }
        return parameters["denied"]
    }

    @Test("the CLI as dr-viewer creating a backup, then with a token nobody issued: denied outcomes with who and what; nothing created; no token in the trail")
    func clusterRefusals() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let name = "denied-\(UUID().uuidString.prefix(8).lowercased())"
        var cli = ["XDG_STATE_HOME": scratch.file("state"), "CARBON_RECOVERY_AUDIT_DB": scratch.file("audit.db"), "CARBON_RECOVERY_KUBECONFIG": sandbox.drViewerKubeconfig]
        let refused = try await run(try executable("carbon-recovery"), ["backup", "create", name, "--include-namespaces", "registry"], environment: cli)
        #expect(refused.status != 0 && refused.standardError.contains("forbidden"), "\(refused.standardOutput)\(refused.standardError)")

        // A kubeconfig whose token the API server never issued.
        let kubeconfig = try String(contentsOfFile: sandbox.drViewerKubeconfig, encoding: .utf8)
        let issued = try #require(kubeconfig.split(separator: "\n").first { $0.contains("token:") }).split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
        let forged = "forged" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        try kubeconfig.replacingOccurrences(of: issued, with: forged).write(toFile: scratch.file("forged.kubeconfig"), atomically: true, encoding: .utf8)
        cli["CARBON_RECOVERY_KUBECONFIG"] = scratch.file("forged.kubeconfig")
        let unauthenticated = try await run(try executable("carbon-recovery"), ["backup", "create", name, "--include-namespaces", "registry"], environment: cli)
        #expect(unauthenticated.status != 0, "\(unauthenticated.standardOutput)\(unauthenticated.standardError)")

        cli["CARBON_RECOVERY_KUBECONFIG"] = sandbox.kubeconfig
        let query = try await run(try executable("carbon-recovery"), ["audit", "query", "--outcome", "denied", "--output", "json"], environment: cli)
        #expect(query.status == 0, "\(query.standardError)")
        let entries = try JSONValue(parsing: Array(query.standardOutput.utf8))["entries"]?.arrayValue ?? []
        #expect(entries.count == 2, "\(query.standardOutput)")
        #expect(entries.allSatisfy { $0["operation"]?.stringValue == "backup.create" && $0["v"] == .integer(2) })
        let forbidden = try #require(try entries.first.flatMap(denial))
        #expect(forbidden["identity"]?.stringValue == "dr-viewer", "the API server's name for the user: \(forbidden)")
        #expect(forbidden["refused"]?.stringValue == "create backups.velero.io in namespace velero", "\(forbidden)")
        #expect(forbidden["status"] == .integer(403) && forbidden["unauthenticated"] == .bool(false) && forbidden["source"]?.stringValue == "kubernetes")
        let unknown = try #require(try entries.last.flatMap(denial))
        #expect(unknown["status"] == .integer(401) && unknown["unauthenticated"] == .bool(true), "\(unknown)")
        #expect(unknown["identity"]?.stringValue?.isEmpty == false, "the kubeconfig's identity stands in for the one the server did not name: \(unknown)")

        // Nothing was created; neither token is anywhere in the trail.
        #expect(try await sandboxClient().get(try ObjectReference(kind: .veleroBackup, namespace: "velero", name: name)) == nil)
        let export = try await run(try executable("carbon-recovery"), ["audit", "export", "--output", "json"], environment: cli)
        #expect(export.standardOutput.contains(name), "the export covers these entries")
        for token in [issued, forged] {
            #expect(!export.standardOutput.contains(token) && !refused.standardError.contains(token) && !unauthenticated.standardError.contains(token))
        }
    }

    @Test("a wrong secret key and an unknown access key at the S3 server: denied outcomes naming the key id, never the secret")
    func storageRefusals() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let trail = try await SQLiteAuditTrail(path: scratch.file("audit.db"))
        let audit = OperationAudit(audit: trail, actor: AuditActor(user: "ops"))
        let real = try S3Credentials(credentialsFile: try String(contentsOfFile: sandbox.credentialsFile, encoding: .utf8), profile: "default", source: "sandbox")
        let wrongSecret = "wrong-" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let cases = [
            (S3Credentials(accessKeyID: real.accessKeyID, secretAccessKey: wrongSecret), RecoveryError.Code.unauthorized),
            (S3Credentials(accessKeyID: "CARBONNOBODY" + UUID().uuidString.prefix(8).uppercased(), secretAccessKey: wrongSecret), .unauthorized),
        ]
        for (credentials, code) in cases {
            let storage = try sandboxStorage(credentials: .fixed(credentials))
            let error = await expectCode(code) {
                try await audit.perform("storage.check", target: "s3://\(sandbox.bucket)", parameters: [:]) { _, _ in
                    try await storage.checkAccess()
                    return ((), [:])
                }
            }
            #expect(error?.denial?.source == .storage && error?.denial?.identity?.hasPrefix("access key \(credentials.accessKeyID.prefix(4))…") == true, "\(String(describing: error?.denial))")
        }
        let denied = try await trail.entries(matching: AuditQuery(outcome: .denied)).entries
        #expect(denied.count == 2)
        for entry in denied {
            let recorded = try #require(try JSONValue(parsing: Array(entry.parameters.utf8))["denied"])
            #expect(recorded["source"]?.stringValue == "storage" && recorded["unauthenticated"] == .bool(true))
            #expect(recorded["refused"]?.stringValue?.contains(sandbox.bucket) == true, "\(recorded)")
        }
        let everything = try await trail.entries(matching: AuditQuery(limit: 1_000)).entries.map(\.jsonLine).joined()
        #expect(!everything.contains(wrongSecret) && !everything.contains(real.secretAccessKey), "no secret in the trail")
        #expect(!everything.contains(cases[1].0.accessKeyID), "key ids only shortened")
        #expect(try await trail.verify().isValid)
    }

    @Test("the API server's audit log: a Restore created with kubectl by dr-operator, the secret read by admin, a forged token — external operations with who did it; a second ingest adds nothing")
    func apiserverAuditLog() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let name = "by-hand-\(UUID().uuidString.prefix(8).lowercased())"
        var restore = KubernetesObject(kind: .veleroRestore, namespace: "velero", name: name)
        restore.json["spec"] = ["backupName": .string("no-such-backup-\(name)")]
        _ = try await sandboxClient(kubeconfig: sandbox.operatorKubeconfig).create(restore, fieldManager: "kubectl-create")
        _ = try await sandboxClient().get(try ObjectReference(kind: .secret, namespace: "velero", name: "cloud-credentials"))
        // A create with a token the API server never issued, straight at the Restore endpoint (kubectl
        // would stop at its discovery, a path the policy does not log). The header from a file, not argv.
        let kubeconfig = try String(contentsOfFile: sandbox.drViewerKubeconfig, encoding: .utf8)
        func member(_ key: String) throws -> String {
            try #require(kubeconfig.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(key + ":") })
                .split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
        }
        let issued = try member("token"), server = try member("server")
        try "Authorization: Bearer forged\(UUID().uuidString.prefix(8))\nContent-Type: application/json\n".write(toFile: scratch.file("forged-headers"), atomically: true, encoding: .utf8)
        let forged = try await run("/usr/bin/curl", [
            "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", sandbox.directory + "/pki/apiserver.crt", "-H", "@" + scratch.file("forged-headers"),
            "-X", "POST", "--data", #"{"apiVersion":"velero.io/v1","kind":"Restore","metadata":{"name":"forged"},"spec":{"backupName":"x"}}"#,
            "\(server)/apis/velero.io/v1/namespaces/velero/restores",
        ])
        #expect(forged.standardOutput == "401", "\(forged.standardOutput) \(forged.standardError)")

        let cli = ["XDG_STATE_HOME": scratch.file("state"), "CARBON_RECOVERY_AUDIT_DB": scratch.file("audit.db")]
        // The API server writes each event as it answers; wait until the last one is there.
        _ = try await eventually(within: .seconds(30), "the API server's audit log to hold the forged create") {
            let log = (try? String(contentsOfFile: sandbox.apiserverAuditLog, encoding: .utf8)) ?? ""
            return log.contains("\"code\":401") && log.contains(name) ? true : nil
        }
        let ingest = try await run(try executable("carbon-recovery"), ["audit", "ingest", "--apiserver-log", sandbox.apiserverAuditLog, "--output", "json"], environment: cli)
        #expect(ingest.status == 0, "\(ingest.standardOutput)\(ingest.standardError)")
        let first = try JSONValue(parsing: Array(ingest.standardOutput.utf8))
        #expect((first["ingested"]?.integerValue ?? 0) >= 3 && (first["denied"]?.integerValue ?? 0) >= 1, "\(first)")

        let query = try await run(try executable("carbon-recovery"), ["audit", "query", "--kind", "attempt", "--limit", "10000", "--output", "json"], environment: cli)
        let attempts = try JSONValue(parsing: Array(query.standardOutput.utf8))["entries"]?.arrayValue ?? []
        func external(_ entry: JSONValue) -> JSONValue? {
            entry["parameters"]?.stringValue.flatMap { try? JSONValue(parsing: Array($0.utf8)) }?["external"]
        }
        let created = attempts.first { $0["operation"]?.stringValue == "external.create" && $0["target"]?.stringValue == "velero/restores.velero.io/\(name)" }
        #expect(created.flatMap(external)?["user"]?.stringValue == "dr-operator", "who created the Restore by hand: \(String(describing: created))")
        #expect(created.flatMap(external)?["groups"]?.arrayValue?.contains("platform-dr-operators") == true)
        let read = attempts.filter { $0["operation"]?.stringValue == "external.get" && $0["target"]?.stringValue == "velero/secrets/cloud-credentials" }
        #expect(read.contains { external($0)?["user"]?.stringValue == "admin" }, "who read the credentials secret")
        #expect(!attempts.contains { $0["operation"]?.stringValue == "external.get" && external($0)?["user"]?.stringValue == "system:serviceaccount:velero:velero" },
                "Velero's own reads are not logged by the policy")

        let denied = try await run(try executable("carbon-recovery"), ["audit", "query", "--outcome", "denied", "--operation", "external.create", "--output", "json"], environment: cli)
        let refusals = try JSONValue(parsing: Array(denied.standardOutput.utf8))["entries"]?.arrayValue ?? []
        #expect(refusals.contains { ($0["parameters"]?.stringValue ?? "").contains("\"status\":401") && $0["target"]?.stringValue == "velero/restores.velero.io" }, "\(denied.standardOutput)")

        let again = try await run(try executable("carbon-recovery"), ["audit", "ingest", "--apiserver-log", sandbox.apiserverAuditLog, "--output", "json"], environment: cli)
        let second = try JSONValue(parsing: Array(again.standardOutput.utf8))
        #expect((second["alreadyRecorded"]?.integerValue ?? 0) >= (first["ingested"]?.integerValue ?? 0), "nothing twice: \(second)")
        let verify = try await run(try executable("carbon-recovery"), ["audit", "verify"], environment: cli)
        #expect(verify.status == 0, "\(verify.standardOutput)")
        let export = try await run(try executable("carbon-recovery"), ["audit", "export", "--output", "json"], environment: cli)
        #expect(!export.standardOutput.contains(issued), "no token in the trail")

        // Bad input: a log that is not one, a file that does not exist — exit 1, nothing added.
        let stats = { () async throws -> String in try await run(try executable("carbon-recovery"), ["audit", "verify", "--output", "json"], environment: cli).standardOutput }
        let headBefore = try JSONValue(parsing: Array(try await stats().utf8))["headSequence"]
        try "not an audit event\n".write(toFile: scratch.file("bad.log"), atomically: true, encoding: .utf8)
        for (file, message) in [(scratch.file("bad.log"), "line 1 of the API server's audit log is not an audit event"), (scratch.file("missing.log"), "does not exist")] {
            let bad = try await run(try executable("carbon-recovery"), ["audit", "ingest", "--apiserver-log", file], environment: cli)
            #expect(bad.status == 1 && bad.standardError.contains(message), "\(bad.standardError)")
        }
        let headAfter = try JSONValue(parsing: Array(try await stats().utf8))["headSequence"]
        #expect(headBefore != nil && headAfter == headBefore, "nothing was added: \(String(describing: headBefore)) → \(String(describing: headAfter))")
    }
}
