// The manifests rendered from the guide's policy, as a real process, then offered to the
// sandbox's kube-apiserver (Velero's real CRDs) with a server-side dry run (forcing past the
// sandbox's own `default` location, which the stand-in manages): accepted, nothing changed.
import CarbonRecovery
import Foundation
import Testing
import TestSupport

@Suite("Rendered manifests on the sandbox")
struct RenderedManifestsTests {
    @Test("render manifests writes the guide's five files, and the apiserver accepts every object in them")
    func acceptedByTheAPIServer() async throws {
        let sandbox = try Sandbox.current()
        let directory = try TemporaryDirectory()
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Examples/254carbon.yaml").path
        let rendered = try await run(try executable("carbon-recovery"), ["render", "manifests", "--config", example, "--output-dir", directory.path])
        #expect(rendered.status == 0, "\(rendered.standardError)")
        let files = ["velero-backup-config", "velero-restore-full", "velero-restore-namespace", "velero-restore-app", "velero-restore-test"]
            .map { "\(directory.path)/k8s/storage/\($0).yaml" }
        for file in files {
            #expect(FileManager.default.fileExists(atPath: file), "\(file)")
            let dryRun = try await run("/usr/bin/env", [
                "kubectl", "--kubeconfig", sandbox.kubeconfig, "--cache-dir", sandbox.kubectlCacheDirectory,
                "apply", "--server-side", "--dry-run=server", "--force-conflicts", "--field-manager=carbon-recovery-tests", "-f", file, "-o", "name",
            ])
            #expect(dryRun.status == 0, "\(file): \(dryRun.standardError)")
            #expect(!dryRun.standardOutput.isEmpty)
        }
        let config = try String(contentsOfFile: files[0], encoding: .utf8)
        #expect(config.contains("name: cloud-credentials") && !config.contains("VELERO_S3_SECRET_KEY"), "a reference to the secret, never its content")
        let test = try String(contentsOfFile: files[4], encoding: .utf8)
        #expect(test.contains("data-platform: data-platform-restore-test") && test.contains("scheduleName: daily-backup"))

        let bad = try await run(try executable("carbon-recovery"), ["render", "manifests", "--config", "/nonexistent.yaml", "--output-dir", directory.path + "/other"])
        #expect(bad.status == 1 && !FileManager.default.fileExists(atPath: directory.path + "/other"), "nothing written")
    }
}
