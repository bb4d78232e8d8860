import Logging

/// A server node over ZeroMQ: bind a ROUTER, register with the scheduler, then run the
/// `ServerLoop` until shutdown, a failure, or a signal.
public final class ServerRunner {
    let config: ClusterConfig
    let logger: Logger
    let stopFlag: StopFlag
    let profile: RoundProfile?
    let observer: (any KVServerObserver)?

    /// A runner for a server node; `stopFlag` is raised by signal handlers; `profile`
    /// (benchmarks only) collects where the server's time goes; `observer` (the metrics port)
    /// is told what the server does.
    public init(config: ClusterConfig, logger: Logger, stopFlag: StopFlag = StopFlag(), profile: RoundProfile? = nil,
                observer: (any KVServerObserver)? = nil) {
        self.config = config; self.logger = logger; self.stopFlag = stopFlag; self.profile = profile; self.observer = observer
    }

    /// Serves until the job ends; returns why. Returns only once the last replies and failure
    /// notices have left (or the transport's linger bound passed).
    public func run() throws -> ServerLoop.Outcome {
        // Pushes are hashed in the pass that sums them (`KVServer`, `SyncRound.stage`).
        let transport = try ZeroMQTransport.bind("tcp://\(Rendezvous.bindHost(config.nodeHost)):\(config.nodePort)",
                                                 codec: WireCodec(defersPayloadChecks: true), security: config.security,
                                                 sharedMemory: config.sharedMemory)
        defer { transport.close() }
        transport.profile = profile
        let port = transport.boundEndpoint?.split(separator: ":").last.map(String.init) ?? "\(config.nodePort)"
        let advertised = "tcp://\(config.nodeHost):\(port)"
        let roster: Roster
        do {
            roster = try Rendezvous.register(Registration(role: .server, endpoint: advertised, requestedRank: nil),
                                             config: config, stopFlag: stopFlag)
        } catch ClusterError.interrupted {
            return .interrupted
        }
        let server = KVServer(rank: roster.rank, numWorkers: roster.numWorkers,
                              timeouts: .init(heartbeat: config.heartbeatTimeout, round: config.roundTimeout), logger: logger)
        server.nonFinite = config.nonFiniteGradients
        server.profile = profile
        server.observer = observer
        logger.info("server \(roster.rank) serving at \(advertised) for \(roster.numWorkers) worker(s)")
        return try ServerLoop(server: server, transport: transport, logger: logger).run(stopFlag: stopFlag)
    }
}
