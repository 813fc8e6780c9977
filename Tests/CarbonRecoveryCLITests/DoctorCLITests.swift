// `carbon-recovery doctor` as a real process against the sandbox.
import CarbonRecovery
import Foundation
import Testing
import TestSupport

@Suite("carbon-recovery doctor on the sandbox", .timeLimit(.minutes(8)))
struct DoctorCLITests {
    @Test("every check passes on the sandbox, whose Velero deployment is the stand-in, but storage encryption, which warns")
    func onSandbox() async throws {
        let sandbox = try Sandbox.current()
        // The sandbox's access policy names its operator group, so nobody unexpected may restore.
        let accessPolicy = sandbox.repositoryRoot + "/scripts/sandbox-seed/access-policy.yaml"
        // A signing key kept right (its own folder, 0600), so that this check passes too.
        let keys = try TemporaryDirectory()
        let key = keys.file("audit-signing.key")
        #expect(try await run(try executable("carbon-recovery"), ["audit", "keygen", "--signing-key", key]).status == 0)
        let trail = try TemporaryDirectory().file("audit.db")
        let result = try await run(try executable("carbon-recovery"), ["doctor", "--signing-key", key, "--audit-db", trail, "--config", accessPolicy])
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        for title in [
            "Kubernetes API server reachable", "Namespace velero exists", "Velero CRDs installed", "Velero deployment present",
            "Backup storage locations", "Storage endpoint reachable", "Credentials and bucket", "Clock agrees with the storage server",
            "Audit checkpoint signing key", "Velero's account is not cluster-admin", "Who can create Restores or DownloadRequests",
        ] {
            #expect(lines.contains { $0.hasPrefix("PASS") && $0.contains(title) }, "\(title): \(result.standardOutput)")
        }
        #expect(lines.contains { $0.contains("Velero deployment present") && $0.contains("stand-in") && $0.contains("not Velero") })
        #expect(lines.contains { $0.contains("Backup storage locations") && $0.contains("default → 254carbon-backups: Available") })

        let json = try await run(try executable("carbon-recovery"), ["doctor", "--output", "json", "--signing-key", key, "--audit-db", trail, "--config", accessPolicy])
        let checks = try JSONValue(parsing: Array(json.standardOutput.utf8)).arrayValue ?? []
        #expect(checks.count == 12)
        // The sandbox's default location is plain HTTP without server-side encryption: no S3
        // server here both checks signatures and reports SSE (docs/security.md).
        #expect(checks.allSatisfy { $0["status"] == "pass" || $0["id"] == "velero.storage-encryption" }, "\(json.standardOutput)")
        let encryption = checks.first { $0["id"] == "velero.storage-encryption" }
        #expect(encryption?["status"] == "warn" && encryption?["detail"]?.stringValue?.contains("default asks for no server-side encryption") == true)
    }

    @Test("with the storage location's bucket missing from the server, doctor fails and says what to do")
    func failingCheck() async throws {
        let sandbox = try Sandbox.current()
        let result = try await run(try executable("carbon-recovery"), ["doctor", "--bucket", "no-such-bucket-doctor"], environment: ["AWS_SHARED_CREDENTIALS_FILE": sandbox.credentialsFile])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("FAIL    Credentials and bucket"))
        #expect(result.standardOutput.contains("FIX Credentials and bucket: create the bucket"))
    }

    @Test("wrong storage credentials and an RBAC-less user: failures with fixes, and the secret is never printed")
    func wrongCredentials() async throws {
        let sandbox = try Sandbox.current()
        let scratch = try TemporaryDirectory()
        let secret = "doctor-test-secret-8c1f0e2d9b7a"
        try "[default]\naws_access_key_id = CARBONWRONGKEY\naws_secret_access_key = \(secret)\n".write(toFile: scratch.file("credentials"), atomically: true, encoding: .utf8)
        let result = try await run(try executable("carbon-recovery"), [
            "doctor", "--credentials-file", scratch.file("credentials"), "--kubeconfig", sandbox.viewerKubeconfig,
        ])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("does not know access key"))
        #expect(result.standardOutput.contains("FIX Credentials and bucket"))
        #expect(result.standardOutput.contains("forbidden"))
        #expect(!(result.standardOutput + result.standardError).contains(secret))
        let token = try String(contentsOfFile: sandbox.directory + "/viewer.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!(result.standardOutput + result.standardError).contains(token))
    }

    @Test("bad settings are one clear error and exit 1", arguments: [
        ["doctor", "--kubeconfig", "/nonexistent/kubeconfig"], ["doctor", "--s3-endpoint", "ftp://127.0.0.1:1"], ["doctor", "--bucket", "Not_A_Bucket"],
        ["doctor", "--context", "--kubeconfig=/x"],
    ])
    func badSettings(arguments: [String]) async throws {
        _ = try Sandbox.current()
        let result = try await run(try executable("carbon-recovery"), arguments)
        #expect(result.status != 0)
        #expect(!result.standardError.isEmpty)
        #expect(result.standardOutput.isEmpty)
    }
}
