import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryPolicy
import Foundation

extension AuditCommand {
    /// `carbon-recovery audit restore-tail` — the way back after restoring the trail's database from a backup.
    struct RestoreTail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore-tail",
            abstract: "Put back the entries a restored database lacks, from the anchors' mirror in the object-lock bucket.",
            discussion: """
                A database restored from a backup ends before the newest anchored checkpoint, so every writer refuses \\
                it ("fork detected"). This verifies the anchored history with --public-key (and any \\
                --previous-public-key), checks that the database is a prefix of it (a fork is refused, not repaired), \\
                fetches the missing entries from the policy's audit.anchors (--config), checks each against the \\
                anchored roots and inserts them in one transaction, then records audit.tail-restore. Entries written \\
                after the newest anchored checkpoint and lost with the database cannot come back.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .customLong("config"), help: ArgumentHelp("The policy whose audit.anchors hold the mirror.", valueName: "path"))
        var config: String

        @Option(name: .customLong("public-key"), help: ArgumentHelp("The verifier key the anchored checkpoints are signed with.", valueName: "file"))
        var publicKey: String

        @Option(
            name: .customLong("previous-public-key"),
            help: ArgumentHelp("A key that signed anchored checkpoints before a rotation (repeatable).", valueName: "file"))
        var previousPublicKeys: [String] = []

        func run() async throws {
            try await runReportingErrors {
                try global.requireExistingTrail()
                let policy = try PolicyFile.load(path: config).policy
                guard let anchorPolicy = policy.audit.anchors else {
                    throw RecoveryError.invalidInput("\(config) has no audit.anchors: there is no mirror to restore from")
                }
                let keys = try ([publicKey] + previousPublicKeys).map { try AuditVerifierKey(contentsOf: URL(fileURLWithPath: $0)) }
                let trail = try await openTrail(global, readOnly: false, policy: policy)
                let restored = try await trail.restoreTail(from: try AuditAnchorStorage.anchors(anchorPolicy), keys: keys, actor: .current())
                switch global.output {
                case .json:
                    print(JSONValue.object(["from": .integer(restored.previousSize), "to": .integer(restored.size)]).canonicalString)
                case .table:
                    print(restored.size == restored.previousSize
                        ? "nothing to restore: the trail has \(restored.size) entries and no anchored checkpoint is larger"
                        : "restored entries \(restored.previousSize + 1) to \(restored.size) from the anchors; the trail appends again")
                }
            }
        }
    }
}
