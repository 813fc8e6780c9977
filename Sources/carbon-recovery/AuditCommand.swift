import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryNotifiers
import CarbonRecoveryPolicy
import Foundation

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Query, verify, export and checkpoint the audit trail; create its signing key.",
        subcommands: [Query.self, Verify.self, Export.self, Stats.self, Checkpoint.self, Cosign.self, RestoreTail.self, Prove.self, Consistency.self, VerifyProof.self, Keygen.self, RotateKey.self, Ingest.self]
    )
}

/// Filters shared by `audit query`, `audit export` and `audit stats`.
struct AuditFilterOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Entries at or after this time (RFC 3339, e.g. 2026-11-25T00:00:00Z).", valueName: "time"))
    var from: String?

    @Option(help: ArgumentHelp("Entries before this time (RFC 3339).", valueName: "time"))
    var to: String?

    @Option(help: ArgumentHelp("Entries of the last duration (Go syntax, e.g. 24h0m0s or 90m).", valueName: "duration"))
    var since: String?

    @Option(help: "Only this OS user.")
    var actor: String?

    @Option(help: "Only this operation (backup.create, restore.create, backup.delete, backup.validate, …).")
    var operation: String?

    @Option(help: "Only this target (e.g. backup/daily-20261125020000).")
    var target: String?

    @Option(help: "Only attempts or outcomes.")
    var kind: String?

    @Option(help: "Only this outcome: success, failure, abandoned or denied (a call the API server or the storage refused).")
    var outcome: String?

    @Option(name: .customLong("correlation-id"), help: "Only the attempt and outcome of one operation.")
    var correlationID: String?

    func query(limit: Int = 100, after: Int64? = nil, newestFirst: Bool = false) throws -> AuditQuery {
        var query = AuditQuery(
            actor: actor, operation: operation, target: target, correlationID: correlationID, afterSequence: after,
            limit: limit, newestFirst: newestFirst)
        if let from { query.from = try Self.time(from, option: "--from") }
        if let to { query.to = try Self.time(to, option: "--to") }
        if let since {
            if from != nil { throw RecoveryError.invalidInput("use either --from or --since, not both") }
            let duration = try GoDuration(parsing: since)
            guard duration.nanoseconds > 0 else { throw RecoveryError.invalidInput("--since '\(since)' must be a positive duration such as 24h") }
            query.from = Date().addingTimeInterval(-duration.timeInterval)
        }
        if let kind {
            guard let value = AuditEntryKind(rawValue: kind) else {
                throw RecoveryError.invalidInput("--kind '\(kind)' is not one of: \(AuditEntryKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.kind = value
        }
        if let outcome {
            guard let value = AuditOutcome(rawValue: outcome) else {
                throw RecoveryError.invalidInput("--outcome '\(outcome)' is not one of: \(AuditOutcome.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.outcome = value
        }
        try query.validate()
        return query
    }

    static func time(_ text: String, option: String) throws -> Date {
        guard let date = RFC3339.parse(text) else {
            throw RecoveryError.invalidInput("\(option) '\(text)' is not an RFC 3339 time such as 2026-11-25T00:00:00Z")
        }
        return date
    }
}

/// Opens the trail. For writing, with the signing key (``GlobalOptions/loadSigningKey(policy:)``)
/// when there is one, so that every command that appends signs a checkpoint at each multiple of
/// the policy's `audit.checkpointInterval` (default 10,000) entries.
func openTrail(
    _ options: GlobalOptions, readOnly: Bool, policy: RecoveryPolicy? = nil, signingKey: AuditSigningKey? = nil,
    verifierKey: AuditVerifierKey? = nil, previousVerifierKeys: [AuditVerifierKey] = []
) async throws -> SQLiteAuditTrail {
    let key = readOnly ? nil : try signingKey ?? options.loadSigningKey(policy: policy)
    return try await SQLiteAuditTrail(
        path: options.auditDatabasePath,
        configuration: .init(
            readOnly: readOnly, checkpointInterval: policy?.audit.checkpointInterval ?? AuditPolicy.defaultCheckpointInterval,
            signingKey: key, verifierKey: verifierKey, previousVerifierKeys: previousVerifierKeys,
            anchors: readOnly ? nil : try policy?.audit.anchors.map { try AuditAnchorStorage.anchors($0) }))
}

extension AuditCommand {
    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "query",
            abstract: "List audit entries that match the filters, oldest first.",
            discussion: "Pages with --limit and --after: the last line tells the --after value of the next page.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var filters: AuditFilterOptions

        @Option(help: "At most this many entries (1 to 10000).")
        var limit: Int = 100

        @Option(help: ArgumentHelp("Only entries after this sequence number (the previous page's cursor).", valueName: "seq"))
        var after: Int64?

        @Flag(name: .customLong("newest-first"), help: "Newest entries first.")
        var newestFirst = false

        func run() async throws {
            try await runReportingErrors {
                let query = try filters.query(limit: limit, after: after, newestFirst: newestFirst)
                let trail = try await openTrail(global, readOnly: true)
                let page = try await trail.entries(matching: query)
                switch global.output {
                case .json:
                    print("{\"entries\":[" + page.entries.map(\.jsonLine).joined(separator: ",") + "],\"next\":"
                        + (page.nextCursor.map(String.init) ?? "null") + "}")
                case .table:
                    Terminal.printTable(
                        ["SEQ", "TIME", "KIND", "OPERATION", "TARGET", "OUTCOME", "ACTOR", "DURATION", "ERROR"],
                        page.entries.map { entry in
                            [
                                String(entry.sequence), entry.time, entry.kind.rawValue, entry.operation, entry.target,
                                entry.outcome?.rawValue ?? "-", entry.actor,
                                entry.durationMilliseconds.map { "\($0)ms" } ?? "-", entry.error.map { String($0.prefix(80)) } ?? "",
                            ]
                        })
                    if let next = page.nextCursor { print("more: --after \(next)") }
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Recompute the hash chain and name the first bad entry.",
            discussion: """
                Without --checkpoint, checks every entry's hash, link and sequence, and the checkpoints stored in the \
                trail. With --public-key, every stored checkpoint must carry a valid signature by that key over \
                the size and hash stored beside it; after a key rotation, name each earlier key with \
                --previous-public-key (nothing else makes a checkpoint by another key acceptable). With \
                --checkpoint and --public-key, also checks the trail against a signed checkpoint kept elsewhere, \
                which detects a cut-off tail or a rebuilt file. With --witness-key, the newest stored checkpoint must \
                also be cosigned by --require-cosignatures (default 1) of those witnesses: a trail rewritten and \
                re-signed with its own key fails here, because no honest witness cosigns a fork. Exits 0 when the \
                trail verifies and 1 otherwise.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: ArgumentHelp("A signed checkpoint note written by `audit checkpoint --file`.", valueName: "file"))
        var checkpoint: String?

        @Option(name: .customLong("public-key"), help: ArgumentHelp("The verifier key the checkpoints are signed with.", valueName: "file"))
        var publicKey: String?

        @Option(
            name: .customLong("previous-public-key"),
            help: ArgumentHelp("A key that signed this trail's checkpoints before a rotation (repeatable; needs --public-key).", valueName: "file"))
        var previousPublicKeys: [String] = []

        @Option(name: .customLong("witness-key"), help: ArgumentHelp("A witness's public key file (repeatable).", valueName: "file"))
        var witnessKeys: [String] = []

        @Option(
            name: .customLong("require-cosignatures"),
            help: ArgumentHelp("How many of the --witness-key witnesses must have cosigned the newest checkpoint (default 1).", valueName: "k"))
        var requiredCosignatures: Int?

        @Flag(
            name: .customLong("anchors"),
            help: "Also check every checkpoint anchored in the object-lock bucket of the policy's audit.anchors (--config): each extends the one before, and the trail extends them all.")
        var anchors = false

        @OptionGroup var notify: NotifyOptions

        func validate() throws {
            if checkpoint != nil && publicKey == nil {
                throw ValidationError("--checkpoint needs --public-key: a checkpoint is only as good as its signature")
            }
            if !previousPublicKeys.isEmpty && publicKey == nil {
                throw ValidationError("--previous-public-key needs --public-key: previous keys only add to the current one")
            }
            if anchors && publicKey == nil {
                throw ValidationError("--anchors needs --public-key: the anchored checkpoints are checked with it")
            }
            if let requiredCosignatures {
                guard !witnessKeys.isEmpty else { throw ValidationError("--require-cosignatures needs the witnesses' keys: pass --witness-key for each") }
                guard (1...witnessKeys.count).contains(requiredCosignatures) else {
                    throw ValidationError("--require-cosignatures must be from 1 to the number of --witness-key options (\(witnessKeys.count))")
                }
            }
        }

        func run() async throws {
            try await runReportingErrors {
                let key = try publicKey.map { try AuditVerifierKey(contentsOf: URL(fileURLWithPath: $0)) }
                let previous = try previousPublicKeys.map { try AuditVerifierKey(contentsOf: URL(fileURLWithPath: $0)) }
                let trail = try await openTrail(global, readOnly: true, verifierKey: key, previousVerifierKeys: previous)
                let witnesses = try witnessKeys.map { try AuditCosignerKey(contentsOf: URL(fileURLWithPath: $0)) }
                var report: AuditVerificationReport
                if let checkpoint, let key {
                    let note: String
                    do { note = try String(contentsOfFile: checkpoint, encoding: .utf8) } catch {
                        throw RecoveryError(.notFound, "cannot read the checkpoint file", target: checkpoint, underlying: error)
                    }
                    report = try await trail.verify(checkpointNote: note, key: key)
                } else {
                    report = try await trail.verify()
                }
                if report.isValid, !witnesses.isEmpty {
                    report.problem = try await trail.cosignatureProblem(witnesses: witnesses, required: requiredCosignatures ?? 1)
                }
                var anchorsChecked: Int?
                if anchors, let key {
                    guard let path = notify.path, let policy = try PolicyFile.load(path: path).policy.audit.anchors else {
                        throw RecoveryError.invalidInput("--anchors needs a policy with audit.anchors: pass --config (or set $CARBON_RECOVERY_CONFIG)")
                    }
                    let anchored = try await AuditAnchorStorage.anchors(policy).verify(origin: trail.checkpointOrigin, keys: [key] + previous, trail: trail)
                    anchorsChecked = anchored.anchors.count
                    if report.isValid { report.problem = anchored.problem }
                }
                switch global.output {
                case .json:
                    var object: [String: JSONValue] = [
                        "valid": .bool(report.isValid), "entriesChecked": .integer(report.entriesChecked),
                        "headSequence": .integer(report.headSequence), "headHash": .string(report.headHash),
                        "checkpointsChecked": .integer(Int64(report.checkpointsChecked)), "origin": .string(trail.checkpointOrigin),
                    ]
                    if let root = report.rootHash { object["rootHash"] = .string(root) }
                    if let anchorsChecked { object["anchorsChecked"] = .integer(Int64(anchorsChecked)) }
                    if let problem = report.problem {
                        object["problem"] = .object([
                            "kind": .string(problem.kind.rawValue), "sequence": problem.sequence.map { .integer($0) } ?? .null,
                            "message": .string(problem.message),
                        ])
                    }
                    print(JSONValue.object(object).canonicalString)
                case .table:
                    if let problem = report.problem {
                        print("FAILED: \(problem)")
                        print("verified \(report.entriesChecked) entries before it (head \(report.headSequence) \(report.headHash))")
                    } else {
                        print("OK: \(report.entriesChecked) entries, head \(report.headSequence) \(report.headHash), \(report.checkpointsChecked) checkpoints matched"
                            + (report.rootHash.map { "; Merkle tree root \($0)" } ?? "")
                            + (anchorsChecked.map { "; \($0) anchored checkpoints extend one another and the trail extends them" } ?? ""))
                    }
                }
                if !report.isValid {
                    if global.output == .json, let problem = report.problem { Terminal.printError("audit trail verification failed: \(problem)") }
                    try await tellNotifiers(report)
                    throw ExitCode.failure
                }
            }
        }

        /// Raises `audit-verification-failed` to the policy's notifiers (with `--config`). These
        /// deliveries are not themselves audited: the trail is what failed.
        private func tellNotifiers(_ report: AuditVerificationReport) async throws {
            guard let path = notify.path else { return }
            let policy = try PolicyFile.load(path: path).policy
            guard let context = try await NotificationContext.open(policy: policy, global: global, audit: { nil }) else { return }
            let problem = report.problem.map { "\($0)" } ?? "unknown problem"
            let place = report.problem.map { "\($0.kind.rawValue):\($0.sequence.map(String.init) ?? "-")" } ?? "unknown"
            try await context.outbox.enqueue(RecoveryEvent(
                kind: .auditVerificationFailed, severity: .critical, target: "audit/\(global.auditDatabasePath)",
                summary: "the audit trail failed verification after \(report.entriesChecked) entries: \(problem)",
                details: ["entriesChecked": String(report.entriesChecked), "headSequence": String(report.headSequence)], occurredAt: Date(),
                idempotencyKey: "audit-verification-failed:\(report.headHash):\(place)"))
            await context.deliver()
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Export entries as JSON Lines (with hashes, re-verifiable elsewhere) or CSV.",
            discussion: """
                JSON Lines: a first line naming the trail ({"origin":…,"trail_id":…,"type":"carbon-recovery.audit-export","v":1}), \
                then one entry per line in its canonical encoding with its hash (docs/audit-trail.md). CSV: a header row, then \
                one row per entry, CRLF line ends; null is an empty field and the empty string "". A failed export removes the file.
                """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var filters: AuditFilterOptions

        @Option(help: "jsonl or csv.")
        var format: AuditExportFormatArgument = .jsonl

        @Option(name: .customLong("file"), help: ArgumentHelp("Write to this new file instead of standard output.", valueName: "path"))
        var file: String?

        func run() async throws {
            try await runReportingErrors {
                let query = try filters.query(limit: 5000)
                let trail = try await openTrail(global, readOnly: true)
                let handle: FileHandle
                if let file {
                    guard !FileManager.default.fileExists(atPath: file) else {
                        throw RecoveryError(.conflict, "the export file exists already; remove it or choose another --file", target: file)
                    }
                    guard FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600]),
                        let opened = FileHandle(forWritingAtPath: file)
                    else { throw RecoveryError(.invalidInput, "cannot create the export file", target: file) }
                    handle = opened
                } else {
                    handle = FileHandle.standardOutput
                }
                var buffer = Data()
                let count: Int64
                do {
                    count = try await trail.export(format.value, matching: query, header: trail.exportHeader) { line in
                        buffer.append(contentsOf: line.utf8)
                        if buffer.count > 1 << 20 {
                            handle.write(buffer)
                            buffer.removeAll(keepingCapacity: true)
                        }
                    }
                } catch {
                    // A partial export must not pass for a whole one: remove the file this command created.
                    if let file {
                        try? handle.close()
                        try? FileManager.default.removeItem(atPath: file)
                    }
                    throw error
                }
                handle.write(buffer)
                if let file {
                    try handle.close()
                    Terminal.printError("exported \(count) entries to \(file)")
                }
            }
        }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "stats", abstract: "Count entries by operation, kind and outcome.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var filters: AuditFilterOptions

        func run() async throws {
            try await runReportingErrors {
                let trail = try await openTrail(global, readOnly: true)
                let stats = try await trail.statistics(matching: try filters.query())
                switch global.output {
                case .json:
                    let object: JSONValue = .object([
                        "total": .integer(stats.totalEntries),
                        "first": stats.firstTime.map { .string($0) } ?? .null,
                        "last": stats.lastTime.map { .string($0) } ?? .null,
                        "rows": .array(stats.rows.map { row in
                            .object([
                                "operation": .string(row.operation), "kind": .string(row.kind.rawValue),
                                "outcome": row.outcome.map { .string($0.rawValue) } ?? .null, "count": .integer(row.count),
                            ])
                        }),
                    ])
                    print(object.canonicalString)
                case .table:
                    Terminal.printTable(
                        ["OPERATION", "KIND", "OUTCOME", "COUNT"],
                        stats.rows.map { [$0.operation, $0.kind.rawValue, $0.outcome?.rawValue ?? "-", String($0.count)] })
                    print("total \(stats.totalEntries) entries" + (stats.firstTime.map { " from \($0)" } ?? "") + (stats.lastTime.map { " to \($0)" } ?? ""))
                }
            }
        }
    }

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkpoint",
            abstract: "Sign a checkpoint of the trail as it is now, and optionally write it to a file.",
            discussion: """
                The signing key is found as for every command (--signing-key, $CARBON_RECOVERY_AUDIT_SIGNING_KEY, \
                default ~/.config/carbon-recovery/audit-signing.key) and created there (mode 0600, public half beside \
                it as .pub; never in the trail's folder) when missing. Keep the checkpoint file and the public key where the \
                trail's writers cannot change them: that is what detects a rewritten trail.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .customLong("file"), help: ArgumentHelp("Also write the signed checkpoint note to this file.", valueName: "path"))
        var file: String?

        @Option(name: .customLong("public-key-file"), help: ArgumentHelp("Also write the public key to this file.", valueName: "path"))
        var publicKeyFile: String?

        @Option(name: .customLong("config"), help: ArgumentHelp("A policy whose audit.anchors the checkpoint is also anchored in.", valueName: "path"))
        var config: String?

        func run() async throws {
            try await runReportingErrors {
                try global.requireExistingTrail()
                let policy = try config.map { try PolicyFile.load(path: $0).policy }
                let keyPath = global.signingKeyLocation(policy: nil).path
                let key: AuditSigningKey
                if FileManager.default.fileExists(atPath: keyPath) {
                    key = try AuditSigningKey(contentsOf: URL(fileURLWithPath: keyPath))
                } else {
                    key = try Keygen.create(at: keyPath, name: AuditSigningKey.defaultName, trailPath: global.auditDatabasePath)
                    Terminal.printError("created signing key \(keyPath) (public key: \(keyPath).pub)")
                }
                let trail = try await openTrail(global, readOnly: false, policy: policy, signingKey: key)
                if let fork = trail.forkDetected { throw RecoveryError(.auditTampered, "audit trail fork detected: \(fork)", target: global.auditDatabasePath) }
                let checkpoint = try await trail.checkpoint()
                if let file { try Data(checkpoint.note.utf8).write(to: URL(fileURLWithPath: file)) }
                if let publicKeyFile { try Data((key.verifierKey.text + "\n").utf8).write(to: URL(fileURLWithPath: publicKeyFile)) }
                switch global.output {
                case .json:
                    print(JSONValue.object([
                        "origin": .string(checkpoint.origin), "size": .integer(checkpoint.size), "headHash": .string(checkpoint.headHash),
                        "note": .string(checkpoint.note), "publicKey": .string(key.verifierKey.text),
                    ]).canonicalString)
                case .table:
                    print(checkpoint.note, terminator: "")
                }
            }
        }
    }
}

enum AuditExportFormatArgument: String, ExpressibleByArgument, CaseIterable {
    case jsonl, csv
    var value: AuditExportFormat { self == .jsonl ? .jsonl : .csv }
}
