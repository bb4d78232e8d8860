import Optimizers
@testable import ParameterServer
import Testing

/// Checkpoint and resume of the servers' optimizer state (`fetchState`, `restoreState`)
/// through `KVClient` and real `ServerLoop`s on the in-process transport.
@Suite("Servers' state: fetch for a checkpoint, restore on resume")
struct ServerStateTests {
    /// A schedule that halves the rate after update 2, so a restarted update count shows.
    static func optimizer(_ kind: OptimizerKind) -> OptimizerConfig {
        OptimizerConfig(kind: kind, learningRate: 0.1, momentum: kind == .sgd ? 0.9 : 0, schedule: LearningRateSchedule(steps: [2], factor: 0.5))
    }

    /// Key 0 (5 values) is cut over both servers; key 1 (1 value) lives whole on one; key 2 is summed only.
    static func keys(_ w0: [Float], _ w1: [Float]) -> Keys { [0: (w0, .one, true), 1: (w1, .one, true), 2: ([0], .one, false)] }

    /// `steps` pushPulls of keys 0 and 1 with gradients that depend on the step.
    static func train(_ client: KVClient, _ w0: inout [Float], _ w1: inout [Float], steps: Range<Int>) throws {
        for step in steps {
            let g0 = w0.indices.map { Float($0 + 1) * 0.1 + Float(step) * 0.01 }, g1: [Float] = [0.3 - Float(step) * 0.05]
            try g0.withUnsafeBufferPointer { g in try w0.withUnsafeMutableBufferPointer { try client.pushPull(key: 0, gradient: g, into: $0) } }
            try g1.withUnsafeBufferPointer { g in try w1.withUnsafeMutableBufferPointer { try client.pushPull(key: 1, gradient: g, into: $0) } }
            try client.wait()
        }
    }

    @Test("fetched state equals the optimizer run locally; a fresh cluster given it continues bit for bit", arguments: [OptimizerKind.sgd, .adam])
    func fetchAndRestore(_ kind: OptimizerKind) throws {
        let config = Self.optimizer(kind)
        let aCluster = InProcessCluster(servers: 2)
        let a = aCluster.client()
        var w0: [Float] = [1, 2, 3, 4, 5], w1: [Float] = [0.5]
        try a.initialize(keys: Self.keys(w0, w1), mode: .sync, optimizer: config, bigArrayBound: 4)
        #expect(a.layout?.parts[0]?.count == 2)
        try Self.train(a, &w0, &w1, steps: 0..<3)

        let saved = try a.fetchState(keys: [0, 1], slots: config.stateSlots)
        // The same three updates run locally give the same weights, slots and count.
        let opt = Optimizer(config)
        var local: [Float] = [1, 2, 3, 4, 5], state = opt.makeState(count: 5)
        for step in 0..<3 {
            let g = local.indices.map { Float($0 + 1) * 0.1 + Float(step) * 0.01 }
            try local.withUnsafeMutableBufferPointer { lw in try g.withUnsafeBufferPointer { try opt.update(weights: lw, gradient: $0, state: &state) } }
        }
        #expect(saved[0] == KeyState(weights: local, optimizer: state))
        #expect(saved[0]?.weights == w0 && saved[1]?.weights == w1)
        #expect(saved[1]?.optimizer.updateCount == 3 && saved[1]?.optimizer.slots.count == config.stateSlots)

        // A new cluster (as after a restart) with the saved weights, then the saved state.
        let bCluster = InProcessCluster(servers: 2)
        let b = bCluster.client()
        var v0 = w0, v1 = w1
        try b.initialize(keys: Self.keys(v0, v1), mode: .sync, optimizer: config, bigArrayBound: 4)
        try b.restoreState(saved.mapValues(\.optimizer))
        #expect(try b.fetchState(keys: [0, 1], slots: config.stateSlots) == saved)
        #expect(bCluster.loops.map(\.server.updateCount).reduce(0, +) == 3 * 3)  // key 0's two slices and key 1, 3 updates each

        // Without the state, the schedule and the moments restart: the weights part ways.
        let cCluster = InProcessCluster(servers: 2)
        let c = cCluster.client()
        var u0 = w0, u1 = w1
        try c.initialize(keys: Self.keys(u0, u1), mode: .sync, optimizer: config, bigArrayBound: 4)

        try Self.train(a, &w0, &w1, steps: 3..<5)
        try Self.train(b, &v0, &v1, steps: 3..<5)
        try Self.train(c, &u0, &u1, steps: 3..<5)
        #expect(v0 == w0 && v1 == w1)
        #expect(u0 != w0)
        withExtendedLifetime((aCluster, cCluster)) {}
    }

    @Test("the state is per key: saved from two servers (key 0 sliced), it restores into one server (key 0 whole)")
    func anotherServerCount() throws {
        let config = Self.optimizer(.sgd)
        let twoCluster = InProcessCluster(servers: 2)
        let two = twoCluster.client()
        var w0: [Float] = [1, 2, 3, 4, 5], w1: [Float] = [0.5]
        try two.initialize(keys: Self.keys(w0, w1), mode: .sync, optimizer: config, bigArrayBound: 4)
        try Self.train(two, &w0, &w1, steps: 0..<3)
        let saved = try two.fetchState(keys: [0, 1], slots: config.stateSlots)
        let oneCluster = InProcessCluster(servers: 1)
        let one = oneCluster.client()
        try one.initialize(keys: Self.keys(w0, w1), mode: .sync, optimizer: config, bigArrayBound: 4)
        #expect(one.layout?.parts[0]?.count == 1)
        try one.restoreState(saved.mapValues(\.optimizer))
        #expect(try one.fetchState(keys: [0, 1], slots: config.stateSlots) == saved)
        withExtendedLifetime(twoCluster) {}
    }

    @Test("a state that does not fit the key layout or the optimizer is refused, naming the key and what differs")
    func mismatchedState() throws {
        let cluster = InProcessCluster(servers: 2)
        let client = cluster.client()
        let config = Self.optimizer(.sgd)  // one slot: the momentum
        try client.initialize(keys: Self.keys([1, 2, 3, 4, 5], [0.5]), mode: .sync, optimizer: config, bigArrayBound: 4)
        var state = OptimizerState(slots: 1, count: 4)  // key 0 has 5 values
        #expect(throws: KVClientError.bufferSize(key: 0, count: 4, expected: 5)) { try client.restoreState([0: state]) }
        #expect(throws: KVClientError.undeclaredKey(7)) { try client.restoreState([7: OptimizerState(slots: 1, count: 1)]) }
        // Adam's two slots sent to servers running SGD with momentum (one slot).
        state = OptimizerState(slots: 2, count: 1)
        state.updateCount = 4
        do {
            try client.restoreState([1: state])
            Issue.record("a state of another optimizer was accepted")
        } catch let ClusterError.requestFailed(_, _, request, reason) {
            #expect(request.hasPrefix("restoreState of key 1 slice 0/1"))
            #expect(reason.contains("has 2 values, but this server holds 1 optimizer slot(s) of 1 values"), "\(reason)")
            #expect(reason.contains("saved for another optimizer or key layout"))
        }
        // Nothing was restored: the servers still count no update.
        #expect(cluster.loops.allSatisfy { $0.server.updateCount == 0 })
    }

    @Test("the servers refuse restoreState after the first push, from a worker other than 0, for a summed-only key, or an unknown slice")
    func refusals() {
        let h = ServerHarness(workers: 2, optimizer: Self.optimizer(.sgd), counts: [3, 2], optimized: [true, false])
        func refusal(_ out: [Outgoing]) -> String? {
            guard let m = out.first?.message, m.header.isError, m.header.command == .restoreState || m.header.command == .fetchState else { return nil }
            return m.text
        }
        #expect(refusal(h.send(floats: [0, 0, 0], .restoreState, from: 1))?.contains("only worker 0") == true)
        #expect(refusal(h.send(floats: [0, 0], .restoreState, key: 1, from: 0))?.contains("summed only") == true)
        #expect(refusal(h.send(floats: [0], .restoreState, key: 9, from: 0))?.contains("unknown key 9 slice 0") == true)
        #expect(refusal(h.send(Message(header: MessageHeader(command: .fetchState, sender: 1)), from: 1))?.contains("only worker 0") == true)
        // Accepted before training: the count of key 0 becomes 5.
        let ok = h.send(floats: [1, 1, 1], .restoreState, round: 5, from: 0)
        #expect(ok.first?.message.header.isReply == true && ok.first?.message.header.isError == false && h.server.updateCount == 5)
        h.send(floats: [1, 1, 1], .push, from: 0)
        #expect(refusal(h.send(floats: [0, 0, 0], .restoreState, round: 5, from: 0))?.contains("after training started") == true)
        let fetched = h.send(Message(header: MessageHeader(command: .fetchState, sender: 0)), from: 0)
        #expect(fetched.first?.message.header.round == 5 && fetched.first?.message.payload.count == 2 * 3 * 4)
    }
}
