// Credential rotation with no failed backup, on a sandbox of its own (it restarts the S3
// server): backups are created every few seconds throughout — before the storage accepts the
// new key, while it accepts both, through `carbon-recovery credentials rotate`, and after the old
// key is revoked — and every one completes. Each step is audited; `doctor` sees the old key
// refused once revoked; neither key's secret appears in any output, log or audit entry. Bad
// input (a key file with one field, both sources, the key in use) changes nothing.
import CarbonRecovery
import CarbonRecoveryKubectl
import CarbonRecoveryMinIO
import CarbonRecoveryVelero
import Foundation
import Testing
import TestSupport

extension PrivateSandboxTests {
    @Suite("Credential rotation with no failed backup", .serialized, .timeLimit(.minutes(20)))
    struct CredentialRotationTests {
        /// Creates a Backup of `registry` every `interval` until cancelled (a create the
        /// cancellation interrupts may still have happened: count the backups in the cluster).
        func writer(_ cluster: KubectlClusterClient, interval: Duration) -> Task<Void, any Error> {
            Task {
                var count = 0
                while !Task.isCancelled {
                    var backup = KubernetesObject(kind: .veleroBackup, namespace: "velero", name: "rotation-\(count)-\(UUID().uuidString.prefix(4).lowercased())")
                    backup.json["spec"] = ["includedNamespaces": ["registry"], "ttl": "1h0m0s"]
                    do {
                        _ = try await cluster.create(backup, fieldManager: "carbon-recovery-tests")
                    } catch is CancellationError {
                        return
                    }
                    count += 1
                    try? await Task.sleep(for: interval)
                }
            }
        }

        @Test("backups every 5 s throughout a rotation all complete; every step audited; the old key refused once revoked; no secret anywhere")
        func rotate() async throws {
            let sandbox = try await PrivateSandbox()
            let environment = try await sandbox.environment()
            let cluster = try client(environment)
            let scratch = try TemporaryDirectory()
            let oldFile = try #require(environment["AWS_SHARED_CREDENTIALS_FILE"])
            let old = try StorageKeyPair(credentialsFile: try String(contentsOfFile: oldFile, encoding: .utf8), source: oldFile)
            let new = try StorageKeyPair(accessKeyID: "CARBONNEW" + UUID().uuidString.prefix(12).replacingOccurrences(of: "-", with: "").uppercased(),
                                         secretAccessKey: "new-" + UUID().uuidString.replacingOccurrences(of: "-", with: "") + "9f3a")
            let newFile = scratch.file("new-credentials")
            try new.replacing(in: "").write(toFile: newFile, atomically: true, encoding: .utf8)
            var cli = environment
            cli["XDG_STATE_HOME"] = scratch.file("state")
            cli["CARBON_RECOVERY_AUDIT_DB"] = scratch.file("audit.db")

            // A backend made before the rotation, as a running `carbon-recovery run` holds one: it
            // reads the credentials file for every request, so it goes on working after the old key is revoked.
            let longLived = try storage(environment)
            try await longLived.checkAccess()
            let writing = writer(cluster, interval: .seconds(5))
            try await Task.sleep(for: .seconds(4))
            try await sandbox.script("s3-keys", "allow", newFile)
            let started = ContinuousClock.now
            let rotated = try await run(try executable("carbon-recovery"), ["credentials", "rotate", "--new-credentials-file", newFile, "--smoke-namespace", "registry"], environment: cli, timeout: .seconds(300))
            let rotation = ContinuousClock.now - started
            #expect(rotated.status == 0, "\(rotated.standardOutput)\(rotated.standardError)")
            #expect(rotated.standardOutput.contains("can be revoked at the storage server now"))
            try await Task.sleep(for: .seconds(4))
            try await sandbox.script("s3-keys", "only", newFile)
            try await Task.sleep(for: .seconds(7))
            writing.cancel()
            try await writing.value
            let names = try await cluster.list(.veleroBackup, namespace: "velero", labelSelector: nil).compactMap(\.name).filter { $0.hasPrefix("rotation-") }

            // Every backup of the writer completed: none failed across the change and the two restarts.
            var phases: [String: String] = [:]
            for name in names {
                do {
                    phases[name] = try await eventually(within: .seconds(120), "backup \(name) finishing") {
                        let phase = try await cluster.get(try ObjectReference(kind: .veleroBackup, namespace: "velero", name: name))?.status?["phase"]?.stringValue
                        return ["Completed", "PartiallyFailed", "Failed", "FailedValidation"].contains(phase ?? "") ? phase : nil
                    }
                } catch {
                    let log = (try? String(contentsOfFile: sandbox.directory + "/stand-in.log", encoding: .utf8)) ?? "(no log)"
                    Issue.record("\(error); the stand-in's log ends:\n\(log.split(separator: "\n").suffix(30).joined(separator: "\n"))")
                    throw error
                }
            }
            #expect(names.count >= 5, "\(names.count) backups during \(rotation)")
            let failed = phases.filter { $0.value != "Completed" }.keys.sorted()
            if !failed.isEmpty {
                var reasons: [String] = []
                for name in failed {
                    let status = try await cluster.get(try ObjectReference(kind: .veleroBackup, namespace: "velero", name: name))?.status
                    reasons.append("\(name): \(status?["phase"]?.stringValue ?? "?") — \(status?["failureReason"]?.stringValue ?? "no failureReason")")
                }
                let log = (try? String(contentsOfFile: sandbox.directory + "/stand-in.log", encoding: .utf8)) ?? "(no log)"
                Issue.record("not every backup completed: \(reasons.joined(separator: "; ")); the stand-in's log ends:\n\(log.split(separator: "\n").suffix(40).joined(separator: "\n"))")
            }
            try await longLived.checkAccess()
            var revoked = longLived.configuration
            revoked.credentials = .fixed(S3Credentials(accessKeyID: old.accessKeyID, secretAccessKey: old.secretAccessKey))
            let refusal = await #expect(throws: RecoveryError.self) { try await MinIOStorageBackend(configuration: revoked).checkAccess() }
            #expect(refusal?.code == .unauthorized, "the old key is really revoked: \(String(describing: refusal))")
            // The CLI's own file now holds the new pair; the secret too.
            #expect(try StorageKeyPair(credentialsFile: try String(contentsOfFile: oldFile, encoding: .utf8), source: oldFile) == new)
            let secret = try #require(try await cluster.get(try ObjectReference(kind: .secret, namespace: "velero", name: "cloud-credentials")))
            let encoded = try #require(secret.json[path: ["data", "cloud"]]?.stringValue)
            let stored = String(decoding: Data(base64Encoded: encoded) ?? Data(), as: UTF8.self)
            #expect(try StorageKeyPair(credentialsFile: stored, source: "secret") == new)

            // doctor: the replaced key is refused now.
            let doctor = try await run(try executable("carbon-recovery"), ["doctor"], environment: cli)
            #expect(doctor.standardOutput.contains("PASS") && doctor.standardOutput.contains("Key replaced by the last rotation is revoked"), "\(doctor.standardOutput)")
            #expect(doctor.standardOutput.contains("the storage refuses \(old.shortID): revoked"), "\(doctor.standardOutput)")

            // Every step audited, in order, inside one credentials.rotate.
            let query = try await run(try executable("carbon-recovery"), ["audit", "query", "--output", "json", "--limit", "100"], environment: cli)
            let entries = try JSONValue(parsing: Array(query.standardOutput.utf8))["entries"]?.arrayValue ?? []
            let outcomes = entries.filter { $0["kind"] == "outcome" }.compactMap { $0["operation"]?.stringValue }
            #expect(outcomes == ["credentials.check", "credentials.update-secret", "credentials.revalidate", "backup.create", "backup.validate", "credentials.drain", "credentials.rotate"], "\(outcomes)")
            #expect(entries.filter { $0["kind"] == "outcome" }.allSatisfy { $0["outcome"] == "success" })

            // No secret anywhere: the CLI's output, every log of the sandbox, the audit trail's export.
            let export = try await run(try executable("carbon-recovery"), ["audit", "export", "--output", "json"], environment: cli)
            var haystacks = [rotated.standardOutput, rotated.standardError, doctor.standardOutput, doctor.standardError, query.standardOutput, export.standardOutput]
            for file in try FileManager.default.contentsOfDirectory(atPath: sandbox.directory) where file.hasSuffix(".log") {
                haystacks.append((try? String(contentsOfFile: sandbox.directory + "/" + file, encoding: .utf8)) ?? "")
            }
            #expect(haystacks.contains { $0.contains(new.shortID) } && haystacks.contains { $0.contains("credentials.update-secret") }, "the search covers the real output")
            for secretKey in [old.secretAccessKey, new.secretAccessKey] {
                #expect(!haystacks.contains { $0.contains(secretKey) }, "a secret key appeared")
            }
            print("rotation: \(rotation), \(names.count) backups created during it and around it, all Completed")
            try await sandbox.script("down")
        }

        @Test("bad input: a key file with one field, both sources, an empty variable, the key in use — a clear error, exit 1, nothing changed")
        func badInput() async throws {
            let sandbox = try Sandbox.current()
            let scratch = try TemporaryDirectory()
            let cluster = try sandboxClient()
            let before = try #require(try await cluster.get(try ObjectReference(kind: .secret, namespace: "velero", name: "cloud-credentials")))
            let oneField = scratch.file("one-field")
            try "[default]\naws_access_key_id = CARBONONLYID\n".write(toFile: oneField, atomically: true, encoding: .utf8)
            let environment = ["XDG_STATE_HOME": scratch.file("state"), "CARBON_RECOVERY_AUDIT_DB": scratch.file("audit.db")]
            let cases: [([String], [String: String], String)] = [
                (["--new-credentials-file", oneField], [:], "has no aws_secret_access_key in its [default] section"),
                (["--new-credentials-file", scratch.file("missing")], [:], "does not exist or cannot be read"),
                (["--new-credentials-file", oneField], ["CARBON_RECOVERY_NEW_S3_ACCESS_KEY_ID": "X"], "not both"),
                ([], ["CARBON_RECOVERY_NEW_S3_ACCESS_KEY_ID": "CARBONX", "CARBON_RECOVERY_NEW_S3_SECRET_ACCESS_KEY": ""], "one is empty"),
                ([], [:], "no new keys"),
                (["--new-credentials-file", sandbox.credentialsFile], [:], "is the one the location already uses"),
                (["--new-credentials-file", oneField, "--smoke-namespace", "Not_A_Namespace"], [:], "--smoke-namespace"),
                (["--new-credentials-file", oneField, "--timeout", "soon"], [:], "soon"),
            ]
            for (arguments, extra, message) in cases {
                let result = try await run(try executable("carbon-recovery"), ["credentials", "rotate"] + arguments, environment: environment.merging(extra) { $1 })
                #expect(result.status == 1, "\(arguments): \(result.standardOutput)\(result.standardError)")
                #expect(result.standardError.contains(message), "\(arguments): \(result.standardError)")
            }
            let after = try #require(try await cluster.get(try ObjectReference(kind: .secret, namespace: "velero", name: "cloud-credentials")))
            #expect(after.resourceVersion == before.resourceVersion, "the secret is unchanged")
            let trail = try await run(try executable("carbon-recovery"), ["audit", "query", "--output", "json"], environment: environment)
            #expect(!trail.standardOutput.contains("credentials."), "nothing recorded: \(trail.standardOutput)")
        }
    }
}
