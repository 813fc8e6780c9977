import ArgumentParser
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation

/// `audit prove`, `audit consistency`, `audit verify-proof`: proofs a reviewer checks with only
/// the proof file and the public key (docs/audit-trail.md, "Proofs").
extension AuditCommand {
    struct Prove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prove",
            abstract: "Print an inclusion proof of one entry against a signed checkpoint.",
            discussion: """
                The proof holds the entry's line, its index, the audit path and the checkpoint note; `audit verify-proof` \
                checks it with the public key alone. Against --checkpoint FILE (a note the reviewer already holds), else \
                the smallest stored checkpoint that holds the entry (`audit checkpoint` signs one of the trail as it is now).
                """)
        @OptionGroup var global: GlobalOptions
        @Option(name: .customLong("entry"), help: ArgumentHelp("The entry's sequence number (from 1).", valueName: "seq"))
        var entry: Int64
        @Option(help: ArgumentHelp("Prove against this signed checkpoint note instead of a stored one.", valueName: "file"))
        var checkpoint: String?
        @Option(name: .customLong("file"), help: ArgumentHelp("Write the proof to this new file instead of standard output.", valueName: "path"))
        var file: String?

        func run() async throws {
            try await runReportingErrors {
                guard entry >= 1 else { throw RecoveryError.invalidInput("--entry must be 1 or more (entries are numbered from 1), not \(entry)") }
                let note = try checkpoint.map(Self.readNote)
                let trail = try await openTrail(global, readOnly: true)
                let against = try await Self.checkpoint(note: note, covering: entry, trail: trail)
                let (found, path) = try await trail.inclusionProof(sequence: entry, size: against.size)
                await trail.close()
                let proof = AuditProof.inclusion(index: entry - 1, entry: found.jsonLine, path: path, checkpoint: against.note)
                try Self.emit(proof, file: file)
            }
        }

        static func readNote(_ path: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw RecoveryError(.notFound, "cannot read the checkpoint note \(path)", target: path)
            }
            return text
        }

        /// The checkpoint to prove against: the given note (its size and hash read, its signature
        /// left to the verifier), else the smallest stored one of at least `size` entries.
        static func checkpoint(note: String?, covering size: Int64, trail: SQLiteAuditTrail) async throws -> AuditCheckpoint {
            if let note {
                let stated = try AuditCheckpoint(unverified: note)
                guard stated.origin == trail.checkpointOrigin else {
                    throw RecoveryError.invalidInput("the checkpoint is for '\(stated.origin)', but this trail is '\(trail.checkpointOrigin)'")
                }
                guard stated.size >= size else {
                    throw RecoveryError.invalidInput("the checkpoint is of \(stated.size) entries, so it cannot hold entry \(size)")
                }
                return stated
            }
            guard let stored = try await trail.checkpoints(after: size - 1, limit: 1).first else {
                throw RecoveryError.invalidInput(
                    "no stored checkpoint holds entry \(size) yet: sign one with `carbon-recovery audit checkpoint`, or pass --checkpoint FILE")
            }
            return stored
        }

        static func emit(_ proof: AuditProof, file: String?) throws {
            guard let file else {
                FileHandle.standardOutput.write(Data(proof.text.utf8))
                return
            }
            guard !FileManager.default.fileExists(atPath: file) else {
                throw RecoveryError(.conflict, "\(file) exists; the proof is written to a new file", target: file)
            }
            guard FileManager.default.createFile(atPath: file, contents: Data(proof.text.utf8)) else {
                throw RecoveryError.invalidInput("could not write the proof to \(file)")
            }
            print("wrote \(file)")
        }
    }

    struct Consistency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "consistency",
            abstract: "Print a proof that the trail at one checkpoint extends the trail at an earlier one.",
            discussion: """
                --from and --to are each a signed checkpoint note (a file) or the size of a stored checkpoint. \
                `audit verify-proof` checks the proof with the public key alone: the newer trail holds the older one \
                unchanged, as its first entries.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: ArgumentHelp("The older checkpoint: a note file, or a stored checkpoint's size.", valueName: "file|size"))
        var from: String
        @Option(help: ArgumentHelp("The newer checkpoint: a note file, or a stored checkpoint's size.", valueName: "file|size"))
        var to: String
        @Option(name: .customLong("file"), help: ArgumentHelp("Write the proof to this new file instead of standard output.", valueName: "path"))
        var file: String?

        func run() async throws {
            try await runReportingErrors {
                let trail = try await openTrail(global, readOnly: true)
                let older = try await Self.resolve(from, option: "--from", trail: trail)
                let newer = try await Self.resolve(to, option: "--to", trail: trail)
                guard older.size <= newer.size else {
                    throw RecoveryError.invalidInput("--from (\(older.size) entries) must not be newer than --to (\(newer.size) entries)")
                }
                let path = older.size == 0 ? [] : try await trail.consistencyProof(from: older.size, to: newer.size)
                await trail.close()
                try Prove.emit(.consistency(path: path, older: older.note, newer: newer.note), file: file)
            }
        }

        /// A stored checkpoint by size, or a note file (checked to be this trail's).
        static func resolve(_ value: String, option: String, trail: SQLiteAuditTrail) async throws -> AuditCheckpoint {
            if let size = Int64(value) {
                guard size >= 1, let stored = try await trail.checkpoints(after: size - 1, limit: 1).first, stored.size == size else {
                    throw RecoveryError.invalidInput("\(option) \(value): the trail has no stored checkpoint of \(value) entries")
                }
                return stored
            }
            let stated = try AuditCheckpoint(unverified: try Prove.readNote(value))
            guard stated.origin == trail.checkpointOrigin else {
                throw RecoveryError.invalidInput("\(option) \(value) is a checkpoint of '\(stated.origin)', but this trail is '\(trail.checkpointOrigin)'")
            }
            return stated
        }
    }

    struct VerifyProof: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-proof",
            abstract: "Check an inclusion or consistency proof with only the proof file and the public key (no trail needed).",
            discussion: "Exit status 1 when the proof does not verify; the first line says what it proved, or why not.")
        @Argument(help: ArgumentHelp("The proof file (from `audit prove` or `audit consistency`).", valueName: "file"))
        var proofFile: String
        @Option(name: .customLong("public-key"), help: ArgumentHelp("The trail's verifier key.", valueName: "file"))
        var publicKey: String
        @Option(name: .customLong("output"), help: "table or json.") var output: OutputFormat = .table

        func run() async throws {
            try await runReportingErrors {
                let key = try AuditVerifierKey(contentsOf: URL(fileURLWithPath: publicKey))
                guard let data = FileManager.default.contents(atPath: proofFile), data.count <= 8 << 20,
                    let text = String(data: data, encoding: .utf8)
                else {
                    throw RecoveryError(.notFound, "cannot read the proof \(proofFile) (a text file of at most 8 MiB)", target: proofFile)
                }
                let proof = try AuditProof(parsing: text)
                let verified: AuditProof.Verified
                do {
                    verified = try proof.verify(key: key)
                } catch let error as RecoveryError where error.code == .auditTampered {
                    if output == .json {
                        printJSON(["valid": false, "problem": .string(error.message)])
                    } else {
                        print("FAILED: \(error.message)")
                    }
                    throw ExitCode.failure
                }
                let checkpoint = verified.checkpoint
                if output == .json {
                    var object: [String: JSONValue] = [
                        "valid": true, "origin": .string(checkpoint.origin), "size": .integer(checkpoint.size),
                        "rootHash": .string(checkpoint.headHash), "key": .string(key.name),
                    ]
                    if let sequence = verified.sequence { object["entry"] = .integer(sequence) }
                    if let line = verified.entry { object["line"] = .string(line) }
                    if let older = verified.older {
                        object["olderSize"] = .integer(older.size)
                        object["olderRootHash"] = .string(older.headHash)
                    }
                    printJSON(.object(object))
                } else if let older = verified.older {
                    print("OK: the trail \(checkpoint.origin) of \(checkpoint.size) entries (root \(checkpoint.headHash)) extends its first \(older.size) entries (root \(older.headHash)) unchanged; both checkpoints signed by key '\(key.name)'")
                } else if let sequence = verified.sequence, let line = verified.entry {
                    print("OK: entry \(sequence) is in the trail \(checkpoint.origin) of \(checkpoint.size) entries (root \(checkpoint.headHash)), checkpoint signed by key '\(key.name)':")
                    print(line)
                }
            }
        }
    }
}
