import AsyncHTTPClient
import CarbonRecovery
import Foundation
import NIOCore
import NIOHTTP1

/// POSTs a body to a receiver and turns every answer into "accepted" or a ``NotifierError``
/// whose message names the receiver (the notifier's name) but never its URL: webhook URLs
/// carry tokens.
struct HTTPDelivery: Sendable {
    /// One client for every notifier of the process; redirects are not followed (a signed
    /// delivery goes where it was configured to go, or fails).
    static let client = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5))))

    /// Who the errors name: the notifier's name and type, e.g. `ops-webhook (webhook)`.
    var receiver: String
    var url: URL
    var timeout: Duration

    /// Sends the body; returns the answer's body (at most 64 KiB) when the receiver accepted it.
    @discardableResult
    func post(_ body: [UInt8], headers: [(String, String)]) async throws -> [UInt8] {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "carbon-recovery-notifier")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await Self.client.execute(request, timeout: .init(timeout))
        } catch {
            throw Self.classify(error, receiver: receiver, timeout: timeout)
        }
        let answer: ByteBuffer
        do {
            answer = try await response.body.collect(upTo: 64 * 1024)
        } catch {
            throw Self.classify(error, receiver: receiver, timeout: timeout)
        }
        if let failure = NotifierError.forHTTPStatus(Int(response.status.code), receiver: receiver) { throw failure }
        return Array(answer.readableBytesView)
    }

    /// A transport failure, described without the URL. All of these are temporary.
    static func classify(_ error: any Error, receiver: String, timeout: Duration) -> NotifierError {
        if let error = error as? NotifierError { return error }
        if let error = error as? HTTPClientError {
            if [.deadlineExceeded, .readTimeout, .writeTimeout, .connectTimeout, .getConnectionFromPoolTimeout].contains(error) {
                return .temporary("\(receiver) did not answer within \(timeout)")
            }
            if error == .remoteConnectionClosed { return .temporary("\(receiver) closed the connection before answering") }
            if error == .invalidURL || error == .emptyHost { return .permanent("\(receiver): the configured URL is not usable") }
            return .temporary("\(receiver): HTTP client error \(Self.errorName(error))")
        }
        if let error = error as? IOError {
            let reason = error.errnoCode == ECONNREFUSED ? "refused the connection" : error.errnoCode == ECONNRESET ? "reset the connection" : "failed with errno \(error.errnoCode)"
            return .temporary("\(receiver) \(reason)")
        }
        if error is CancellationError { return .temporary("\(receiver): delivery cancelled") }
        if String(describing: type(of: error)).contains("NIOConnectionError") { return .temporary("\(receiver) refused the connection or could not be reached") }
        return .temporary("\(receiver): \(Self.errorName(error))")
    }

    /// The error's type and case, never its associated values (which could hold a URL).
    static func errorName(_ error: any Error) -> String {
        let text = String(describing: error)
        let name = text.prefix { $0 != "(" && $0 != ":" && $0 != " " }
        return name.isEmpty ? String(describing: type(of: error)) : String(name)
    }
}
