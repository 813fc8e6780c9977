import CarbonRecovery
import CarbonRecoveryMinIO
import CarbonRecoveryPostgres
import CarbonRecoveryScheduler
import Foundation

extension ConnectionOptions {
    /// Opens a policy database's point-in-time recovery: this command's storage settings with the
    /// database's bucket, its stanza, prefix and compression, and PostgreSQL's programs as it
    /// names them (else `CARBON_RECOVERY_PG_BIN`, else Debian's PostgreSQL 15).
    func databaseRecoveryFactory() throws -> RecoveryTasks.DatabaseRecoveryFactory {
        let configuration = try storageBackend().configuration
        let defaultBin = ProcessInfo.processInfo.environment["CARBON_RECOVERY_PG_BIN"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/lib/postgresql/15/bin"
        return { database in
            var storageConfiguration = configuration
            if let bucket = database.bucket { storageConfiguration.bucket = bucket }
            let archive = try WALArchive(
                storage: try MinIOStorageBackend(configuration: storageConfiguration), stanza: database.stanza, prefix: database.prefix,
                compression: WALArchive.Compression(rawValue: database.compression) ?? .gzip)
            return PointInTimeRecovery(
                archive: archive, tools: PostgresTools(binDirectory: database.binDirectory ?? defaultBin, runAs: database.runAs),
                restoreWALExecutable: currentExecutable())
        }
    }
}

/// This program's own file: `/proc/self/exe` (argv[0] is only a name when found on `PATH`),
/// else argv[0] made absolute.
func currentExecutable() -> String {
    if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"), path.hasPrefix("/") { return path }
    return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
}
