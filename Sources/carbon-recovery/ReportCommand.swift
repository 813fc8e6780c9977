import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryPolicy
import CarbonRecoveryReport
import CarbonRecoveryVelero
import Foundation

/// `carbon-recovery report --config FILE [--since 90d | --from T --to T] [--out FILE] [--output json]`.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "The evidence report: RPO, RTO and drills over time, as one HTML page (or JSON).",
        discussion: """
            Read-only. From the audit trail (what happened), the policy (what was promised) and, when they can be \
            reached, the cluster and the databases' archives (what is true now): per objective, the RPO age over time \
            against the RPO with its breaches, backup outcomes, every drill at each level with its recovery time \
            against the RTO, the last full-recovery test, each database's restore window and WAL gaps, the policy's \
            open lint findings, and the trail's verification with its head and newest signed checkpoint. The page is \
            one self-contained file (inline SVG, no script, nothing fetched). Exit status 1 when the trail does not \
            verify (the report is still written, and says so).
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("config"), help: "The policy file.") var config: String
    @Option(help: ArgumentHelp("The range's start (RFC 3339).", valueName: "time")) var from: String?
    @Option(help: ArgumentHelp("The range's end (RFC 3339); default now.", valueName: "time")) var to: String?
    @Option(help: ArgumentHelp("The range: the last duration (Go syntax, e.g. 720h). Default 2160h (90 days).", valueName: "duration")) var since: String?
    @Option(help: ArgumentHelp("Where to write the report. Default: carbon-recovery-report.html (JSON: standard output).", valueName: "file")) var out: String?
    @Flag(name: .customLong("no-cluster"), help: "Do not read the cluster (Velero's scheduled backups are then missing from the outcomes).")
    var noCluster = false
    @Flag(name: .customLong("no-archives"), help: "Do not read the databases' archives (their windows and gaps are then missing).")
    var noArchives = false

    func run() async throws {
        try await runReportingErrors {
            let now = Date()
            let (start, end) = try range(now: now)
            let document = try PolicyFile.load(path: config)
            try global.requireExistingTrail()
            let trail = try await openTrail(global, readOnly: true)
            let report: EvidenceReport
            do {
                report = try await build(document: document, trail: trail, from: start, to: end, now: now)
                await trail.close()
            } catch {
                await trail.close()
                throw error
            }
            let text = global.output == .json ? report.json.canonicalString + "\n" : report.html
            if global.output == .json, out == nil {
                print(text, terminator: "")
            } else {
                let path = out ?? "carbon-recovery-report.html"
                guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
                    throw RecoveryError(.invalidInput, "could not write the report to \(path)", target: path)
                }
                let verdicts = report.objectives.map(\.verdict.met)
                let met = verdicts.filter { $0 == true }.count, notMet = verdicts.filter { $0 == false }.count
                print("wrote \(path): \(verdicts.count) objective(s): \(met) met, \(notMet) not met, \(verdicts.count - met - notMet) not shown; \(report.drills.count) drill(s); "
                    + "audit trail \(report.trail.valid ? "valid" : "FAILED verification"), head \(report.trail.headSequence)")
            }
            for note in report.notes { Terminal.printError("note: \(note)") }
            if !report.trail.valid { throw ExitCode.failure }
        }
    }

    func range(now: Date) throws -> (Date, Date) {
        if from != nil, since != nil { throw RecoveryError.invalidInput("use either --from or --since, not both") }
        let end = try to.map { try AuditFilterOptions.time($0, option: "--to") } ?? now
        var start = end.addingTimeInterval(-90 * 86_400)
        if let from { start = try AuditFilterOptions.time(from, option: "--from") }
        if let since {
            let duration = try GoDuration(parsing: since)
            guard duration.nanoseconds > 0 else { throw RecoveryError.invalidInput("--since '\(since)' must be a positive duration such as 720h") }
            start = end.addingTimeInterval(-duration.timeInterval)
        }
        guard start < end else { throw RecoveryError.invalidInput("the range is empty: --from must be before --to") }
        return (start, end)
    }

    func build(document: PolicyFile, trail: SQLiteAuditTrail, from start: Date, to end: Date, now: Date) async throws -> EvidenceReport {
        let policy = document.policy
        var notes: [String] = []
        var backups: [BackupStatus]?
        if noCluster {
            notes.append("The cluster was not read (--no-cluster): backups Velero's schedules made are not among the outcomes.")
        } else {
            do {
                backups = try await VeleroBackupEngine(cluster: try connection.clusterClient(), configuration: .init(namespace: connection.veleroNamespace)).listBackups()
            } catch let error as RecoveryError {
                notes.append("The cluster could not be read (\(error.message)): backups Velero's schedules made are not among the outcomes.")
            }
        }
        var windows: [String: EvidenceReport.WindowReading] = [:]
        if !policy.databases.isEmpty {
            if noArchives {
                notes.append("The databases' archives were not read (--no-archives): their windows and gaps are not shown.")
            } else {
                let factory = try connection.databaseRecoveryFactory()
                for database in policy.databases {
                    do {
                        windows[database.stanza] = .read(try await factory(database).window())
                    } catch let error as RecoveryError {
                        windows[database.stanza] = .failed(error.message)
                    }
                }
            }
        }
        let verification = try await trail.verify()
        let checkpoint = try await trail.latestCheckpoint().map {
            EvidenceReport.Checkpoint(origin: $0.origin, size: $0.size, headHash: $0.headHash, note: $0.note)
        }
        return try await EvidenceReport.build(trail: trail, input: EvidenceReport.Input(
            from: start, to: end, now: now, policy: policy, findings: document.lint(), trailPath: global.auditDatabasePath,
            verification: verification, checkpoint: checkpoint, clusterBackups: backups, windows: windows, notes: notes))
    }
}
