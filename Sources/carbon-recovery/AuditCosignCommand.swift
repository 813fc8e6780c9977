import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import CarbonRecoveryPolicy
import Foundation

extension AuditCommand {
    struct Cosign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cosign",
            abstract: "Ask witnesses to cosign the trail's newest checkpoint, and store their cosignatures in the trail.",
            discussion: """
                The witnesses are the --witness options, or else the policy's audit.witnesses (--config). Each gets the \
                checkpoint with a consistency proof from the size it last cosigned. Exits 1 when a witness did not \
                cosign (it was unreachable, or it refused the checkpoint: a 422 means the trail does not extend what \
                the witness saw, which is a rewritten or rolled-back trail).
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .customLong("witness"), help: ArgumentHelp("A witness: its add-checkpoint URL and public key file (repeatable).", valueName: "url=file"))
        var witnesses: [String] = []

        @Option(name: .customLong("config"), help: ArgumentHelp("A policy file whose audit.witnesses to ask (when no --witness is given).", valueName: "path"))
        var config: String?

        func run() async throws {
            try await runReportingErrors {
                try global.requireExistingTrail()
                let policy = try config.map { try PolicyFile.load(path: $0).policy }
                let witnesses = try WitnessClient.witnesses(options: witnesses, policy: policy)
                guard !witnesses.isEmpty else {
                    throw RecoveryError.invalidInput("no witnesses: pass --witness URL=PUBLIC-KEY-FILE or a policy with audit.witnesses")
                }
                let trail = try await openTrail(global, readOnly: false, policy: policy)
                guard let checkpoint = try await trail.latestCheckpoint() else {
                    throw RecoveryError.invalidInput("the audit trail has no checkpoint to cosign yet: run `carbon-recovery audit checkpoint` first")
                }
                let outcomes = try await AuditWitnessCollector(trail: trail, witnesses: witnesses, post: WitnessClient.post).cosignNewest()
                switch global.output {
                case .json:
                    print(JSONValue.object([
                        "size": .integer(checkpoint.size), "origin": .string(checkpoint.origin),
                        "witnesses": .array(outcomes.map { outcome in
                            .object([
                                "name": .string(outcome.witness.key.name), "url": .string(outcome.witness.url), "cosigned": .bool(outcome.cosigned),
                                "status": .integer(Int64(outcome.status)), "message": .string(outcome.message),
                            ])
                        }),
                    ]).canonicalString)
                case .table:
                    for outcome in outcomes { print((outcome.cosigned ? "ok     " : "FAILED ") + outcome.description) }
                }
                if outcomes.contains(where: { !$0.cosigned }) { throw ExitCode.failure }
            }
        }
    }
}
