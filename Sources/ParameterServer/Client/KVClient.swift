import Foundation
import Logging
import Optimizers

/// A worker's connection to the parameter servers (MXNet's `KVStoreDist` on the worker).
///
/// Requests are sent at once and answered later: `pushPull` returns after sending, so the
/// training loop can push a layer's gradient while backward continues; `wait` collects the
/// replies (each with a deadline) and writes the new weights. At most `maxInFlight`
/// requests are outstanding; more make `pushPull` drain replies first.
public final class KVClient {
    /// This worker's rank and the cluster's size.
    public let rank: Int
    public let numWorkers: Int
    /// Server endpoints, index = server rank.
    public let servers: [String]
    public let config: ClusterConfig
    public var maxInFlight = 256

    let context: ZMQContext
    let sockets: [ZMQSocket]
    let codec = WireCodec()
    let logger: Logger
    let heartbeat: HeartbeatThread
    private(set) var layout: KeyLayout?
    /// Rounds completed per key (the round the next push carries).
    private(set) var rounds: [Int: UInt64] = [:]
    /// Outstanding replies: (key, server) → destination of the weights (nil for acks).
    private var pending: [PendingKey: UnsafeMutableBufferPointer<Float>?] = [:]
    private var barrierRound: UInt64 = 0

    struct PendingKey: Hashable { var key: Int; var slice: UInt16; var command: Command }

    /// Registers with the scheduler, connects to every server and starts heartbeats.
    public static func connect(config: ClusterConfig, logger: Logger, context: ZMQContext = ZMQContext()) throws -> KVClient {
        let roster = try Rendezvous.register(Registration(role: .worker, endpoint: nil, requestedRank: config.requestedRank),
                                             config: config, context: context)
        return try KVClient(config: config, roster: roster, logger: logger, context: context)
    }

    init(config: ClusterConfig, roster: Roster, logger: Logger, context: ZMQContext) throws {
        self.config = config; self.rank = roster.rank; self.numWorkers = roster.numWorkers
        self.servers = roster.servers; self.logger = logger; self.context = context
        sockets = try roster.servers.enumerated().map { i, endpoint in
            let s = try ZMQSocket(context, kind: .dealer, identity: Array("w\(roster.rank)-s\(i)".utf8))
            try s.connect(endpoint)
            return s
        }
        heartbeat = try HeartbeatThread(context: context, servers: roster.servers, rank: roster.rank,
                                        interval: config.heartbeatInterval, timeout: config.heartbeatTimeout)
        logger.info("worker \(rank) of \(numWorkers) connected to \(servers.count) server(s): \(servers.joined(separator: ", "))")
    }

    deinit { heartbeat.stop() }

    /// Declares the keys (element counts and optimizer multipliers) and, on worker 0, sends
    /// every server its part of the setup and the initial weights. Ends with a barrier, so no
    /// worker pushes before the servers are ready.
    public func initialize(keys: [Int: (values: [Float], multipliers: ParameterMultipliers, optimized: Bool)],
                           mode: SyncMode, optimizer: OptimizerConfig, bigArrayBound: Int = 1_000_000) throws {
        let layout = KeyLayout(counts: keys.mapValues(\.values.count), numServers: servers.count, bigArrayBound: bigArrayBound)
        self.layout = layout
        rounds = Dictionary(uniqueKeysWithValues: keys.keys.map { ($0, 0) })
        if rank == 0 {
            for server in servers.indices {
                let slices = layout.parts.flatMap { key, parts in
                    parts.filter { $0.server == server }.map {
                        SliceSpec(key: UInt32(key), slice: $0.slice, sliceCount: $0.sliceCount, count: $0.count,
                                  multipliers: keys[key]!.multipliers, optimized: keys[key]!.optimized)
                    }
                }
                let setup = ServerSetup(mode: mode, numWorkers: numWorkers, optimizer: optimizer, slices: slices)
                try send(server, try Message(header: MessageHeader(command: .configure, sender: Int32(rank)), json: setup))
                pending[PendingKey(key: -1 - server, slice: 0, command: .configure)] = .some(nil)
            }
            try wait()
            for (key, spec) in keys {
                try spec.values.withUnsafeBufferPointer { values in
                    for part in layout.parts[key]! {
                        let h = MessageHeader(command: .initialize, key: UInt32(key), slice: part.slice, sliceCount: part.sliceCount, sender: Int32(rank))
                        try send(part.server, Message(header: h, floats: UnsafeBufferPointer(rebasing: values[part.offset..<(part.offset + part.count)])))
                        pending[PendingKey(key: key, slice: part.slice, command: .initialize)] = .some(nil)
                        if pending.count >= maxInFlight { try wait() }
                    }
                }
            }
            try wait()
        }
        try barrier()
    }

    /// Sends `gradient` of `key` for this round; the servers' new weights are written into
    /// `weights` by the next `wait()` (the buffer must stay valid until then).
    public func pushPull(key: Int, gradient: UnsafeBufferPointer<Float>, into weights: UnsafeMutableBufferPointer<Float>) throws {
        let parts = try partsOf(key, count: gradient.count)
        let round = rounds[key]!
        for part in parts {
            if pending.count >= maxInFlight { try wait() }
            let h = MessageHeader(command: .pushPull, key: UInt32(key), slice: part.slice, sliceCount: part.sliceCount,
                                  sender: Int32(rank), round: round)
            // Straight from the caller's gradient: ZeroMQ's copy is the only one.
            let payload = UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: gradient[part.offset..<(part.offset + part.count)]))
            try withRawBuffers([codec.headerFrame(for: h, payload: payload)]) { try sockets[part.server].send([$0[0], payload]) }
            pending[PendingKey(key: key, slice: part.slice, command: .pushPull)] =
                .some(UnsafeMutableBufferPointer(rebasing: weights[part.offset..<(part.offset + part.count)]))
        }
        rounds[key] = round + 1
    }

    /// Asks for the current weights of `key` (after the rounds this worker completed).
    public func pull(key: Int, into weights: UnsafeMutableBufferPointer<Float>) throws {
        for part in try partsOf(key, count: weights.count) {
            if pending.count >= maxInFlight { try wait() }
            let h = MessageHeader(command: .pull, key: UInt32(key), slice: part.slice, sliceCount: part.sliceCount,
                                  sender: Int32(rank), round: rounds[key]!)
            try send(part.server, Message(header: h))
            pending[PendingKey(key: key, slice: part.slice, command: .pull)] =
                .some(UnsafeMutableBufferPointer(rebasing: weights[part.offset..<(part.offset + part.count)]))
        }
    }

    /// Waits for every outstanding reply, writing pulled weights into their buffers. Fails
    /// with the server's message on an error reply, or when a server stops answering.
    public func wait() throws {
        while !pending.isEmpty {
            if let dead = heartbeat.deadServer() {
                throw TransportError.peerFailed("server \(dead) at \(servers[dead]) stopped answering for \(Int(config.heartbeatTimeout)) s")
            }
            for i in ZMQSocket.poll(sockets, seconds: 0.1) {
                while let frames = try sockets[i].receiveNow() {
                    let m = try codec.decode(frames: frames)
                    try accept(m, from: i)
                }
            }
        }
    }

    /// Blocks until every worker reached the same barrier (served by server 0).
    public func barrier() throws {
        barrierRound += 1
        try send(0, Message(header: MessageHeader(command: .barrier, sender: Int32(rank), round: barrierRound)))
        pending[PendingKey(key: -1, slice: 0, command: .barrier)] = .some(nil)
        try wait()
    }

    /// Worker 0 tells every server to stop (after a final barrier, so no one is still pushing).
    public func shutdownServers() throws {
        try barrier()
        guard rank == 0 else { return }
        for s in servers.indices {
            try send(s, Message(header: MessageHeader(command: .shutdown, sender: Int32(rank))))
            pending[PendingKey(key: -1 - s, slice: 0, command: .shutdown)] = .some(nil)
        }
        try wait()
    }

    /// Stops the heartbeats (call before exiting).
    public func close() { heartbeat.stop() }

    // MARK: -

    private func accept(_ m: Message, from server: Int) throws {
        let h = m.header
        if h.command == .error {
            throw TransportError.peerFailed("server \(server) (\(servers[server])): \(m.text)")
        }
        let key: PendingKey
        switch h.command {
        case .acknowledge where h.key == 0 && h.slice == 0 && pending[PendingKey(key: -1 - server, slice: 0, command: .configure)] != nil:
            key = PendingKey(key: -1 - server, slice: 0, command: .configure)
        case .acknowledge where pending[PendingKey(key: -1 - server, slice: 0, command: .shutdown)] != nil:
            key = PendingKey(key: -1 - server, slice: 0, command: .shutdown)
        case .acknowledge:
            key = PendingKey(key: Int(h.key), slice: h.slice, command: .initialize)
        case .barrier:
            key = PendingKey(key: -1, slice: 0, command: .barrier)
        default:
            key = PendingKey(key: Int(h.key), slice: h.slice, command: h.command)
        }
        guard let destination = pending.removeValue(forKey: key) else {
            logger.warning("unexpected reply \(m) from server \(server)")
            return
        }
        if let out = destination {
            try m.withFloats { values in
                guard values.count == out.count else {
                    throw TransportError.peerFailed("server \(server) answered \(m) with \(values.count) values, expected \(out.count)")
                }
                out.baseAddress!.update(from: values.baseAddress!, count: values.count)
            }
        }
    }

    private func partsOf(_ key: Int, count: Int) throws -> [KeyLayout.Part] {
        guard let parts = layout?.parts[key] else {
            throw TransportError.peerFailed("key \(key) was not declared in initialize(keys:)")
        }
        precondition(parts.reduce(0) { $0 + $1.count } == count, "buffer of \(count) values for key \(key) of \(parts.map(\.count).reduce(0, +))")
        return parts
    }

    private func send(_ server: Int, _ m: Message) throws {
        try sockets[server].send(codec.encode(m))
    }
}

/// Sends heartbeats to every server from its own sockets and thread (ZeroMQ sockets are not
/// shared across threads), and records when each server last answered.
final class HeartbeatThread: @unchecked Sendable {
    private let lock = NSLock()
    private var lastHeard: [Double]
    private var stopped = false
    private let timeout: Double
    private var thread: Thread?

    init(context: ZMQContext, servers: [String], rank: Int, interval: Double, timeout: Double) throws {
        self.timeout = timeout
        lastHeard = [Double](repeating: MonotonicClock.now(), count: servers.count)
        let sockets = try servers.enumerated().map { i, endpoint in
            let s = try ZMQSocket(context, kind: .dealer, identity: Array("hb-w\(rank)-s\(i)".utf8))
            try s.connect(endpoint)
            return s
        }
        let codec = WireCodec(maxPayloadBytes: 1 << 16)
        let beat = codec.encode(Message(header: MessageHeader(command: .heartbeat, sender: Int32(rank))))
        let t = Thread { [weak self] in
            var next = 0.0
            while let self, !self.isStopped {
                let now = MonotonicClock.now()
                if now >= next {
                    for s in sockets { try? s.send(beat) }
                    next = now + interval
                }
                for i in ZMQSocket.poll(sockets, seconds: min(interval, 0.1)) {
                    while (try? sockets[i].receiveNow()) ?? nil != nil { self.heard(i) }
                }
            }
        }
        t.name = "heartbeat"
        thread = t
        t.start()
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    private func heard(_ server: Int) { lock.lock(); lastHeard[server] = MonotonicClock.now(); lock.unlock() }

    /// The first server silent for longer than the timeout, if any.
    func deadServer() -> Int? {
        lock.lock(); defer { lock.unlock() }
        let now = MonotonicClock.now()
        return lastHeard.firstIndex { now - $0 > timeout }
    }

    func stop() { lock.lock(); stopped = true; lock.unlock() }
}
