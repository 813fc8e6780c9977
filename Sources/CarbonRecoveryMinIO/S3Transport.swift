import AsyncHTTPClient
import CarbonRecovery
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// A validated endpoint: scheme, host and port only.
struct S3Endpoint: Sendable {
    /// `scheme://host[:port]`, no trailing slash.
    var base: String
    /// The `Host` header value.
    var host: String

    init(_ text: String) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let hostName = components.host, !hostName.isEmpty else {
            throw RecoveryError.invalidInput("S3 endpoint \(String(reflecting: AuditRedaction.redact(text: text))) must be http(s)://host[:port]")
        }
        guard components.user == nil, components.password == nil else {
            throw RecoveryError.invalidInput("the S3 endpoint must not carry credentials; use the credentials source")
        }
        guard components.path.isEmpty || components.path == "/", components.query == nil, components.fragment == nil else {
            throw RecoveryError.invalidInput("S3 endpoint \(String(reflecting: text)) must have no path, query or fragment (the bucket is configured separately)")
        }
        let hostPart = hostName.contains(":") ? "[\(hostName)]" : hostName
        host = components.port.map { "\(hostPart):\($0)" } ?? hostPart
        base = "\(scheme)://\(host)"
    }
}

/// S3's naming rules, checked before anything is sent.
enum S3Names {
    /// 3–63 characters of lower-case letters, digits, `.` and `-`, starting and ending with a
    /// letter or digit, no `..`, not an IP address.
    static func validateBucket(_ bucket: String) throws {
        let bytes = Array(bucket.utf8)
        func alnum(_ byte: UInt8) -> Bool { (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) }
        let valid = (3...63).contains(bytes.count) && alnum(bytes.first!) && alnum(bytes.last!)
            && bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
            && !bucket.contains("..") && !bucket.split(separator: ".").allSatisfy({ Int($0) != nil })
        guard valid else {
            throw RecoveryError.invalidInput("bucket name \(String(reflecting: bucket)) breaks S3's rules (3–63 lower-case letters, digits, '.' and '-')")
        }
    }

    /// 1–1,024 bytes of UTF-8 without control characters, and no `.`/`..` path segment (HTTP
    /// stacks normalise those away, so the key sent would not be the key meant).
    static func validateKey(_ key: String) throws {
        guard !key.isEmpty, key.utf8.count <= 1_024 else {
            throw RecoveryError.invalidInput("an object key must be 1–1024 bytes long", target: String(key.prefix(64)))
        }
        guard !key.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw RecoveryError.invalidInput("object key \(String(reflecting: key)) holds a control character", target: key)
        }
        guard !key.split(separator: "/", omittingEmptySubsequences: false).contains(where: { $0 == "." || $0 == ".." }) else {
            throw RecoveryError.invalidInput("object key \(String(reflecting: key)) has a '.' or '..' segment", target: key)
        }
    }
}

/// One answered request.
struct S3Response: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]
    /// `<Error><Code>` of an error body, when there is one.
    var errorCode: String? {
        guard status >= 300, !body.isEmpty, let root = try? S3XMLElement.parse(body), root.name == "Error" else { return nil }
        return root["Code"]
    }
    var errorMessage: String? {
        guard status >= 300, !body.isEmpty, let root = try? S3XMLElement.parse(body) else { return nil }
        return root["Message"]
    }
}

/// One ListObjectsV2 page.
struct S3ListPage: Sendable {
    var objects: [StorageObject]
    var commonPrefixes: [String]
    var nextToken: String?
}

extension MinIOStorageBackend {
    /// Sends one signed request, retrying what may succeed on a second try.
    ///
    /// - Parameter accept: statuses that are answers, not failures (404 for a missing key, …).
    func send(
        _ method: HTTPMethod, key: String?, query: [(String, String)] = [], headers extra: [(String, String)] = [],
        body: [UInt8]? = nil, operation: String, accept: Set<Int>
    ) async throws -> S3Response {
        let encodedPath = "/\(configuration.bucket)" + (key.map { "/" + S3URI.encode($0, encodeSlash: false) } ?? "")
        let queryString = query.map { "\(S3URI.encode($0.0, encodeSlash: true))=\(S3URI.encode($0.1, encodeSlash: true))" }.joined(separator: "&")
        let url = endpoint.base + encodedPath + (queryString.isEmpty ? "" : "?" + queryString)
        let payloadHash = body.map { SigV4Signer.hex(SHA256.hash(data: $0)) } ?? SigV4Signer.emptyPayloadHash
        let signer = SigV4Signer(region: configuration.region)
        let requestTarget = key ?? target
        var attempt = 0
        while true {
            attempt += 1
            let credentials: S3Credentials
            do {
                credentials = try await configuration.credentials.resolve()
            } catch let error as RecoveryError {
                throw error.with(operation: operation, target: requestTarget)
            }
            var headers: [(String, String)] = [("host", endpoint.host)] + extra
            do {
                try signer.sign(method: method.rawValue, encodedPath: encodedPath, query: query, headers: &headers, payloadHash: payloadHash, credentials: credentials, date: now())
            } catch let error as RecoveryError {
                throw error.with(operation: operation, target: requestTarget)
            }
            var request = HTTPClientRequest(url: url)
            request.method = method
            // Host too, exactly as signed (the HTTP client would drop a default port from it).
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body { request.body = .bytes(body) }

            let outcome: Result<S3Response, any Error>
            do {
                let client = httpClient
                let timeout = configuration.requestTimeout
                let limit = method == .GET && key != nil ? Int.max : 64 << 20
                let sendable = request
                outcome = .success(try await withTimeLimit(timeout) {
                    let response = try await client.execute(sendable, timeout: Self.timeAmount(timeout))
                    let collected = try await response.body.collect(upTo: limit)
                    return S3Response(status: Int(response.status.code), headers: response.headers, body: Array(buffer: collected))
                })
            } catch {
                outcome = .failure(error)
            }
            switch outcome {
            case .success(let response) where (200..<300).contains(response.status) || accept.contains(response.status):
                logger.debug("s3 request", metadata: [
                    "method": "\(method.rawValue)", "bucket": "\(configuration.bucket)", "key": "\(key ?? "")",
                    "query": "\(query.map(\.0).joined(separator: ","))", "status": "\(response.status)", "attempt": "\(attempt)",
                ])
                return response
            case .success(let response):
                let retryable = [500, 502, 503, 504, 408, 429].contains(response.status) || ["SlowDown", "InternalError", "RequestTimeout"].contains(response.errorCode ?? "")
                if retryable, attempt < configuration.maximumAttempts {
                    try await backOff(attempt: attempt, reason: "HTTP \(response.status) \(response.errorCode ?? "")", key: key)
                    continue
                }
                let error = serverError(response, credentials: credentials, operation: operation, target: requestTarget)
                guard error.code == .unauthorized || error.code == .forbidden else { throw error }
                // Who was refused what, for the audit trail's `denied` outcome: the key id shortened, never the secret.
                throw error.denied(AccessDenial(
                    source: .storage, status: response.status, isUnauthenticated: error.code == .unauthorized,
                    identity: "access key \(S3Credentials.shortened(credentials.accessKeyID))",
                    refused: "\(operation) \(configuration.bucket)\(key.map { "/" + $0 } ?? "")"))
            case .failure(let error):
                if error is CancellationError || Task.isCancelled {
                    throw RecoveryError(.cancelled, "the request was cancelled", operation: operation, target: requestTarget)
                }
                if attempt < configuration.maximumAttempts {
                    try await backOff(attempt: attempt, reason: "\(Self.describeTransport(error))", key: key)
                    continue
                }
                throw transportError(error, operation: operation, target: requestTarget, attempts: attempt)
            }
        }
    }

    /// Waits before a retry: a wait drawn from the upper half of an exponentially growing
    /// ceiling (as the notifiers' outbox does), so every retry waits at least half of it and a
    /// server that restarts is given the time the attempts add up to.
    func backOff(attempt: Int, reason: String, key: String?) async throws {
        let base = Double(configuration.retryBaseDelay.components.seconds) + Double(configuration.retryBaseDelay.components.attoseconds) / 1e18
        let cap = Double(configuration.retryMaximumDelay.components.seconds) + Double(configuration.retryMaximumDelay.components.attoseconds) / 1e18
        let ceiling = min(cap, base * pow(2, Double(attempt - 1)))
        let delay = Double.random(in: (ceiling / 2)...ceiling)
        logger.warning("s3 request retried", metadata: ["reason": "\(reason)", "attempt": "\(attempt)", "key": "\(key ?? "")", "delay_ms": "\(Int(delay * 1000))"])
        try await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// Maps an S3 error answer to a `RecoveryError` with advice.
    func serverError(_ response: S3Response, credentials: S3Credentials, operation: String, target: String) -> RecoveryError {
        let code = response.errorCode
        let key = S3Credentials.shortened(credentials.accessKeyID)
        let detail = (response.errorMessage.map { ": \(AuditRedaction.redact(text: $0))" } ?? "")
        switch code {
        case "InvalidAccessKeyId":
            return RecoveryError(.unauthorized, "the S3 server at \(endpoint.base) does not know access key \(key); check the credentials source", operation: operation, target: target)
        case "SignatureDoesNotMatch":
            return RecoveryError(.unauthorized, "the S3 server at \(endpoint.base) refused the signature: the secret key does not belong to access key \(key) (or the region is wrong: \(configuration.region))", operation: operation, target: target)
        case "RequestTimeTooSkewed":
            let server = response.headers.first(name: "date") ?? "unknown"
            return RecoveryError(.clockSkew, "the S3 server refused the request because this machine's clock (\(HTTPDate.format(now()))) differs from the server's (\(server)) by more than 15 minutes; fix the clock (NTP)", operation: operation, target: target)
        case "AccessDenied":
            return RecoveryError(.forbidden, "access key \(key) may not do \(operation) on \(target)\(detail)", operation: operation, target: target)
        case "NoSuchBucket":
            return bucketMissing(operation: operation)
        case "NoSuchKey":
            return RecoveryError(.notFound, "no object \(target) in \(self.target)", operation: operation, target: target)
        case "NotImplemented", "ObjectLockConfigurationNotFoundError":
            return RecoveryError(.unsupported, "the S3 server does not support this (\(code ?? ""))\(detail)", operation: operation, target: target)
        default:
            break
        }
        let codeText = code.map { " \($0)" } ?? ""
        switch response.status {
        case 401: return RecoveryError(.unauthorized, "the S3 server refused the credentials (HTTP 401\(codeText))", operation: operation, target: target)
        case 403: return RecoveryError(.forbidden, "the S3 server refused the request (HTTP 403\(codeText))\(detail)", operation: operation, target: target)
        case 404: return RecoveryError(.notFound, "not found (HTTP 404\(codeText))\(detail)", operation: operation, target: target)
        case 400..<500: return RecoveryError(.invalidInput, "the S3 server refused the request (HTTP \(response.status)\(codeText))\(detail)", operation: operation, target: target)
        default: return RecoveryError(.storageFailure, "the S3 server failed (HTTP \(response.status)\(codeText)) after \(configuration.maximumAttempts) attempts\(detail)", operation: operation, target: target)
        }
    }

    /// Maps a failure to connect or to get an answer.
    func transportError(_ error: any Error, operation: String, target: String? = nil, attempts: Int = 1) -> RecoveryError {
        let text = Self.describeTransport(error)
        let tries = attempts > 1 ? " (\(attempts) attempts)" : ""
        if error is TimeLimitExceeded || (error as? HTTPClientError).map({ [.deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .tlsHandshakeTimeout].contains($0) }) == true {
            return RecoveryError(.timeout, "the S3 server at \(endpoint.base) did not answer within \(configuration.requestTimeout)\(tries)", operation: operation, target: target ?? self.target)
        }
        return RecoveryError(.unreachable, "could not reach the S3 server at \(endpoint.base)\(tries): \(text)", operation: operation, target: target ?? self.target)
    }

    static func describeTransport(_ error: any Error) -> String {
        AuditRedaction.redact(text: String(describing: error))
    }

    /// Fetches one ListObjectsV2 page.
    func listPage(prefix: String, delimiter: String? = nil, continuationToken: String?) async throws -> S3ListPage {
        var query: [(String, String)] = [("list-type", "2"), ("max-keys", String(configuration.listPageSize)), ("prefix", prefix)]
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let response = try await send(.GET, key: nil, query: query, operation: "storage.list", accept: [200])
        let root = try S3XMLElement.parse(response.body)
        guard root.name == "ListBucketResult" else {
            throw RecoveryError(.storageFailure, "the S3 server answered a listing with <\(root.name)>", operation: "storage.list", target: prefix)
        }
        var objects: [StorageObject] = []
        objects.reserveCapacity(root.children.count)
        var prefixes: [String] = []
        for child in root.children {
            if child.name == "Contents" {
                guard let key = child["Key"], let size = Int64(child["Size"] ?? "") else {
                    throw RecoveryError(.storageFailure, "a listed object has no key or size", operation: "storage.list", target: prefix)
                }
                objects.append(StorageObject(key: key, size: size, lastModified: child["LastModified"].flatMap(RFC3339.parse), etag: child["ETag"].map(Self.unquote)))
            } else if child.name == "CommonPrefixes", let common = child["Prefix"] {
                prefixes.append(common)
            }
        }
        let truncated = root["IsTruncated"] == "true"
        let token = truncated ? root["NextContinuationToken"] : nil
        if truncated, token == nil || token == continuationToken {
            throw RecoveryError(.storageFailure, "the S3 server said the listing goes on but gave no new continuation token", operation: "storage.list", target: prefix)
        }
        return S3ListPage(objects: objects, commonPrefixes: prefixes, nextToken: token)
    }

    /// CreateMultipartUpload, UploadPart (several at a time), CompleteMultipartUpload; aborts on failure.
    func multipartUpload(_ key: String, nextPart: () async throws -> [UInt8]?) async throws {
        let created = try await send(.POST, key: key, query: [("uploads", "")], headers: encryptionHeaders(.upload), operation: "storage.put", accept: [200])
        guard let uploadID = try S3XMLElement.parse(created.body)["UploadId"], !uploadID.isEmpty else {
            throw RecoveryError(.storageFailure, "the S3 server started a multipart upload without an UploadId", operation: "storage.put", target: key)
        }
        do {
            var etags: [Int: String] = [:]
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var number = 0
                var inFlight = 0
                while let part = try await nextPart() {
                    number += 1
                    let partNumber = number
                    if inFlight == configuration.multipartConcurrency, let (done, etag) = try await group.next() {
                        etags[done] = etag
                        inFlight -= 1
                    }
                    group.addTask {
                        let response = try await self.send(
                            .PUT, key: key, query: [("partNumber", String(partNumber)), ("uploadId", uploadID)], headers: self.encryptionHeaders(.part), body: part,
                            operation: "storage.put", accept: [200])
                        guard let etag = response.headers.first(name: "etag") else {
                            throw RecoveryError(.storageFailure, "part \(partNumber) was stored without an ETag", operation: "storage.put", target: key)
                        }
                        return (partNumber, etag)
                    }
                    inFlight += 1
                }
                while let (done, etag) = try await group.next() { etags[done] = etag }
            }
            let parts = etags.keys.sorted().map { "<Part><PartNumber>\($0)</PartNumber><ETag>\(Self.escapeXML(etags[$0]!))</ETag></Part>" }.joined()
            let body = Array("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\(parts)</CompleteMultipartUpload>".utf8)
            let completed = try await send(.POST, key: key, query: [("uploadId", uploadID)], body: body, operation: "storage.put", accept: [200])
            // S3 may answer 200 with an <Error> body when completion fails late.
            if let root = try? S3XMLElement.parse(completed.body), root.name == "Error" {
                throw RecoveryError(.storageFailure, "completing the multipart upload failed: \(root["Code"] ?? "") \(root["Message"] ?? "")", operation: "storage.put", target: key)
            }
        } catch {
            _ = try? await send(.DELETE, key: key, query: [("uploadId", uploadID)], operation: "storage.put-abort", accept: [200, 204, 404])
            throw error
        }
    }

    static func escapeXML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// Walks ListObjectsV2 pages on demand for ``MinIOStorageBackend/list(prefix:)``.
actor ListCursor {
    let backend: MinIOStorageBackend
    let prefix: String
    var buffer: [StorageObject] = []
    var position = 0
    var token: String?
    var finished = false

    init(backend: MinIOStorageBackend, prefix: String) {
        self.backend = backend
        self.prefix = prefix
    }

    func next() async throws -> StorageObject? {
        while position == buffer.count {
            guard let page = try await nextPage() else { return nil }
            buffer = page
            position = 0
        }
        defer { position += 1 }
        return buffer[position]
    }

    func nextPage() async throws -> [StorageObject]? {
        while !finished {
            let page = try await backend.listPage(prefix: prefix, continuationToken: token)
            token = page.nextToken
            finished = token == nil
            if !page.objects.isEmpty { return page.objects }
        }
        return nil
    }
}

/// RFC 7231 dates (`Wed, 25 Nov 2026 06:30:00 GMT`).
enum HTTPDate {
    static func parse(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }

    static func format(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}

