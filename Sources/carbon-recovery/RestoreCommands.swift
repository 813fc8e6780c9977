import ArgumentParser
import CarbonRecovery
import CarbonRecoveryVelero
import Foundation

extension RestoreStatus {
    var json: JSONValue {
        var object: [String: JSONValue] = ["name": .string(name), "phase": .string(phase.rawValue), "errors": .integer(Int64(errors)), "warnings": .integer(Int64(warnings))]
        if let backupName { object["backup"] = .string(backupName) }
        if let progress { object["progress"] = ["itemsDone": .integer(Int64(progress.itemsDone)), "totalItems": .integer(Int64(progress.totalItems))] }
        if !validationErrors.isEmpty { object["validationErrors"] = .array(validationErrors.map { .string($0) }) }
        if let failureReason { object["failureReason"] = .string(failureReason) }
        if let startTimestamp { object["started"] = .string(RFC3339.format(startTimestamp)) }
        if let completionTimestamp { object["completed"] = .string(RFC3339.format(completionTimestamp)) }
        return .object(object)
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Create, list and describe Velero restores (every restore audited).",
        subcommands: [Create.self, Test.self, List.self, Describe.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Restore from a backup or a schedule's latest completed backup (Velero's flags).",
            discussion: """
                The guide's recoveries: full cluster (no filters), a namespace (--include-namespaces), an \
                application (--selector), or into other namespaces (--namespace-mappings a:b). With --wait the exit \
                status is 0 only when the restore Completed.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The restore's name (default: <backup or schedule>-<UTC yyyyMMddHHmmss>).") var name: String?
        @Option(name: .customLong("from-backup"), help: "The backup to restore from.") var fromBackup: String?
        @Option(name: .customLong("from-schedule"), help: "Restore from this schedule's latest completed backup.") var fromSchedule: String?
        @Option(name: .customLong("include-namespaces"), help: "Namespaces to restore (comma-separated).") var includeNamespaces: [String] = []
        @Option(name: .customLong("exclude-namespaces"), help: "Namespaces not to restore.") var excludeNamespaces: [String] = []
        @Option(name: .customLong("include-resources"), help: "Resources to restore.") var includeResources: [String] = []
        @Option(name: .customLong("exclude-resources"), help: "Resources not to restore.") var excludeResources: [String] = []
        @Option(name: .customLong("namespace-mappings"), help: "Restore namespace a into b: a:b,c:d.") var namespaceMappings: [String] = []
        @Option(name: .customLong("selector"), help: "Only objects whose labels match.") var selector: String?
        @Option(name: .customLong("existing-resource-policy"), help: "none (leave existing objects) or update.") var existingResourcePolicy: String = "none"
        @Flag(name: .customLong("wait"), help: "Wait for the restore to finish, with a live progress line.") var wait = false
        @OptionGroup var notify: NotifyOptions

        func run() async throws {
            try await runReportingErrors {
                let source: RestoreRequest.Source
                switch (fromBackup, fromSchedule) {
                case (let backup?, nil): source = .backup(backup)
                case (nil, let schedule?): source = .schedule(schedule)
                default: throw RecoveryError.invalidInput("give exactly one of --from-backup and --from-schedule")
                }
                guard let policy = ExistingResourcePolicy(rawValue: existingResourcePolicy) else {
                    throw RecoveryError.invalidInput("--existing-resource-policy must be none or update, not '\(existingResourcePolicy)'")
                }
                var mappings: [String: String] = [:]
                for pair in commaList(namespaceMappings) {
                    let parts = pair.split(separator: ":", maxSplits: 1).map(String.init)
                    guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                        throw RecoveryError.invalidInput("--namespace-mappings wants source:target pairs, not '\(pair)'")
                    }
                    mappings[parts[0]] = parts[1]
                }
                let stamp = String(RFC3339.format(Date()).prefix(19)).filter(\.isNumber)
                let restoreName = name ?? "\(fromBackup ?? fromSchedule ?? "restore")-\(stamp)"
                var request = RestoreRequest(name: restoreName, source: source)
                request.includedNamespaces = commaList(includeNamespaces)
                request.excludedNamespaces = commaList(excludeNamespaces)
                request.includedResources = commaList(includeResources)
                request.excludedResources = commaList(excludeResources)
                request.namespaceMappings = mappings
                request.labelSelector = try selector.map { try LabelSelector(parsing: $0) }
                request.existingResourcePolicy = policy
                try request.validate()
                let context = try await OperationContext(global: global, connection: connection, notify: notify)
                let line = ProgressLine()
                let status = try await context.notifying {
                    try await line.around {
                        try await context.coordinator.restore(request, wait: wait) { line.update("restore \(restoreName)", phase: $0.phase.rawValue, progress: $0.progress) }
                    }
                }
                if global.output == .json { printJSON(status.json); return }
                if wait {
                    let duration = status.duration.map { String(format: "%.0fs", $0) } ?? "-"
                    print("Restore \(restoreName) from \(source): \(status.phase), \(status.progress?.itemsDone ?? 0) items, \(status.errors) errors, \(status.warnings) warnings, took \(duration)")
                } else {
                    print("Restore \(restoreName) created (\(status.phase)); follow it with: carbon-recovery restore describe \(restoreName)")
                }
            }
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "test",
            abstract: "The guide's non-destructive restore test: the whole backup into scratch namespaces (audited).",
            discussion: """
                Maps every namespace of the backup to <namespace>-<suffix>, restores, waits, checks every object of the \
                backup's resource list is back, measures the recovery time (recorded in the audit trail, compared with \
                --rto), and deletes the scratch namespaces unless --keep. Production namespaces are never written. \
                Exit status 1 when the test fails.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("from-backup"), help: "The backup to test.") var fromBackup: String
        @Option(name: .customLong("scratch-suffix"), help: "Scratch namespace suffix (default: rt-<random>).") var scratchSuffix: String?
        @Option(name: .customLong("rto"), help: "Recovery time objective to compare with, e.g. 1h0m0s.") var rto: String?
        @Flag(name: .customLong("keep"), help: "Keep the scratch namespaces for inspection.") var keep = false
        @OptionGroup var notify: NotifyOptions

        func run() async throws {
            try await runReportingErrors {
                var request = RestoreTestRequest(backup: fromBackup, scratchSuffix: scratchSuffix, keep: keep)
                if let rto {
                    let duration = try GoDuration(parsing: rto)
                    request.recoveryTimeObjective = .nanoseconds(duration.nanoseconds)
                }
                try request.validate()
                let context = try await OperationContext(global: global, connection: connection, notify: notify)
                let line = ProgressLine()
                let report = try await context.notifying {
                    try await line.around {
                        try await context.coordinator.testRestore(request) { line.update("restore \($0.name)", phase: $0.phase.rawValue, progress: $0.progress) }
                    }
                }
                if global.output == .json {
                    var json: [String: JSONValue] = [
                        "backup": .string(report.backup), "restore": report.restore.json, "passed": .bool(report.passed),
                        "namespaceMappings": .object(report.namespaceMappings.mapValues { .string($0) }),
                        "expected": .integer(Int64(report.expected)), "missing": .array(report.missing.map { .string($0.description) }),
                        "recoveryTimeSeconds": .string(RestoreTestReport.seconds(report.recoveryTime)), "cleanup": .string(report.cleanup.description),
                    ]
                    if let objectiveMet = report.objectiveMet { json["objectiveMet"] = .bool(objectiveMet) }
                    printJSON(.object(json))
                } else {
                    print("Restore test of \(report.backup) (restore \(report.restore.name)):")
                    for (source, scratch) in report.namespaceMappings.sorted(by: { $0.key < $1.key }) { print("  \(source) -> \(scratch)") }
                    print("  restore:        \(report.restore.phase), \(report.restore.errors) errors, \(report.restore.warnings) warnings")
                    print("  objects back:   \(report.expected - report.missing.count) of \(report.expected)")
                    for item in report.missing.prefix(20) { print("    missing: \(item)") }
                    let objective = report.recoveryTimeObjective.map { " (objective \(RestoreTestReport.seconds($0)) s: \(report.objectiveMet == true ? "met" : "BREACHED"))" } ?? ""
                    print("  recovery time:  \(RestoreTestReport.seconds(report.recoveryTime)) s\(objective)")
                    print("  scratch:        \(report.cleanup)")
                    print(report.passed ? "Restore test PASSED." : "Restore test FAILED: \(report.problems.joined(separator: "; "))")
                }
                if !report.passed { throw ExitCode.failure }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List restores.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await runReportingErrors {
                let cluster = try connection.clusterClient()
                let restores = try await cluster.list(.veleroRestore, namespace: connection.veleroNamespace, labelSelector: nil)
                    .map(VeleroObjects.restoreStatus)
                    .sorted { ($0.startTimestamp ?? .distantFuture) > ($1.startTimestamp ?? .distantFuture) }
                if global.output == .json { printJSON(.array(restores.map(\.json))); return }
                Terminal.printTable(
                    ["NAME", "BACKUP", "PHASE", "ERRORS", "WARNINGS", "STARTED", "COMPLETED"],
                    restores.map { [$0.name, $0.backupName ?? "-", $0.phase.rawValue, String($0.errors), String($0.warnings), formatDate($0.startTimestamp), formatDate($0.completionTimestamp)] })
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "describe", abstract: "Show a restore's spec and status.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The restore's name.") var name: String

        func run() async throws {
            try await runReportingErrors {
                let cluster = try connection.clusterClient()
                guard let object = try await cluster.get(try ObjectReference(kind: .veleroRestore, namespace: connection.veleroNamespace, name: name)) else {
                    throw RecoveryError(.notFound, "there is no restore named \(name) in namespace \(connection.veleroNamespace)")
                }
                let status = try VeleroObjects.restoreStatus(object)
                if global.output == .json { printJSON(["spec": object.spec ?? .null, "status": status.json]); return }
                print("Name:        \(name)")
                print("Backup:      \(status.backupName ?? object.spec?["scheduleName"]?.stringValue.map { "latest of schedule \($0)" } ?? "-")")
                print("Phase:       \(status.phase)\(status.failureReason.map { " (\($0))" } ?? "")")
                print("Progress:    \(status.progress.map { "\($0.itemsDone)/\($0.totalItems) items" } ?? "-")")
                print("Errors:      \(status.errors)    Warnings: \(status.warnings)")
                print("Started:     \(formatDate(status.startTimestamp))    Completed: \(formatDate(status.completionTimestamp))")
                if !status.validationErrors.isEmpty { print("Validation errors:"); for error in status.validationErrors { print("  - \(error)") } }
                print("Spec:        \(object.spec?.canonicalString ?? "{}")")
            }
        }
    }
}
