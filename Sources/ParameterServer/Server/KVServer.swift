import Logging
import Optimizers

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

    /// Why the server stopped serving. Workers are named as people find them (rank, pid,
    /// host, address); a missing worker is said to be alive-but-stuck or silent.
    public enum Failure: Equatable, Sendable, CustomStringConvertible {
        case deadWorker(rank: Int32, name: String, silentFor: Double)
        case roundTimedOut(slice: String, round: UInt64, waited: Double, missing: [String])
        case barrierTimedOut(barrier: UInt64, waited: Double, missing: [String])

        public var description: String {
            switch self {
            case let .deadWorker(_, name, silent):
                return "\(name) sent nothing for \(Int(silent)) s: it is presumed dead; stopping the job "
                    + "(check its log, then restart the job with --resume MODEL_DIR to continue from the last checkpoint)"
            case let .roundTimedOut(slice, round, waited, missing):
                return "sync round \(round) of \(slice) waited \(Int(waited)) s for \(missing.joined(separator: "; ")); stopping the job "
                    + "(raise PS_ROUND_TIMEOUT if such pauses are expected)"
            case let .barrierTimedOut(barrier, waited, missing):
                return "barrier \(barrier) waited \(Int(waited)) s for \(missing.joined(separator: "; ")); stopping the job "
                    + "(raise PS_ROUND_TIMEOUT if such pauses are expected)"
            }
        }
    }

    public let rank: Int
    /// Workers in the cluster (from the scheduler's roster).
    public let numWorkers: Int
    public private(set) var setup: ServerSetup?
    public private(set) var optimizer: Optimizer?
    /// Optimizer updates applied, all slices together.
    public internal(set) var updateCount = 0
    /// Set when the server must stop (dead worker, timed-out round).
    public private(set) var failure: Failure?
    public private(set) var shutdownRequested = false
    public var timeouts: Timeouts
    /// What to do with a gradient holding NaN or ±Inf.
    public var nonFinite: NonFiniteGradients = .reject
    /// Where sum and optimizer-update times go (nil: not measured).
    public var profile: RoundProfile?
    /// Told of rounds, bytes, rejections and workers as they happen (nil: nobody watches).
    public var observer: (any KVServerObserver)?
    /// Pushes skipped for non-finite values (with `nonFinite == .skip`).
    public private(set) var skippedNonFinite = 0

    var slices: [SliceID: StoredSlice] = [:]
    /// Decodes compressed pushes (a reused float32 buffer).
    var pushDecoder = PushDecoder()
    /// Which connections speak for which worker, when each was heard, how to name it.
    var registry: WorkerRegistry
    /// Barriers waiting for workers: who arrived, and when the first did.
    var barrierWaiters: [UInt64: (started: Double, arrived: [Int32: Waiter])] = [:]
    /// True from the first push on: later `initialize` requests are refused.
    private(set) var trainingStarted = false
    let logger: Logger

    /// Server `rank` (its index among the servers) of a cluster with `numWorkers` workers.
    public init(rank: Int, numWorkers: Int, timeouts: Timeouts = Timeouts(), logger: Logger = Logger(label: "param-server")) {
        self.rank = rank
        self.numWorkers = numWorkers
        self.timeouts = timeouts
        self.logger = logger
        registry = WorkerRegistry(numWorkers: numWorkers)
    }

    /// The `sender` this server writes into its messages.
    var senderID: Int32 { MessageHeader.serverSender(rank: rank) }

    /// The current weights of a slice (nil when unknown or not initialised).
    public func weights(_ id: SliceID) -> [Float]? {
        guard let s = slices[id], s.isInitialized else { return nil }
        return s.weights
    }

    /// Handles one message from `peer` (sending from `address`, for logs) at time `now` and
    /// returns the messages to send. Every command is first checked against the connection's
    /// worker rank.
    public func handle(_ message: Message, from peer: PeerID, address: String? = nil, now: Double) -> [Outgoing] {
        let h = message.header
        if h.isReply { return [error(message, peer, "a server does not accept replies (\(h.command) reply)")] }
        if h.command == .register || h.command == .error {
            return [error(message, peer, "a server does not accept \(h.command) messages")]
        }
        do {
            try registry.admit(peer, as: h.sender, command: h.command, now: now, address: address)
            observer?.workersRegistered(registry.workers.count)
        } catch {
            if h.command == .push || h.command == .pushPull { observer?.pushRejected(.notAdmitted) }
            return [self.error(message, peer, "\(error)", address: address)]
        }
        switch h.command {
        case .configure: return configure(message, peer)
        case .initialize: return initialize(message, peer)
        case .push, .pushPull: return push(message, peer, now: now)
        case .pull: return pull(message, peer)
        case .barrier: return barrier(message, peer, now: now)
        case .heartbeat: return heartbeat(message, peer)
        case .fetchState: return fetchState(message, peer)
        case .restoreState: return restoreState(message, peer)
        case .shutdown:
            guard h.sender == 0 else { return [error(message, peer, "only worker 0 may shut the servers down")] }
            shutdownRequested = true
            return [reply(to: message, peer)]
        case .register, .error:
            return []  // refused above
        }
    }

    /// Checks heartbeats, sync-round and barrier deadlines; returns the error notices to send
    /// (every known worker learns what failed) and sets `failure`.
    public func tick(now: Double) -> [Outgoing] {
        if registry.servingSince == nil { registry.servingSince = now }
        guard failure == nil, let found = overdue(now: now) else { return [] }
        failure = found
        logger.error("\(found)")
        if case .deadWorker(let rank, _, _) = found { observer?.workerDead(rank: rank) }
        let notice = Message(header: MessageHeader(command: .error, sender: senderID), text: found.description)
        return registry.allPeers.map { Outgoing(peer: $0, message: notice) }
    }

    private func overdue(now: Double) -> Failure? {
        if let (rank, silent) = registry.silent(longerThan: timeouts.heartbeat, now: now) {
            let name = registry.wasHeard(rank) ? registry.name(rank) : "worker \(rank), which never reached this server,"
            return .deadWorker(rank: rank, name: name, silentFor: silent)
        }
        for (id, s) in slices.sorted(by: { ($0.key.key, $0.key.slice) < ($1.key.key, $1.key.slice) }) {
            if let started = s.sync.started, now - started > timeouts.round {
                return .roundTimedOut(slice: id.description, round: s.round, waited: now - started,
                                      missing: s.sync.missing(workers: numWorkers).map { verdict($0, now: now) })
            }
        }
        for (number, b) in barrierWaiters.sorted(by: { $0.key < $1.key }) where now - b.started > timeouts.round {
            let missing = (0..<Int32(numWorkers)).filter { b.arrived[$0] == nil }
            return .barrierTimedOut(barrier: number, waited: now - b.started, missing: missing.map { verdict($0, now: now) })
        }
        return nil
    }

    /// A missing worker told apart: alive (heartbeats arrive) but stuck, or never heard.
    private func verdict(_ rank: Int32, now: Double) -> String {
        if registry.isAlive(rank, within: timeouts.heartbeat, now: now) {
            return "\(registry.name(rank)), which is alive (heartbeats arrive) but stuck"
        }
        return "\(registry.name(rank)), which never reached this server"
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
            logger.info("configured: \(new.mode.rawValue), \(new.numWorkers) worker(s), \(new.slices.count) slice(s), optimizer \(new.optimizer.kind.rawValue), gradient compression \(new.compression)")
        }
        return [reply(to: m, peer)]
    }

    private func initialize(_ m: Message, _ peer: PeerID) -> [Outgoing] {
        guard !trainingStarted else { return [error(m, peer, "initialize after training started: the weights are not replaced")] }
        let slice: StoredSlice
        switch lookup(m, peer) {
        case .failure(let e): return [e]
        case .success(let found): slice = found
        }
        guard m.header.encoding == .float32, m.payload.count == slice.spec.count * 4 else {
            return [error(m, peer, "init of \(slice.id) has \(m.payload.count / 4) values, expected \(slice.spec.count)")]
        }
        // MXNet semantics: worker 0's initial value wins; the others' are acknowledged only.
        if m.header.sender == 0 || !slice.isInitialized {
            m.payload.withUnsafeBytes { values in slice.weights.withUnsafeMutableBytes { $0.copyMemory(from: values) } }
            slice.isInitialized = true
        }
        return [reply(to: m, peer)]
    }

    private func push(_ received: Message, _ peer: PeerID, now: Double) -> [Outgoing] {
        var m = received
        guard let setup, let optimizer else { return [rejected(.notConfigured, m, peer, "push before the servers were configured")] }
        let slice: StoredSlice
        switch lookup(m, peer) {
        case .failure(let e): observer?.pushRejected(.unknownKey); return [e]
        case .success(let found): slice = found
        }
        guard slice.isInitialized else { return [rejected(.uninitialized, m, peer, "push to \(slice.id) before its initial value")] }
        let waiter = Waiter(peer: peer, request: m.header, needsRound: slice.round)
        do {
            if setup.mode == .sync {
                try slice.sync.admit(rank: m.header.sender, round: m.header.round, current: slice.round)
            } else {
                try profile.measure(.checksum) { () throws(WireError) in try m.checkPayload() }
            }
            // The one place a push's payload is read: checked against the agreed encoding and the
            // slice's size, and decoded to float32 when compressed.
            return try pushDecoder.withGradient(m, of: slice.spec, compression: setup.compression) { pushed in
                if setup.mode == .sync { return try syncPush(m, pushed, to: slice, waiter: waiter, optimizer: optimizer, now: now) }
                var gradient: UnsafeBufferPointer<Float>? = pushed
                // Found by the codec in its checksum pass; checked here for a message built in-process.
                let check = m.floatCheck ?? profile.measure(.finiteCheck) {
                    NonFiniteGradients.first(in: pushed).map { .nonFinite(index: $0.index, value: $0.value) } ?? .allFinite
                }
                if case let .nonFinite(index, value) = check {
                    if let refusal = refuseNonFinite((index, value), m, peer, slice) { return [refusal] }
                    gradient = nil
                }
                trainingStarted = true
                guard let gradient else { return [slice.answer(waiter, sender: senderID)] }
                let answer = try AsyncApplier(optimizer: optimizer, profile: profile)
                    .push(gradient, request: m.header, from: peer, to: slice, sender: senderID)
                if slice.spec.optimized { updateCount += 1 }
                observer?.roundCompleted(round: slice.round, seconds: nil)
                return [answer]
            }
        } catch let wire as WireError {
            if case .checksumMismatch = wire {
                return [rejected(.checksum, m, peer, "push to \(slice.id) arrived corrupted (\(wire)); the weights are unchanged")]
            }
            return [rejected(.wrongSize, m, peer, "push to \(slice.id): \(wire)")]
        } catch let rejection as SyncRound.Rejection {
            return [rejected(rejection.reason, m, peer, "\(rejection) (\(slice.id))")]
        } catch let refused as GradientCompressionError {
            if case .encodingMismatch = refused { return [rejected(.wrongEncoding, m, peer, "\(refused)")] }
            return [rejected(.wrongSize, m, peer, "\(refused)")]
        } catch let failed as OptimizerError {
            return [rejected(.optimizer, m, peer, "the optimizer refused the update of \(slice.id): \(failed); the weights are unchanged")]
        } catch {
            return [rejected(.wrongSize, m, peer, "push to \(slice.id): \(error)")]
        }
    }

    /// dist_sync: adds `pushed` (the float32 values of `m`) to the round in one pass that also
    /// verifies `m`'s pending checksum and scans for NaN/±Inf (`SyncRound.stage`); only a push
    /// that passes both changes the round (`commit`). Completes the round with the last push.
    private func syncPush(_ m: Message, _ pushed: UnsafeBufferPointer<Float>, to slice: StoredSlice, waiter: Waiter,
                          optimizer: Optimizer, now: Double) throws -> [Outgoing] {
        guard let setup else { return [] }
        // The received payload itself is kept (not copied) when `pushed` is it (float32, aligned).
        let keep = m.payload.withUnsafeBytes { $0.baseAddress } == UnsafeRawPointer(pushed.baseAddress)
        let (hash, hasNonFinite) = profile.measure(.sum) { slice.sync.stage(UnsafeRawBufferPointer(pushed), received: keep ? m.payload : nil) }
        try m.pendingChecksum?.verify(payloadHash: hash)
        var adding = true
        if hasNonFinite, let hit = NonFiniteGradients.first(in: pushed) {
            if let refusal = refuseNonFinite(hit, m, waiter.peer, slice) { return [refusal] }
            adding = false
        }
        trainingStarted = true
        slice.sync.commit(rank: m.header.sender, adding: adding, waiter: waiter, now: now)
        return slice.sync.isComplete(workers: setup.numWorkers) ? completeRound(slice, optimizer, now: now) : []
    }

    /// A push holding the non-finite `hit`: the error reply (`.reject`), or nil when it is
    /// skipped (`.skip`: counted and logged; the caller adds nothing).
    private func refuseNonFinite(_ hit: (index: Int, value: Float), _ m: Message, _ peer: PeerID, _ slice: StoredSlice) -> Outgoing? {
        let what = "push to \(slice.id) holds a non-finite value (\(hit.value) at index \(hit.index))"
        guard nonFinite == .skip else {
            return rejected(.nonFinite, m, peer, "\(what); the weights are unchanged (PS_NON_FINITE_GRADIENTS=skip skips such pushes)")
        }
        skippedNonFinite += 1
        logger.warning("skipped: \(what) from \(registry.name(m.header.sender)) (\(skippedNonFinite) skipped so far)")
        return nil
    }

    /// Every worker pushed: one update from the sum, then the round's pushes and the pulls
    /// waiting for it are answered (one weights payload shared by all). When the optimizer
    /// refuses the update, every worker of the round gets the error and the weights stay.
    private func completeRound(_ slice: StoredSlice, _ optimizer: Optimizer, now: Double) -> [Outgoing] {
        let started = slice.sync.started ?? now
        // The update writes the reply's weights in the same pass when a waiter needs them.
        let replies = slice.sync.waiters.contains { $0.request.command != .push }
            || slice.pullWaiters.contains { $0.needsRound <= slice.round }
        let applied: Result<Payload?, OptimizerError> = profile.measure(.update) {
            slice.sync.withSum { sum in
                Result { () throws(OptimizerError) -> Payload? in
                    if replies { return try slice.applyAndShareWeights(gradient: sum, optimizer: optimizer) }
                    try slice.apply(gradient: sum, optimizer: optimizer)
                    return nil
                }
            }
        }
        let pushes = slice.sync.finish()
        let weights: Payload?
        switch applied {
        case .failure(let failed):
            return pushes.map { rejected(.optimizer, Message(header: $0.request), $0.peer, "the optimizer refused round \(slice.round) of \(slice.id): \(failed); the weights are unchanged") }
        case .success(let payload): weights = payload
        }
        if slice.spec.optimized { updateCount += 1 }
        observer?.roundCompleted(round: slice.round, seconds: now - started)
        let ready = pushes + slice.pullWaiters.filter { $0.needsRound < slice.round }
        slice.pullWaiters.removeAll { $0.needsRound < slice.round }
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

    private func barrier(_ m: Message, _ peer: PeerID, now: Double) -> [Outgoing] {
        var b = barrierWaiters[m.header.round] ?? (now, [:])
        b.arrived[m.header.sender] = Waiter(peer: peer, request: m.header, needsRound: 0)
        guard b.arrived.count == numWorkers else {
            barrierWaiters[m.header.round] = b
            return []
        }
        barrierWaiters[m.header.round] = nil
        return b.arrived.sorted { $0.key < $1.key }.map { _, w in
            Outgoing(peer: w.peer, message: Message(header: w.request.reply(sender: senderID)))
        }
    }

    /// Answers a heartbeat; its payload, when present, names the worker (`WorkerIdentity`).
    private func heartbeat(_ m: Message, _ peer: PeerID) -> [Outgoing] {
        if !m.payload.isEmpty {
            do { registry.identify(m.header.sender, as: try m.json(WorkerIdentity.self)) } catch {
                return [self.error(m, peer, "heartbeat payload is not a worker identity: \(error)")]
            }
        }
        return [reply(to: m, peer)]
    }

    // MARK: - Helpers

    enum Lookup { case success(StoredSlice), failure(Outgoing) }

    func lookup(_ m: Message, _ peer: PeerID) -> Lookup {
        let h = m.header
        let id = SliceID(key: h.key, slice: h.slice)
        guard let slice = slices[id] else {
            return .failure(error(m, peer, "unknown \(id) (this is server \(rank); was the setup sent?)"))
        }
        return .success(slice)
    }

    func reply(to m: Message, _ peer: PeerID) -> Outgoing {
        Outgoing(peer: peer, message: Message(header: m.header.reply(sender: senderID)))
    }

    /// The error reply to a push refused for `reason` (counted by the observer).
    private func rejected(_ reason: PushRejection, _ m: Message, _ peer: PeerID, _ text: String) -> Outgoing {
        observer?.pushRejected(reason)
        return error(m, peer, text)
    }

    /// The error reply to `m` (its command and request id, the error flag, `text`), logged
    /// naming the sender.
    func error(_ m: Message, _ peer: PeerID, _ text: String, address: String? = nil) -> Outgoing {
        logger.warning("rejected \(m) from \(registry.name(of: peer, address: address)): \(text)")
        return Outgoing(peer: peer, message: Message(header: m.header.reply(sender: senderID, isError: true), text: text))
    }
}
