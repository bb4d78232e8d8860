import Logging

/// The I/O loop around `KVServer` over any `Transport`: receive, handle, send — and check
/// deadlines every `tickInterval` — until shutdown, a failure or a stop request. The same code
/// serves real sockets (`ServerRunner`) and the in-process transport of the unit tests.
public final class ServerLoop {
    /// How the loop ended.
    public enum Outcome: Equatable, Sendable {
        case shutdown
        case interrupted
        case failed(String)
    }

    public let server: KVServer
    let transport: Transport
    let logger: Logger
    /// Seconds between deadline checks.
    public var tickInterval = 0.1
    private var lastTick: Double
    private var payloadsLimited = false

    /// A loop serving `server` over `transport`.
    public init(server: KVServer, transport: Transport, logger: Logger = Logger(label: "param-server")) {
        self.server = server; self.transport = transport; self.logger = logger
        lastTick = transport.now()
    }

    /// Serves until the job ends; returns why. A failure's notices have been handed to the
    /// transport (whose `close` lets them leave within its linger bound).
    public func run(stopFlag: StopFlag) throws(TransportError) -> Outcome {
        while true {
            if stopFlag.isRaised { return .interrupted }
            if let outcome = try serve(until: transport.now() + 0.05) { return outcome }
        }
    }

    /// Handles everything that arrives before `deadline` (at least what is already queued) and
    /// checks deadlines; returns an outcome once the server must stop.
    public func serve(until deadline: Double) throws(TransportError) -> Outcome? {
        while let received = try transport.receive(deadline: deadline) {
            if let outcome = handle(received) { return outcome }
        }
        let now = transport.now()
        guard now - lastTick >= tickInterval else { return nil }
        lastTick = now
        send(server.tick(now: now))
        return server.failure.map { .failed($0.description) }
    }

    private func handle(_ received: Received) -> Outcome? {
        switch received {
        case .message(let message, let peer):
            server.observer?.received(bytes: MessageHeader.byteCount + message.payload.count)
            send(server.handle(message, from: peer, address: transport.address(of: peer), now: transport.now()))
            if !payloadsLimited, let setup = server.setup {
                // Once the key layout is known, no frame may exceed the largest slice.
                payloadsLimited = true
                transport.limitIncomingPayloads(toBytes: setup.largestPayloadBytes)
                logger.info("incoming payloads limited to \(setup.largestPayloadBytes) bytes (the largest slice)")
            }
        case .malformed(let error, let peer):
            logger.warning("rejected a malformed message from \(server.registry.name(of: peer, address: transport.address(of: peer))): \(error)")
            send([Outgoing(peer: peer, message: Message(header: MessageHeader(command: .error, sender: server.senderID), text: "\(error)"))])
        }
        if server.shutdownRequested {
            logger.info("server \(server.rank): shutdown after \(server.updateCount) optimizer update(s)")
            return .shutdown
        }
        return nil
    }

    /// Sends each message. Replies of one sync round share one payload, hashed when it was
    /// copied from the weights and handed to ZeroMQ without a copy for every worker.
    private func send(_ outgoing: [Outgoing]) {
        for o in outgoing {
            do {
                try transport.send(o.message, to: o.peer)
                server.observer?.sent(bytes: MessageHeader.byteCount + o.message.payload.count)
            } catch {
                // A peer that disconnected cannot be answered; that is not the server's failure.
                // Nor is one that stopped reading: its first answer waited out the send timeout,
                // the next ones fail at once (logged only at debug level: a flood would fill the log).
                let line: Logger.Message = "could not answer \(server.registry.name(of: o.peer, address: transport.address(of: o.peer))) (\(o.message)): \(error)"
                if case .peerNotReading(_, seconds: 0)? = error as? TransportError { logger.debug(line) } else { logger.info(line) }
            }
        }
    }
}
