import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryPostgres
import Foundation

/// `carbon-recovery pg …` — PostgreSQL point-in-time recovery: the WAL archive.
struct PostgresCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pg",
        abstract: "PostgreSQL point-in-time recovery: archive WAL to the backup storage.",
        discussion: "See docs/postgres.md for the archive's layout and how to set up archive_command.",
        subcommands: [ArchiveWAL.self])
}

/// Where a PostgreSQL cluster's archive is: the stanza, a prefix and how files are stored.
struct ArchiveOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The PostgreSQL cluster's name in the archive (one stanza per cluster).", valueName: "name"))
    var stanza: String = "main"

    @Option(name: .customLong("archive-prefix"), help: ArgumentHelp(
        "A folder before postgres/<stanza>/ in the bucket (empty, or ending in /).",
        discussion: "Velero refuses a location whose prefix holds folders of others: give the archive a bucket, or a prefix outside the location's.",
        valueName: "folder"))
    var archivePrefix: String = ""

    @Option(help: ArgumentHelp("How new files are stored: gzip or none.", valueName: "method"))
    var compress: String = "gzip"

    func archive(_ connection: ConnectionOptions) throws -> WALArchive {
        guard let compression = WALArchive.Compression(rawValue: compress) else {
            throw RecoveryError(.invalidInput, "--compress '\(compress)' is not one of gzip, none", target: compress)
        }
        return try WALArchive(storage: try connection.storageBackend(), stanza: stanza, prefix: archivePrefix, compression: compression)
    }
}

extension PostgresCommand {
    /// `carbon-recovery pg archive-wal %p %f` — PostgreSQL's `archive_command`.
    struct ArchiveWAL: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "archive-wal",
            abstract: "Archive one WAL file (PostgreSQL's archive_command: archive-wal %p %f).",
            discussion: """
                Uploads the file with its SHA-256 in the object's name (gzip-compressed unless --compress none, with the \\
                storage's encryption settings) and reads the object back; exits 0 only then, so PostgreSQL recycles a segment \\
                only once the storage holds it. A file already archived with the same contents succeeds without writing; \\
                one archived with other contents is refused (exit 1, nothing written). Each call is recorded in the audit \\
                trail given by --audit-db (the database's own, beside it).
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var archiveOptions: ArchiveOptions

        @Argument(help: ArgumentHelp("The file's path (%p, relative to the data directory).", valueName: "path"))
        var path: String

        @Argument(help: ArgumentHelp("The file's name (%f).", valueName: "name"))
        var name: String

        func run() async throws {
            try await runReportingErrors {
                let file = try WALFileName(name)
                guard (path as NSString).lastPathComponent == name else {
                    throw RecoveryError(.invalidInput, "the path \(path) does not end in the file name \(name): archive_command should pass %p %f", target: path)
                }
                let archive = try archiveOptions.archive(connection)
                guard let contents = FileManager.default.contents(atPath: path) else {
                    throw RecoveryError(.notFound, "\(path) does not exist or cannot be read by this user", target: path)
                }
                let trail = try await openTrail(global, readOnly: false)
                let result: WALArchive.Result
                do {
                    result = try await OperationAudit(audit: trail).perform(
                        "pg.archive-wal", target: "postgres/\(archive.stanza)/\(file.name)",
                        parameters: ["file": .string(file.name), "kind": .string(file.kind.rawValue), "compression": .string(archive.compression.rawValue)]
                    ) { _, _ in
                        let result = try await archive.archive(Array(contents), name: file)
                        return (result, [
                            "key": .string(result.key), "sha256": .string(result.sha256), "bytes": .integer(Int64(result.bytes)),
                            "storedBytes": .integer(Int64(result.storedBytes)), "stored": .bool(result.stored),
                        ])
                    }
                } catch {
                    await trail.close()
                    throw error
                }
                await trail.close()
                switch global.output {
                case .json:
                    print(JSONValue.object([
                        "file": .string(file.name), "key": .string(result.key), "sha256": .string(result.sha256),
                        "bytes": .integer(Int64(result.bytes)), "storedBytes": .integer(Int64(result.storedBytes)), "stored": .bool(result.stored),
                    ]).canonicalString)
                case .table:
                    print(result.stored
                        ? "archived \(file.name) (\(result.bytes) bytes, sha256 \(result.sha256)) as \(result.key)"
                        : "\(file.name) was already archived with the same contents (\(result.key)); nothing written")
                }
            }
        }
    }
}
