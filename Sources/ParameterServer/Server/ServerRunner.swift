import Foundation
import Logging

/// The I/O loop around `KVServer`: bind a ROUTER, register with the scheduler, then receive,
/// decode, handle, send — and check deadlines — until shutdown, a failure, or a signal.
public final class ServerRunner {
    /// How the loop ended.
    public enum Outcome: Equatable {
        case shutdown
        case interrupted
        case failed(String)
    }

    let config: ClusterConfig
    let logger: Logger
    let context: ZMQContext
    let stopFlag: StopFlag

    /// A runner for a server node; `stopFlag` is raised by signal handlers.
    public init(config: ClusterConfig, logger: Logger, stopFlag: StopFlag = StopFlag(), context: ZMQContext = ZMQContext()) {
        self.config = config; self.logger = logger; self.stopFlag = stopFlag; self.context = context
    }

    /// Serves until the job ends; returns why.
    public func run() throws -> Outcome {
        let socket = try ZMQSocket(context, kind: .router)
        let endpoint = try socket.bind("tcp://\(Rendezvous.bindHost(config.nodeHost)):\(config.nodePort)")
        let port = endpoint.split(separator: ":").last.map(String.init) ?? "\(config.nodePort)"
        let advertised = "tcp://\(config.nodeHost):\(port)"
        let roster: Roster
        do {
            roster = try Rendezvous.register(Registration(role: .server, endpoint: advertised, requestedRank: nil),
                                             config: config, context: context, stopFlag: stopFlag)
        } catch TransportError.interrupted {
            return .interrupted
        }
        let server = KVServer(rank: roster.rank, numWorkers: roster.numWorkers, timeouts: .init(heartbeat: config.heartbeatTimeout, round: config.roundTimeout),
                              logger: logger)
        logger.info("server \(roster.rank) serving at \(advertised) for \(roster.numWorkers) worker(s)")
        let codec = WireCodec()
        var lastTick = MonotonicClock.now()
        while true {
            if stopFlag.isRaised { return .interrupted }
            if !ZMQSocket.poll([socket], seconds: 0.05).isEmpty {
                while let frames = try socket.receiveNow() {
                    let now = MonotonicClock.now()
                    guard frames.count >= 1 else { continue }
                    let peer = PeerID(frames[0])
                    let outgoing: [Outgoing]
                    do {
                        let message = try codec.decode(frames: Array(frames.dropFirst()))
                        outgoing = server.handle(message, from: peer, now: now)
                    } catch {
                        logger.warning("rejected a malformed message from \(peer): \(error)")
                        outgoing = [Outgoing(peer: peer, message: Message(header: MessageHeader(command: .error, isReply: true), text: "\(error)"))]
                    }
                    var encoded: (message: Message, frames: [[UInt8]])?
                    for o in outgoing {
                        // Replies of one sync round share one message: encode (checksum) it once.
                        if encoded?.message != o.message { encoded = (o.message, codec.encode(o.message)) }
                        send(o.peer, encoded!.frames, socket: socket)
                    }
                    if server.shutdownRequested {
                        logger.info("server \(roster.rank): shutdown after \(server.updateCount) optimizer update(s)")
                        return .shutdown
                    }
                }
            }
            let now = MonotonicClock.now()
            if now - lastTick >= 0.1 {
                lastTick = now
                for o in server.tick(now: now) { send(o.peer, codec.encode(o.message), socket: socket) }
                if let failure = server.failure {
                    Thread.sleep(forTimeInterval: 0.3)  // let the error notifications leave
                    return .failed(failure.description)
                }
            }
        }
    }

    private func send(_ peer: PeerID, _ frames: [[UInt8]], socket: ZMQSocket) {
        do {
            try socket.send([peer.bytes] + frames)
        } catch {
            // A peer that disconnected cannot be answered; that is not the server's failure.
            logger.debug("could not answer \(peer): \(error)")
        }
    }
}

/// A flag raised from a signal handler and read by loops (thread-safe).
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false

    public init() {}

    /// Whether a stop was requested.
    public var isRaised: Bool { lock.lock(); defer { lock.unlock() }; return raised }

    /// Requests a stop.
    public func raise() { lock.lock(); raised = true; lock.unlock() }

    /// Raises this flag on SIGINT and SIGTERM (keep the returned sources alive).
    public func installSignalHandlers() -> [DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.raise() }
            source.resume()
            return source
        }
    }
}
