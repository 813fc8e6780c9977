import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation

/// The root command. Every command names itself (`commandName:`): a name derived from the type
/// costs a scan of every protocol conformance in the binary each time the process starts.
@main
struct CarbonRecoveryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "carbon-recovery",
        abstract: "Kubernetes backup and disaster recovery with Velero, MinIO and a tamper-evident audit trail.",
        discussion: """
            Every backup and restore operation is recorded in an append-only, hash-chained SQLite audit trail \
            that reviewers query, export and verify with the `audit` commands.
            """,
        version: CarbonRecoveryVersion.current,
        subcommands: [DoctorCommand.self, BackupCommand.self, RestoreCommand.self, CleanupCommand.self, PolicyCommand.self, RenderCommand.self, DeployCommand.self, StatusCommand.self, RecoverCommand.self, RunCommand.self, NotifyCommand.self, AuditCommand.self, CredentialsCommand.self, PostgresCommand.self, ReportCommand.self, WitnessCommand.self]
    )
}

/// The CLI's version string.
enum CarbonRecoveryVersion {
    static let current = "0.1.0"
}

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .customLong("audit-db"),
        help: ArgumentHelp(
            "The audit trail database.",
            discussion: "Default: $CARBON_RECOVERY_AUDIT_DB, else $XDG_STATE_HOME/carbon-recovery/audit.db (~/.local/state/carbon-recovery/audit.db).",
            valueName: "path"))
    var auditDB: String?

    @Option(name: .customLong("output"), help: "Output format: table or json.")
    var output: OutputFormat = .table

    @Option(
        name: .customLong("signing-key"),
        help: ArgumentHelp(
            "The private key that signs the audit trail's checkpoints.",
            discussion: """
                Default: $CARBON_RECOVERY_AUDIT_SIGNING_KEY, else the policy's audit.signingKey, else \
                $XDG_CONFIG_HOME/carbon-recovery/audit-signing.key (~/.config/carbon-recovery/audit-signing.key) — \
                never the trail's own folder. Commands that write to the trail sign a checkpoint every \
                audit.checkpointInterval entries with it when it exists; one named explicitly must exist.
                """,
            valueName: "file"))
    var signingKey: String?

    @Option(
        name: .customLong("notifier-plugin-dir"),
        help: ArgumentHelp(
            "The folder where `type: process` notifiers named by `plugin: NAME` are found (as carbon-recovery-notifier-NAME).",
            discussion: "Default: $CARBON_RECOVERY_NOTIFIER_PLUGIN_DIR. Never PATH. It must not be writable by group or others.",
            valueName: "path"))
    var notifierPluginDir: String?

    /// The notifier plugin folder after defaults, if any.
    var notifierPluginDirectory: String? {
        if let notifierPluginDir { return notifierPluginDir }
        let value = ProcessInfo.processInfo.environment["CARBON_RECOVERY_NOTIFIER_PLUGIN_DIR"] ?? ""
        return value.isEmpty ? nil : value
    }

    /// The audit database path after defaults.
    var auditDatabasePath: String {
        if let auditDB { return auditDB }
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["CARBON_RECOVERY_AUDIT_DB"], !path.isEmpty { return path }
        return Self.stateDirectory() + "/audit.db"
    }

    /// For a command that opens the trail for writing but must not create one (`audit
    /// checkpoint`, `audit rotate-key`): `notFound` when there is no trail at the path.
    func requireExistingTrail() throws {
        guard FileManager.default.fileExists(atPath: auditDatabasePath) else {
            throw RecoveryError(
                .notFound, "there is no audit trail at \(auditDatabasePath); pass --audit-db with the right path", target: auditDatabasePath)
        }
    }

    /// Where the checkpoint signing key is: `--signing-key`, `$CARBON_RECOVERY_AUDIT_SIGNING_KEY`,
    /// the policy's `audit.signingKey`, else the default in the config folder; `named` when one
    /// of the first three said so (then the file must exist).
    func signingKeyLocation(policy: RecoveryPolicy?) -> (path: String, named: Bool) {
        if let signingKey { return (signingKey, true) }
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["CARBON_RECOVERY_AUDIT_SIGNING_KEY"], !path.isEmpty { return (path, true) }
        if let path = policy?.audit.signingKey { return (path, true) }
        let standard = Self.configDirectory() + "/audit-signing.key"
        // Versions before 0.2 kept the key in the state folder, beside the default trail; keep
        // signing with it (doctor says to move it) rather than start a second key silently.
        let legacy = Self.stateDirectory() + "/audit-signing.key"
        if !FileManager.default.fileExists(atPath: standard) && FileManager.default.fileExists(atPath: legacy) { return (legacy, false) }
        return (standard, false)
    }

    /// The signing key, if there is one where ``signingKeyLocation(policy:)`` says.
    ///
    /// - Throws: `notFound` when a key named explicitly does not exist; what reading it throws.
    func loadSigningKey(policy: RecoveryPolicy?) throws -> AuditSigningKey? {
        let (path, named) = signingKeyLocation(policy: policy)
        guard FileManager.default.fileExists(atPath: path) else {
            guard !named else {
                throw RecoveryError(
                    .notFound, "the audit signing key \(path) does not exist; create it with `carbon-recovery audit keygen --signing-key \(path)`",
                    target: path)
            }
            return nil
        }
        return try AuditSigningKey(contentsOf: URL(fileURLWithPath: path))
    }

    /// `$XDG_CONFIG_HOME/carbon-recovery`, or `~/.config/carbon-recovery`: where the signing key
    /// lives by default, away from the trail in the state folder.
    static func configDirectory() -> String {
        let environment = ProcessInfo.processInfo.environment
        if let config = environment["XDG_CONFIG_HOME"], config.hasPrefix("/") { return config + "/carbon-recovery" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.config/carbon-recovery"
    }

    /// `$XDG_STATE_HOME/carbon-recovery`, or `~/.local/state/carbon-recovery`.
    static func stateDirectory() -> String {
        let environment = ProcessInfo.processInfo.environment
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return state + "/carbon-recovery" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.local/state/carbon-recovery"
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// Runs a command body and turns a ``RecoveryError`` into one line on stderr and exit status 1.
func runReportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as RecoveryError {
        Terminal.printError("error: \(error.message)" + (error.target.map { " [\($0)]" } ?? ""))
        throw ExitCode.failure
    }
}

enum Terminal {
    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Prints rows as left-aligned columns under a header.
    static func printTable(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        print(line(header))
        for row in rows { print(line(row)) }
    }
}
