import AsyncHTTPClient
import CarbonRecovery
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// The default `StorageBackend`: MinIO — or any S3 API server — over AsyncHTTPClient, with
/// requests signed by AWS Signature Version 4 and path-style addressing
/// (`https://endpoint/bucket/key`).
///
/// ```swift
/// let storage = try MinIOStorageBackend(configuration: .init(
///     endpoint: "https://minio.storage.svc:9000", bucket: "254carbon-backups",
///     credentials: .file(path: "/etc/velero/credentials-velero")))
/// try await storage.checkAccess()
/// let usage = try await storage.usage(prefix: "backups/")
/// ```
///
/// - Every request is signed afresh (a retried request gets a new date), with the payload's
///   SHA-256 in `x-amz-content-sha256`.
/// - Failures are retried with exponential backoff (each wait drawn from the upper half of its
///   ceiling), at most ``Configuration/maximumAttempts`` times: HTTP 500, 502, 503 (including
///   `SlowDown`), 504, 408 and 429, and connection failures (refused, reset, closed, timed
///   out). No other 4xx is retried: a wrong key or a missing bucket does not get better by
///   asking again.
/// - Objects of ``Configuration/multipartThreshold`` bytes or more go up in parts
///   (``upload(_:from:)`` streams any size with bounded memory); a failed multipart upload is
///   aborted so it leaves no parts behind.
/// - Credentials come from ``Configuration/credentials`` at every request and never appear in
///   an error, a log line or a description.
/// - TLS certificates are verified against the system's trust roots and, when
///   ``Configuration/caCertificates`` holds a private CA (a location's `caCert`), that CA too.
/// - ``Configuration/encryption`` asks the server to encrypt what is written: SSE-S3 and
///   SSE-KMS headers on every upload, an SSE-C key on every upload, part, download and `head`
///   (and never in an error, a log line or a description). ``head(_:)`` reports what the
///   server says it did (``CarbonRecovery/StorageObject/serverSideEncryption``).
public struct MinIOStorageBackend: StorageBackend {
    /// Where and how to reach the S3 server.
    public struct Configuration: Sendable {
        /// `http://host:port` or `https://host:port`, without path, query or user info.
        public var endpoint: String
        /// The bucket holding the backups.
        public var bucket: String
        /// The signing region. MinIO accepts `us-east-1` unless configured otherwise.
        public var region: String
        /// Where credentials come from.
        public var credentials: S3CredentialsSource
        /// How long one request (one attempt) may take.
        public var requestTimeout: Duration
        /// Attempts per request, the first included.
        public var maximumAttempts: Int
        /// The first retry waits between half of this and this, the ceiling doubling per attempt.
        public var retryBaseDelay: Duration
        /// No retry waits longer than this.
        public var retryMaximumDelay: Duration
        /// Objects at least this large are uploaded in parts.
        public var multipartThreshold: Int
        /// The size of each part but the last (S3's minimum is 5 MiB).
        public var partSize: Int
        /// Parts uploaded at the same time.
        public var multipartConcurrency: Int
        /// Keys per ListObjectsV2 page (S3's maximum is 1,000).
        public var listPageSize: Int
        /// Server-side encryption asked for on every write (and, for SSE-C, every read).
        public var encryption: StorageEncryption
        /// PEM certificates of a private CA to trust besides the system's (a location's
        /// `caCert`, decoded); `nil` trusts the system's roots only.
        public var caCertificates: [UInt8]?

        /// Creates a configuration.
        public init(
            endpoint: String,
            bucket: String,
            region: String = "us-east-1",
            credentials: S3CredentialsSource = .standard(),
            requestTimeout: Duration = .seconds(30),
            maximumAttempts: Int = 4,
            retryBaseDelay: Duration = .milliseconds(100),
            retryMaximumDelay: Duration = .seconds(5),
            multipartThreshold: Int = 16 << 20,
            partSize: Int = 8 << 20,
            multipartConcurrency: Int = 4,
            listPageSize: Int = 1_000,
            encryption: StorageEncryption = .none,
            caCertificates: [UInt8]? = nil
        ) {
            self.endpoint = endpoint
            self.bucket = bucket
            self.region = region
            self.credentials = credentials
            self.requestTimeout = requestTimeout
            self.maximumAttempts = maximumAttempts
            self.retryBaseDelay = retryBaseDelay
            self.retryMaximumDelay = retryMaximumDelay
            self.multipartThreshold = multipartThreshold
            self.partSize = partSize
            self.multipartConcurrency = multipartConcurrency
            self.listPageSize = listPageSize
            self.encryption = encryption
            self.caCertificates = caCertificates
        }

        /// From the environment: `CARBON_RECOVERY_S3_ENDPOINT` (required),
        /// `CARBON_RECOVERY_S3_BUCKET` (default `254carbon-backups`), `CARBON_RECOVERY_S3_REGION`
        /// (default `us-east-1`), credentials as ``S3CredentialsSource/standard(_:)`` finds them;
        /// `CARBON_RECOVERY_S3_CA_FILE` (a PEM file of a private CA to trust) and
        /// `CARBON_RECOVERY_S3_SSE` — `SSE-S3`, `SSE-KMS` with `CARBON_RECOVERY_S3_SSE_KMS_KEY_ID`,
        /// or `SSE-C` with `CARBON_RECOVERY_S3_SSE_C_KEY_FILE` (the file of the 32-byte key).
        ///
        /// - Throws: `RecoveryError.Code.invalidInput` when the endpoint is not set, the CA or
        ///   key file cannot be read, or the encryption settings are incomplete.
        public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Configuration {
            func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
            guard let endpoint = value("CARBON_RECOVERY_S3_ENDPOINT") else {
                throw RecoveryError.invalidInput("CARBON_RECOVERY_S3_ENDPOINT is not set (for the sandbox: eval \"$(scripts/sandbox env)\")")
            }
            var configuration = Configuration(
                endpoint: endpoint, bucket: value("CARBON_RECOVERY_S3_BUCKET") ?? "254carbon-backups",
                region: value("CARBON_RECOVERY_S3_REGION") ?? "us-east-1", credentials: .standard(environment))
            if let caFile = value("CARBON_RECOVERY_S3_CA_FILE") {
                guard let bundle = FileManager.default.contents(atPath: caFile) else {
                    throw RecoveryError.invalidInput("CARBON_RECOVERY_S3_CA_FILE: \(caFile) does not exist or cannot be read", target: caFile)
                }
                configuration.caCertificates = Array(bundle)
            }
            switch value("CARBON_RECOVERY_S3_SSE") {
            case nil, "none": break
            case "SSE-S3": configuration.encryption = .s3Managed
            case "SSE-KMS":
                guard let keyID = value("CARBON_RECOVERY_S3_SSE_KMS_KEY_ID") else {
                    throw RecoveryError.invalidInput("CARBON_RECOVERY_S3_SSE=SSE-KMS needs CARBON_RECOVERY_S3_SSE_KMS_KEY_ID (the key id, ARN or alias)")
                }
                configuration.encryption = .kms(keyID: keyID)
            case "SSE-C":
                guard let keyFile = value("CARBON_RECOVERY_S3_SSE_C_KEY_FILE") else {
                    throw RecoveryError.invalidInput("CARBON_RECOVERY_S3_SSE=SSE-C needs CARBON_RECOVERY_S3_SSE_C_KEY_FILE (the file holding the 32-byte key)")
                }
                configuration.encryption = .customerKey(try StorageEncryption.CustomerKey(contentsOfFile: keyFile))
            case let other?:
                throw RecoveryError.invalidInput("CARBON_RECOVERY_S3_SSE \(String(reflecting: other)) is not one of none, SSE-S3, SSE-KMS, SSE-C")
            }
            return configuration
        }
    }

    /// How this backend reaches its server.
    public let configuration: Configuration
    let endpoint: S3Endpoint
    let httpClient: HTTPClient
    let logger: Logger
    let clock: any WallClock
    func now() -> Date { clock.now() }

    /// The client used unless you pass one: certificate verification on, no redirects (a
    /// signed request must not be replayed elsewhere), and no connection retries of its own —
    /// ``Configuration/maximumAttempts`` bounds every retry, so a refused connection fails fast
    /// instead of being retried until the deadline. It lives for the whole process, like
    /// `HTTPClient.shared`, and needs no shutdown.
    public static let defaultHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// Creates a backend; nothing is contacted until the first call.
    ///
    /// - Parameters:
    ///   - configuration: Endpoint, bucket, credentials, limits, encryption, a private CA.
    ///   - httpClient: The client to send requests with; ``defaultHTTPClient`` (or, with
    ///     ``Configuration/caCertificates``, one like it that also trusts that CA, kept for the
    ///     process) unless you pass your own for a proxy (and shut it down yourself). Set
    ///     `connectionPool.retryConnectionEstablishment = false` on it, or a refused connection
    ///     is retried until the request's deadline.
    ///   - logger: One debug line per request (method, bucket, key, status, attempt) and a
    ///     warning per retry; never a header or a credential. Default: discards everything.
    ///   - clock: The clock that dates signatures (tests inject a skewed one).
    /// - Throws: `RecoveryError.Code.invalidInput` for a malformed endpoint, bucket name,
    ///   region or limit, CA certificates that do not read as PEM certificates, a malformed
    ///   KMS key id, or SSE-C over plain `http://` (S3 refuses a key sent in the clear).
    public init(
        configuration: Configuration,
        httpClient: HTTPClient = MinIOStorageBackend.defaultHTTPClient,
        logger: Logger = Logger(label: "carbon-recovery.minio", factory: { _ in SwiftLogNoOpLogHandler() }),
        clock: any WallClock = SystemWallClock()
    ) throws {
        self.endpoint = try S3Endpoint(configuration.endpoint)
        try S3Names.validateBucket(configuration.bucket)
        guard !configuration.region.isEmpty, configuration.region.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D }) else {
            throw RecoveryError.invalidInput("region \(String(reflecting: configuration.region)) must be lower-case letters, digits and '-'")
        }
        guard configuration.maximumAttempts >= 1, configuration.partSize >= 5 << 20, configuration.multipartThreshold >= configuration.partSize,
              configuration.multipartConcurrency >= 1, (1...1_000).contains(configuration.listPageSize) else {
            throw RecoveryError.invalidInput("attempts ≥ 1, part size ≥ 5 MiB, multipart threshold ≥ part size, concurrency ≥ 1 and page size 1…1000 are required")
        }
        switch configuration.encryption {
        case .kms(let keyID): try StorageEncryption.validateKMSKeyID(keyID)
        case .customerKey where !configuration.endpoint.lowercased().hasPrefix("https://"):
            throw RecoveryError.invalidInput("SSE-C sends the encryption key with every request: it needs an https:// endpoint (S3 refuses it over http), not \(configuration.endpoint)")
        default: break
        }
        self.configuration = configuration
        if let pem = configuration.caCertificates, httpClient === MinIOStorageBackend.defaultHTTPClient {
            self.httpClient = try PrivateCAClients.shared.client(trusting: pem)
        } else {
            if let pem = configuration.caCertificates { _ = try PrivateCAClients.certificates(pem) }
            self.httpClient = httpClient
        }
        self.logger = logger
        self.clock = clock
    }

    /// The headers that ask for ``Configuration/encryption`` on an upload (a PUT, or the start
    /// of a multipart upload), on a part of one, or on a read (GET, HEAD) of an object.
    func encryptionHeaders(_ use: EncryptionUse) -> [(String, String)] {
        switch (configuration.encryption, use) {
        case (.s3Managed, .upload): [("x-amz-server-side-encryption", "AES256")]
        case (.kms(let keyID), .upload): [("x-amz-server-side-encryption", "aws:kms"), ("x-amz-server-side-encryption-aws-kms-key-id", keyID)]
        case (.customerKey(let key), _):
            [
                ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
                ("x-amz-server-side-encryption-customer-key", key.base64),
                ("x-amz-server-side-encryption-customer-key-md5", Data(Insecure.MD5.hash(data: key.bytes)).base64EncodedString()),
            ]
        default: []
        }
    }

    enum EncryptionUse { case upload, part, read }

    /// What a response says about the object's encryption (``CarbonRecovery/StorageEncryption/reportedAs``).
    static func reportedEncryption(_ headers: HTTPHeaders) -> String? {
        if headers.first(name: "x-amz-server-side-encryption-customer-algorithm") != nil { return "SSE-C" }
        return headers.first(name: "x-amz-server-side-encryption")
    }

    var target: String { "s3://\(configuration.bucket)" }

    // MARK: StorageBackend

    public func checkAccess() async throws {
        // ListObjectsV2 with one key: unlike HeadBucket, an error comes with a body that says
        // which failure it is (unknown key, wrong secret, clock skew, missing bucket).
        _ = try await send(.GET, key: nil, query: [("list-type", "2"), ("max-keys", "1")], operation: "storage.check", accept: [200])
    }

    public func list(prefix: String) -> AsyncThrowingStream<StorageObject, any Error> {
        let cursor = ListCursor(backend: self, prefix: prefix)
        return AsyncThrowingStream { try await cursor.next() }
    }

    /// Every object under `prefix`, one ListObjectsV2 page at a time, in key order.
    public func listPages(prefix: String) -> AsyncThrowingStream<[StorageObject], any Error> {
        let cursor = ListCursor(backend: self, prefix: prefix)
        return AsyncThrowingStream { try await cursor.nextPage() }
    }

    public func head(_ key: String) async throws -> StorageObject? {
        try S3Names.validateKey(key)
        let response = try await send(.HEAD, key: key, headers: encryptionHeaders(.read), operation: "storage.head", accept: [200, 404])
        if response.status == 404 { return nil }
        return StorageObject(
            key: key, size: Int64(response.headers.first(name: "content-length") ?? "") ?? 0,
            lastModified: response.headers.first(name: "last-modified").flatMap(HTTPDate.parse),
            etag: response.headers.first(name: "etag").map(Self.unquote),
            serverSideEncryption: Self.reportedEncryption(response.headers))
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        try S3Names.validateKey(key)
        let response = try await send(.GET, key: key, headers: encryptionHeaders(.read), operation: "storage.get", accept: [200, 404])
        if response.status == 404 {
            if response.errorCode == "NoSuchBucket" { throw bucketMissing(operation: "storage.get") }
            return nil
        }
        return response.body
    }

    public func put(_ key: String, data: [UInt8]) async throws {
        try S3Names.validateKey(key)
        if data.count >= configuration.multipartThreshold {
            let partSize = configuration.partSize
            var offset = 0
            try await multipartUpload(key) {
                guard offset < data.count else { return nil }
                defer { offset += partSize }
                return Array(data[offset..<min(offset + partSize, data.count)])
            }
            return
        }
        _ = try await send(.PUT, key: key, headers: encryptionHeaders(.upload), body: data, operation: "storage.put", accept: [200])
    }

    public func delete(_ key: String) async throws {
        try S3Names.validateKey(key)
        let response = try await send(.DELETE, key: key, operation: "storage.delete", accept: [200, 204, 404])
        if response.status == 404, response.errorCode == "NoSuchBucket" { throw bucketMissing(operation: "storage.delete") }
    }

    /// Objects and bytes under `prefix`: ListObjectsV2 pages summed as they arrive, without
    /// building a `StorageObject` stream per key.
    public func usage(prefix: String) async throws -> StorageUsage {
        var objects = 0
        var bytes: Int64 = 0
        for try await page in listPages(prefix: prefix) {
            objects += page.count
            for object in page { bytes += object.size }
        }
        return StorageUsage(prefix: prefix, objects: objects, bytes: bytes)
    }

    public func retention(of key: String) async throws -> ObjectRetention? {
        try S3Names.validateKey(key)
        // HeadObject carries the lock in headers on MinIO and AWS (and on servers without
        // GetObjectRetention, such as moto).
        let response = try await send(.HEAD, key: key, headers: encryptionHeaders(.read), operation: "storage.retention", accept: [200, 404])
        if response.status == 404 { throw RecoveryError(.notFound, "no object \(key) in \(target)", operation: "storage.retention", target: key) }
        guard let modeText = response.headers.first(name: "x-amz-object-lock-mode"),
              let untilText = response.headers.first(name: "x-amz-object-lock-retain-until-date") else { return nil }
        guard let mode = ObjectRetention.Mode(rawValue: modeText.uppercased()), let until = RFC3339.parse(untilText) else {
            throw RecoveryError(.storageFailure, "the server sent an unreadable object lock (\(modeText), \(untilText))", operation: "storage.retention", target: key)
        }
        return ObjectRetention(mode: mode, retainUntil: until)
    }

    public func setRetention(_ retention: ObjectRetention, for key: String) async throws {
        try S3Names.validateKey(key)
        // Ask first: some S3 servers without object lock treat `PUT key?retention` as a plain
        // PUT and overwrite the object with the retention document.
        guard try await objectLockEnabled() else {
            throw RecoveryError(
                .unsupported, "bucket \(configuration.bucket) has no object lock (the server lacks it, or the bucket was created without it); nothing was changed",
                operation: "storage.set-retention", target: key)
        }
        let body = Array("""
            <Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>\(retention.mode.rawValue)</Mode>\
            <RetainUntilDate>\(RFC3339.format(retention.retainUntil))</RetainUntilDate></Retention>
            """.utf8)
        let md5 = Data(Insecure.MD5.hash(data: body)).base64EncodedString()
        _ = try await send(.PUT, key: key, query: [("retention", "")], headers: [("content-md5", md5)], body: body, operation: "storage.set-retention", accept: [200, 204])
        // Some S3 servers answer 200 without locking anything. A lock that is not in place must
        // not be reported as one, so read it back.
        guard let stored = try await self.retention(of: key), stored.mode == retention.mode,
              abs(stored.retainUntil.timeIntervalSince(retention.retainUntil)) < 1 else {
            throw RecoveryError(
                .unsupported, "the S3 server accepted the retention but the object is not locked: it does not support object lock (or the bucket was created without it)",
                operation: "storage.set-retention", target: key)
        }
    }

    /// Uploads a stream of chunks as one object with bounded memory: parts of
    /// ``Configuration/partSize`` go up as they fill, ``Configuration/multipartConcurrency`` at
    /// a time. A stream shorter than one part becomes a single PUT. On failure the multipart
    /// upload is aborted and the error rethrown.
    public func upload<Chunks: AsyncSequence>(_ key: String, from chunks: Chunks) async throws where Chunks.Element == [UInt8] {
        try S3Names.validateKey(key)
        let partSize = configuration.partSize
        var iterator = chunks.makeAsyncIterator()
        var buffer: [UInt8] = []
        var exhausted = false
        // The next full part (or the short last one), reading only as much as that needs.
        func nextPart() async throws -> [UInt8]? {
            while buffer.count < partSize, !exhausted {
                if let chunk = try await iterator.next() { buffer += chunk } else { exhausted = true }
            }
            guard !buffer.isEmpty else { return nil }
            let part = Array(buffer.prefix(partSize))
            buffer.removeFirst(part.count)
            return part
        }
        guard let first = try await nextPart() else {
            _ = try await send(.PUT, key: key, headers: encryptionHeaders(.upload), body: [], operation: "storage.put", accept: [200])
            return
        }
        if first.count < partSize {
            _ = try await send(.PUT, key: key, headers: encryptionHeaders(.upload), body: first, operation: "storage.put", accept: [200])
            return
        }
        var pendingFirst: [UInt8]? = first
        try await multipartUpload(key) {
            if let part = pendingFirst {
                pendingFirst = nil
                return part
            }
            return try await nextPart()
        }
    }

    // MARK: Beyond the protocol

    /// Whether the bucket has object lock enabled (GetObjectLockConfiguration). A server that
    /// does not know the request, or a bucket without a lock configuration, answers `false`.
    public func objectLockEnabled() async throws -> Bool {
        let response = try await send(.GET, key: nil, query: [("object-lock", "")], operation: "storage.object-lock", accept: [200, 400, 404, 501])
        if response.status != 200 {
            if response.errorCode == "NoSuchBucket" { throw bucketMissing(operation: "storage.object-lock") }
            return false
        }
        guard let root = try? S3XMLElement.parse(response.body), root.name == "ObjectLockConfiguration" else { return false }
        return root["ObjectLockEnabled"] == "Enabled"
    }

    /// The health of a MinIO server (`/minio/health/live`), or ``MinIOHealth/notMinIO`` when the
    /// endpoint is an S3 server without MinIO's health API.
    public func health() async throws -> MinIOHealth {
        let response = try await unsignedRequest(.GET, path: "/minio/health/live", operation: "storage.health")
        switch response.status {
        case 200: return .live
        case 400, 403, 404, 405: return .notMinIO
        default: return .unhealthy(status: response.status)
        }
    }

    /// The difference between the server's clock (its `Date` header) and ours; positive when
    /// the server is ahead, `nil` when the server sends no date. S3 refuses signatures more
    /// than 15 minutes off.
    public func clockSkew() async throws -> Duration? {
        let sent = now()
        let response = try await unsignedRequest(.HEAD, path: "/", operation: "storage.clock-skew")
        let received = now()
        guard let serverDate = response.headers.first(name: "date").flatMap(HTTPDate.parse) else { return nil }
        // The server's Date has whole seconds; compare with the middle of the exchange.
        let local = sent.addingTimeInterval(received.timeIntervalSince(sent) / 2)
        return .milliseconds(Int64((serverDate.timeIntervalSince(local) * 1000).rounded()))
    }

    /// An unsigned request outside the bucket (health, clock), with the same time limit.
    func unsignedRequest(_ method: HTTPMethod, path: String, operation: String) async throws -> S3Response {
        var request = HTTPClientRequest(url: endpoint.base + path)
        request.method = method
        let client = httpClient
        let timeout = configuration.requestTimeout
        let sendable = request
        do {
            return try await withTimeLimit(timeout) {
                let response = try await client.execute(sendable, timeout: Self.timeAmount(timeout))
                let body = try await response.body.collect(upTo: 1 << 20)
                return S3Response(status: Int(response.status.code), headers: response.headers, body: Array(buffer: body))
            }
        } catch {
            throw transportError(error, operation: operation)
        }
    }

    static func unquote(_ etag: String) -> String { etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }

    func bucketMissing(operation: String) -> RecoveryError {
        RecoveryError(.notFound, "bucket \(configuration.bucket) does not exist at \(endpoint.base); create it or fix the bucket name", operation: operation, target: target)
    }
}

extension MinIOStorageBackend: StorageEndpointProbe {
    /// `s3://bucket at http(s)://host:port`.
    public var endpointDescription: String { "\(target) at \(endpoint.base)" }
}

/// What ``MinIOStorageBackend/health()`` found.
public enum MinIOHealth: Sendable, Hashable {
    /// MinIO answers that it is live.
    case live
    /// MinIO answers, but not healthy (the HTTP status).
    case unhealthy(status: Int)
    /// The endpoint is an S3 server without MinIO's health API.
    case notMinIO
}
