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
/// - dist_sync: each slice's `SyncRound` waits for one push from every worker; the sum gets one
///   optimizer update with the configured `rescaleGrad`, then that round's pushes and pulls
///   are answered. A pull for round t never sees a partial sum.
/// - dist_async: the `AsyncApplier` applies each push as it arrives; pulls return the latest weights.
///
/// Nothing fails silently: every malformed or out-of-protocol request, and every update the
/// optimizer refuses, is answered with an error reply to the worker that sent it and logged;
/// no weight changes then.
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
    /// Set when the server must stop (dead worker, timed-out round).
    public private(set) var failure: Failure?
    public private(set) var shutdownRequested = false
    public var timeouts: Timeouts

    var slices: [SliceID: StoredSlice] = [:]
    /// When each worker rank was last heard from, through which peer.
    var lastSeen: [Int32: (peer: PeerID, time: Double)] = [:]
    /// Every peer a worker rank used (request and heartbeat sockets), so a failure notice
    /// reaches the thread that waits.
    var peersOfRank: [Int32: Set<PeerID>] = [:]
    var barrierWaiters: [UInt64: [Int32: Waiter]] = [:]
    let logger: Logger

    /// Server `rank` (its index among the servers) of a cluster with `numWorkers` workers.
    public init(rank: Int, numWorkers: Int, timeouts: Timeouts = Timeouts(), logger: Logger = Logger(label: "param-server")) {
        self.rank = rank
        self.numWorkers = numWorkers
        self.timeouts = timeouts
        self.logger = logger
    }

    /// The `sender` this server writes into its messages.
    var senderID: Int32 { MessageHeader.serverSender(rank: rank) }

    /// The current weights of a slice (nil when unknown or not initialised).
    public func weights(_ id: SliceID) -> [Float]? {
        guard let s = slices[id], s.isInitialized else { return nil }
        return s.weights
    }

    /// Handles one message from `peer` at time `now` and returns the messages to send.
    public func handle(_ message: Message, from peer: PeerID, now: Double) -> [Outgoing] {
        let h = message.header
        if h.isReply { return [error(message, peer, "a server does not accept replies (\(h.command) reply)")] }
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
        case .heartbeat: return [reply(to: message, peer)]
        case .shutdown:
            shutdownRequested = true
            return [reply(to: message, peer)]
        case .register, .error:
            return [error(message, peer, "a server does not accept \(h.command) messages")]
        }
    }

    /// Checks heartbeats and sync-round deadlines; returns the error notices to send (every
    /// known worker learns which rank failed) and sets `failure`.
    public func tick(now: Double) -> [Outgoing] {
        guard failure == nil else { return [] }
        var found: Failure?
        for (rank, seen) in lastSeen.sorted(by: { $0.key < $1.key }) where now - seen.time > timeouts.heartbeat {
            found = .deadWorker(rank: rank, peer: seen.peer.description, silentFor: now - seen.time)
            break
        }
        if found == nil {
            for (id, s) in slices.sorted(by: { ($0.key.key, $0.key.slice) < ($1.key.key, $1.key.slice) }) {
                if let started = s.sync.started, now - started > timeouts.round {
                    found = .roundTimedOut(slice: id.description, round: s.round, missing: s.sync.missing(workers: numWorkers))
                    break
                }
            }
        }
        guard let found else { return [] }
        failure = found
        logger.error("\(found)")
        let notice = Message(header: MessageHeader(command: .error, sender: senderID), text: found.description)
        return peersOfRank.values.joined().sorted { $0.description < $1.description }.map { Outgoing(peer: $0, message: notice) }
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
        return [reply(to: m, peer)]
    }

    private func initialize(_ m: Message, _ peer: PeerID) -> [Outgoing] {
        let slice: StoredSlice
        switch lookup(m, peer) {
        case .failure(let e): return [e]
        case .success(let found): slice = found
        }
        guard m.payload.count == slice.spec.count * 4 else {
            return [error(m, peer, "init of \(slice.id) has \(m.payload.count / 4) values, expected \(slice.spec.count)")]
        }
        // MXNet semantics: worker 0's initial value wins; the others' are acknowledged only.
        if m.header.sender == 0 || !slice.isInitialized {
            m.payload.withUnsafeBytes { values in slice.weights.withUnsafeMutableBytes { $0.copyMemory(from: values) } }
            slice.isInitialized = true
        }
        return [reply(to: m, peer)]
    }

    private func push(_ m: Message, _ peer: PeerID, now: Double) -> [Outgoing] {
        guard let setup, let optimizer else { return [error(m, peer, "push before the servers were configured")] }
        let slice: StoredSlice
        switch lookup(m, peer) {
        case .failure(let e): return [e]
        case .success(let found): slice = found
        }
        guard slice.isInitialized else { return [error(m, peer, "push to \(slice.id) before its initial value")] }
        guard m.payload.count == slice.spec.count * 4 else {
            return [error(m, peer, "push to \(slice.id) has \(m.payload.count / 4) values, expected \(slice.spec.count)")]
        }
        let waiter = Waiter(peer: peer, request: m.header, needsRound: slice.round)
        do {
            return try m.withFloats { gradient in
                if setup.mode == .async {
                    let answer = try AsyncApplier(optimizer: optimizer).push(gradient, request: m.header, from: peer, to: slice, sender: senderID)
                    if slice.spec.optimized { updateCount += 1 }
                    return [answer]
                }
                try slice.sync.add(gradient, from: m.header.sender, round: m.header.round, current: slice.round, waiter: waiter, now: now)
                return slice.sync.isComplete(workers: setup.numWorkers) ? completeRound(slice, optimizer) : []
            }
        } catch let rejection as SyncRound.Rejection {
            return [error(m, peer, "\(rejection) (\(slice.id))")]
        } catch let failed as OptimizerError {
            return [error(m, peer, "the optimizer refused the update of \(slice.id): \(failed); the weights are unchanged")]
        } catch {
            return [self.error(m, peer, "push to \(slice.id): \(error)")]
        }
    }

    /// Every worker pushed: one update from the sum, then the round's pushes and the pulls
    /// waiting for it are answered (one weights payload shared by all). When the optimizer
    /// refuses the update, every worker of the round gets the error and the weights stay.
    private func completeRound(_ slice: StoredSlice, _ optimizer: Optimizer) -> [Outgoing] {
        let applied: Result<Void, OptimizerError> = slice.sync.sum.withUnsafeBufferPointer { sum in
            Result { () throws(OptimizerError) in try slice.apply(gradient: sum, optimizer: optimizer) }
        }
        let pushes = slice.sync.finish()
        if case .failure(let failed) = applied {
            return pushes.map { error(Message(header: $0.request), $0.peer, "the optimizer refused round \(slice.round) of \(slice.id): \(failed); the weights are unchanged") }
        }
        if slice.spec.optimized { updateCount += 1 }
        let ready = pushes + slice.pullWaiters.filter { $0.needsRound < slice.round }
        slice.pullWaiters.removeAll { $0.needsRound < slice.round }
        let weights = slice.weightBytes
        return ready.map { slice.answer($0, sender: senderID, weights: weights) }
    }

    private func pull(_ m: Message, _ peer: PeerID) -> [Outgoing] {
        guard let setup else { return [error(m, peer, "pull before the servers were configured")] }
        let slice: StoredSlice
        switch lookup(m, peer) {
        case .failure(let e): return [e]
        case .success(let found): slice = found
        }
        guard slice.isInitialized else { return [error(m, peer, "pull of \(slice.id) before its initial value")] }
        let waiter = Waiter(peer: peer, request: m.header, needsRound: m.header.round == 0 ? 0 : m.header.round - 1)
        // In sync mode a pull for round t waits until t updates have been applied.
        if setup.mode == .sync, m.header.round > slice.round {
            slice.pullWaiters.append(waiter)
            return []
        }
        return [slice.answer(waiter, sender: senderID)]
    }

    private func barrier(_ m: Message, _ peer: PeerID) -> [Outgoing] {
        guard m.header.sender >= 0, m.header.sender < numWorkers else {
            return [error(m, peer, "worker rank \(m.header.sender) out of range 0..<\(numWorkers)")]
        }
        barrierWaiters[m.header.round, default: [:]][m.header.sender] = Waiter(peer: peer, request: m.header, needsRound: 0)
        guard let arrived = barrierWaiters[m.header.round], arrived.count == numWorkers else { return [] }
        barrierWaiters[m.header.round] = nil
        return arrived.sorted { $0.key < $1.key }.map { _, w in
            Outgoing(peer: w.peer, message: Message(header: w.request.reply(sender: senderID)))
        }
    }

    // MARK: - Helpers

    private enum Lookup { case success(StoredSlice), failure(Outgoing) }

    private func lookup(_ m: Message, _ peer: PeerID) -> Lookup {
        let h = m.header
        if h.sender < 0 || h.sender >= numWorkers {
            return .failure(error(m, peer, "worker rank \(h.sender) out of range 0..<\(numWorkers)"))
        }
        let id = SliceID(key: h.key, slice: h.slice)
        guard let slice = slices[id] else {
            return .failure(error(m, peer, "unknown \(id) (this is server \(rank); was the setup sent?)"))
        }
        return .success(slice)
    }

    private func reply(to m: Message, _ peer: PeerID) -> Outgoing {
        Outgoing(peer: peer, message: Message(header: m.header.reply(sender: senderID)))
    }

    /// The error reply to `m` (its command and request id, the error flag, `text`), logged.
    private func error(_ m: Message, _ peer: PeerID, _ text: String) -> Outgoing {
        logger.warning("rejected \(m) from \(peer): \(text)")
        return Outgoing(peer: peer, message: Message(header: m.header.reply(sender: senderID, isError: true), text: text))
    }
}
