import Foundation
import Logging

/// The scheduler role: every node registers at one known address; once all
/// `numServers` + `numWorkers` have joined, each gets its rank and the servers' endpoints.
public enum Rendezvous {
    /// Runs the scheduler until every node has its roster (or the registration deadline passes).
    /// Returns once the rosters have left (bounded by the transport's linger), never by a sleep.
    public static func runScheduler(config: ClusterConfig, logger: Logger, stopFlag: StopFlag = StopFlag()) throws {
        let host = config.rootURI == "localhost" ? "127.0.0.1" : bindHost(config.rootURI)
        let transport = try ZeroMQTransport.bind("tcp://\(host):\(config.rootPort)", codec: WireCodec(maxPayloadBytes: 1 << 16),
                                                  security: config.security)
        defer { transport.close() }
        logger.info("scheduler listening on \(transport.boundEndpoint ?? ""); waiting for \(config.numServers) server(s) and \(config.numWorkers) worker(s)")
        try schedule(over: transport, config: config, logger: logger, stopFlag: stopFlag)
    }

    /// The scheduler over any transport: collects registrations until every node joined (each
    /// refusal answered and logged), then sends every node its roster.
    static func schedule(over transport: Transport, config: ClusterConfig, logger: Logger, stopFlag: StopFlag) throws {
        var joined = Registrations(expectedServers: config.numServers, expectedWorkers: config.numWorkers)
        let deadline = transport.now() + config.registrationTimeout
        while !joined.isComplete {
            if stopFlag.isRaised { throw ClusterError.interrupted }
            guard transport.now() < deadline else {
                throw ClusterError.clusterIncomplete(servers: joined.servers.count, expectedServers: config.numServers,
                                                     workers: joined.workers.count, expectedWorkers: config.numWorkers,
                                                     seconds: config.registrationTimeout, missingWorkerRanks: joined.missingWorkerRanks)
            }
            guard let received = try transport.receive(deadline: min(deadline, transport.now() + 0.2)) else { continue }
            let peer = received.peer
            let from = transport.address(of: peer).map { "a node at \($0)" } ?? "a node"
            guard case .message(let m, _) = received else {
                if case .malformed(let error, _) = received {
                    refuse(transport, peer, MessageHeader(command: .error), "malformed registration from \(from): \(error)", logger)
                }
                continue
            }
            guard m.header.command == .register else {
                refuse(transport, peer, m.header, "the scheduler only accepts register, not \(m.header.command) (from \(from))", logger)
                continue
            }
            let reg: Registration
            do { reg = try m.json(Registration.self) } catch {
                refuse(transport, peer, m.header, "registration from \(from) is not a valid Registration: \(error)", logger)
                continue
            }
            do {
                try joined.add(reg, from: peer, address: transport.address(of: peer))
            } catch {
                refuse(transport, peer, m.header, "\(error) (from \(from))", logger)
                // Workers that disagree on compression cannot train together: every node that
                // joined learns why at once, instead of waiting for the registration timeout.
                if case .compressionMismatch = error { try failEveryone(joined, transport, error, from: from, logger) }
                continue
            }
            logger.info("registered \(reg.role.rawValue) \(reg.endpoint ?? from) (\(joined.servers.count)/\(config.numServers) servers, \(joined.workers.count)/\(config.numWorkers) workers)")
        }
        let workerOrder = assignRanks(joined.workers.map(\.registration.requestedRank))
        // Workers resuming from different checkpoints (or one resuming, another not) would
        // train other batches at other learning rates and meet each other's barriers out of step.
        if let disagreement = joined.startPositionDisagreement(rankOrder: workerOrder) {
            try failEveryone(joined, transport, disagreement, from: nil, logger)
        }
        let serverOrder = assignRanks(joined.servers.map(\.registration.requestedRank))
        let endpoints = serverOrder.map { joined.servers[$0].registration.endpoint ?? "" }
        let reply = MessageHeader(command: .register, isReply: true)
        for (rank, index) in serverOrder.enumerated() {
            let roster = Roster(rank: rank, servers: endpoints, numWorkers: config.numWorkers)
            try transport.send(try Message(header: reply, json: roster), to: joined.servers[index].peer)
        }
        for (rank, index) in workerOrder.enumerated() {
            let roster = Roster(rank: rank, servers: endpoints, numWorkers: config.numWorkers)
            try transport.send(try Message(header: reply, json: roster), to: joined.workers[index].peer)
        }
        logger.info("cluster complete: servers \(endpoints.joined(separator: ", ")); \(config.numWorkers) worker(s)")
    }

    /// Registers this node and waits for its roster.
    public static func register(_ registration: Registration, config: ClusterConfig, stopFlag: StopFlag = StopFlag()) throws -> Roster {
        let scheduler = config.schedulerEndpoint
        // The registration's send waits at most the registration deadline: refused at the
        // handshake (e.g. by a CURVE scheduler), the connection never takes it, and ZeroMQ
        // alone would wait without end (seen once in 25 runs of a plain client).
        let transport = try ZeroMQTransport.connect(to: [scheduler], codec: WireCodec(maxPayloadBytes: 1 << 20),
                                                     security: config.security, sendTimeout: config.registrationTimeout)
        defer { transport.close() }
        do {
            return try register(registration, over: transport, scheduler: PeerID(scheduler), timeout: config.registrationTimeout,
                                stopFlag: stopFlag)
        } catch TransportError.peerNotReading {
            throw ClusterError.registrationTimedOut(scheduler: scheduler, seconds: config.registrationTimeout)
        }
    }

    /// Registers over any transport with the scheduler reached as `scheduler`.
    static func register(_ registration: Registration, over transport: Transport, scheduler: PeerID, timeout: Double,
                         stopFlag: StopFlag) throws -> Roster {
        try transport.send(try Message(header: MessageHeader(command: .register), json: registration), to: scheduler)
        let deadline = transport.now() + timeout
        while transport.now() < deadline {
            if stopFlag.isRaised { throw ClusterError.interrupted }
            guard let received = try transport.receive(deadline: min(deadline, transport.now() + 0.2)) else { continue }
            switch received {
            case .malformed(let error, _):
                throw ClusterError.registrationRejected(scheduler: scheduler.description, reason: "its answer is malformed: \(error)")
            case .message(let m, _) where m.header.command == .error || m.header.isError:
                throw ClusterError.registrationRejected(scheduler: scheduler.description, reason: m.text)
            case .message(let m, _):
                do { return try m.json(Roster.self) } catch {
                    throw ClusterError.registrationRejected(scheduler: scheduler.description, reason: "its roster does not decode: \(error)")
                }
            }
        }
        throw ClusterError.registrationTimedOut(scheduler: scheduler.description, seconds: timeout)
    }

    /// Refuses every node that joined (their registrations are answered with why) and stops with `error`.
    private static func failEveryone(_ joined: Registrations, _ transport: Transport, _ error: Registrations.Refusal, from: String?,
                                     _ logger: Logger) throws -> Never {
        for node in joined.servers + joined.workers {
            refuse(transport, node.peer, MessageHeader(command: .register),
                   "the cluster cannot start: \(error)" + (from.map { " (from \($0))" } ?? ""), logger)
        }
        throw error
    }

    /// Order of indices: requested ranks first in their place, the rest in arrival order.
    static func assignRanks(_ requested: [Int?]) -> [Int] {
        var slots = [Int?](repeating: nil, count: requested.count)
        var rest: [Int] = []
        for (i, r) in requested.enumerated() {
            if let r, r < slots.count, slots[r] == nil { slots[r] = i } else { rest.append(i) }
        }
        var it = rest.makeIterator()
        return slots.map { $0 ?? it.next()! }
    }

    /// Binds on all interfaces unless the root URI is a loopback address.
    static func bindHost(_ uri: String) -> String { uri.hasPrefix("127.") ? uri : "*" }

    /// Answers a refused registration with an error reply and logs it; a peer that is already
    /// gone cannot be answered, which is logged too.
    private static func refuse(_ transport: Transport, _ peer: PeerID, _ request: MessageHeader, _ reason: String, _ logger: Logger) {
        logger.warning("scheduler refused a message from \(peer): \(reason)")
        do {
            try transport.send(Message(header: request.reply(sender: -1, isError: true), text: reason), to: peer)
        } catch {
            logger.warning("could not tell \(peer) why: \(error)")
        }
    }
}
