// `carbon-recovery policy lint` as a real process, on the guide's example and on files of our own.
import CarbonRecovery
import Foundation
import Testing
import TestSupport

@Suite("carbon-recovery policy lint")
struct PolicyCLITests {
    let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Examples/254carbon.yaml").path

    @Test("the guide's example: its 6 h vs 15 min contradiction, with line numbers, exit 1")
    func guideExample() async throws {
        let result = try await run(try executable("carbon-recovery"), ["policy", "lint", example])
        #expect(result.status == 1)
        #expect(result.standardOutput.contains("254carbon.yaml:49:10: error [schedule-slower-than-rpo] objectives[0].rpo"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("'critical-backup' (0 */6 * * *) leave gaps of up to 6h"))
        #expect(result.standardOutput.contains("fix: back up 'data-platform' at least every 15m0s"))
        #expect(result.standardOutput.contains("warning [cluster-resources-not-backed-up] schedules"), "the guide backs up no cluster-scoped resource")
        #expect(result.standardOutput.contains("warning [velero-access-not-limited] access"), "the guide binds cluster-admin to Velero")
        #expect(result.standardOutput.contains("warning [storage-not-encrypted] storage.encryption"), "the guide's backups lie unencrypted")
        #expect(result.standardOutput.contains("warning [storage-plain-http] storage.endpoint"), "the guide's MinIO is plain HTTP")
        #expect(result.standardOutput.hasSuffix("3 schedules, 1 objectives, 2 drills: 3 errors, 7 warnings\n"))

        let json = try await run(try executable("carbon-recovery"), ["policy", "lint", example, "--output", "json"])
        let report = try JSONValue(parsing: Array(json.standardOutput.utf8))
        #expect(json.status == 1 && report["errors"] == 3 && report["warnings"] == 7)
        #expect(report["findings"]?.arrayValue?.first?["rule"] == "schedule-slower-than-rpo" && report["findings"]?.arrayValue?.first?["line"] == 49)
    }

    @Test("a policy that holds together: exit 0, nothing but the summary")
    func clean() async throws {
        let directory = try TemporaryDirectory()
        let file = directory.file("carbon-recovery.yaml")
        try """
            storage:
              endpoint: https://minio.storage.svc:9000
              bucket: 254carbon-backups
              credentials: {environment: {accessKeyID: VELERO_S3_ACCESS_KEY, secretAccessKey: VELERO_S3_SECRET_KEY}}
              encryption: {type: SSE-S3}
            schedules:
              - {name: critical-backup, cron: "*/15 * * * *", namespaces: [data-platform, vault-prod], ttl: 168h0m0s}
              - {name: weekly-full, cron: "3 3 * * 0", includeClusterResources: true, ttl: 2160h0m0s}
            recovery: {clusterResourcesSchedule: weekly-full}
            objectives:
              - {class: critical, namespaces: [data-platform, vault-prod], rto: 1h0m0s, rpo: 15m0s}
            alerts: {slowBackup: 10m0s}
            access: {operators: [platform-dr-operators]}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try await run(try executable("carbon-recovery"), ["policy", "lint", file])
        #expect(result.status == 0, "\(result.standardOutput)\(result.standardError)")
        #expect(result.standardOutput == "\(file): 2 schedules, 1 objectives, 0 drills: 0 errors, 0 warnings\n")
    }

    @Test("a file that does not read: one clear error naming the place, exit 1", arguments: [
        ("storage:\n  endpoint: http://minio:9000\n  bucket: b\n  credentials: {environment: {accessKeyID: A, secretAccessKey: B}}\nschedules:\n  - {name: a, cron: '61 * * * *'}\n",
         ":6:21: schedules[0].cron: "),
        ("storage: [unclosed\n", "not valid YAML"),
    ])
    func badFile(text: String, message: String) async throws {
        let directory = try TemporaryDirectory()
        let file = directory.file("bad.yaml")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try await run(try executable("carbon-recovery"), ["policy", "lint", file])
        #expect(result.status == 1)
        #expect(result.standardError.hasPrefix("error: \(file)") && result.standardError.contains(message), "\(result.standardError)")
        #expect(result.standardOutput.isEmpty)
    }

    @Test("a missing file: not found, exit 1")
    func missing() async throws {
        let result = try await run(try executable("carbon-recovery"), ["policy", "lint", "/nonexistent/policy.yaml"])
        #expect(result.status == 1 && result.standardError.contains("/nonexistent/policy.yaml does not exist"), "\(result.standardError)")
    }
}
