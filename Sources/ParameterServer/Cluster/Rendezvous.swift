import Foundation
import Logging

/// The scheduler role: every node registers at one known address; once all
/// `numServers` + `numWorkers` have joined, each gets its rank and the servers' endpoints.
public enum Rendezvous {
    /// Runs the scheduler until every node has its roster (or the registration deadline passes).
    public static func runScheduler(config: ClusterConfig, context: ZMQContext = ZMQContext(), logger: Logger,
                                    stopFlag: StopFlag = StopFlag()) throws {
        let socket = try ZMQSocket(context, kind: .router)
        let bound = try socket.bind("tcp://\(config.rootURI == "localhost" ? "127.0.0.1" : bindHost(config.rootURI)):\(config.rootPort)")
        logger.info("scheduler listening on \(bound); waiting for \(config.numServers) server(s) and \(config.numWorkers) worker(s)")
        let codec = WireCodec(maxPayloadBytes: 1 << 16)
        var servers: [(peer: [UInt8], reg: Registration)] = []
        var workers: [(peer: [UInt8], reg: Registration)] = []
        let deadline = MonotonicClock.now() + config.registrationTimeout
        while servers.count < config.numServers || workers.count < config.numWorkers {
            if stopFlag.isRaised { throw TransportError.interrupted }
            let left = deadline - MonotonicClock.now()
            guard left > 0 else {
                throw TransportError.timedOut(
                    waitingFor: "cluster registration: \(servers.count)/\(config.numServers) server(s) and "
                        + "\(workers.count)/\(config.numWorkers) worker(s) joined", seconds: config.registrationTimeout)
            }
            guard !ZMQSocket.poll([socket], seconds: min(left, 0.2)).isEmpty, let frames = try socket.receiveNow() else { continue }
            guard frames.count == 3 else { continue }
            let peer = frames[0]
            do {
                let m = try codec.decode(header: frames[1], payload: frames[2])
                guard m.header.command == .register else { continue }
                let reg = try m.json(Registration.self)
                switch reg.role {
                case .server where reg.endpoint != nil: servers.append((peer, reg))
                case .worker: workers.append((peer, reg))
                default:
                    try reply(socket, codec, peer, Message(header: MessageHeader(command: .error, isReply: true), text: "bad registration \(m.text)"))
                    continue
                }
                logger.info("registered \(reg.role.rawValue) \(reg.endpoint ?? "") (\(servers.count)/\(config.numServers) servers, \(workers.count)/\(config.numWorkers) workers)")
            } catch {
                logger.warning("scheduler ignored a malformed registration: \(error)")
                try? reply(socket, codec, peer, Message(header: MessageHeader(command: .error, isReply: true), text: "\(error)"))
            }
        }
        let serverOrder = assignRanks(servers.map(\.reg.requestedRank))
        let endpoints = serverOrder.map { servers[$0].reg.endpoint! }
        for (rank, index) in serverOrder.enumerated() {
            let roster = Roster(rank: rank, servers: endpoints, numWorkers: config.numWorkers)
            try reply(socket, codec, servers[index].peer, try Message(header: MessageHeader(command: .register, isReply: true), json: roster))
        }
        for (rank, index) in assignRanks(workers.map(\.reg.requestedRank)).enumerated() {
            let roster = Roster(rank: rank, servers: endpoints, numWorkers: config.numWorkers)
            try reply(socket, codec, workers[index].peer, try Message(header: MessageHeader(command: .register, isReply: true), json: roster))
        }
        logger.info("cluster complete: servers \(endpoints.joined(separator: ", ")); \(config.numWorkers) worker(s)")
        // Give ZeroMQ a moment to flush the rosters before the socket closes (linger is 0).
        Thread.sleep(forTimeInterval: 0.5)
    }

    /// Registers this node and waits for its roster.
    public static func register(_ registration: Registration, config: ClusterConfig, context: ZMQContext,
                                stopFlag: StopFlag = StopFlag()) throws -> Roster {
        let socket = try ZMQSocket(context, kind: .dealer)
        try socket.connect(config.schedulerEndpoint)
        let codec = WireCodec(maxPayloadBytes: 1 << 20)
        try socket.send(codec.encode(try Message(header: MessageHeader(command: .register), json: registration)))
        let deadline = MonotonicClock.now() + config.registrationTimeout
        while MonotonicClock.now() < deadline {
            if stopFlag.isRaised { throw TransportError.interrupted }
            guard !ZMQSocket.poll([socket], seconds: 0.2).isEmpty, let frames = try socket.receiveNow() else { continue }
            let m = try codec.decode(frames: frames)
            if m.header.command == .error { throw TransportError.peerFailed("scheduler rejected the registration: \(m.text)") }
            return try m.json(Roster.self)
        }
        throw TransportError.timedOut(waitingFor: "the scheduler at \(config.schedulerEndpoint) to complete the cluster", seconds: config.registrationTimeout)
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

    private static func reply(_ socket: ZMQSocket, _ codec: WireCodec, _ peer: [UInt8], _ m: Message) throws {
        try socket.send([peer] + codec.encode(m))
    }
}
