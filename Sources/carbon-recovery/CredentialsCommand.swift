import ArgumentParser
import CarbonRecovery
import CarbonRecoveryMinIO
import CarbonRecoveryVelero
import Foundation

/// `carbon-recovery credentials rotate` — the guide's quarterly key rotation without a failed backup.
struct CredentialsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credentials",
        abstract: "Rotate the storage keys Velero and carbon-recovery use (audited).",
        subcommands: [Rotate.self])

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate",
            abstract: "Switch Velero and carbon-recovery to a new storage key pair without a failed backup.",
            discussion: """
                Create the new key at the storage server first (both keys valid). Then this: checks the new keys against \
                the storage (write, read, delete a probe object), writes them into the location's credentials secret, waits \
                until Velero has validated the location with them, rewrites carbon-recovery's own credentials file (a running \
                `run` reads it for every request), takes a smoke backup and validates it. Only then revoke the old key at the \
                storage server; `carbon-recovery doctor` confirms afterwards that it is refused. Each step is audited; no key \
                is printed (ids are shortened). The new pair comes from --new-credentials-file (an AWS-style file, [default]) \
                or from CARBON_RECOVERY_NEW_S3_ACCESS_KEY_ID and CARBON_RECOVERY_NEW_S3_SECRET_ACCESS_KEY.
                """)
        @OptionGroup var global: GlobalOptions
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("new-credentials-file"), help: ArgumentHelp("The new key pair, as an AWS-style credentials file.", valueName: "path"))
        var newCredentialsFile: String?
        @Option(name: .customLong("new-credentials-profile"), help: "The profile in that file.") var newCredentialsProfile = "default"
        @Option(name: .customLong("storage-location"), help: "The BackupStorageLocation whose secret to rotate.") var location = "default"
        @Option(name: .customLong("smoke-namespace"), help: "The namespace the smoke backup takes.") var smokeNamespace = "velero"
        @Option(name: .customLong("timeout"), help: "How long to wait for Velero to validate the location, and for what it started with the old key to end, e.g. 5m0s.") var timeout = "5m0s"

        static let idVariable = "CARBON_RECOVERY_NEW_S3_ACCESS_KEY_ID"
        static let secretVariable = "CARBON_RECOVERY_NEW_S3_SECRET_ACCESS_KEY"

        func run() async throws {
            try await runReportingErrors {
                // Everything about the input is checked before anything is recorded or changed.
                let limit = try GoDuration(parsing: timeout)
                guard limit.nanoseconds > 0 else { throw RecoveryError.invalidInput("--timeout must be positive, not \(timeout)") }
                try KubernetesName.validateLabel(smokeNamespace, what: "--smoke-namespace")
                let newKeys = try Self.newKeys(file: newCredentialsFile, profile: newCredentialsProfile)
                let context = try await OperationContext(global: global, connection: connection)
                let storage = context.storage
                let rotation = VeleroCredentialRotation(
                    cluster: context.cluster, coordinator: context.coordinator, namespace: connection.veleroNamespace, location: location
                ) { keys in
                    try await Self.probe(keys, like: storage)
                }
                let current = try await rotation.current()
                let ownFile = Self.ownCredentialsFile(connection)
                let json = global.output == .json
                let report = try await rotation.rotate(to: newKeys, smokeNamespace: smokeNamespace, timeout: .nanoseconds(limit.nanoseconds)) { line in
                    if !json { print(line) }
                    // Once Velero has the new key, carbon-recovery takes it too, before the smoke backup.
                    if line.hasPrefix("smoke backup"), let (path, profile) = ownFile {
                        do {
                            try Self.rewrite(path: path, profile: profile, with: newKeys)
                            if !json { print("carbon-recovery's own credentials file \(path) [\(profile)] now holds \(newKeys.shortID)") }
                        } catch {
                            FileHandle.standardError.write(Data("warning: could not update \(path): \(RecoveryDoctor.describe(error)); update it by hand\n".utf8))
                        }
                    }
                }
                // The old pair, kept (0600) until doctor has seen the storage refuse it.
                try Self.rememberRetired(current.keys)
                if json {
                    printJSON([
                        "location": .string(report.location), "secret": .string(report.secret), "oldKey": .string(report.oldKey),
                        "newKey": .string(report.newKey), "smokeBackup": .string(report.smokeBackup), "seconds": .double(report.seconds),
                        "steps": .array(report.steps.map { ["name": .string($0.name), "seconds": .double($0.seconds)] }),
                        "oldKeyInUse": .array(report.oldKeyInUse.map { .string($0) }),
                    ])
                } else {
                    print("Rotated \(report.oldKey) → \(report.newKey) in \(String(format: "%.1f", report.seconds)) s; smoke backup \(report.smokeBackup) validated.")
                    if ownFile == nil {
                        print("carbon-recovery reads its keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: set them to the new pair.")
                    }
                    if report.oldKeyInUse.isEmpty {
                        print("The old key \(report.oldKey) can be revoked at the storage server now; then `carbon-recovery doctor` confirms it is refused.")
                    } else {
                        print("The old key \(report.oldKey) is still used by \(report.oldKeyInUse.joined(separator: ", ")), started before the change: revoke it at the storage server once they have ended (revoking it sooner fails them); then `carbon-recovery doctor` confirms it is refused.")
                    }
                }
            }
        }

        /// The new pair from the file or the two variables — exactly one of them.
        static func newKeys(file: String?, profile: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> StorageKeyPair {
            let id = environment[idVariable] ?? "", secret = environment[secretVariable] ?? ""
            if let file {
                guard id.isEmpty && secret.isEmpty else {
                    throw RecoveryError.invalidInput("give the new keys once: --new-credentials-file or \(idVariable)/\(secretVariable), not both")
                }
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw RecoveryError(.notFound, "the new credentials file \(file) does not exist or cannot be read", target: file)
                }
                return try StorageKeyPair(credentialsFile: String(decoding: data, as: UTF8.self), profile: profile, source: file)
            }
            guard !id.isEmpty || !secret.isEmpty else {
                throw RecoveryError.invalidInput("no new keys: pass --new-credentials-file or set \(idVariable) and \(secretVariable)")
            }
            guard !id.isEmpty, !secret.isEmpty else {
                throw RecoveryError.invalidInput("set both \(idVariable) and \(secretVariable) (one is empty)")
            }
            return try StorageKeyPair(accessKeyID: id, secretAccessKey: secret)
        }

        /// Writes, reads back and deletes a probe object with `keys`, at the storage `like` uses.
        static func probe(_ keys: StorageKeyPair, like storage: MinIOStorageBackend) async throws {
            var configuration = storage.configuration
            configuration.credentials = .fixed(S3Credentials(accessKeyID: keys.accessKeyID, secretAccessKey: keys.secretAccessKey))
            let backend = try MinIOStorageBackend(configuration: configuration)
            let key = "carbon-recovery/credentials-check/\(UUID().uuidString.lowercased())"
            let payload = Array("carbon-recovery credentials check\n".utf8)
            try await backend.put(key, data: payload)
            guard try await backend.get(key) == payload else {
                throw RecoveryError(.storageFailure, "the storage returned something else for the probe object written with \(keys.shortID)", target: key)
            }
            try await backend.delete(key)
        }

        /// The credentials file carbon-recovery itself signs with, when it uses one.
        static func ownCredentialsFile(_ connection: ConnectionOptions, environment: [String: String] = ProcessInfo.processInfo.environment) -> (String, String)? {
            if let file = connection.credentialsFile { return (file, connection.credentialsProfile) }
            guard case .file(let path, let profile) = S3CredentialsSource.standard(environment) else { return nil }
            return FileManager.default.fileExists(atPath: path) ? (path, profile) : nil
        }

        /// Replaces `path` (mode 0600) with its text carrying `keys` in `profile`; atomic by rename.
        static func rewrite(path: String, profile: String, with keys: StorageKeyPair) throws {
            let text = (FileManager.default.contents(atPath: path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            try writePrivately(path: path, contents: keys.replacing(in: text, profile: profile))
        }

        static func writePrivately(path: String, contents: String) throws {
            let temporary = "\(path).tmp-\(ProcessInfo.processInfo.processIdentifier)"
            guard FileManager.default.createFile(atPath: temporary, contents: Data(contents.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw RecoveryError(.invalidInput, "cannot write \(temporary)", target: path)
            }
            guard rename(temporary, path) == 0 else {
                unlink(temporary)
                throw RecoveryError(.invalidInput, "cannot replace \(path): \(String(cString: strerror(errno)))", target: path)
            }
        }

        /// Where the replaced pair waits for doctor to see it refused.
        static var retiredKeyPath: String { GlobalOptions.stateDirectory() + "/retired-storage-key" }

        static func rememberRetired(_ keys: StorageKeyPair) throws {
            try FileManager.default.createDirectory(atPath: GlobalOptions.stateDirectory(), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try writePrivately(path: retiredKeyPath, contents: keys.replacing(in: "", profile: "default"))
        }
    }
}
