import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryMetrics
import CarbonRecoveryPolicy
import CarbonRecoveryScheduler
import Foundation
import Logging
import ServiceLifecycle

/// `carbon-recovery run --config FILE` — the in-process scheduler in the foreground.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run what Velero does not, on the policy's crons: validate new backups, check RPOs, clean up, drill (foreground).",
        discussion: """
            Tasks: validate (automation.validate), rpo-check (automation.rpoCheck, when there are objectives), cleanup \
            (automation.cleanup: expired, failed and retention), drill/<name> for each drill, and for each database \
            pg-check/<stanza> (automation.rpoCheck: archive lag against its RPO, WAL gaps) and pg-base-backup/<stanza> \
            (its baseBackup cron). Every run is audited as \
            task.run; the scheduler's lifetime as scheduler.run. Fires missed while it was not running are reported once \
            and each task runs once for them, not once per missed fire. SIGTERM or SIGINT stops it cleanly: sleeps end at \
            once, a run in progress is recorded as abandoned, and the exit status is 0. Velero's own Schedules are deployed \
            with `deploy`, not run here. The policy's notifiers are delivered to from the durable outbox while it runs, and \
            --metrics-port serves the metrics of docs/metrics.md on 127.0.0.1. With the audit signing key \
            (--signing-key), the trail signs a checkpoint every audit.checkpointInterval entries, run signs one every \
            audit.checkpointEvery (1h by default) when entries were added, and one more when it stops; \
            --checkpoint-dir (or audit.checkpointExport) copies each to a folder outside the trail's. \
            --once TASK runs one of these tasks now, in the foreground, and exits (1 when it fails): its own \
            operation is audited (rpo.check, backup.validate, drill.run, …), not a task.run, so the scheduler's missed-run \
            bookkeeping is unchanged; the notifications it raises are delivered before it exits.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("config"), help: "The policy file.") var config: String
    @Option(
        name: .customLong("metrics-port"),
        help: ArgumentHelp("Serve Prometheus metrics at http://127.0.0.1:PORT/metrics (0: any free port, printed at start).", valueName: "port"))
    var metricsPort: Int?
    @Option(
        name: .customLong("checkpoint-dir"),
        help: ArgumentHelp(
            "Copy each new signed audit checkpoint to this folder, outside the trail's (default: the policy's audit.checkpointExport).",
            valueName: "path"))
    var checkpointDir: String?
    @Option(
        name: .customLong("once"),
        help: ArgumentHelp("Run this task once now and exit, instead of scheduling (rpo-check, validate, cleanup, drill/<name>, pg-check/<stanza>, …).", valueName: "task"))
    var once: String?

    func run() async throws {
        try await runReportingErrors {
            let policy = try PolicyFile.load(path: config).policy
            guard !RecoveryTasks.names(for: policy).isEmpty else {
                throw RecoveryError.invalidInput("\(config) asks for no scheduled work: set automation.validate, automation.rpoCheck (with objectives or databases), automation.cleanup, a drill, or a database's baseBackup")
            }
            if let once {
                try await runOnce(once, policy: policy)
                return
            }
            if let metricsPort, !(0...65_535).contains(metricsPort) {
                throw RecoveryError.invalidInput("--metrics-port \(metricsPort) is not a TCP port (0-65535)")
            }
            let json = global.output == .json
            let metrics = metricsPort.map { port in
                MetricsEndpoint(port: port) { listening in
                    let line = json ? #"{"event":"metrics","address":"127.0.0.1:\#(listening)"}"# : "metrics: http://127.0.0.1:\(listening)/metrics"
                    FileHandle.standardOutput.write(Data((line + "\n").utf8))
                }
            }
            metrics?.bootstrap()
            let exportFolder = checkpointDir ?? policy.audit.checkpointExport
            if let exportFolder { try AuditCheckpointService.validateLocation(directory: exportFolder, trailPath: global.auditDatabasePath) }
            let context = try await OperationContext(global: global, connection: connection, policy: policy)
            if let exportFolder { try AuditCheckpointService.prepare(directory: exportFolder, trail: context.trail) }
            let canSign = try global.loadSigningKey(policy: policy) != nil
            if !canSign {
                let path = global.signingKeyLocation(policy: policy).path
                Self.emit(json ? #"{"event":"warning","message":"no audit signing key: checkpoints are not signed"}"# : "warning: no audit signing key at \(path): the trail's checkpoints are not signed (create one with `carbon-recovery audit keygen`)")
            }
            let production = try? await context.cluster.identity()
            let tasks = RecoveryTasks.standard(
                for: policy, coordinator: context.coordinator, productionIdentity: production,
                drCoordinator: context.drCoordinatorFactory(connection: connection),
                databases: policy.databases.isEmpty ? nil : try connection.databaseRecoveryFactory())
            let scheduler = RecoveryTaskScheduler(
                coordinator: context.coordinator, tasks: tasks, logger: Logger(label: "carbon-recovery.scheduler", factory: { _ in SwiftLogNoOpLogHandler() })
            ) { event in Self.show(event, json: json) }
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            let witnesses = try WitnessClient.witnesses(options: [], policy: policy)
            if canSign || exportFolder != nil || !witnesses.isEmpty {
                // First in the list, so stopped last: its final checkpoint covers the scheduler's last entries.
                var service = AuditCheckpointService(
                    trail: context.trail, directory: exportFolder, canSign: canSign, signEvery: policy.audit.checkpointEvery
                ) { [exported = exportFolder != nil] result in
                    Self.showCheckpoint(result, exported: exported, json: json)
                }
                if !witnesses.isEmpty {
                    service.collector = AuditWitnessCollector(trail: context.trail, witnesses: witnesses, post: WitnessClient.post)
                    service.reportWitnesses = { size, result in Self.showCosignatures(result, size: size, json: json) }
                }
                services.append(.init(service: service))
            }
            services.append(.init(service: scheduler))
            if let outbox = context.notifications?.outbox { services.append(.init(service: outbox)) }
            if let metrics { services.append(.init(service: metrics)) }
            var configuration = ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [.sigquit],
                logger: Logger(label: "carbon-recovery.service", factory: { _ in SwiftLogNoOpLogHandler() }))
            configuration.maximumGracefulShutdownDuration = .seconds(300)
            try await ServiceGroup(configuration: configuration).run()
        }
    }

    /// `--once TASK`: the task's work, now, with the notifications it raised delivered after.
    func runOnce(_ name: String, policy: RecoveryPolicy) async throws {
        let names = RecoveryTasks.names(for: policy)
        guard names.contains(name) else {
            throw RecoveryError.invalidInput("\(config) has no task '\(name)': its tasks are \(names.joined(separator: ", "))")
        }
        guard metricsPort == nil, checkpointDir == nil else {
            throw RecoveryError.invalidInput("--once runs one task and exits: --metrics-port and --checkpoint-dir are for the scheduler")
        }
        let context = try await OperationContext(global: global, connection: connection, policy: policy)
        let production = try? await context.cluster.identity()
        let tasks = RecoveryTasks.standard(
            for: policy, coordinator: context.coordinator, productionIdentity: production,
            drCoordinator: context.drCoordinatorFactory(connection: connection),
            databases: policy.databases.isEmpty ? nil : try connection.databaseRecoveryFactory())
        guard let task = tasks.first(where: { $0.name == name }) else {
            throw RecoveryError.invalidInput("\(config) has no task '\(name)'")
        }
        let run = RecoveryTask.Run(scheduledFor: Date())
        let result: Result<JSONValue, RecoveryError>
        do {
            result = .success(try await context.notifying { try await task.action(run) })
        } catch {
            result = .failure(error as? RecoveryError ?? RecoveryError(.unsupported, String(describing: error)))
        }
        Self.show(.finished(task: name, run: run, result: result), json: global.output == .json)
        if case .failure = result { throw ExitCode.failure }
    }

    static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func showCheckpoint(_ result: Result<AuditCheckpoint, RecoveryError>, exported: Bool, json: Bool) {
        switch result {
        case .success(let checkpoint):
            let line: JSONValue = [
                "event": "checkpoint", "size": .integer(checkpoint.size), "rootHash": .string(checkpoint.headHash), "exported": .bool(exported),
            ]
            emit(json ? line.canonicalString : "\(exported ? "exported" : "signed") audit checkpoint at \(checkpoint.size) entries (root \(checkpoint.headHash.prefix(16))…)")
        case .failure(let error):
            let line: JSONValue = ["event": "checkpoint", "error": .string(error.message)]
            emit(json ? line.canonicalString : "FAILED audit checkpoint\(exported ? " export" : ""): \(error.message)")
        }
    }

    static func showCosignatures(_ result: Result<[AuditWitnessCollector.Outcome], RecoveryError>, size: Int64, json: Bool) {
        switch result {
        case .success(let outcomes):
            for outcome in outcomes {
                let line: JSONValue = [
                    "event": "cosignature", "size": .integer(size), "witness": .string(outcome.witness.key.name),
                    "cosigned": .bool(outcome.cosigned), "status": .integer(Int64(outcome.status)), "message": .string(outcome.message),
                ]
                emit(json ? line.canonicalString : "\(outcome.cosigned ? "witness" : "FAILED witness") \(outcome)")
            }
        case .failure(let error):
            let line: JSONValue = ["event": "cosignature", "error": .string(error.message)]
            emit(json ? line.canonicalString : "FAILED collecting cosignatures: \(error.message)")
        }
    }

    /// One line per event, written at once (the output is often a pipe or a log file).
    static func show(_ event: RecoveryTaskScheduler.Event, json: Bool) {
        let line: JSONValue
        let text: String
        switch event {
        case .started(let tasks):
            line = ["event": "started", "tasks": .object(Dictionary(uniqueKeysWithValues: tasks.map { ($0.name, JSONValue.string($0.next.map(RFC3339.format) ?? "never")) }))]
            text = "scheduler started: " + tasks.map { "\($0.name) (next \(formatDate($0.next)))" }.joined(separator: ", ")
        case .missed(let task, let count, let first, let last):
            line = ["event": "missed", "task": .string(task), "missed": .integer(Int64(count)), "first": .string(RFC3339.format(first)), "last": .string(RFC3339.format(last))]
            text = "missed: \(task) did not run at \(count == 1 ? formatDate(first) : "\(count) fire times from \(formatDate(first)) to \(formatDate(last))"); running it once now"
        case .finished(let task, let run, .success(let details)):
            line = ["event": "ran", "task": .string(task), "scheduledFor": .string(RFC3339.format(run.scheduledFor)), "outcome": "success", "details": details]
            text = "ran \(task) for \(formatDate(run.scheduledFor)): \(details.canonicalString)"
        case .finished(let task, let run, .failure(let error)):
            line = ["event": "ran", "task": .string(task), "scheduledFor": .string(RFC3339.format(run.scheduledFor)), "outcome": "failure", "error": .string(error.message)]
            text = "FAILED \(task) for \(formatDate(run.scheduledFor)): \(error.message)"
        case .stopped(let runs):
            line = ["event": "stopped", "runs": .integer(Int64(runs))]
            text = "scheduler stopped after \(runs) run\(runs == 1 ? "" : "s")"
        }
        FileHandle.standardOutput.write(Data(((json ? line.canonicalString : text) + "\n").utf8))
    }
}
