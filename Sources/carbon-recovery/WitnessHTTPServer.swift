import CarbonRecovery
import CarbonRecoveryAudit
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// `carbon-recovery witness serve`'s HTTP side: C2SP tlog-witness `POST /add-checkpoint` on
/// 127.0.0.1 only, one request per connection. A body over 64 KiB is 413, another path 404,
/// another method 405; everything else is the witness's answer. A connection that has not
/// sent its whole request within ``requestTimeout`` is closed, so idle clients cannot pile up.
struct WitnessHTTPServer {
    let witness: AuditWitness
    let port: Int
    var requestTimeout: Duration = .seconds(30)

    /// Listens until the task is cancelled; calls `onListening` with the bound port once.
    func run(onListening: @Sendable (Int) -> Void) async throws {
        guard (0...65_535).contains(port) else { throw RecoveryError.invalidInput("--port \(port) is not a TCP port") }
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .bind(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw RecoveryError.invalidInput("cannot listen on 127.0.0.1:\(port): \(error)")
        }
        onListening(server.channel.localAddress?.port ?? port)
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    group.addTask {
                        // Whichever ends first: the request answered, or its time up (which closes it).
                        await withTaskGroup(of: Void.self) { race in
                            race.addTask { try? await handle(connection) }
                            race.addTask { try? await Task.sleep(for: requestTimeout) }
                            await race.next()
                            race.cancelAll()
                            try? await connection.channel.close()
                        }
                    }
                }
            }
        }
    }

    private func handle(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body: [UInt8] = []
            var tooLarge = false
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                case .body(let buffer):
                    if body.count + buffer.readableBytes > AddCheckpointRequest.maximumBytes { tooLarge = true } else { body += buffer.readableBytesView }
                case .end:
                    guard let head else { return }
                    let response = await answer(head, body: body, tooLarge: tooLarge)
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: response.contentType)
                    headers.add(name: "Content-Length", value: String(response.body.utf8.count))
                    headers.add(name: "Connection", value: "close")
                    try await outbound.write(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: response.status), headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(string: response.body))))
                    try await outbound.write(.end(nil))
                    return
                }
            }
        }
    }

    private func answer(_ head: HTTPRequestHead, body: [UInt8], tooLarge: Bool) async -> AuditWitness.Response {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        guard path == "/add-checkpoint" else { return .init(status: 404, body: "not found; the witness serves POST /add-checkpoint\n") }
        guard head.method == .POST else { return .init(status: 405, body: "only POST\n") }
        guard !tooLarge else { return .init(status: 413, body: "the body is longer than \(AddCheckpointRequest.maximumBytes) bytes\n") }
        return await witness.addCheckpoint(body)
    }
}
