import ArgumentParser
import CarbonRecovery
import CarbonRecoveryPolicy
import Foundation

/// `carbon-recovery render manifests` — the guide's Kubernetes files from the policy.
struct RenderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Write files derived from a recovery policy.",
        subcommands: [Manifests.self])

    struct Manifests: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the guide's Velero files: k8s/storage/velero-backup-config.yaml and velero-restore-{full,namespace,app,test}.yaml.",
            discussion: """
                The backup config holds the BackupStorageLocation (naming the credentials secret, never its content) and \
                one Schedule per policy schedule; the test restore maps every namespace to <namespace>-restore-test. \
                Everything is rendered before anything is written: a policy that does not read writes nothing.
                """)
        @Option(name: .customLong("config"), help: "The policy file.") var config: String
        @Option(name: .customLong("output-dir"), help: "Where to write (k8s/storage/ is created below it).") var outputDirectory: String
        @Option(name: .customLong("velero-namespace"), help: "Velero's namespace.") var veleroNamespace: String = "velero"

        func run() async throws {
            try await runReportingErrors {
                try KubernetesName.validateLabel(veleroNamespace, what: "Velero namespace")
                let document = try PolicyFile.load(path: config)
                let files = try ManifestRenderer(policy: document.policy, namespace: veleroNamespace).render()
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: outputDirectory, isDirectory: &isDirectory), !isDirectory.boolValue {
                    throw RecoveryError.invalidInput("--output-dir \(outputDirectory) is a file, not a folder")
                }
                for file in files {
                    let url = URL(fileURLWithPath: outputDirectory).appendingPathComponent(file.path)
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try file.contents.write(to: url, atomically: true, encoding: .utf8)
                    print("wrote \(url.path) (\(file.objects.map { "\($0.kind ?? "?") \($0.name ?? "?")" }.joined(separator: ", ")))")
                }
            }
        }
    }
}
