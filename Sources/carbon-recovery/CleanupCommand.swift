import ArgumentParser
import CarbonRecovery
import CarbonRecoveryPolicy
import Foundation

/// `carbon-recovery cleanup` — the guide's cleanup, done through `DeleteBackupRequest`s.
struct CleanupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Delete expired, failed, or retention-expired backups with their data, showing the plan first (audited).",
        discussion: """
            The guide's `kubectl delete backup` only removes the object: the data stays in the bucket and Velero's \
            backup sync brings the object back. This deletes through DeleteBackupRequests and confirms that the \
            object and its storage prefix are gone. --retention applies the policy's keep rules (keepLast, keepDaily, \
            keepWeekly, keepMonthly) per schedule and never deletes the newest validated backup of a namespace. \
            --dry-run shows the plan and changes nothing.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var connection: ConnectionOptions
    @Flag(name: .customLong("expired"), help: "Backups past their expiration.") var expired = false
    @Flag(name: .customLong("failed"), help: "Backups that finished Failed, PartiallyFailed or FailedValidation.") var failed = false
    @Flag(name: .customLong("retention"), help: "Backups the policy's retention rules no longer keep (needs --config).") var retention = false
    @Option(name: .customLong("config"), help: "The policy file, for --retention.") var config: String?
    @Flag(name: .customLong("dry-run"), help: "Show the plan; delete nothing.") var dryRun = false

    func run() async throws {
        try await runReportingErrors {
            guard expired || failed || retention else {
                throw RecoveryError.invalidInput("choose what to clean up: --expired, --failed, --retention (with --config), or several")
            }
            guard retention == (config != nil) else {
                throw RecoveryError.invalidInput(retention ? "--retention needs the policy: --config FILE" : "--config is only used with --retention")
            }
            let schedules = try config.map { try PolicyFile.load(path: $0).policy.schedules } ?? []
            let context = try await OperationContext(global: global, connection: connection)
            let plan = try await context.coordinator.planCleanup(expired: expired, failed: failed, retention: schedules)
            if global.output == .json, dryRun {
                printJSON([
                    "plan": .array(plan.entries.map { ["backup": .string($0.backup.name), "reason": .string($0.reason.description)] }),
                    "skipped": .object(plan.skipped.mapValues { .string($0) }),
                    "kept": .object(plan.kept.mapValues { .array($0.map { .string($0) }) }),
                ])
                return
            }
            if global.output != .json {
                let count = plan.entries.count == 1 ? "1 backup with its data" : "\(plan.entries.count) backups with their data"
                print(plan.entries.isEmpty ? "Nothing to clean up." : "Plan: delete \(count)")
                if !plan.entries.isEmpty {
                    Terminal.printTable(["BACKUP", "PHASE", "CREATED", "REASON"], plan.entries.map { [$0.backup.name, $0.backup.phase.rawValue, formatDate($0.backup.startTimestamp), $0.reason.description] })
                }
                for (name, why) in plan.skipped.sorted(by: { $0.key < $1.key }) { print("Skipped \(name): \(why)") }
                if dryRun, !plan.kept.isEmpty {
                    print("Kept by retention:")
                    for (name, reasons) in plan.kept.sorted(by: { $0.key < $1.key }) { print("  \(name): \(reasons.joined(separator: ", "))") }
                }
            }
            guard !dryRun else {
                if global.output != .json { print("Dry run: nothing deleted.") }
                return
            }
            guard !plan.entries.isEmpty else {
                if global.output == .json { printJSON(["deleted": [], "failed": .object([:])]) }
                return
            }
            let result = try await context.coordinator.cleanup(plan) { entry in
                if global.output != .json { print("deleting \(entry.backup.name) (\(entry.reason))…") }   // stdout, after the plan
            }
            if global.output == .json {
                printJSON(["deleted": .array(result.deleted.map { .string($0) }), "failed": .object(result.failed.mapValues { .string($0) })])
            } else {
                print("Deleted \(result.deleted.count == 1 ? "1 backup" : "\(result.deleted.count) backups") with their data.")
                for (name, error) in result.failed.sorted(by: { $0.key < $1.key }) { print("FAILED \(name): \(error)") }
            }
            if !result.failed.isEmpty { throw ExitCode.failure }
        }
    }
}
