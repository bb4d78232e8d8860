import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// One Hummingbird 2 HTTP server on `host:port`, run as a service group: the HTTP layer shared
/// by `ssd serve` and the metrics ports of `param-server` and `worker`. `run` serves a router
/// until `shutdown()` — graceful: requests in flight are answered — or, with `handleSignals`,
/// SIGTERM/SIGINT. A port another process holds is `MetricsHTTPError.addressInUse`.
public final class HTTPEndpoint: Sendable {
    /// The address it listens on (0.0.0.0: every interface).
    public let host: String
    /// The port asked for (0: any free port; `run`'s `onListening` gets the one bound).
    public let port: Int
    let serverName: String
    let logger: Logger
    private let running = RunningGroup()

    /// An endpoint that will listen on `host:port`, naming itself `serverName` in its answers.
    public init(host: String, port: Int, serverName: String, logger: Logger) {
        self.host = host; self.port = port; self.serverName = serverName; self.logger = logger
    }

    /// Serves `router` until `shutdown()` (also when it was called before `run`) or, with
    /// `handleSignals`, SIGTERM/SIGINT; `onListening` gets the bound port.
    public func run(router: Router<BasicRequestContext>, handleSignals: Bool = false,
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: serverName),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
                                                      logger: logger))
        if running.set(group) { await group.triggerGracefulShutdown() }  // a service group remembers it until it runs
        do {
            try await group.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw MetricsHTTPError.addressInUse(host: host, port: port)
        } catch let error as IOError {
            throw MetricsHTTPError.cannotListen(host: host, port: port, reason: "\(error)")
        }
    }

    /// Stops a running endpoint gracefully; before `run`, makes `run` stop at once.
    public func shutdown() async {
        await running.requestShutdown()?.triggerGracefulShutdown()
    }
}

/// The service group of a running endpoint, and whether a shutdown came before it.
private final class RunningGroup: @unchecked Sendable {
    private let lock = NSLock()
    private var group: ServiceGroup?
    private var shutdownRequested = false

    /// Records the group; true when `shutdown()` was called before.
    func set(_ g: ServiceGroup) -> Bool {
        lock.lock(); defer { lock.unlock() }
        group = g
        return shutdownRequested
    }

    /// Notes the request; the group to stop, if it runs already.
    func requestShutdown() -> ServiceGroup? {
        lock.lock(); defer { lock.unlock() }
        shutdownRequested = true
        return group
    }
}
