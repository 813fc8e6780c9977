import ArgumentParser
import CarbonRecovery
import CarbonRecoveryPostgres
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension PostgresCommand {
    /// `carbon-recovery pg drill` — a point-in-time recovery drill into a scratch instance.
    struct Drill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drill",
            abstract: "Restore the archive to a marked moment into a scratch instance, compare, and measure against the RTO.",
            discussion: """
                Writes a marker row just before a moment T and one just after into carbon_recovery.drill_markers on the \\
                server (creating the table the first time), waits until the second is archived, restores to T into a \\
                scratch instance on 127.0.0.1 (archiving off), and checks that the first marker is there, the second is \\
                not, and every database is; then stops the instance and removes its folder. Production is only written \\
                the two rows. Exit 1 when the data did not match or the recovery took longer than --rto. Audited as \\
                pg.drill with the measured recovery time; `run` does the same for a policy's pitr drills.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var archiveOptions: ArchiveOptions
        @OptionGroup var postgres: PostgresOptions

        @Option(help: ArgumentHelp("The scratch instance's port on 127.0.0.1 (default: a free one).", valueName: "port"))
        var port: Int?

        @Option(name: .customLong("scratch-dir"), help: ArgumentHelp(
            "The folder the scratch data folder is made in (default: the system's temporary folder).",
            discussion: "The server's OS user must reach it.", valueName: "folder"))
        var scratchDirectory: String?

        @Option(help: ArgumentHelp("The recovery time objective the restore is measured against (Go duration).", valueName: "duration"))
        var rto: String = "1h"

        func run() async throws {
            try await runReportingErrors {
                let objective = try GoDuration(parsing: rto)
                guard objective.nanoseconds > 0 else { throw RecoveryError(.invalidInput, "--rto \(rto) must be positive", target: rto) }
                if let port, !(1...65_535).contains(port) { throw RecoveryError(.invalidInput, "--port \(port) is not a port", target: String(port)) }
                if getuid() == 0 && postgres.runAs == nil {
                    throw RecoveryError(.invalidInput, "PostgreSQL refuses to run as root: pass --run-as with the database's OS user (e.g. postgres)")
                }
                var request = PointInTimeRecovery.DrillRequest(connection: postgres.connection, port: port, rto: .nanoseconds(objective.nanoseconds))
                if let scratchDirectory {
                    var isFolder: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: scratchDirectory, isDirectory: &isFolder), isFolder.boolValue else {
                        throw RecoveryError(.invalidInput, "--scratch-dir \(scratchDirectory) is not a folder", target: scratchDirectory)
                    }
                    request.scratchDirectory = URL(fileURLWithPath: scratchDirectory).standardizedFileURL.path
                }
                let recovery = PointInTimeRecovery(archive: try archiveOptions.archive(connection), tools: postgres.tools, restoreWALExecutable: currentExecutable())
                let stanza = recovery.archive.stanza
                if global.output == .table {
                    FileHandle.standardError.write(Data("drilling '\(stanza)': marking a moment on \(request.connection.host):\(request.connection.port), then restoring to it…\n".utf8))
                }
                let report = try await performAudited(
                    global, "pg.drill", target: "postgres/\(stanza)", parameters: ["rtoSeconds": .string(RestoreTestReport.seconds(.nanoseconds(objective.nanoseconds)))]
                ) {
                    let report = try await recovery.drill(request)
                    guard report.passed else {
                        throw ReportedFailure(result: report, details: report.json, message: "pitr drill of '\(stanza)' failed: " + report.problems.joined(separator: "; "))
                    }
                    return (report, report.json)
                }
                switch global.output {
                case .json: printJSON(report.json)
                case .table:
                    print("PITR drill of '\(stanza)' to \(RFC3339.format(report.target)) (marker \(report.marker)):")
                    print("  base backup:    \(report.restore.backup.id), \(report.restore.files) WAL files, promoted on timeline \(report.restore.timeline)")
                    print("  recovery time:  \(RestoreTestReport.seconds(report.recoveryTime)) s (replay \(RestoreTestReport.seconds(report.restore.replay)) s; "
                        + "objective \(objective): \(report.recoveryTime <= report.rto ? "met" : "BREACHED"))")
                    print(report.passed ? "PITR drill PASSED." : "PITR drill FAILED: \(report.problems.joined(separator: "; "))")
                }
                if !report.passed { throw ExitCode.failure }
            }
        }
    }
}
