import ArgumentParser
import CarbonRecovery
import CarbonRecoveryPolicy
import Foundation

struct RecoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Rebuild a lost cluster's platform on a new one from its backups (audited).",
        subcommands: [Cluster.self])

    struct Cluster: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cluster",
            abstract: "Full cluster loss: preflight, restore cluster resources and then each namespace class, verify, measure.",
            discussion: """
                Run it against the NEW cluster (--kubeconfig/--context), whose Velero reads the old cluster's storage \
                location in ReadOnly mode and has synced its backups. It chooses the cluster resources' backup (the \
                policy's recovery.clusterResourcesSchedule) and, per namespace, the newest Completed, validated backup \
                that holds it (validating a never-validated candidate first); checks the target (Kubernetes version, \
                API versions or CRDs, storage classes, free namespaces, read-only location) and stops on any error, \
                with the fix; restores cluster resources first, then namespaces by objective (tightest RTO first); \
                verifies every restored object against its backup; and prints each phase's time against its RTO. \
                --plan stops after the preflight and changes nothing. Exit status 1 when refused or not passed. \
                See docs/full-cluster-recovery.md.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("name"), help: "The recovery's name; its restores are <name>-cluster, <name>-1, … (default: recovery-<UTC yyyyMMddHHmmss>).")
        var name: String?
        @Flag(name: .customLong("plan"), help: "Choose the recovery points and run the preflight only; change nothing.") var plan = false
        @Option(name: .customLong("include-namespaces"), help: "Recover only these namespaces (comma-separated; default: every namespace of the cluster resources' backup).")
        var includeNamespaces: [String] = []
        @Option(
            name: .customLong("exclude-namespaces"),
            help: "Never recover these (default: kube-system, kube-public, kube-node-lease and Velero's namespace: the new cluster's own).")
        var excludeNamespaces: [String] = []
        @Option(name: .customLong("cluster-schedule"), help: "The schedule whose backups hold the cluster resources (default: the policy's recovery.clusterResourcesSchedule).")
        var clusterSchedule: String?
        @Option(name: .customLong("cluster-backup"), help: "Restore the cluster resources from this backup instead.") var clusterBackup: String?
        @Option(name: .customLong("max-data-loss"), help: "Refuse a part whose newest good backup completed longer ago, e.g. 24h (default: the policy's recovery.maximumDataLoss).")
        var maxDataLoss: String?
        @Option(name: .customLong("rto"), help: "The whole recovery's objective, e.g. 1h, besides each class's.") var rto: String?
        @Option(name: .customLong("namespace-mappings"), help: "Recover namespace a as b: a:b,c:d.") var namespaceMappings: [String] = []
        @Option(name: .customLong("storage-class-mappings"), help: "Rename storage class a to b on restore: a:b (Velero's change-storage-class ConfigMap).")
        var storageClassMappings: [String] = []
        @Flag(name: .customLong("no-validate"), help: "Only backups already validated count; never validate a candidate first.") var noValidate = false
        @Option(name: .customLong("restore-timeout"), help: "How long each restore may take, e.g. 1h (default 1h).") var restoreTimeout: String = "1h"
        @OptionGroup var notify: NotifyOptions

        func run() async throws {
            try await runReportingErrors {
                let policy = try notify.path.map { try PolicyFile.load(path: $0).policy }
                let stamp = String(RFC3339.format(Date()).prefix(19)).filter(\.isNumber)
                var request = ClusterRecoveryRequest(name: name ?? "recovery-\(stamp)")
                request.namespaces = commaList(includeNamespaces)
                request.excludedNamespaces = Array(Set(ClusterRecoveryRequest.defaultExcludedNamespaces + [connection.veleroNamespace] + commaList(excludeNamespaces))).sorted()
                request.clusterSchedule = clusterSchedule ?? policy?.recovery.clusterResourcesSchedule
                request.clusterBackup = clusterBackup
                request.objectives = policy?.objectives ?? []
                if let loss = try maxDataLoss.map({ try GoDuration(parsing: $0) }) ?? policy?.recovery.maximumDataLoss {
                    request.maximumDataLoss = .nanoseconds(loss.nanoseconds)
                }
                if let rto { request.recoveryTimeObjective = .nanoseconds(try GoDuration(parsing: rto).nanoseconds) }
                request.restoreTimeout = .nanoseconds(try GoDuration(parsing: restoreTimeout).nanoseconds)
                request.namespaceMappings = try pairs(namespaceMappings, option: "--namespace-mappings")
                request.storageClassMappings = try pairs(storageClassMappings, option: "--storage-class-mappings")
                request.planOnly = plan
                request.validatesCandidates = !noValidate
                try request.validate()

                let context = try await OperationContext(global: global, connection: connection, notify: notify, policy: policy)
                let line = ProgressLine()
                let recoveryName = request.name
                let report = try await context.notifying {
                    try await line.around {
                        try await context.coordinator.recoverCluster(request) { event in
                            switch event {
                            case .step(let text): line.step("recovery \(recoveryName)", text)
                            case .restore(let phase, let status): line.update("\(phase): restore \(status.name)", phase: status.phase.rawValue, progress: status.progress)
                            }
                        }
                    }
                }
                if global.output == .json {
                    printJSON(report.auditDetails)
                } else {
                    Self.print(report)
                }
                if !report.passed { throw ExitCode.failure }
            }
        }

        func pairs(_ values: [String], option: String) throws -> [String: String] {
            var mappings: [String: String] = [:]
            for pair in commaList(values) {
                let parts = pair.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    throw RecoveryError.invalidInput("\(option) wants old:new pairs, not '\(pair)'")
                }
                guard mappings[parts[0]] == nil else { throw RecoveryError.invalidInput("\(option) maps '\(parts[0])' twice") }
                mappings[parts[0]] = parts[1]
            }
            return mappings
        }

        static func print(_ report: ClusterRecoveryReport) {
            Swift.print("Recovery \(report.name)\(report.planOnly ? " (plan only: nothing changed)" : ""):")
            Swift.print("  Recovery points:")
            Terminal.printTable(
                ["    PART", "BACKUP", "DATA LOSS", "RPO", ""],
                report.points.map { point in
                    let rpo = point.objective.map { "\($0.rpo) (\($0.namespaceClass))" } ?? "-"
                    let met = point.meetsRPO.map { $0 ? "met" : "BREACHED" } ?? ""
                    return ["    \(point.scope)", point.backup?.name ?? "(none)", point.dataLoss.map { RecoveryPreflight.describe($0) } ?? "-", rpo, met]
                })
            if report.findings.isEmpty {
                Swift.print("  Preflight: no problem found.")
            } else {
                Swift.print("  Preflight:")
                for finding in report.findings {
                    Swift.print("    \(finding.severity == .error ? "ERROR" : "warning") [\(finding.check.rawValue)] \(finding.message)")
                    Swift.print("      fix: \(finding.fix)")
                }
            }
            Swift.print("  preflight took \(RestoreTestReport.seconds(report.preflightTime)) s")
            if !report.phases.isEmpty {
                Swift.print("  Restores:")
                Terminal.printTable(
                    ["    PHASE", "RESTORE", "BACKUP", "RESULT", "TOOK", "BACK AFTER", "RTO"],
                    report.phases.map { phase in
                        let rto = phase.objective.map { "\($0.rto) \(phase.objectiveMet == true ? "met" : "BREACHED")" } ?? "-"
                        return [
                            "    \(phase.name)" + (phase.namespaces.isEmpty ? "" : " (\(phase.namespaces.count) ns)"), phase.restore.name, phase.backup,
                            "\(phase.restore.phase), \(phase.restore.warnings) warnings", "\(RestoreTestReport.seconds(phase.duration)) s",
                            "\(RestoreTestReport.seconds(phase.recoveredAfter)) s", rto,
                        ]
                    })
            }
            if let verification = report.verification {
                Swift.print("  Verification: \(verification.matched) of \(verification.expected) objects equal to their backup, \(verification.missing.count) missing, \(verification.different.count) different, \(verification.keptAsFound.count) left as found on the target (took \(RestoreTestReport.seconds(report.verificationTime)) s)")
                for item in verification.missing.prefix(20) { Swift.print("    missing: \(item)") }
                for difference in verification.different.prefix(20) { Swift.print("    different: \(difference)") }
                for item in verification.keptAsFound.prefix(10) { Swift.print("    left as found (it existed on the target before): \(item)") }
            }
            if !report.planOnly && !report.refused {
                let objective = report.recoveryTimeObjective.map { " (objective \(RestoreTestReport.seconds($0)) s: \(report.objectiveMet == true ? "met" : "BREACHED"))" } ?? ""
                Swift.print("  RTO measured: \(RestoreTestReport.seconds(report.totalTime)) s\(objective)")
            }
            if report.passed {
                Swift.print(report.planOnly ? "Plan OK: run it again without --plan to recover." : "Recovery PASSED.")
            } else {
                if report.refused {
                    let errors = report.findings.filter { $0.severity == .error }.count
                    Swift.print("Recovery REFUSED by the preflight: \(errors) error(s) above, each with its fix; nothing was changed.")
                } else {
                    Swift.print("Recovery FAILED: " + report.problems.joined(separator: "; "))
                }
            }
        }
    }
}
