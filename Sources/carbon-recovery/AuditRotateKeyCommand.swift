import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation

extension AuditCommand {
    /// `carbon-recovery audit rotate-key` — records a signing-key rotation as a signed event.
    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Rotate the checkpoint signing key: record the rotation in the trail, signed by the old key and the new one.",
            discussion: """
                Appends audit.rotate-key (naming both public keys) and a checkpoint signed by both. A reviewer who \\
                trusts either key then accepts the other's checkpoints on its side of the rotation, and nothing else. \\
                Create the new key first (audit keygen --signing-key NEW); the current key is found as for every \\
                command (--signing-key, $CARBON_RECOVERY_AUDIT_SIGNING_KEY). Afterwards, sign with the new key \\
                (point --signing-key or audit.signingKey at it) and give its .pub to the reviewers.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(name: .customLong("new-signing-key"), help: ArgumentHelp("The new private key file (from audit keygen).", valueName: "file"))
        var newSigningKey: String

        func run() async throws {
            try await runReportingErrors {
                try global.requireExistingTrail()
                let oldPath = global.signingKeyLocation(policy: nil).path
                guard let oldKey = try global.loadSigningKey(policy: nil) else {
                    throw RecoveryError(.notFound, "there is no signing key at \(oldPath) to rotate from; name it with --signing-key", target: oldPath)
                }
                if AuditSigningKeyPlacement.isInside(newSigningKey, folderOf: global.auditDatabasePath) {
                    throw RecoveryError.invalidInput(
                        "\(newSigningKey) is in the audit trail's folder: whoever can replace the trail could re-sign it", target: newSigningKey)
                }
                guard FileManager.default.fileExists(atPath: newSigningKey) else {
                    throw RecoveryError(
                        .notFound, "the new signing key \(newSigningKey) does not exist; create it with `carbon-recovery audit keygen --signing-key \(newSigningKey)`",
                        target: newSigningKey)
                }
                let newKey = try AuditSigningKey(contentsOf: URL(fileURLWithPath: newSigningKey))
                guard newKey.verifierKey != oldKey.verifierKey else {
                    throw RecoveryError.invalidInput("\(newSigningKey) is the key in use; create a new one with `carbon-recovery audit keygen`", target: newSigningKey)
                }
                let trail = try await openTrail(global, readOnly: false, signingKey: oldKey)
                let checkpoint = try await trail.rotateSigningKey(to: newKey, actor: .current())
                await trail.close()
                switch global.output {
                case .json:
                    print(JSONValue.object([
                        "size": .integer(checkpoint.size), "headHash": .string(checkpoint.headHash), "note": .string(checkpoint.note),
                        "from": .string(oldKey.verifierKey.text), "to": .string(newKey.verifierKey.text),
                    ]).canonicalString)
                case .table:
                    print(checkpoint.note, terminator: "")
                    Terminal.printError("""
                        rotated the checkpoint signing key at entry \(checkpoint.size): \(oldKey.verifierKey.keyID) → \(newKey.verifierKey.keyID).
                        Sign with the new key from now on (--signing-key \(newSigningKey), or audit.signingKey), and give its public key to the reviewers:
                          \(newKey.verifierKey.text)
                        """)
                }
            }
        }
    }
}
