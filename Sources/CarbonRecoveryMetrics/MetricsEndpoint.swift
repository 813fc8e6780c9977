import CarbonRecovery
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// Serves the process's swift-metrics for Prometheus at `GET /metrics` on 127.0.0.1 (text
/// exposition format 0.0.4). `carbon-recovery run --metrics-port PORT` runs one.
///
/// ```swift
/// let endpoint = MetricsEndpoint(port: 9464)
/// endpoint.bootstrap()                         // once per process: swift-metrics → this registry
/// let group = ServiceGroup(services: [endpoint, scheduler], logger: logger)
/// try await group.run()
/// ```
///
/// It binds loopback only: put a proxy or a sidecar in front of it to scrape it from elsewhere.
public final class MetricsEndpoint: Service, Sendable {
    /// The registry the endpoint serves.
    public let registry: PrometheusCollectorRegistry
    /// The port asked for (0 picks a free one; see ``boundPort()``).
    public let port: Int
    private let logger: Logger
    private let bound = Mutex<Int?>(nil)
    private let onListening: @Sendable (Int) -> Void

    /// Creates an endpoint for `port` on 127.0.0.1.
    ///
    /// - Parameter onListening: Called once with the port it listens on (the one picked for port 0).
    public init(
        port: Int, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), logger: Logger = Logger(label: "carbon-recovery.metrics", factory: { _ in SwiftLogNoOpLogHandler() }),
        onListening: @escaping @Sendable (Int) -> Void = { _ in }
    ) {
        self.port = port
        self.registry = registry
        self.logger = logger
        self.onListening = onListening
    }

    /// Points swift-metrics at this endpoint's registry, with histogram buckets that suit backup
    /// and restore durations (0.1 s to 4 h). Call it once per process, before metrics are made.
    public func bootstrap() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15), .seconds(30), .seconds(60), .seconds(300),
            .seconds(600), .seconds(1800), .seconds(3600), .seconds(7200), .seconds(14_400),
        ]
        MetricsSystem.bootstrap(factory)
    }

    /// The port the endpoint listens on, once it does.
    public func boundPort() -> Int? { bound.withLock { $0 } }

    /// The exposition text, as `GET /metrics` answers it.
    public func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }

    /// Listens until graceful shutdown or cancellation.
    ///
    /// - Throws: ``RecoveryError/Code/invalidInput`` when the port is taken or not a port.
    public func run() async throws {
        guard (0...65_535).contains(port) else { throw RecoveryError.invalidInput("--metrics-port \(port) is not a TCP port") }
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline().flatMap {
                        channel.pipeline.addHandler(MetricsHTTPHandler(endpoint: self))
                    }
                }
                .bind(host: "127.0.0.1", port: port).get()
        } catch {
            throw RecoveryError.invalidInput("cannot listen on 127.0.0.1:\(port) for metrics: \(error)")
        }
        let listening = channel.localAddress?.port ?? port
        bound.withLock { $0 = listening }
        logger.info("serving metrics", metadata: ["address": "127.0.0.1:\(listening)"])
        onListening(listening)
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                try? await channel.closeFuture.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

/// Answers `GET /metrics` (and `/`); anything else is 404, any method but GET/HEAD 405.
private final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let endpoint: MetricsEndpoint

    init(endpoint: MetricsEndpoint) { self.endpoint = endpoint }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        var status = HTTPResponseStatus.ok
        var body: [UInt8]
        var contentType = "text/plain; version=0.0.4; charset=utf-8"
        if head.method != .GET && head.method != .HEAD {
            status = .methodNotAllowed
            body = Array("only GET\n".utf8)
        } else if path == "/metrics" || path == "/" {
            body = endpoint.exposition()
        } else {
            status = .notFound
            body = Array("not found; try /metrics\n".utf8)
            contentType = "text/plain; charset=utf-8"
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        if head.method == .HEAD { body = [] }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
