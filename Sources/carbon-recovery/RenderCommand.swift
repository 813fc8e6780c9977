import ArgumentParser
import CarbonRecovery
import CarbonRecoveryPolicy
import Foundation

/// `carbon-recovery render manifests` — the guide's Kubernetes files from the policy;
/// `carbon-recovery render alerts` — Prometheus alert rules from its thresholds and objectives.
struct RenderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Write files derived from a recovery policy.",
        subcommands: [Manifests.self, Alerts.self])

    struct Manifests: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "manifests",
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
                try writeRendered(files.map { ($0.path, $0.contents, $0.objects.map { "\($0.kind ?? "?") \($0.name ?? "?")" }.joined(separator: ", ")) }, to: outputDirectory)
            }
        }
    }

    struct Alerts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "alerts",
            abstract: "Write Prometheus alert rules: prometheus/carbon-recovery-alerts.rules.yaml and k8s/monitoring/carbon-recovery-alerts.yaml.",
            discussion: """
                The first is a plain rules file (check it with `promtool check rules`); the second holds the same groups as a \
                Prometheus Operator PrometheusRule. Backup failures count within alerts.failureWindow, slow backups are the \
                histogram's mean above alerts.slowBackup, and each objective's namespaces alert when their last good backup is \
                older than the RPO (or alerts.staleAfter). See docs/alerts.md. Everything is rendered before anything is written.
                """)
        @Option(name: .customLong("config"), help: "The policy file.") var config: String
        @Option(name: .customLong("output-dir"), help: "Where to write (prometheus/ and k8s/monitoring/ are created below it).")
        var outputDirectory: String
        @Option(name: .customLong("namespace"), help: "The PrometheusRule's namespace.") var namespace: String = "velero"

        func run() async throws {
            try await runReportingErrors {
                try KubernetesName.validateLabel(namespace, what: "PrometheusRule namespace")
                let document = try PolicyFile.load(path: config)
                let files = try AlertRulesRenderer(policy: document.policy, namespace: namespace).render()
                try writeRendered(files.map { ($0.path, $0.contents, "\($0.rules.count) rules") }, to: outputDirectory)
            }
        }
    }
}

/// Writes rendered files below `directory` (creating folders), one `wrote PATH (SUMMARY)` line
/// each. Callers render everything first, so a policy that does not render writes nothing.
///
/// - Throws: ``RecoveryError/Code/invalidInput`` when `directory` is a file.
func writeRendered(_ files: [(path: String, contents: String, summary: String)], to directory: String) throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
        throw RecoveryError.invalidInput("--output-dir \(directory) is a file, not a folder")
    }
    for file in files {
        let url = URL(fileURLWithPath: directory).appendingPathComponent(file.path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try file.contents.write(to: url, atomically: true, encoding: .utf8)
        print("wrote \(url.path) (\(file.summary))")
    }
}
