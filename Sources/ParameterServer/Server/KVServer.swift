import Logging
import Optimizers

/// A message to send: the reply or notification `message` for `peer`.
public struct Outgoing: Sendable {
    public var peer: PeerID
    public var message: Message

    public init(peer: PeerID, message: Message) { self.peer = peer; self.message = message }
}

/// The parameter server's semantics as a state machine over messages (ps-lite's request
/// handle, made testable): `handle` takes one validated message and returns what to send;
/// `tick` checks deadlines. Time is an input (`now`, seconds), so timeouts are unit tests.
///
/// - dist_sync: for every slice and round, waits for one push from each worker, sums them,
///   applies one optimizer update with the configured `rescaleGrad`, then answers that round's
///   pushes and pulls. A pull for round t never sees a partial sum.
/// - dist_async: applies each push as it arrives; pulls return the latest weights.
/// Every malformed or out-of-protocol request gets an `error` reply and changes nothing.
public final class KVServer {
    /// Deadlines the server enforces.
    public struct Timeouts: Sendable {
        /// A worker silent for longer than this is declared dead.
        public var heartbeat: Double
        /// A sync round still missing pushes this long after its first push fails.
        public var round: Double

        public init(heartbeat: Double = 30, round: Double = 600) { self.heartbeat = heartbeat; self.round = round }
    }

    /// Why the server stopped serving.
    public enum Failure: Equatable, Sendable, CustomStringConvertible {
        case deadWorker(rank: Int32, peer: String, silentFor: Double)
        case roundTimedOut(slice: String, round: UInt64, missing: [Int32])

        public var description: String {
            switch self {
            case let .deadWorker(rank, peer, silent):
                return "worker \(rank) (\(peer)) sent nothing for \(Int(silent)) s: it is presumed dead; stopping the job"
            case let .roundTimedOut(slice, round, missing):
                return "sync round \(round) of \(slice) timed out waiting for worker(s) \(missing.map(String.init).joined(separator: ", "))"
            }
        }
    }

    public let rank: Int
    /// Workers in the cluster (from the scheduler's roster).
    public let numWorkers: Int
    public private(set) var setup: ServerSetup?
    public private(set) var optimizer: Optimizer?
    /// Optimizer updates applied, all slices together.
    public private(set) var updateCount = 0
    /// Set when the server must stop (dead worker, timed-out round, shutdown command).
    public private(set) var failure: Failure?
    public private(set) var shutdownRequested = false
    public var timeouts: Timeouts

    var slices: [SliceID: StoredSlice] = [:]
    /// When each worker rank was last heard from, and every socket it used (its request
    /// socket and its heartbeat socket), so a failure notice reaches the thread that waits.
    var lastSeen: [Int32: (peer: PeerID, time: Double)] = [:]
    var peersOfRank: [Int32: Set<PeerID>] = [:]
    var barrierWaiters: [UInt64: [Int32: PeerID]] = [:]
    let logger: Logger

    /// Server `rank` (its index among the servers) of a cluster with `numWorkers` workers.
    public init(rank: Int, numWorkers: Int, timeouts: Timeouts = Timeouts(), logger: Logger = Logger(label: "param-server")) {
        self.rank = rank
        self.numWorkers = numWorkers
        self.timeouts = timeouts
        self.logger = logger
    }

    /// The current weights of a slice (nil when unknown or not initialised).
    public func weights(_ id: SliceID) -> [Float]? { slices[id]?.weights }

    /// Handles one message from `peer` at time `now` and returns the messages to send.
    public func handle(_ message: Message, from peer: PeerID, now: Double) -> [Outgoing] {
        let h = message.header
        if h.command != .register, h.sender >= 0, h.sender < Int32(numWorkers) {
            lastSeen[h.sender] = (lastSeen[h.sender].map { h.command == .heartbeat ? $0.peer : peer } ?? peer, now)
            peersOfRank[h.sender, default: []].insert(peer)
        }
        switch h.command {
        case .configure: return configure(message, peer)
        case .initialize: return initialize(message, peer)
        case .push, .pushPull: return push(message, peer, now: now)
        case .pull: return pull(message, peer)
        case .barrier: return barrier(message, peer)
        case .heartbeat: return [reply(to: message, peer, .heartbeat)]
        case .shutdown:
            shutdownRequested = true
            return [reply(to: message, peer, .acknowledge)]
        case .register, .error, .acknowledge:
            return [error(message, peer, "a server does not accept \(h.command) messages")]
        }
    }

    /// Checks heartbeats and sync-round deadlines; returns the error notifications to send
    /// (every known worker learns which rank failed) and sets `failure`.
    public func tick(now: Double) -> [Outgoing] {
        guard failure == nil else { return [] }
        var found: Failure?
        for (rank, seen) in lastSeen.sorted(by: { $0.key < $1.key }) where now - seen.time > timeouts.heartbeat {
            found = .deadWorker(rank: rank, peer: seen.peer.description, silentFor: now - seen.time)
            break
        }
        if found == nil {
            for (id, s) in slices.sorted(by: { ($0.key.key, $0.key.slice) < ($1.key.key, $1.key.slice) }) {
                if let started = s.roundStarted, now - started > timeouts.round {
                    let missing = (0..<Int32(numWorkers)).filter { !s.pushedRanks.contains($0) }
                    found = .roundTimedOut(slice: id.description, round: s.round, missing: missing)
                    break
                }
            }
        }
        guard let found else { return [] }
        failure = found
        logger.error("\(found)")
        return peersOfRank.values.joined().sorted { $0.description < $1.description }.map { peer in
            Outgoing(peer: peer, message: Message(header: MessageHeader(command: .error, isReply: true, sender: Int32(-1 - rank)), text: found.description))
        }
    }

    // MARK: - Commands

    private func configure(_ m: Message, _ peer: PeerID) -> [Outgoing] {
        guard m.header.sender == 0 else { return [error(m, peer, "only worker 0 configures the servers")] }
        let new: ServerSetup
        do { new = try m.json(ServerSetup.self) } catch { return [self.error(m, peer, "configure payload is not a valid setup: \(error)")] }
        guard new.numWorkers == numWorkers else {
            return [error(m, peer, "setup is for \(new.numWorkers) worker(s) but the cluster has \(numWorkers)")]
        }
        if let setup, setup != new { return [error(m, peer, "servers are already configured differently")] }
        if setup == nil {
            let opt = Optimizer(new.optimizer)
            for spec in new.slices {
                slices[SliceID(key: spec.key, slice: spec.slice)] = StoredSlice(spec: spec, optimizer: opt)
            }
            setup = new
            optimizer = opt
            logger.info("configured: \(new.mode.rawValue), \(new.numWorkers) worker(s), \(new.slices.count) slice(s), optimizer \(new.optimizer.kind.rawValue)")
        }
        return [reply(to: m, peer, .acknowledge)]
    }

    private func initialize(_ m: Message, _ peer: PeerID) -> [Outgoing] {
        switch lookup(m, peer) {
        case .failure(let e): return [e]
        case .success(let id):
            // MXNet semantics: worker 0's initial value wins; the others' are acknowledged only.
            if m.header.sender == 0 || slices[id]!.weights == nil {
                guard let values = try? m.floats(), values.count == slices[id]!.spec.count else {
                    return [error(m, peer, "init of \(id) has \(m.payload.count / 4) values, expected \(slices[id]!.spec.count)")]
                }
                if m.header.sender == 0 || slices[id]!.weights == nil { slices[id]!.weights = values }
            }
            return [reply(to: m, peer, .acknowledge)]
        }
    }

    private func push(_ m: Message, _ peer: PeerID, now: Double) -> [Outgoing] {
        guard let setup, let optimizer else { return [error(m, peer, "push before the servers were configured")] }
        let id: SliceID
        switch lookup(m, peer) {
        case .failure(let e): return [e]
        case .success(let found): id = found
        }
        guard slices[id]!.weights != nil else { return [error(m, peer, "push to \(id) before its initial value")] }
        let count = slices[id]!.spec.count
        guard m.payload.count == count * 4 else {
            return [error(m, peer, "push to \(id) has \(m.payload.count / 4) values, expected \(count)")]
        }
        let sender = m.header.sender
        var s = slices[id]!
        slices[id] = nil  // uniquely referenced weights, state and accumulator: updated in place
        if setup.mode == .async {
            // Sizes were checked above; the payload is whole floats.
            try? m.withFloats { apply(&s, gradient: $0, optimizer: optimizer) }
            slices[id] = s
            return [answer(m, peer, id)]
        }
        guard m.header.round == s.round else {
            slices[id] = s
            return [error(m, peer, "push to \(id) for round \(m.header.round), but the server is at round \(s.round)")]
        }
        guard !s.pushedRanks.contains(sender) else {
            slices[id] = s
            return [error(m, peer, "duplicate push from worker \(sender) to \(id) in round \(s.round)")]
        }
        if s.pushedRanks.isEmpty { s.roundStarted = now }
        s.pushedRanks.insert(sender)
        try? m.withFloats { g in
            s.accumulator.withUnsafeMutableBufferPointer { acc in for i in 0..<acc.count { acc[i] += g[i] } }
        }
        s.waiters.append(Waiter(peer: peer, command: m.header.command, sender: sender, needsRound: s.round))
        guard s.pushedRanks.count == setup.numWorkers else {
            slices[id] = s
            return []
        }
        // Every worker pushed: one update from the sum, then answer the round's waiters.
        var sum = s.accumulator
        s.accumulator = []
        sum.withUnsafeBufferPointer { apply(&s, gradient: $0, optimizer: optimizer) }
        sum.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        s.accumulator = sum
        s.pushedRanks = []
        s.roundStarted = nil
        let ready = s.waiters.filter { $0.needsRound < s.round }
        s.waiters.removeAll { $0.needsRound < s.round }
        slices[id] = s
        // One payload shared by every waiter that wants the weights (copied once, encoded once).
        var shared: [Command: Message] = [:]
        return ready.map { w in
            let command = w.command == .push ? Command.acknowledge : w.command
            if let m = shared[command] { return Outgoing(peer: w.peer, message: m) }
            let h = MessageHeader(command: command, isReply: true, key: id.key, slice: id.slice,
                                  sliceCount: s.spec.sliceCount, sender: Int32(-1 - rank), round: s.round)
            let m = w.command == .push ? Message(header: h) : s.weights!.withUnsafeBufferPointer { Message(header: h, floats: $0) }
            shared[command] = m
            return Outgoing(peer: w.peer, message: m)
        }
    }

    private func pull(_ m: Message, _ peer: PeerID) -> [Outgoing] {
        guard setup != nil else { return [error(m, peer, "pull before the servers were configured")] }
        switch lookup(m, peer) {
        case .failure(let e): return [e]
        case .success(let id):
            guard slices[id]!.weights != nil else { return [error(m, peer, "pull of \(id) before its initial value")] }
            // In sync mode a pull for round t waits until t updates have been applied.
            if setup?.mode == .sync, m.header.round > slices[id]!.round {
                slices[id]!.waiters.append(Waiter(peer: peer, command: .pull, sender: m.header.sender, needsRound: m.header.round - 1))
                return []
            }
            return [answer(m, peer, id)]
        }
    }

    private func barrier(_ m: Message, _ peer: PeerID) -> [Outgoing] {
        guard m.header.sender >= 0, m.header.sender < numWorkers else {
            return [error(m, peer, "worker rank \(m.header.sender) out of range 0..<\(numWorkers)")]
        }
        barrierWaiters[m.header.round, default: [:]][m.header.sender] = peer
        guard let arrived = barrierWaiters[m.header.round], arrived.count == numWorkers else { return [] }
        barrierWaiters[m.header.round] = nil
        return arrived.sorted { $0.key < $1.key }.map { rank, p in
            Outgoing(peer: p, message: Message(header: MessageHeader(command: .barrier, isReply: true, sender: Int32(-1 - self.rank), round: m.header.round)))
        }
    }

    // MARK: - Helpers

    /// One optimizer update of `s` (taken out of `slices` by the caller, so it is updated in place).
    private func apply(_ s: inout StoredSlice, gradient: UnsafeBufferPointer<Float>, optimizer: Optimizer) {
        if s.spec.optimized {
            s.weights!.withUnsafeMutableBufferPointer { wp in
                // Sizes were validated on receipt; the state was created for this slice.
                try? optimizer.update(weights: wp, gradient: gradient, state: &s.state, multipliers: s.spec.multipliers)
            }
            updateCount += 1
        } else {
            s.weights = Array(gradient)  // a summed-only key returns the round's sum
        }
        s.round += 1
    }

    private enum Lookup { case success(SliceID), failure(Outgoing) }

    private func lookup(_ m: Message, _ peer: PeerID) -> Lookup {
        let h = m.header
        if h.sender < 0 || h.sender >= numWorkers {
            return .failure(error(m, peer, "worker rank \(h.sender) out of range 0..<\(numWorkers)"))
        }
        let id = SliceID(key: h.key, slice: h.slice)
        guard slices[id] != nil else {
            return .failure(error(m, peer, "unknown \(id) (this is server \(rank); was the setup sent?)"))
        }
        return .success(id)
    }

    private func answer(_ m: Message, _ peer: PeerID, _ id: SliceID) -> Outgoing {
        let s = slices[id]!
        let h = MessageHeader(command: m.header.command == .push ? .acknowledge : m.header.command, isReply: true,
                              key: id.key, slice: id.slice, sliceCount: s.spec.sliceCount, sender: Int32(-1 - rank), round: s.round)
        if m.header.command == .push { return Outgoing(peer: peer, message: Message(header: h)) }
        return Outgoing(peer: peer, message: s.weights!.withUnsafeBufferPointer { Message(header: h, floats: $0) })
    }

    private func reply(to m: Message, _ peer: PeerID, _ command: Command) -> Outgoing {
        Outgoing(peer: peer, message: Message(header: MessageHeader(command: command, isReply: true, key: m.header.key,
                                                                    slice: m.header.slice, sender: Int32(-1 - rank), round: m.header.round)))
    }

    private func error(_ m: Message, _ peer: PeerID, _ text: String) -> Outgoing {
        logger.warning("rejected \(m) from \(peer): \(text)")
        return Outgoing(peer: peer, message: Message(header: MessageHeader(command: .error, isReply: true, key: m.header.key,
                                                                           slice: m.header.slice, sender: Int32(-1 - rank), round: m.header.round), text: text))
    }
}

