import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryPolicy
import CarbonRecoveryScheduler
import CarbonRecoveryVelero
import Foundation
import Logging

/// Everything an operation verb needs: the cluster, the bucket, Velero, the audit trail, and the
/// coordinator that ties them together so every attempt and outcome is audited.
struct OperationContext {
    let cluster: KubectlClusterClient
    let storage: MinIOStorageBackend
    let engine: VeleroBackupEngine
    let coordinator: RecoveryCoordinator
    /// The audit trail every operation is recorded in.
    let trail: SQLiteAuditTrail
    /// The policy's notifiers behind the outbox, when a policy with notifiers was given (its
    /// `alerts.slowBackup` is then the slow-backup threshold too).
    let notifications: NotificationContext?

    init(global: GlobalOptions, connection: ConnectionOptions, notify: NotifyOptions? = nil, policy: RecoveryPolicy? = nil) async throws {
        cluster = try connection.clusterClient()
        storage = try connection.storageBackend()
        engine = VeleroBackupEngine(cluster: cluster, storage: storage, configuration: .init(namespace: connection.veleroNamespace))
        var policy = policy
        if policy == nil, let path = notify?.path { policy = try PolicyFile.load(path: path).policy }
        let trail = try await openTrail(global, readOnly: false, policy: policy)
        self.trail = trail
        if let policy {
            notifications = try await NotificationContext.open(policy: policy, global: global, audit: { trail })
        } else {
            notifications = nil
        }
        if let fork = trail.forkDetected {
            // Nothing may run unaudited, and this trail refuses to append: say so, loudly, and stop.
            try await notifications?.outbox.enqueue(RecoveryEvent(
                kind: .auditForkDetected, severity: .critical, target: "audit/\(global.auditDatabasePath)",
                summary: "the audit trail does not extend its anchored checkpoints, so carbon-recovery refuses to write to it: \(fork)",
                details: ["path": global.auditDatabasePath], occurredAt: Date(), idempotencyKey: "audit-fork-detected:\(trail.checkpointOrigin)"))
            await notifications?.deliver()
            throw RecoveryError(.auditTampered, "audit trail fork detected: \(fork); see docs/audit-trail.md \"Anchors\" for the way back", target: global.auditDatabasePath)
        }
        var configuration = RecoveryCoordinator.Configuration()
        if let slow = policy?.alerts.slowBackup { configuration.slowBackupThreshold = .nanoseconds(slow.nanoseconds) }
        coordinator = RecoveryCoordinator(
            engine: engine, storage: storage, audit: trail, cluster: cluster, notifiers: notifications.map { [$0.outbox] } ?? [],
            configuration: configuration, logger: Logger(label: "carbon-recovery", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Makes the coordinator of a drill's DR cluster: a kubectl client for its context (and
    /// kubeconfig, else this command's), Velero in the same namespace, and this context's audit
    /// trail, storage and notifiers.
    func drCoordinatorFactory(connection: ConnectionOptions) -> RecoveryTasks.DRCoordinatorFactory {
        let storage = self.storage, trail = self.trail, notifiers: [any Notifier] = notifications.map { [$0.outbox] } ?? []
        let base = try? connection.clusterClient().configuration
        let namespace = connection.veleroNamespace
        return { dr in
            var configuration = base ?? KubectlClusterClient.Configuration.fromEnvironment()
            configuration.context = dr.context
            if let kubeconfig = dr.kubeconfig { configuration.kubeconfig = kubeconfig }
            let cluster = try KubectlClusterClient(configuration: configuration)
            let engine = VeleroBackupEngine(cluster: cluster, storage: storage, configuration: .init(namespace: namespace))
            return RecoveryCoordinator(engine: engine, storage: storage, audit: trail, cluster: cluster, notifiers: notifiers)
        }
    }

    /// Runs an operation, then delivers the notifications it raised, whether it succeeded or not.
    func notifying<T>(_ body: () async throws -> T) async throws -> T {
        do {
            let result = try await body()
            await notifications?.deliver()
            return result
        } catch {
            await notifications?.deliver()
            throw error
        }
    }
}

/// A one-line live progress display on standard error: rewritten in place on a terminal, one
/// line per change otherwise.
final class ProgressLine: @unchecked Sendable {
    // @unchecked: `last` is only touched under `lock`; callbacks come from one task at a time.
    private let lock = NSLock()
    private let started = Date()
    private let interactive = isatty(STDERR_FILENO) == 1
    private var last = ""

    func update(_ what: String, phase: String, progress: OperationProgress?) {
        let items = progress.map { "\($0.itemsDone)/\($0.totalItems) items" } ?? "items not counted yet"
        show("\(what): \(phase), \(items), \(Int(Date().timeIntervalSince(started)))s")
    }

    /// Shows a step without items: `what: step, 12s`.
    func step(_ what: String, _ step: String) {
        show("\(what): \(step), \(Int(Date().timeIntervalSince(started)))s")
    }

    private func show(_ text: String) {
        lock.withLock {
            guard text != last else { return }
            last = text
            FileHandle.standardError.write(Data((interactive ? "\r\u{1B}[K" + text : text + "\n").utf8))
        }
    }

    /// Runs `body`, ending the line when it returns or throws.
    func around<T>(_ body: () async throws -> T) async rethrows -> T {
        defer { if interactive { FileHandle.standardError.write(Data("\n".utf8)) } }
        return try await body()
    }
}

func formatDate(_ date: Date?) -> String { date.map { String(RFC3339.format($0).prefix(19)) + "Z" } ?? "-" }

func printJSON(_ value: JSONValue) {
    let data = (try? JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: Data(value.canonicalString.utf8)), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data(value.canonicalString.utf8)
    print(String(decoding: data, as: UTF8.self))
}

extension BackupStatus {
    var json: JSONValue {
        var object: [String: JSONValue] = ["name": .string(name), "phase": .string(phase.rawValue), "errors": .integer(Int64(errors)), "warnings": .integer(Int64(warnings))]
        if let progress { object["progress"] = ["itemsDone": .integer(Int64(progress.itemsDone)), "totalItems": .integer(Int64(progress.totalItems))] }
        if !validationErrors.isEmpty { object["validationErrors"] = .array(validationErrors.map { .string($0) }) }
        if let failureReason { object["failureReason"] = .string(failureReason) }
        if let startTimestamp { object["started"] = .string(RFC3339.format(startTimestamp)) }
        if let completionTimestamp { object["completed"] = .string(RFC3339.format(completionTimestamp)) }
        if let expiration { object["expires"] = .string(RFC3339.format(expiration)) }
        if let scheduleName { object["schedule"] = .string(scheduleName) }
        return .object(object)
    }
}

/// Splits `a,b` and repeated options into one list.
func commaList(_ values: [String]) -> [String] {
    values.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Create, list, describe, validate and delete Velero backups (every change audited).",
        subcommands: [Create.self, List.self, Describe.self, Validate.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a backup (Velero's flags); with --wait, follow it to the end.",
            discussion: """
                Unlike `velero backup create --wait`, the exit status tells the outcome: 0 only when the backup is \
                Completed; PartiallyFailed, Failed and FailedValidation exit 1.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The backup's name.") var name: String
        @Option(name: .customLong("include-namespaces"), help: "Namespaces to back up (comma-separated; globs allowed).") var includeNamespaces: [String] = []
        @Option(name: .customLong("exclude-namespaces"), help: "Namespaces to leave out.") var excludeNamespaces: [String] = []
        @Option(name: .customLong("include-resources"), help: "Resources to back up (e.g. deployments.apps,configmaps).") var includeResources: [String] = []
        @Option(name: .customLong("exclude-resources"), help: "Resources to leave out.") var excludeResources: [String] = []
        @Option(name: .customLong("selector"), help: "Only objects whose labels match (kubectl selector syntax).") var selector: String?
        @Option(name: .customLong("ttl"), help: "How long Velero keeps the backup, e.g. 24h0m0s (Velero's default 720h0m0s).") var ttl: String?
        @Option(name: .customLong("storage-location"), help: "The BackupStorageLocation to write to.") var storageLocation: String?
        @Option(name: .customLong("labels"), help: "Labels for the Backup object, key=value,….") var labels: [String] = []
        @Flag(name: .customLong("wait"), help: "Wait for the backup to finish, with a live progress line.") var wait = false
        @OptionGroup var notify: NotifyOptions

        func run() async throws {
            try await runReportingErrors {
                var request = BackupRequest(
                    name: name, includedNamespaces: commaList(includeNamespaces), excludedNamespaces: commaList(excludeNamespaces),
                    includedResources: commaList(includeResources), excludedResources: commaList(excludeResources),
                    labelSelector: try selector.map { try LabelSelector(parsing: $0) }, ttl: try ttl.map { try GoDuration.parseTTL($0) },
                    storageLocation: storageLocation)
                for pair in commaList(labels) {
                    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else { throw RecoveryError.invalidInput("--labels wants key=value, not '\(pair)'") }
                    request.labels[parts[0]] = parts[1]
                }
                try request.validate()
                let context = try await OperationContext(global: global, connection: connection, notify: notify)
                let line = ProgressLine()
                let status = try await context.notifying {
                    try await line.around {
                        try await context.coordinator.backup(request, wait: wait) { line.update("backup \(name)", phase: $0.phase.rawValue, progress: $0.progress) }
                    }
                }
                if global.output == .json { printJSON(status.json); return }
                if wait {
                    let duration = status.duration.map { String(format: "%.0fs", $0) } ?? "-"
                    print("Backup \(name): \(status.phase), \(status.progress?.itemsDone ?? 0) items, \(status.errors) errors, \(status.warnings) warnings, took \(duration), expires \(formatDate(status.expiration))")
                } else {
                    print("Backup \(name) created (\(status.phase)); follow it with: carbon-recovery backup describe \(name)")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List backups, newest first.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await runReportingErrors {
                let engine = VeleroBackupEngine(cluster: try connection.clusterClient(), configuration: .init(namespace: connection.veleroNamespace))
                let backups = try await engine.listBackups()
                if global.output == .json { printJSON(.array(backups.map(\.json))); return }
                Terminal.printTable(
                    ["NAME", "PHASE", "ERRORS", "WARNINGS", "CREATED", "EXPIRES", "SCHEDULE"],
                    backups.map { [$0.name, $0.phase.rawValue, String($0.errors), String($0.warnings), formatDate($0.startTimestamp), formatDate($0.expiration), $0.scheduleName ?? "-"] })
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "describe", abstract: "Show a backup's spec, status, validation errors and stored artifacts.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The backup's name.") var name: String

        func run() async throws {
            try await runReportingErrors {
                let cluster = try connection.clusterClient()
                let engine = VeleroBackupEngine(cluster: cluster, configuration: .init(namespace: connection.veleroNamespace))
                guard let object = try await cluster.get(try ObjectReference(kind: .veleroBackup, namespace: connection.veleroNamespace, name: name)) else {
                    throw RecoveryError(.notFound, "there is no backup named \(name) in namespace \(connection.veleroNamespace)")
                }
                let status = try VeleroObjects.backupStatus(object)
                let prefix = try await engine.storagePrefix(ofBackup: name)
                var artifacts: [StorageObject] = []
                for try await artifact in try connection.storageBackend().list(prefix: prefix) { artifacts.append(artifact) }
                if global.output == .json {
                    printJSON(["spec": object.spec ?? .null, "status": status.json, "artifacts": .array(artifacts.map { ["key": .string($0.key), "size": .integer($0.size)] })])
                    return
                }
                print("Name:        \(name)")
                print("Phase:       \(status.phase)\(status.failureReason.map { " (\($0))" } ?? "")")
                print("Progress:    \(status.progress.map { "\($0.itemsDone)/\($0.totalItems) items" } ?? "-")")
                print("Errors:      \(status.errors)    Warnings: \(status.warnings)")
                print("Started:     \(formatDate(status.startTimestamp))    Completed: \(formatDate(status.completionTimestamp))    Expires: \(formatDate(status.expiration))")
                if let schedule = status.scheduleName { print("Schedule:    \(schedule)") }
                if !status.validationErrors.isEmpty { print("Validation errors:"); for error in status.validationErrors { print("  - \(error)") } }
                print("Spec:        \(object.spec?.canonicalString ?? "{}")")
                print("Artifacts under \(prefix):")
                if artifacts.isEmpty { print("  (none)") }
                for artifact in artifacts { print("  \(artifact.key.dropFirst(prefix.count))  \(artifact.size) bytes") }
            }
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Check that a backup can be restored from: phase, errors, expiration, stored artifacts (audited).",
            discussion: "Exit status 1 when a check fails.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The backup's name.") var name: String
        @OptionGroup var notify: NotifyOptions

        func run() async throws {
            try await runReportingErrors {
                let context = try await OperationContext(global: global, connection: connection, notify: notify)
                let report = try await context.notifying { try await context.coordinator.validateBackup(named: name) }
                if global.output == .json {
                    printJSON(["backup": .string(name), "valid": .bool(report.isValid), "checks": .array(report.checks.map { ["name": .string($0.name), "passed": .bool($0.passed), "detail": .string($0.detail)] })])
                } else {
                    Terminal.printTable(["CHECK", "RESULT", "DETAIL"], report.checks.map { [$0.name, $0.passed ? "pass" : "FAIL", $0.detail] })
                    print(report.isValid ? "\nBackup \(name) is valid." : "\nBackup \(name) is NOT valid: \(report.problems.joined(separator: "; "))")
                }
                if !report.isValid { throw ExitCode.failure }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete",
            abstract: "Delete a backup and its data through a DeleteBackupRequest, and confirm both are gone (audited).",
            discussion: "Never `kubectl delete backup`: that leaves the data, and Velero's backup sync brings the object back.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The backup's name.") var name: String

        func run() async throws {
            try await runReportingErrors {
                let context = try await OperationContext(global: global, connection: connection)
                try await context.coordinator.deleteBackup(named: name)
                print("Backup \(name) deleted: the Backup object and everything under \(try await context.engine.storagePrefix(ofBackup: name)) are gone.")
            }
        }
    }
}
