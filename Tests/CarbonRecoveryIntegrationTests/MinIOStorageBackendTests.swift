// MinIOStorageBackend against real S3 servers: rclone (SigV4 checked with MinIO's code) and
// moto (object lock), both started by scripts/sandbox, plus a misbehaving local endpoint.
import CarbonRecovery
import CarbonRecoveryMinIO
import CarbonRecoveryTestKit
import Crypto
import Foundation
import Testing
import TestSupport

func sandboxStorage(
    credentials: S3CredentialsSource? = nil, bucket: String? = nil, endpoint: String? = nil,
    clock: any WallClock = SystemWallClock(), tweak: (inout MinIOStorageBackend.Configuration) -> Void = { _ in }
) throws -> MinIOStorageBackend {
    let sandbox = try Sandbox.current()
    var configuration = MinIOStorageBackend.Configuration(
        endpoint: endpoint ?? sandbox.s3Endpoint, bucket: bucket ?? sandbox.bucket,
        credentials: credentials ?? .file(path: sandbox.credentialsFile))
    tweak(&configuration)
    return try MinIOStorageBackend(configuration: configuration, clock: clock)
}

func uniquePrefix(_ name: String) -> String { "tests/\(name)-\(UUID().uuidString.prefix(8).lowercased())/" }

func sandboxSecret() throws -> S3Credentials {
    let text = try String(contentsOfFile: try Sandbox.current().credentialsFile, encoding: .utf8)
    func value(_ key: String) -> String {
        text.split(separator: "\n").first { $0.hasPrefix(key) }.map { $0.split(separator: "=", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) } ?? ""
    }
    return S3Credentials(accessKeyID: value("aws_access_key_id"), secretAccessKey: value("aws_secret_access_key"))
}

@Suite("MinIOStorageBackend on real S3 servers", .timeLimit(.minutes(20)))
struct MinIOStorageBackendTests {
    @Test("passes the StorageBackend conformance suite on the SigV4-checking server")
    func conformance() async throws {
        try await StorageBackendConformance.run(try sandboxStorage(), prefix: uniquePrefix("conformance"))
    }

    @Test("passes the StorageBackend conformance suite on the object-lock server")
    func conformanceOnMoto() async throws {
        let sandbox = try Sandbox.current()
        let storage = try sandboxStorage(
            credentials: .fixed(S3Credentials(accessKeyID: "moto-unauthenticated", secretAccessKey: "unused")), endpoint: sandbox.lockEndpoint)
        try await StorageBackendConformance.run(storage, prefix: uniquePrefix("conformance"))
    }

    @Test("the sandbox's S3 server gets its key pair through its environment: the secret is not on its command line (ps)")
    func secretNotOnCommandLine() throws {
        let sandbox = try Sandbox.current()
        let directory = try #require(ProcessInfo.processInfo.environment["CARBON_RECOVERY_SANDBOX_DIR"])
        let pid = try String(contentsOfFile: directory + "/rclone.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let commandLine = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))
        let arguments = commandLine.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        #expect(arguments.contains("serve") && arguments.contains("s3"), "pid \(pid) is not the S3 server: \(arguments.prefix(3))")
        let credentials = try String(contentsOfFile: sandbox.credentialsFile, encoding: .utf8)
        let secret = try #require(credentials.split(separator: "\n").first { $0.hasPrefix("aws_secret_access_key") }?
            .split(separator: "=", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces))
        #expect(!secret.isEmpty)
        #expect(!arguments.joined(separator: " ").contains(secret), "the S3 secret is readable in ps")
    }

    @Test("a wrong secret and an unknown key are credential errors that show neither secret")
    func wrongCredentials() async throws {
        let real = try sandboxSecret()
        let wrongSecret = S3Credentials(accessKeyID: real.accessKeyID, secretAccessKey: "wrong-secret-0123456789abcdef0123456789")
        let storage = try sandboxStorage(credentials: .fixed(wrongSecret))
        let error = await expectCode(.unauthorized) { try await storage.checkAccess() }
        #expect(error?.message.contains("secret key does not belong") == true)
        #expect(error?.description.contains(wrongSecret.secretAccessKey) == false)
        #expect(error?.description.contains(real.secretAccessKey) == false)
        #expect(error?.description.contains(real.accessKeyID) == false, "only a shortened key id is shown")

        let unknown = try sandboxStorage(credentials: .fixed(S3Credentials(accessKeyID: "CARBONUNKNOWN0000", secretAccessKey: real.secretAccessKey)))
        let unknownError = await expectCode(.unauthorized) { _ = try await unknown.get("anything") }
        #expect(unknownError?.message.contains("does not know access key") == true)
        #expect(unknownError?.description.contains(real.secretAccessKey) == false)
        #expect("\(wrongSecret)".contains(wrongSecret.secretAccessKey) == false)
    }

    @Test("a clock a day ahead is a clock-skew error that says what to fix")
    func clockSkew() async throws {
        let storage = try sandboxStorage(clock: SimulatedWallClock(start: Date().addingTimeInterval(86_400)))
        let error = await expectCode(.clockSkew) { try await storage.checkAccess() }
        #expect(error?.message.contains("clock") == true)
        let skew = try #require(try await sandboxStorage().clockSkew())
        #expect(abs(skew.components.seconds) < 60, "the sandbox's server and this machine share a clock")
    }

    @Test("a missing bucket is a not-found error naming the bucket, for access, listing and writes")
    func missingBucket() async throws {
        let storage = try sandboxStorage(bucket: "no-such-bucket-\(UUID().uuidString.prefix(6).lowercased())")
        let error = await expectCode(.notFound) { try await storage.checkAccess() }
        #expect(error?.message.contains("does not exist") == true)
        _ = await expectCode(.notFound) { for try await _ in storage.list(prefix: "") {} }
        _ = await expectCode(.notFound) { try await storage.put("x", data: [1]) }
        _ = await expectCode(.notFound) { _ = try await storage.get("x") }
    }

    @Test("10,000 objects are listed exactly once, in key order, across pages; usage agrees")
    func tenThousandObjects() async throws {
        let storage = try sandboxStorage(tweak: { $0.listPageSize = 997 })
        let prefix = uniquePrefix("many")
        let keys = (0..<10_000).map { String(format: "\(prefix)b%02d/object-%05d", $0 % 37, $0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = keys[...]
            for _ in 0..<16 {
                guard let key = next.popFirst() else { break }
                group.addTask { try await storage.put(key, data: Array(key.utf8)) }
            }
            while try await group.next() != nil {
                if let key = next.popFirst() { group.addTask { try await storage.put(key, data: Array(key.utf8)) } }
            }
        }
        var listed: [String] = []
        listed.reserveCapacity(10_000)
        for try await object in storage.list(prefix: prefix) { listed.append(object.key) }
        #expect(listed.count == 10_000)
        #expect(Set(listed).count == 10_000)
        #expect(listed == keys.sorted())
        let usage = try await storage.usage(prefix: prefix)
        #expect(usage.objects == 10_000)
        #expect(usage.bytes == keys.reduce(0) { $0 + Int64($1.utf8.count) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: keys.count, by: 625) {
                group.addTask { for key in keys[chunk..<min(chunk + 625, keys.count)] { try await storage.delete(key) } }
            }
            try await group.waitForAll()
        }
    }

    @Test("keys with spaces, '+', '/', '%', '=' and Unicode round-trip through every call")
    func awkwardKeys() async throws {
        let storage = try sandboxStorage()
        let prefix = uniquePrefix("keys")
        let names = ["with space", "plus+sign", "deep/er/path", "ünïcødé-日本", "percent%20literal", "eq=&amp;", "emoji-😀", "tilde~_.-"]
        for name in names {
            let key = prefix + name
            try await storage.put(key, data: Array(name.utf8))
            #expect(try await storage.get(key) == Array(name.utf8), "\(name)")
            #expect(try await storage.head(key)?.size == Int64(name.utf8.count), "\(name)")
        }
        var listed: [String] = []
        for try await object in storage.list(prefix: prefix) { listed.append(object.key) }
        #expect(listed == names.map { prefix + $0 }.sorted())
        for name in names { try await storage.delete(prefix + name) }
        #expect(try await storage.head(prefix + names[0]) == nil)
    }

    @Test("a 64 MiB stream goes up in parts with bounded memory and comes back byte for byte")
    func multipartStream() async throws {
        let sandbox = try Sandbox.current()
        let log = CapturedLog()
        let storage = try MinIOStorageBackend(
            configuration: .init(endpoint: sandbox.s3Endpoint, bucket: sandbox.bucket, credentials: .file(path: sandbox.credentialsFile)),
            logger: log.logger())
        func requests(_ query: String) -> Int { log.metadata.filter { $0["query"] == query && $0["status"] == "200" }.count }
        let key = uniquePrefix("multipart") + "backup.tar.gz"
        let chunk = 1 << 20
        var hasher = SHA256()
        var chunks: [[UInt8]] = []
        for index in 0..<64 {
            var bytes = [UInt8](repeating: 0, count: chunk)
            for offset in stride(from: 0, to: chunk, by: 4096) { bytes[offset] = UInt8(truncatingIfNeeded: index &* 31 &+ offset / 4096) }
            hasher.update(data: bytes)
            chunks.append(bytes)
        }
        let expected = hasher.finalize()
        let stream = AsyncStream<[UInt8]> { continuation in
            for bytes in chunks { continuation.yield(bytes) }
            continuation.finish()
        }
        try await storage.upload(key, from: stream)
        let head = try #require(try await storage.head(key))
        #expect(head.size == 64 << 20)
        #expect(requests("uploads") == 1 && requests("partNumber,uploadId") == 8 && requests("uploadId") == 1, "create, 8 parts of 8 MiB, complete")
        let data = try #require(try await storage.get(key))
        #expect(SHA256.hash(data: data) == expected)
        // put() of a large buffer takes the same path.
        try await storage.put(key, data: data)
        #expect(requests("partNumber,uploadId") == 16)
        #expect(try await storage.get(key).map { SHA256.hash(data: $0) } == expected)
        #expect(!log.lines.joined().contains(try sandboxSecret().secretAccessKey))
        try await storage.delete(key)
    }

    @Test("object-lock retention is written and read back on the object-lock server; the plain server says unsupported")
    func objectLock() async throws {
        let sandbox = try Sandbox.current()
        let locked = try sandboxStorage(
            credentials: .fixed(S3Credentials(accessKeyID: "moto-unauthenticated", secretAccessKey: "unused")), endpoint: sandbox.lockEndpoint)
        let key = uniquePrefix("lock") + "velero-backup.json"
        try await locked.put(key, data: Array("{}".utf8))
        #expect(try await locked.retention(of: key) == nil)
        let until = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 86_400).rounded())
        try await locked.setRetention(ObjectRetention(mode: .compliance, retainUntil: until), for: key)
        let retention = try #require(try await locked.retention(of: key))
        #expect(retention.mode == .compliance)
        #expect(abs(retention.retainUntil.timeIntervalSince(until)) < 1)

        let plain = try sandboxStorage()
        let plainKey = uniquePrefix("lock") + "x"
        try await plain.put(plainKey, data: [1])
        _ = await expectCode(.unsupported) { try await plain.setRetention(ObjectRetention(mode: .compliance, retainUntil: until), for: plainKey) }
        #expect(try await plain.get(plainKey) == [1], "the refused retention left the object as it was")
        try await plain.delete(plainKey)
    }

    @Test("TLS certificates are verified: a self-signed server is refused, not trusted")
    func verifiesCertificates() async throws {
        let sandbox = try Sandbox.current()
        // The sandbox's API server speaks TLS with a self-signed certificate.
        let url = try String(contentsOfFile: sandbox.directory + "/apiserver.url", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let storage = try sandboxStorage(endpoint: url, tweak: { $0.maximumAttempts = 1 })
        let error = await expectCode(.unreachable) { try await storage.checkAccess() }
        #expect(error?.message.lowercased().contains("certificate") == true || error?.message.contains("TLS") == true || error?.message.contains("handshake") == true, "\(error?.message ?? "")")
    }

    @Test("MinIO's health endpoint is reported as absent on a server that lacks it")
    func health() async throws {
        #expect(try await sandboxStorage().health() == .notMinIO)
    }

    @Test("credentials come from a Velero/AWS credentials file profile; a missing file or profile is a clear error")
    func credentialsFile() async throws {
        let sandbox = try Sandbox.current()
        let real = try sandboxSecret()
        let scratch = try TemporaryDirectory()
        try """
            # Velero's credentials-velero format
            [default]
            aws_access_key_id = wrong
            aws_secret_access_key = wrong

            [profile backups]
            aws_access_key_id = \(real.accessKeyID)
            aws_secret_access_key = \(real.secretAccessKey)
            """.write(toFile: scratch.file("credentials"), atomically: true, encoding: .utf8)
        try await sandboxStorage(credentials: .file(path: scratch.file("credentials"), profile: "backups")).checkAccess()
        let missingProfile = await expectCode(.unauthorized) {
            try await sandboxStorage(credentials: .file(path: scratch.file("credentials"), profile: "nope")).checkAccess()
        }
        #expect(missingProfile?.message.contains("[nope]") == true)
        _ = await expectCode(.unauthorized) { try await sandboxStorage(credentials: .file(path: scratch.file("absent"))).checkAccess() }
        _ = sandbox
    }

    @Test("bad configuration and bad keys are refused before anything is sent", arguments: [
        ("endpoint", "ftp://127.0.0.1:9000"), ("endpoint", "http://user:pass@127.0.0.1:9000"), ("endpoint", "http://127.0.0.1:9000/bucket"),
        ("endpoint", "not a url"), ("bucket", "Upper_Case"), ("bucket", "ab"), ("bucket", "192.168.1.1"), ("bucket", "a..b"),
    ])
    func badConfiguration(field: String, value: String) throws {
        let error = #expect(throws: RecoveryError.self) {
            _ = try sandboxStorage(bucket: field == "bucket" ? value : nil, endpoint: field == "endpoint" ? value : nil)
        }
        #expect(error?.code == .invalidInput)
        #expect(error?.description.contains("pass") == false)
    }

    @Test("bad keys are refused without a request", arguments: ["", "a/../b", "./x", "tab\tkey", String(repeating: "k", count: 1025)])
    func badKeys(key: String) async throws {
        let storage = try sandboxStorage()
        _ = await expectCode(.invalidInput) { try await storage.put(key, data: [1]) }
        _ = await expectCode(.invalidInput) { _ = try await storage.get(key) }
    }
}

@Suite("MinIOStorageBackend retries", .timeLimit(.minutes(8)))
struct MinIORetryTests {
    func faultServer(_ mode: String, _ count: Int = 0) async throws -> BackgroundServer {
        try await BackgroundServer(try python3(), [fixturesDirectory + "/s3_fault_server.py", mode, String(count)])
    }

    func storage(_ server: BackgroundServer, attempts: Int = 4) throws -> MinIOStorageBackend {
        try MinIOStorageBackend(configuration: .init(
            endpoint: "http://127.0.0.1:\(server.port)", bucket: "254carbon-backups",
            credentials: .fixed(S3Credentials(accessKeyID: "CARBONTEST", secretAccessKey: "not-checked-here")),
            requestTimeout: .seconds(15), maximumAttempts: attempts, retryBaseDelay: .milliseconds(10), retryMaximumDelay: .milliseconds(50)))
    }

    @Test("503 SlowDown is retried with backoff and then succeeds")
    func slowDownThenSuccess() async throws {
        let server = try await faultServer("slowdown", 2)
        defer { server.stop() }
        try await storage(server).checkAccess()
        #expect(try await server.output(atLeast: 3).map { $0.split(separator: " ").last! } == ["503", "503", "200"])
    }

    @Test("retries are bounded: a server that keeps failing is asked maximumAttempts times")
    func bounded() async throws {
        let server = try await faultServer("status:500")
        defer { server.stop() }
        let error = await expectCode(.storageFailure) { try await storage(server, attempts: 3).checkAccess() }
        #expect(try await server.output(atLeast: 3).count == 3)
        #expect(error?.message.contains("InternalError") == true)
    }

    @Test("a 4xx answer is not retried", arguments: [403, 400])
    func noRetryOn4xx(status: Int) async throws {
        let server = try await faultServer("status:\(status)")
        defer { server.stop() }
        _ = await expectCode(status == 403 ? .forbidden : .invalidInput) { try await storage(server).checkAccess() }
        #expect(try await server.output(atLeast: 1).count == 1)
    }

    @Test("a connection closed without an answer is retried")
    func connectionReset() async throws {
        let server = try await faultServer("reset", 2)
        defer { server.stop() }
        try await storage(server).checkAccess()
        let output = try await server.output(atLeast: 3)
        #expect(output.filter { $0.hasSuffix(" 200") }.count == 1)
        #expect(output.filter { $0.hasSuffix(" reset") }.count == 2)
    }

    @Test("every retry waits between half its ceiling and the ceiling, which doubles up to the maximum — so a restarting server gets the time the attempts add up to")
    func backoffHasAFloor() async throws {
        let closedPort = try ListeningSocket.unusedPort()
        let log = CapturedLog()
        let closed = try MinIOStorageBackend(
            configuration: .init(
                endpoint: "http://127.0.0.1:\(closedPort)", bucket: "254carbon-backups", credentials: .fixed(S3Credentials(accessKeyID: "A", secretAccessKey: "B")),
                maximumAttempts: 5, retryBaseDelay: .milliseconds(40), retryMaximumDelay: .milliseconds(200)),
            logger: log.logger())
        _ = await expectCode(.unreachable) { try await closed.checkAccess() }
        let waits = log.metadata.compactMap { $0["delay_ms"].flatMap { Int($0) } }
        let ceilings = [40, 80, 160, 200]
        #expect(waits.count == ceilings.count, "\(log.lines)")
        for (wait, ceiling) in zip(waits, ceilings) {
            #expect((ceiling / 2 - 1)...ceiling ~= wait, "waited \(wait) ms against a ceiling of \(ceiling) ms: \(waits)")
        }
    }

    @Test("a closed port is unreachable and a silent server times out, both after bounded attempts")
    func unreachableAndTimeout() async throws {
        let closedPort = try ListeningSocket.unusedPort()
        let closed = try MinIOStorageBackend(configuration: .init(
            endpoint: "http://127.0.0.1:\(closedPort)", bucket: "254carbon-backups", credentials: .fixed(S3Credentials(accessKeyID: "A", secretAccessKey: "B")),
            maximumAttempts: 2, retryBaseDelay: .milliseconds(10)))
        _ = await expectCode(.unreachable) { try await closed.checkAccess() }
        let listener = try ListeningSocket()
        let silent = try MinIOStorageBackend(configuration: .init(
            endpoint: "http://127.0.0.1:\(listener.port)", bucket: "254carbon-backups", credentials: .fixed(S3Credentials(accessKeyID: "A", secretAccessKey: "B")),
            requestTimeout: .seconds(1), maximumAttempts: 2, retryBaseDelay: .milliseconds(10)))
        let started = ContinuousClock.now
        _ = await expectCode(.timeout) { try await silent.checkAccess() }
        // Bounded, not fast: without the per-attempt limit this would wait for ever. A loose bound keeps
        // the test honest on a busy machine.
        #expect(ContinuousClock.now - started < .seconds(20))
        withExtendedLifetime(listener) {}
    }
}
