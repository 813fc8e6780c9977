import AsyncHTTPClient
import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import NIOCore

/// Sends `add-checkpoint` requests to witnesses over HTTP (AsyncHTTPClient's shared client).
enum WitnessClient {
    /// Posts `body` to `url` and returns the witness's answer (at most 64 KiB of it read).
    @Sendable static func post(url: String, body: String) async throws -> AuditWitness.Response {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: AddCheckpointRequest.maximumBytes)
        return AuditWitness.Response(
            status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type") ?? "",
            body: String(decoding: bytes.readableBytesView, as: UTF8.self))
    }

    /// The witnesses of `--witness URL=KEYFILE` options, or else of the policy's `audit.witnesses`.
    static func witnesses(options: [String], policy: RecoveryPolicy?) throws -> [AuditWitnessCollector.Witness] {
        if !options.isEmpty {
            return try options.map { option in
                guard let split = option.range(of: "=", options: .backwards), !option[..<split.lowerBound].isEmpty else {
                    throw RecoveryError.invalidInput("--witness \(option): write URL=PUBLIC-KEY-FILE")
                }
                let key = try AuditCosignerKey(contentsOf: URL(fileURLWithPath: String(option[split.upperBound...])))
                return AuditWitnessCollector.Witness(url: String(option[..<split.lowerBound]), key: key)
            }
        }
        return try (policy?.audit.witnesses ?? []).map { witness in
            do {
                return AuditWitnessCollector.Witness(url: witness.url, key: try AuditCosignerKey(parsing: witness.publicKey))
            } catch let error as RecoveryError {
                throw RecoveryError.invalidInput("the policy's witness \(witness.url): \(error.message)")
            }
        }
    }
}
