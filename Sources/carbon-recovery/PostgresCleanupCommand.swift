import ArgumentParser
import CarbonRecovery
import CarbonRecoveryPostgres
import Foundation

extension PostgresCommand {
    /// `carbon-recovery pg cleanup --keep N` — retention of base backups and the WAL only they need.
    struct Cleanup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cleanup",
            abstract: "Delete base backups beyond the newest --keep, and the WAL no kept backup needs.",
            discussion: """
                Keeps the newest N base backups (by stop time) and every WAL file from the earliest start segment of any \\
                of them on (any timeline: replay only moves forward), and every timeline history file. Deletes the older \\
                backups (manifest first, so an interrupted cleanup never leaves a listed backup without its files), \\
                unfinished backups older than the oldest kept one, then the older WAL. --dry-run prints the plan and \\
                changes nothing. Audited as pg.cleanup. The restore window then starts at the oldest kept backup.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var archiveOptions: ArchiveOptions

        @Option(help: ArgumentHelp("How many base backups to keep (the newest; at least 1).", valueName: "count"))
        var keep: Int

        @Flag(name: .customLong("dry-run"), help: "Print what would be deleted; delete nothing.")
        var dryRun = false

        func run() async throws {
            try await runReportingErrors {
                let recovery = PointInTimeRecovery(archive: try archiveOptions.archive(connection), tools: PostgresTools())
                let plan = try await recovery.planRetention(keep: keep)
                let stanza = recovery.archive.stanza
                if !dryRun {
                    let json = global.output == .json
                    _ = try await performAudited(
                        global, "pg.cleanup", target: "postgres/\(stanza)", parameters: ["keep": .integer(Int64(keep))]
                    ) {
                        try await recovery.applyRetention(plan) { key in
                            if !json { FileHandle.standardError.write(Data("deleted \(key)\n".utf8)) }
                        }
                        return ((), Self.summary(plan, stanza: stanza, dryRun: false))
                    }
                }
                switch global.output {
                case .json:
                    print(Self.summary(plan, stanza: stanza, dryRun: dryRun).canonicalString)
                case .table:
                    let verb = dryRun ? "would delete" : "deleted"
                    print("stanza \(stanza): kept \(plan.kept.count) base backup(s)\(plan.firstNeededSegment.map { ", WAL from \($0)" } ?? ""); "
                        + "\(verb) \(plan.expired.count) base backup(s), \(plan.unfinished.count) unfinished, \(plan.wal.count) WAL file(s), \(plan.storedBytes) bytes")
                    for backup in plan.expired { print("\(dryRun ? "expire" : "expired") \(backup.id) (stopped \(RFC3339.format(backup.stopTime)))") }
                    if plan.kept.isEmpty { print("no base backup: nothing is deleted (WAL without a base backup is kept until one exists)") }
                }
            }
        }

        static func summary(_ plan: PointInTimeRecovery.RetentionPlan, stanza: String, dryRun: Bool) -> JSONValue {
            .object([
                "stanza": .string(stanza), "dryRun": .bool(dryRun),
                "kept": .array(plan.kept.map { .string($0.id) }), "expired": .array(plan.expired.map { .string($0.id) }),
                "unfinished": .array(plan.unfinished.map { .string($0) }), "walDeleted": .integer(Int64(plan.wal.count)),
                "firstNeededSegment": plan.firstNeededSegment.map { .string($0) } ?? .null, "storedBytes": .integer(plan.storedBytes),
            ])
        }
    }
}
