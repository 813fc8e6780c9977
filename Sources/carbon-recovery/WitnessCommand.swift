import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation

/// `carbon-recovery witness`: a C2SP tlog-witness for audit trails, and its key.
struct WitnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "witness",
        abstract: "Run a witness that cosigns audit trails' checkpoints only when they extend what it cosigned before.",
        subcommands: [Serve.self, Keygen.self])
}

extension WitnessCommand {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve C2SP tlog-witness POST /add-checkpoint on 127.0.0.1.",
            discussion: """
                For each trail it witnesses (--trail ORIGIN=PUBLIC-KEY-FILE, the origin as `audit verify --output json` \
                prints it), the witness keeps the last checkpoint it cosigned in its state file (SQLite, synced before \
                it answers). It cosigns a checkpoint signed by the trail's key only with a valid consistency proof from \
                that checkpoint, and refuses a fork with HTTP 422. Run it on a machine, and under an account, that the \
                trail's writers do not control: a witness sharing their root shares their power to roll it back.
                """)

        @Option(name: .customLong("key"), help: ArgumentHelp("The witness's private key file (from `witness keygen`).", valueName: "file"))
        var key: String

        @Option(name: .customLong("state"), help: ArgumentHelp("The witness's state file (created, mode 0600).", valueName: "file"))
        var state: String

        @Option(name: .customLong("trail"), help: ArgumentHelp("A trail to witness: its checkpoint origin and its public key file (repeatable).", valueName: "origin=file"))
        var trails: [String] = []

        @Option(help: "The TCP port on 127.0.0.1 (0 picks a free one).")
        var port: Int = 7380

        @Option(name: .customLong("request-timeout"), help: ArgumentHelp("Close a connection that has not sent its whole request within this many seconds.", valueName: "seconds"))
        var requestTimeout: Int = 30

        func validate() throws {
            guard (1...3600).contains(requestTimeout) else { throw ValidationError("--request-timeout must be from 1 to 3600 seconds") }
        }

        func run() async throws {
            try await runReportingErrors {
                guard !trails.isEmpty else { throw RecoveryError.invalidInput("name at least one --trail ORIGIN=PUBLIC-KEY-FILE to witness") }
                let cosigningKey = try AuditCosigningKey(contentsOf: URL(fileURLWithPath: key))
                var logs: [String: AuditVerifierKey] = [:]
                for trail in trails {
                    guard let split = trail.firstIndex(of: "="), split != trail.startIndex else {
                        throw RecoveryError.invalidInput("--trail \(trail): write ORIGIN=PUBLIC-KEY-FILE")
                    }
                    let origin = String(trail[..<split])
                    guard logs[origin] == nil else { throw RecoveryError.invalidInput("--trail names \(origin) twice") }
                    logs[origin] = try AuditVerifierKey(contentsOf: URL(fileURLWithPath: String(trail[trail.index(after: split)...])))
                }
                let witness = try await AuditWitness(path: state, key: cosigningKey, logs: logs)
                let name = cosigningKey.name
                try await WitnessHTTPServer(witness: witness, port: port, requestTimeout: .seconds(requestTimeout)).run { bound in
                    // Written at once, unbuffered: a supervisor (or a test) waits for this line.
                    FileHandle.standardOutput.write(Data("witness \(name) listening on http://127.0.0.1:\(bound)/add-checkpoint\n".utf8))
                }
            }
        }
    }

    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keygen",
            abstract: "Create a witness key: the private key file (mode 0600) and its public key beside it as .pub.",
            discussion: "Give the public key text it prints to whoever verifies the trail (`audit verify --witness-key`) and to the policy's audit.witnesses.")

        @Option(name: .customLong("key"), help: ArgumentHelp("The new private key file (never overwritten).", valueName: "file"))
        var key: String

        @Option(help: "The witness's name, by convention a schema-less URL such as witness.example.com/w1.")
        var name: String

        func run() async throws {
            try await runReportingErrors {
                let cosigningKey = try AuditCosigningKey.generate(name: name)
                try cosigningKey.write(to: URL(fileURLWithPath: key))
                try Data((cosigningKey.cosignerKey.text + "\n").utf8).write(to: URL(fileURLWithPath: key + ".pub"), options: .withoutOverwriting)
                print(cosigningKey.cosignerKey.text)
            }
        }
    }
}
