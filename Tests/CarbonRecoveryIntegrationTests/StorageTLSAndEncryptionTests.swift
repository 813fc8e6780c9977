// Encryption in transit and at rest, against the sandbox's S3 servers: the TLS endpoint whose
// certificate a private CA signed (rclone, SigV4 checked), and moto, which records SSE-S3 and
// SSE-KMS requests and reports them on HEAD. What this proves is the plumbing — the right
// headers on the right requests, trust in the right CA — not that a disk is encrypted: neither
// server encrypts anything, and neither implements SSE-C (docs/security.md says what is proven where).
import CarbonRecovery
@testable import CarbonRecoveryMinIO
import CarbonRecoveryVelero
import CarbonRecoveryTestKit
import Crypto
import Foundation
import Testing
import TestSupport

@Suite("Storage over TLS with a private CA, and server-side encryption", .timeLimit(.minutes(10)))
struct StorageTLSAndEncryptionTests {
    func sandboxCA() throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: try Sandbox.current().storageCAFile))) }

    func tlsStorage(ca: [UInt8]?, encryption: StorageEncryption = .none) throws -> MinIOStorageBackend {
        try sandboxStorage(endpoint: try Sandbox.current().tlsEndpoint, tweak: { $0.caCertificates = ca; $0.encryption = encryption; $0.maximumAttempts = 1 })
    }

    func motoStorage(_ encryption: StorageEncryption, tweak: (inout MinIOStorageBackend.Configuration) -> Void = { _ in }) throws -> MinIOStorageBackend {
        try sandboxStorage(
            credentials: .fixed(S3Credentials(accessKeyID: "moto-unauthenticated", secretAccessKey: "unused")), endpoint: try Sandbox.current().lockEndpoint,
            tweak: { $0.encryption = encryption; tweak(&$0) })
    }

    @Test("with the CA the TLS endpoint passes the conformance suite; without it, or with another CA, the server is refused")
    func privateCA() async throws {
        try await StorageBackendConformance.run(try tlsStorage(ca: try sandboxCA()), prefix: uniquePrefix("tls"))
        let untrusted = await expectCode(.unreachable) { try await tlsStorage(ca: nil).checkAccess() }
        #expect(untrusted?.message.uppercased().contains("CERTIFICATE") == true, "\(untrusted?.message ?? "")")

        let other = try TemporaryDirectory()
        let made = try await run("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-keyout", other.file("ca.key"), "-out", other.file("ca.crt"), "-subj", "/CN=someone else's CA",
        ])
        #expect(made.status == 0, "\(made.standardError)")
        let otherCA = Array(try Data(contentsOf: URL(fileURLWithPath: other.file("ca.crt"))))
        let wrong = await expectCode(.unreachable) { try await tlsStorage(ca: otherCA).checkAccess() }
        #expect(wrong?.message.uppercased().contains("CERTIFICATE") == true, "\(wrong?.message ?? "")")
    }

    @Test("CA input that is not a certificate is refused before anything is sent", arguments: [
        ("", "holds no PEM certificate"),
        ("just some text", "holds no PEM certificate"),
        ("-----BEGIN CERTIFICATE-----\nQUFBQQ==\n-----END CERTIFICATE-----\n", "does not read as PEM certificates"),
        ("-----BEGIN PRIVATE KEY-----\nQUFBQQ==\n-----END PRIVATE KEY-----\n", "holds no PEM certificate"),
    ])
    func badCA(pem: String, reason: String) throws {
        let error = #expect(throws: RecoveryError.self) { try tlsStorage(ca: Array(pem.utf8)) }
        #expect(error?.code == .invalidInput && error?.message.contains(reason) == true, "\(String(describing: error))")
    }

    @Test("SSE-S3 and SSE-KMS go with every upload, single and multipart, and head reports them; a plain upload reports none")
    func sseS3AndKMS() async throws {
        let prefix = uniquePrefix("sse")
        let cases: [(StorageEncryption, String?)] = [(.s3Managed, "AES256"), (.kms(keyID: "alias/velero-backups"), "aws:kms"), (.none, nil)]
        for (encryption, reported) in cases {
            let storage = try motoStorage(encryption, tweak: { $0.multipartThreshold = 5 << 20; $0.partSize = 5 << 20 })
            let small = "\(prefix)\(encryption)-small", large = "\(prefix)\(encryption)-large"
            try await storage.put(small, data: Array("backup".utf8))
            try await storage.put(large, data: Array(repeating: 7, count: (5 << 20) + 1))
            for key in [small, large] {
                #expect(try await storage.head(key)?.serverSideEncryption == reported, "\(encryption) \(key)")
            }
            #expect(try await storage.get(small) == Array("backup".utf8))
        }
    }

    @Test("deploy's plan puts the policy's encryption into the location's config and its CA into the secret caCertRef names; a CA file without a certificate is refused")
    func deployPlan() async throws {
        let sandbox = try Sandbox.current()
        var policy = RecoveryPolicy(storage: StoragePolicy(
            endpoint: sandbox.tlsEndpoint, bucket: sandbox.bucket, credentials: .secret(namespace: "velero", name: "cloud-credentials", key: "cloud"),
            encryption: .customerKeyFile(path: "/etc/velero/sse-c.key"), caCertificateFile: sandbox.storageCAFile))
        let plan = try await VeleroDeployment(cluster: try sandboxClient()).plan(policy)
        let location = try #require(plan.first { $0.object.kind == "BackupStorageLocation" }?.object)
        #expect(location.spec?[path: ["config", "customerKeyEncryptionFile"]] == "/etc/velero/sse-c.key")
        #expect(location.spec?[path: ["config", "serverSideEncryption"]] == nil && location.spec?[path: ["config", "kmsKeyId"]] == nil)
        #expect(location.spec?[path: ["objectStorage", "caCertRef"]] == ["name": .string(VeleroDeployment.caSecretName), "key": "ca.crt"])
        let secret = try #require(plan.first { $0.object.kind == "Secret" && $0.object.name == VeleroDeployment.caSecretName }?.object)
        let stored = secret.json[path: ["data", "ca.crt"]]?.stringValue.flatMap { Data(base64Encoded: $0) }
        #expect(stored == (try Data(contentsOf: URL(fileURLWithPath: sandbox.storageCAFile))))

        policy.storage.encryption = .kms(keyID: "alias/velero-backups")
        let kms = try #require(try await VeleroDeployment(cluster: try sandboxClient()).plan(policy).first { $0.object.kind == "BackupStorageLocation" }?.object)
        #expect(kms.spec?["config"]?["serverSideEncryption"] == "aws:kms" && kms.spec?["config"]?["kmsKeyId"] == "alias/velero-backups")

        let notACertificate = try TemporaryDirectory()
        try "-----BEGIN PRIVATE KEY-----\nQUFB\n-----END PRIVATE KEY-----\n".write(toFile: notACertificate.file("ca.pem"), atomically: true, encoding: .utf8)
        policy.storage.caCertificateFile = notACertificate.file("ca.pem")
        let error = await #expect(throws: RecoveryError.self) { try await VeleroDeployment(cluster: try sandboxClient()).plan(policy) }
        #expect(error?.code == .invalidInput && error?.message.contains("holds no PEM certificate") == true, "\(String(describing: error))")
        #expect(error?.message.contains("QUFB") == false)
    }

    @Test("SSE-C needs https; over TLS its key goes with every request, the data comes back, and no key is ever in an error")
    func sseC() async throws {
        let key = try StorageEncryption.CustomerKey(bytes: (0..<32).map { UInt8($0 * 7 % 256) })
        let plain = #expect(throws: RecoveryError.self) { try sandboxStorage(tweak: { $0.encryption = .customerKey(key) }) }
        #expect(plain?.code == .invalidInput && plain?.message.contains("https://") == true)

        let storage = try tlsStorage(ca: try sandboxCA(), encryption: .customerKey(key))
        let object = uniquePrefix("sse-c") + "tarball"
        try await storage.put(object, data: [1, 2, 3])
        #expect(try await storage.get(object) == [1, 2, 3])
        #expect(try await storage.head(object)?.size == 3)
        // The headers themselves, as S3 wants them: the key and its MD5 on reads, writes and parts.
        for use in [MinIOStorageBackend.EncryptionUse.upload, .part, .read] {
            let headers = Dictionary(uniqueKeysWithValues: storage.encryptionHeaders(use))
            #expect(headers["x-amz-server-side-encryption-customer-algorithm"] == "AES256")
            #expect(headers["x-amz-server-side-encryption-customer-key"] == key.base64)
            #expect(headers["x-amz-server-side-encryption-customer-key-md5"] == Data(Insecure.MD5.hash(data: key.bytes)).base64EncodedString())
        }
        #expect(try motoStorage(.s3Managed).encryptionHeaders(.read).isEmpty, "SSE-S3 asks nothing of a read")
        #expect(try motoStorage(.kms(keyID: "k")).encryptionHeaders(.part).isEmpty, "nor of a part")

        let missing = try sandboxStorage(bucket: "no-such-bucket-\(UUID().uuidString.prefix(6).lowercased())", endpoint: try Sandbox.current().tlsEndpoint, tweak: {
            $0.caCertificates = try? sandboxCA(); $0.encryption = .customerKey(key); $0.maximumAttempts = 1
        })
        let error = await #expect(throws: RecoveryError.self) { try await missing.put("x", data: [1]) }
        #expect(error?.description.contains(key.base64) == false)
        #expect(error?.description.contains("customer-key") == false)
    }
}
