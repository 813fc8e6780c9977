import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryNotifiers
import CarbonRecoveryPolicy
import Foundation
import Logging

/// `--config FILE` on the operation verbs: the policy whose notifiers hear about the operation.
struct NotifyOptions: ParsableArguments {
    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "A policy file whose notifiers are told about failures (through the durable outbox).",
            discussion: "Default: $CARBON_RECOVERY_CONFIG, else nobody is notified.", valueName: "path"))
    var config: String?

    var path: String? {
        if let config { return config }
        let value = ProcessInfo.processInfo.environment["CARBON_RECOVERY_CONFIG"]
        return value?.isEmpty == false ? value : nil
    }
}

extension GlobalOptions {
    /// The outbox file: `--outbox-db`, else $CARBON_RECOVERY_OUTBOX_DB, else beside the audit
    /// database (`audit.db` → `audit.outbox.db`).
    var outboxDatabasePath: String {
        if let value = ProcessInfo.processInfo.environment["CARBON_RECOVERY_OUTBOX_DB"], !value.isEmpty { return value }
        let audit = auditDatabasePath as NSString
        let stem = (audit.lastPathComponent as NSString).deletingPathExtension
        return audit.deletingLastPathComponent.isEmpty ? stem + ".outbox.db" : audit.deletingLastPathComponent + "/" + stem + ".outbox.db"
    }
}

/// The policy's notifiers behind the durable outbox, for one CLI process.
struct NotificationContext {
    let outbox: NotificationOutbox
    let names: [String]

    /// `nil` when the policy names no notifier. The audit trail is opened only once the notifiers
    /// are known to be well configured; `nil` from `audit` means deliveries are not audited.
    static func open(
        policy: RecoveryPolicy, global: GlobalOptions, outboxPath: String? = nil, audit: () async throws -> (any AuditTrail)?
    ) async throws -> NotificationContext? {
        guard !policy.notifiers.isEmpty else { return nil }
        let logger = Logger(label: "carbon-recovery.notify") { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let routes = try NotifierRegistry.standard(logger: logger, pluginDirectory: global.notifierPluginDirectory).makeRoutes(for: policy)
        let outbox = try await NotificationOutbox(path: outboxPath ?? global.outboxDatabasePath, routes: routes, audit: try await audit(), logger: logger)
        return NotificationContext(outbox: outbox, names: routes.map(\.notifier.name))
    }

    /// Delivers what the operation raised, for at most `timeout`; what is left stays queued for
    /// `carbon-recovery run` or `notify flush`, and a line on stderr says so.
    func deliver(timeout: Duration = .seconds(15)) async {
        let result = await outbox.flush(timeout: timeout)
        if result.delivered + result.dead + result.pending == 0 { return }
        var parts = ["\(result.delivered) delivered"]
        if result.dead > 0 { parts.append("\(result.dead) failed for good (notify list --failed)") }
        if result.pending > 0 { parts.append("\(result.pending) still queued (notify flush, or run, delivers them)") }
        Terminal.printError("notifications: " + parts.joined(separator: ", "))
    }
}

/// `carbon-recovery notify list|retry|flush` — the durable outbox.
struct NotifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Look at and replay the notification outbox.",
        discussion: """
            Every event for a notifier is written to the outbox (beside the audit database: audit.db → audit.outbox.db) \
            before delivery. Temporary failures are retried with exponential backoff and jitter; after the notifier's \
            maxAttempts, or a permanent failure, a delivery is dead-lettered. Each try is audited as notify.deliver.
            """,
        subcommands: [List.self, Retry.self, Flush.self])

    struct OutboxOptions: ParsableArguments {
        @Option(name: .customLong("outbox-db"), help: ArgumentHelp("The outbox database.", discussion: "Default: beside the audit database.", valueName: "path"))
        var outboxDB: String?

        func path(_ global: GlobalOptions) -> String { outboxDB ?? global.outboxDatabasePath }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List deliveries, newest first: pending and dead by default.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var outbox: OutboxOptions
        @Flag(name: .customLong("failed"), help: "Only dead-lettered deliveries.") var failed = false
        @Flag(name: .customLong("all"), help: "Every delivery, including delivered and suppressed ones.") var all = false
        @Option(name: .customLong("limit"), help: "At most this many.") var limit = 100

        func run() async throws {
            try await runReportingErrors {
                guard !(failed && all) else { throw RecoveryError.invalidInput("--failed and --all contradict each other; pick one") }
                guard limit > 0 else { throw RecoveryError.invalidInput("--limit must be at least 1") }
                let path = outbox.path(global)
                guard FileManager.default.fileExists(atPath: path) else {
                    throw RecoveryError(.notFound, "there is no notification outbox at \(path) (nothing has been queued yet)")
                }
                let store = try await NotificationOutbox(path: path)
                let states: Set<NotificationOutbox.State> = failed ? [.dead] : all ? Set(NotificationOutbox.State.allCases) : [.pending, .dead]
                let entries = try await store.entries(states: states, limit: limit)
                if global.output == .json {
                    printJSON(.array(entries.map(\.json)))
                    return
                }
                Terminal.printTable(
                    ["ID", "NOTIFIER", "STATE", "TRIES", "KIND", "TARGET", "CREATED", "LAST ERROR"],
                    entries.map { [String($0.id), $0.notifier, $0.state.rawValue, String($0.attempts), $0.event.kind.rawValue, $0.event.target, formatDate($0.createdAt), $0.lastError ?? "-"] })
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retry",
            abstract: "Replay dead-lettered deliveries: move them back to pending and deliver them now.",
            discussion: "Audited as notify.retry, and each delivery as notify.deliver.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var outbox: OutboxOptions
        @Option(name: .customLong("config"), help: "The policy file that names the notifiers.") var config: String
        @Flag(name: .customLong("all"), help: "Every dead delivery.") var all = false
        @Argument(help: "Ids from `notify list --failed`.") var ids: [Int64] = []
        @Option(name: .customLong("timeout"), help: "How long to keep delivering, in seconds.") var timeout = 60

        func run() async throws {
            try await runReportingErrors {
                guard all != !ids.isEmpty else { throw RecoveryError.invalidInput("name the ids to replay, or --all (not both)") }
                let policy = try PolicyFile.load(path: config).policy
                guard let context = try await NotificationContext.open(policy: policy, global: global, outboxPath: outbox.path(global), audit: { try await openTrail(global, readOnly: false, policy: policy) }) else {
                    throw RecoveryError.invalidInput("\(config) names no notifiers to deliver to")
                }
                let moved = try await context.outbox.retry(ids: all ? nil : ids)
                print("replaying \(moved.count) deliver\(moved.count == 1 ? "y" : "ies")")
                let result = await context.outbox.flush(timeout: .seconds(timeout))
                print("delivered \(result.delivered), failed for good \(result.dead), still queued \(result.pending)")
                if result.dead > 0 { throw ExitCode.failure }
            }
        }
    }

    struct Flush: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "flush",
            abstract: "Deliver everything queued, waiting for retries, until nothing is pending or --timeout passes.",
            discussion: "Exit status 0 when nothing is left pending or dead-lettered by this flush, 1 otherwise. SIGTERM stops after the deliveries in flight.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var outbox: OutboxOptions
        @Option(name: .customLong("config"), help: "The policy file that names the notifiers.") var config: String
        @Option(name: .customLong("timeout"), help: "How long to keep delivering, in seconds.") var timeout = 300

        func run() async throws {
            try await runReportingErrors {
                guard timeout > 0 else { throw RecoveryError.invalidInput("--timeout must be at least 1 second") }
                let policy = try PolicyFile.load(path: config).policy
                guard let context = try await NotificationContext.open(policy: policy, global: global, outboxPath: outbox.path(global), audit: { try await openTrail(global, readOnly: false, policy: policy) }) else {
                    throw RecoveryError.invalidInput("\(config) names no notifiers to deliver to")
                }
                // SIGTERM: finish and record the deliveries in flight, then stop (what is left stays queued).
                signal(SIGTERM, SIG_IGN)
                let outbox = context.outbox
                let stop = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
                stop.setEventHandler { outbox.requestStop() }
                stop.resume()
                defer { stop.cancel() }
                let result = await context.outbox.flush(timeout: .seconds(timeout))
                if global.output == .json {
                    printJSON(["delivered": .integer(Int64(result.delivered)), "dead": .integer(Int64(result.dead)), "pending": .integer(Int64(result.pending))])
                } else {
                    print("delivered \(result.delivered), failed for good \(result.dead), still queued \(result.pending)")
                }
                if result.dead > 0 || result.pending > 0 { throw ExitCode.failure }
            }
        }
    }
}

extension NotificationOutbox.Entry {
    var json: JSONValue {
        var object: [String: JSONValue] = [
            "id": .integer(id), "notifier": .string(notifier), "state": .string(state.rawValue), "attempts": .integer(Int64(attempts)),
            "created": .string(RFC3339.format(createdAt)), "event": event.json,
        ]
        if state == .pending { object["nextAttempt"] = .string(RFC3339.format(nextAttemptAt)) }
        if let deliveredAt { object["delivered"] = .string(RFC3339.format(deliveredAt)) }
        if let lastError { object["lastError"] = .string(lastError) }
        return .object(object)
    }
}
