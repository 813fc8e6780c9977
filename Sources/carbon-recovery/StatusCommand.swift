import ArgumentParser
import CarbonRecovery
import CarbonRecoveryPolicy
import CarbonRecoveryVelero
import Foundation

/// `carbon-recovery status --config FILE` — deployment, locations, schedules and each namespace's RPO/RTO state.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Velero's deployment, storage locations, schedules, and each objective namespace against its RPO and RTO.",
        discussion: """
            Read-only. The RPO state is the age of the newest Completed backup holding the whole namespace; the RTO \
            state is the recovery time the last restore test measured (from the audit trail). Exit status 1 when a \
            location is not Available, a policy schedule is missing or not Enabled, or a namespace breaches its RPO or RTO.
            """)
    @OptionGroup var global: GlobalOptions
    @OptionGroup var connection: ConnectionOptions
    @Option(name: .customLong("config"), help: "The policy file.") var config: String

    func run() async throws {
        try await runReportingErrors {
            let document = try PolicyFile.load(path: config)
            let trail = FileManager.default.fileExists(atPath: global.auditDatabasePath) ? try await openTrail(global, readOnly: true) : nil
            let status = try await VeleroStatus.collect(
                cluster: try connection.clusterClient(), namespace: connection.veleroNamespace, policy: document.policy, audit: trail)
            let missing = document.policy.schedules.map(\.schedule.name).filter { name in !status.schedules.contains { $0.name == name } }
            let healthy = status.deployment.exists && !status.locations.isEmpty && status.locations.allSatisfy { $0.phase == "Available" }
                && missing.isEmpty && status.schedules.filter(\.inPolicy).allSatisfy { $0.phase == "Enabled" }
                && status.namespaces.allSatisfy { $0.rpoMet && $0.rtoMet != false }
            if global.output == .json {
                printJSON(Self.json(status, missing: missing, healthy: healthy))
            } else {
                print("Velero deployment: \(status.deployment.exists ? status.deployment.detail : "MISSING (\(status.deployment.detail))")")
                print("\nStorage locations:")
                Terminal.printTable(["NAME", "PHASE", "LAST VALIDATED", "MESSAGE"], status.locations.map {
                    [$0.name, $0.phase, formatDate($0.lastValidation), $0.message ?? "-"]
                })
                print("\nSchedules:")
                Terminal.printTable(["NAME", "CRON", "PHASE", "PAUSED", "LAST BACKUP", "LAST PHASE", "NEXT RUN", "IN POLICY"], status.schedules.map {
                    [$0.name, $0.cron, $0.phase, $0.paused ? "yes" : "no", $0.lastBackup ?? "-", $0.lastBackupPhase ?? "-", formatDate($0.nextRun), $0.inPolicy ? "yes" : "no"]
                } + missing.map { [$0, "-", "MISSING", "-", "-", "-", "-", "yes"] })
                print("\nObjectives:")
                Terminal.printTable(["NAMESPACE", "CLASS", "LAST GOOD BACKUP", "AGE", "RPO", "RPO STATE", "LAST RECOVERY", "RTO", "RTO STATE"], status.namespaces.map {
                    [
                        $0.name, $0.objective, $0.lastBackup ?? "-", $0.age.map(Self.human) ?? "-", $0.rpo.description,
                        $0.rpoMet ? "met" : ($0.lastBackup == nil ? "BREACHED (no backup)" : "BREACHED"),
                        $0.lastRecoverySeconds.map { String(format: "%.1fs", $0) } ?? "-", $0.rto.description,
                        $0.rtoMet.map { $0 ? "met" : "BREACHED" } ?? "not measured (run restore test)",
                    ]
                })
            }
            if !healthy { throw ExitCode.failure }
        }
    }

    static func human(_ seconds: TimeInterval) -> String {
        let whole = Int(seconds.rounded())
        if whole < 120 { return "\(whole)s" }
        if whole < 7200 { return "\(whole / 60)m" }
        if whole < 172_800 { return "\(whole / 3600)h\((whole % 3600) / 60)m" }
        return "\(whole / 86_400)d"
    }

    static func json(_ status: VeleroStatus, missing: [String], healthy: Bool) -> JSONValue {
        func date(_ value: Date?) -> JSONValue { value.map { .string(RFC3339.format($0)) } ?? .null }
        return [
            "healthy": .bool(healthy),
            "deployment": ["exists": .bool(status.deployment.exists), "detail": .string(status.deployment.detail)],
            "locations": .array(status.locations.map {
                ["name": .string($0.name), "phase": .string($0.phase), "lastValidation": date($0.lastValidation), "message": $0.message.map { .string($0) } ?? .null]
            }),
            "schedules": .array(status.schedules.map {
                [
                    "name": .string($0.name), "cron": .string($0.cron), "phase": .string($0.phase), "paused": .bool($0.paused),
                    "lastBackup": $0.lastBackup.map { .string($0) } ?? .null, "lastBackupPhase": $0.lastBackupPhase.map { .string($0) } ?? .null,
                    "lastBackupAt": date($0.lastBackupAt), "nextRun": date($0.nextRun), "inPolicy": .bool($0.inPolicy),
                ]
            }),
            "missingSchedules": .array(missing.map { .string($0) }),
            "namespaces": .array(status.namespaces.map {
                [
                    "name": .string($0.name), "class": .string($0.objective), "rpo": .string($0.rpo.description), "rto": .string($0.rto.description),
                    "lastBackup": $0.lastBackup.map { .string($0) } ?? .null, "lastBackupAt": date($0.lastBackupAt),
                    "ageSeconds": $0.age.map { .integer(Int64($0.rounded())) } ?? .null, "rpoMet": .bool($0.rpoMet),
                    "lastRecoverySeconds": $0.lastRecoverySeconds.map { .double($0) } ?? .null, "rtoMet": $0.rtoMet.map { .bool($0) } ?? .null,
                ]
            }),
        ]
    }
}
