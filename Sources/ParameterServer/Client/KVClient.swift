import Foundation
import Logging
import Optimizers

/// A worker's connection to the parameter servers (MXNet's `KVStoreDist` on the worker).
///
/// Requests are sent at once and answered later: `pushPull` returns after sending, so the
/// training loop can push a layer's gradient while backward continues; `wait` collects the
/// replies and writes the new weights. At most `maxInFlight` requests are outstanding; more
/// make `pushPull` drain replies first. Every request carries an id its reply echoes.
///
/// While waiting, the client pings each server it waits on every heartbeat interval: a server
/// silent (no reply, no heartbeat) for the heartbeat timeout is dead; one that answers
/// heartbeats but not a request for the request timeout is alive but stuck.
public final class KVClient {
    /// This worker's rank and the cluster's size.
    public let rank: Int
    public let numWorkers: Int
    /// Server endpoints, index = server rank.
    public let servers: [String]
    public let config: ClusterConfig
    public var maxInFlight = 256
    /// Told of the bytes exchanged, round trips and silent servers (nil: nobody watches).
    public var observer: (any KVClientObserver)?

    let transport: Transport
    let serverPeers: [PeerID]
    let logger: Logger
    private let heartbeat: HeartbeatThread?
    private(set) var layout: KeyLayout?
    /// Rounds completed per key (the round the next push carries).
    private(set) var rounds: [Int: UInt64] = [:]
    private var pending = PendingRequests()
    private var barrierRound: UInt64 = 0
    /// While waiting: when each server was last heard from and last pinged.
    private var lastHeard: [Double]
    private var lastPing: [Double]
    private let beat: Message
    /// Encodes pushes in the cluster's gradient compression (with error-feedback residuals).
    public let encoder: GradientEncoder

    /// Registers with the scheduler, connects to every server over ZeroMQ and starts heartbeats.
    /// `profile` (benchmarks only) collects where the worker's time goes.
    public static func connect(config: ClusterConfig, logger: Logger, profile: RoundProfile? = nil) throws -> KVClient {
        let roster = try Rendezvous.register(Registration(role: .worker, endpoint: nil, requestedRank: config.requestedRank,
                                                                          compression: config.gradientCompression,
                                                                          startPosition: config.startPosition), config: config)
        // Weight replies are hashed while copied into the caller's buffers (`accept`).
        let transport = try ZeroMQTransport.connect(to: roster.servers, identity: { "w\(roster.rank)-s\($0)" },
                                                    codec: WireCodec(defersPayloadChecks: true), security: config.security,
                                                    sharedMemory: config.sharedMemory)
        transport.profile = profile
        let beats = try ZeroMQTransport.connect(to: roster.servers, identity: { "hb-w\(roster.rank)-s\($0)" },
                                                codec: WireCodec(maxPayloadBytes: 1 << 16), security: config.security)
        let heartbeat = HeartbeatThread(transport: beats, servers: roster.servers.map(PeerID.init),
                                        beat: heartbeatMessage(rank: roster.rank, config: config), interval: config.heartbeatInterval)
        return KVClient(roster: roster, config: config, transport: transport, heartbeat: heartbeat, logger: logger)
    }

    /// A client over `transport` that reaches server i as `PeerID(roster.servers[i])` — e.g. an
    /// `InProcessTransport` in unit tests. Without a heartbeat thread the servers hear from this
    /// worker only through its requests and the pings of `wait`.
    public convenience init(roster: Roster, config: ClusterConfig, transport: Transport, logger: Logger = Logger(label: "kv-client")) {
        self.init(roster: roster, config: config, transport: transport, heartbeat: nil, logger: logger)
    }

    private init(roster: Roster, config: ClusterConfig, transport: Transport, heartbeat: HeartbeatThread?, logger: Logger) {
        self.config = config; self.rank = roster.rank; self.numWorkers = roster.numWorkers
        self.servers = roster.servers; self.logger = logger; self.transport = transport; self.heartbeat = heartbeat
        serverPeers = roster.servers.map(PeerID.init)
        lastHeard = [Double](repeating: 0, count: roster.servers.count)
        lastPing = lastHeard
        beat = Self.heartbeatMessage(rank: roster.rank, config: config)
        encoder = GradientEncoder(compression: config.gradientCompression)
        logger.info("""
            worker \(rank) of \(numWorkers) connected to \(servers.count) server(s): \(servers.joined(separator: ", ")); \
            a server is dead after \(config.heartbeatTimeout) s of silence, a request stuck after \(config.requestTimeout) s
            """)
    }

    deinit { heartbeat?.stop() }

    /// How this worker's large payloads travelled so far (shared memory or socket), for status lines.
    public var payloadPaths: String? { transport.payloadPaths }

    /// Declares the keys (element counts and optimizer multipliers) and, on worker 0, sends
    /// every server its part of the setup and the initial weights. Ends with a barrier, so no
    /// worker pushes before the servers are ready.
    public func initialize(keys: [Int: (values: [Float], multipliers: ParameterMultipliers, optimized: Bool)],
                           mode: SyncMode, optimizer: OptimizerConfig, bigArrayBound: Int = 1_000_000) throws {
        let layout = KeyLayout(counts: keys.mapValues(\.values.count), numServers: servers.count, bigArrayBound: bigArrayBound)
        self.layout = layout
        encoder.compressedKeys = Set(keys.filter { $0.value.optimized }.keys)
        rounds = Dictionary(uniqueKeysWithValues: keys.keys.map { ($0, 0) })
        // No reply may carry more than the largest slice (or a short error text); worker 0's
        // `fetchState` replies carry a slice's weights and its optimizer slots.
        let perSlice = rank == 0 ? 1 + optimizer.stateSlots : 1
        transport.limitIncomingPayloads(toBytes: max(1 << 16, (layout.parts.values.joined().map(\.count).max() ?? 0) * perSlice * MemoryLayout<Float>.stride))
        for s in servers.indices {  // servers on this host: a round of pushes, and of every worker's replies, in shared memory
            let bytes = layout.parts.values.joined().filter { $0.server == s }.map { $0.count * MemoryLayout<Float>.stride }
            let ring = SharedMemoryRing.bytes(holding: bytes)
            try transport.offerSharedMemory(bytes: ring, repliesBytes: ring * numWorkers, to: serverPeers[s])
        }
        if rank == 0 {
            var specs = [[SliceSpec]](repeating: [], count: servers.count)
            for (key, spec) in keys {
                for part in layout.parts[key] ?? [] {
                    specs[part.server].append(SliceSpec(key: UInt32(key), slice: part.slice, sliceCount: part.sliceCount, count: part.count,
                                                        multipliers: spec.multipliers, optimized: spec.optimized))
                }
            }
            for (server, slices) in specs.enumerated() {
                let setup = ServerSetup(mode: mode, numWorkers: numWorkers, optimizer: optimizer, slices: slices,
                                        compression: encoder.compression)
                try request(try Message(header: MessageHeader(command: .configure, sender: Int32(rank)), json: setup), server: server)
            }
            try wait()
            for (key, spec) in keys {
                try spec.values.withUnsafeBufferPointer { values in
                    for part in layout.parts[key] ?? [] {
                        if pending.count >= maxInFlight { try wait() }
                        let h = MessageHeader(command: .initialize, key: UInt32(key), slice: part.slice, sliceCount: part.sliceCount, sender: Int32(rank))
                        // Borrowed: `keys` outlives the `wait()` below.
                        try request(h, payload: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: values[part.offset..<(part.offset + part.count)])),
                                    server: part.server, borrowing: true)
                    }
                }
            }
            try wait()
        }
        try barrier()
    }

    /// Sends `gradient` of `key` for this round; the servers' new weights are written into
    /// `weights` by the next `wait()` (the buffer must stay valid until then).
    ///
    /// Uncompressed, `gradient` is sent from where it is, without a copy: it must stay
    /// allocated and unchanged until the next `wait()` returns or throws. That is enough: every
    /// push is answered, and a server answers only after it received every byte of it, so once
    /// `wait()` has every reply ZeroMQ has finished reading every pushed buffer; when `wait()`
    /// (or this call) throws, the transport drops what it still holds first
    /// (`reclaimBorrowedPayloads`).
    public func pushPull(key: Int, gradient: UnsafeBufferPointer<Float>, into weights: UnsafeMutableBufferPointer<Float>) throws {
        do { try sendPushPull(key: key, gradient: gradient, into: weights) } catch {
            transport.reclaimBorrowedPayloads()
            throw error
        }
    }

    private func sendPushPull(key: Int, gradient: UnsafeBufferPointer<Float>, into weights: UnsafeMutableBufferPointer<Float>) throws {
        let parts = try partsOf(key, count: gradient.count)
        guard weights.count == gradient.count else { throw KVClientError.bufferSize(key: key, count: weights.count, expected: gradient.count) }
        let round = rounds[key] ?? 0
        for part in parts {
            if pending.count >= maxInFlight { try wait() }
            var h = MessageHeader(command: .pushPull, key: UInt32(key), slice: part.slice, sliceCount: part.sliceCount,
                                  sender: Int32(rank), round: round)
            // Uncompressed, straight from the caller's gradient (borrowed, not copied); a compressed
            // payload lives in the encoder's scratch buffer, reused by the next push: copied.
            try encoder.encode(key: key, range: part.offset..<(part.offset + part.count), of: gradient) { encoding, payload in
                h.encoding = encoding
                try request(h, payload: payload, server: part.server,
                            into: UnsafeMutableBufferPointer(rebasing: weights[part.offset..<(part.offset + part.count)]),
                            borrowing: encoding == .float32)
            }
        }
        rounds[key] = round + 1
    }

    /// Asks for the current weights of `key` (after the rounds this worker completed).
    public func pull(key: Int, into weights: UnsafeMutableBufferPointer<Float>) throws {
        for part in try partsOf(key, count: weights.count) {
            if pending.count >= maxInFlight { try wait() }
            let h = MessageHeader(command: .pull, key: UInt32(key), slice: part.slice, sliceCount: part.sliceCount,
                                  sender: Int32(rank), round: rounds[key] ?? 0)
            try request(Message(header: h), server: part.server,
                        into: UnsafeMutableBufferPointer(rebasing: weights[part.offset..<(part.offset + part.count)]))
        }
    }

    /// Waits for every outstanding reply, writing pulled weights into their buffers. Fails
    /// with the server's message on an error reply, when a server stops answering (heartbeat
    /// timeout) or when a living server leaves a request unanswered (request timeout).
    public func wait() throws {
        do { try waitForReplies() } catch {
            transport.reclaimBorrowedPayloads()
            throw error
        }
    }

    private func waitForReplies() throws {
        let start = transport.now()
        for s in servers.indices { lastHeard[s] = max(lastHeard[s], start) }
        while !pending.isEmpty {
            let now = transport.now()
            try checkLiveness(now: now)
            for s in pending.servers where now - lastPing[s] >= config.heartbeatInterval {
                lastPing[s] = now
                try transport.send(beat, to: serverPeers[s])
            }
            if let received = try transport.receive(deadline: now + min(0.1, config.heartbeatInterval)) {
                try accept(received)
            }
        }
    }

    /// Blocks until every worker reached the same barrier (served by server 0).
    public func barrier() throws {
        barrierRound += 1
        try request(Message(header: MessageHeader(command: .barrier, sender: Int32(rank), round: barrierRound)), server: 0)
        try wait()
    }

    /// Worker 0 tells every server to stop (after a final barrier, so no one is still pushing).
    public func shutdownServers() throws {
        try barrier()
        guard rank == 0 else { return }
        for s in servers.indices { try request(Message(header: MessageHeader(command: .shutdown, sender: Int32(rank))), server: s) }
        try wait()
    }

    /// Stops the heartbeats (call before exiting); with replies still outstanding, also makes
    /// sure no pushed buffer is read any more.
    public func close() {
        if let paths = payloadPaths { logger.info("worker \(rank): \(paths)") }
        heartbeat?.stop()
        if !pending.isEmpty { transport.reclaimBorrowedPayloads() }
    }

    // MARK: -

    /// A heartbeat naming this worker (host and process id) for the servers' logs.
    static func heartbeatMessage(rank: Int, config: ClusterConfig) -> Message {
        let identity = WorkerIdentity(host: config.nodeHost, pid: ProcessInfo.processInfo.processIdentifier)
        let header = MessageHeader(command: .heartbeat, sender: Int32(rank))
        // Encoding two plain fields cannot fail; a beat without identity would still keep it alive.
        return (try? Message(header: header, json: identity)) ?? Message(header: header)
    }

    func request(_ m: Message, server: Int, into destination: UnsafeMutableBufferPointer<Float>? = nil,
                 onReply: ((Message) throws -> Void)? = nil) throws {
        var m = m
        pending.add(&m.header, server: server, destination: destination, now: transport.now(), onReply: onReply)
        try transport.send(m, to: serverPeers[server])
    }

    /// Sends `payload` with `header`: `borrowing`, from the caller's memory without a copy (see
    /// `pushPull` for how long it must stay unchanged), else copied during the call.
    private func request(_ header: MessageHeader, payload: UnsafeRawBufferPointer, server: Int,
                         into destination: UnsafeMutableBufferPointer<Float>? = nil, borrowing: Bool) throws {
        var h = header
        pending.add(&h, server: server, destination: destination, now: transport.now())
        if borrowing {
            do { try transport.send(h, borrowing: payload, to: serverPeers[server]) } catch {
                transport.reclaimBorrowedPayloads()
                throw error
            }
        } else {
            try transport.send(h, payload: payload, to: serverPeers[server])
        }
        observer?.pushed(bytes: payload.count)
    }

    private func checkLiveness(now: Double) throws {
        for s in pending.servers.sorted() where now - lastHeard[s] > config.heartbeatTimeout {
            observer?.serverSilent(s)
            throw ClusterError.serverSilent(server: s, endpoint: servers[s], seconds: now - lastHeard[s])
        }
        if let oldest = pending.oldest, now - oldest.sentAt > config.requestTimeout {
            throw ClusterError.requestTimedOut(server: oldest.server, endpoint: servers[oldest.server],
                                               request: oldest.header.requestDescription, seconds: now - oldest.sentAt)
        }
    }

    private func accept(_ received: Received) throws {
        guard let s = serverPeers.firstIndex(of: received.peer) else {
            logger.warning("ignored a message from \(received.peer), which is not one of this worker's servers")
            return
        }
        lastHeard[s] = transport.now()
        var m: Message
        switch received {
        case .malformed(let error, _): throw ClusterError.malformedReply(server: s, endpoint: servers[s], error: error)
        case .message(let message, _): m = message
        }
        let h = m.header
        if h.command == .error { throw ClusterError.jobFailed(server: s, endpoint: servers[s], reason: m.text) }
        if h.command == .heartbeat, h.isReply, h.requestID == 0 { return }  // a ping's answer: liveness only
        guard let request = pending.match(h, from: s) else {
            throw ClusterError.unexpectedReply(server: s, endpoint: servers[s], reply: m.description)
        }
        let pulledBytes = h.isError || request.destination == nil ? 0 : m.payload.count
        observer?.answered(seconds: transport.now() - request.sentAt, pulledBytes: pulledBytes)
        if h.isError {
            throw ClusterError.requestFailed(server: s, endpoint: servers[s], request: request.header.requestDescription, reason: m.text)
        }
        guard let out = request.destination, request.onReply == nil, m.payload.count == out.count * MemoryLayout<Float>.stride else {
            do { try m.checkPayload() } catch { throw ClusterError.malformedReply(server: s, endpoint: servers[s], error: error) }
            if let onReply = request.onReply { return try onReply(m) }
            guard let out = request.destination else { return }
            throw ClusterError.unexpectedReply(server: s, endpoint: servers[s],
                                               reply: "\(m.description) for a buffer of \(out.count) values")
        }
        // One pass: the weights are hashed while copied. A reply that fails its checksum has
        // then been written into `out`; the error stops this worker, and nothing reads them.
        let hash = transport.profile.measure(.receiveCopy) {
            m.payload.withUnsafeBytes { bytes -> UInt64 in
                guard let base = out.baseAddress else { return WireChecksum.payloadHash(bytes) }
                return WireChecksum.copyAndHash(bytes, to: UnsafeMutableRawPointer(base))
            }
        }
        do { try m.pendingChecksum?.verify(payloadHash: hash) } catch {
            throw ClusterError.malformedReply(server: s, endpoint: servers[s], error: error)
        }
    }

    private func partsOf(_ key: Int, count: Int) throws(KVClientError) -> [KeyLayout.Part] {
        guard let parts = layout?.parts[key] else { throw .undeclaredKey(key) }
        let expected = parts.reduce(0) { $0 + $1.count }
        guard expected == count else { throw .bufferSize(key: key, count: count, expected: expected) }
        return parts
    }
}
