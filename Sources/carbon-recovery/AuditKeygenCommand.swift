import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation

extension AuditCommand {
    /// `carbon-recovery audit keygen` — creates the key that signs the trail's checkpoints.
    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keygen",
            abstract: "Create the private key that signs the audit trail's checkpoints, and its public half.",
            discussion: """
                Writes the key where every command looks for it (--signing-key, $CARBON_RECOVERY_AUDIT_SIGNING_KEY, \\
                default ~/.config/carbon-recovery/audit-signing.key) with mode 0600, and the public key beside it \\
                (<key>.pub). Never overwrites a key, and refuses a place inside the audit trail's own folder: whoever \\
                can replace the trail must not be able to re-sign it. Give the public key to the trail's reviewers.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: ArgumentHelp("The key's name, shown in each signature line.", valueName: "name"))
        var name: String = AuditSigningKey.defaultName

        func run() async throws {
            try await runReportingErrors {
                let path = global.signingKeyLocation(policy: nil).path
                let key = try Keygen.create(at: path, name: name, trailPath: global.auditDatabasePath)
                switch global.output {
                case .json:
                    print(JSONValue.object(["signingKey": .string(path), "publicKeyFile": .string(path + ".pub"), "publicKey": .string(key.verifierKey.text)]).canonicalString)
                case .table:
                    print("created \(path) (mode 0600) and \(path).pub")
                    print("public key: \(key.verifierKey.text)")
                }
            }
        }

        /// Creates a key file (0600) and its `.pub`, refusing to overwrite either, or to put the
        /// key in the trail's folder when `trailPath` is given.
        static func create(at path: String, name: String, trailPath: String? = nil) throws -> AuditSigningKey {
            if let trailPath, AuditSigningKeyPlacement.isInside(path, folderOf: trailPath) {
                throw RecoveryError.invalidInput(
                    "\(path) is in the audit trail's folder: whoever can replace the trail could re-sign it; choose a --signing-key elsewhere",
                    target: path)
            }
            guard !FileManager.default.fileExists(atPath: path + ".pub") else {
                throw RecoveryError(.conflict, "\(path).pub exists already; remove it or choose another --signing-key", target: path + ".pub")
            }
            let key = AuditSigningKey.generate(name: name)
            _ = try AuditSigningKey(parsing: key.text)  // the name's rules: non-empty, no '+', no spaces
            try key.write(to: URL(fileURLWithPath: path))
            try Data((key.verifierKey.text + "\n").utf8).write(to: URL(fileURLWithPath: path + ".pub"), options: .withoutOverwriting)
            return key
        }
    }
}
