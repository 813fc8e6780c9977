import ArgumentParser
import CarbonRecovery
import CarbonRecoveryPolicy
import CarbonRecoveryVelero
import Foundation
import Logging

/// `carbon-recovery deploy --config FILE` — the guide's deploy script as an idempotent reconcile.
struct DeployCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Make the cluster match the policy: Velero's namespace, credentials secret, storage location and schedules (audited).",
        discussion: """
            Shows the plan first (create / update / unchanged / delete-orphaned), applies it with server-side apply, then \
            waits for the storage location to be Available and every schedule Enabled. A second run changes nothing. \
            Environment credentials are read from the variables the policy names (the guide: VELERO_S3_ACCESS_KEY, \
            VELERO_S3_SECRET_KEY) and never printed. --dry-run shows the plan only.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("config"), help: "The policy file.") var config: String
    @Flag(name: .customLong("dry-run"), help: "Show the plan; change nothing.") var dryRun = false
    @Flag(name: .customLong("allow-lint-errors"), help: "Deploy a policy that `policy lint` finds errors in (for example schedules that cannot meet its own RPO).")
    var allowLintErrors = false
    @Option(name: .customLong("wait-timeout"), help: "How long to wait for Available/Enabled, e.g. 2m0s.") var waitTimeout: String = "2m0s"

    func run() async throws {
        try await runReportingErrors {
            let timeout = try GoDuration(parsing: waitTimeout)
            guard timeout.nanoseconds > 0 else { throw RecoveryError.invalidInput("--wait-timeout must be positive, not \(waitTimeout)") }
            let document = try PolicyFile.load(path: config)
            let errors = document.lint().filter { $0.severity == .error }
            if !errors.isEmpty {
                // A policy that contradicts itself (schedules that cannot meet its own RPO, …) is
                // not deployed by accident; the operator who means it says so.
                guard allowLintErrors || dryRun else {
                    throw RecoveryError.invalidInput("""
                        policy lint finds \(errors.count) error\(errors.count == 1 ? "" : "s") in \(config), so nothing was deployed:
                        \(errors.map { "  - \($0)" }.joined(separator: "\n"))
                        See `carbon-recovery policy lint \(config)`; fix the policy, or pass --allow-lint-errors to deploy it as written.
                        """)
                }
                FileHandle.standardError.write(Data("note: policy lint finds \(errors.count) errors in \(config); \(dryRun ? "the plan is shown, but deploying needs --allow-lint-errors" : "deploying it as written (--allow-lint-errors)")\n".utf8))
            }
            let cluster = try connection.clusterClient()
            let deployment = VeleroDeployment(cluster: cluster, namespace: connection.veleroNamespace)
            let plan = try await deployment.plan(document.policy)
            let changes = plan.filter { $0.action != .unchanged && $0.action != .skipped }
            if global.output == .json {
                if dryRun { printJSON(.array(plan.map { Self.json($0) })); return }
            } else {
                Terminal.printTable(["ACTION", "KIND", "NAME", "DIFFERENCES"], plan.map {
                    [$0.action.rawValue, $0.object.kind ?? "?", "\($0.object.namespace.map { "\($0)/" } ?? "")\($0.object.name ?? "?")", $0.differences.isEmpty ? "-" : $0.differences.joined(separator: ", ")]
                })
                if dryRun { print("Dry run: nothing changed."); return }
            }
            let audited = OperationAudit(
                audit: try await openTrail(global, readOnly: false, policy: document.policy), cluster: cluster,
                logger: Logger(label: "carbon-recovery", factory: { _ in SwiftLogNoOpLogHandler() }))
            let summary: JSONValue = .object(Dictionary(grouping: plan, by: \.action.rawValue).mapValues { .integer(Int64($0.count)) })
            _ = try await audited.perform("deploy.apply", target: "velero/\(connection.veleroNamespace)", parameters: ["config": .string(config), "plan": summary]) { _, _ in
                for change in changes {
                    let target = "\(change.object.kind ?? "?")/\(change.object.namespace.map { "\($0)/" } ?? "")\(change.object.name ?? "?")"
                    _ = try await audited.perform(
                        "deploy.change", target: target,
                        parameters: ["action": .string(change.action.rawValue), "differences": .array(change.differences.map { .string($0) })]
                    ) { _, _ in
                        try await deployment.apply(change)
                        return (true, [:])
                    }
                    if global.output != .json { print("\(change.action == .deleteOrphaned ? "deleted" : change.action == .create ? "created" : "updated") \(target)") }
                }
                try await deployment.waitUntilReady(plan, timeout: .nanoseconds(timeout.nanoseconds))
                return (true, summary)
            }
            if global.output == .json {
                printJSON(["changed": .integer(Int64(changes.count)), "plan": .array(plan.map { Self.json($0) }), "ready": true])
            } else {
                print(changes.isEmpty ? "Nothing to change: \(plan.count) objects as the policy says." : "Applied \(changes.count) changes.")
                print("Storage location Available; \(document.policy.schedules.count) schedules Enabled.")
            }
        }
    }

    static func json(_ change: VeleroDeployment.Change) -> JSONValue {
        [
            "action": .string(change.action.rawValue), "kind": .string(change.object.kind ?? ""), "namespace": change.object.namespace.map { .string($0) } ?? .null,
            "name": .string(change.object.name ?? ""), "differences": .array(change.differences.map { .string($0) }),
        ]
    }
}
