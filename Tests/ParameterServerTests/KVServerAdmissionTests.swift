import Optimizers
@testable import ParameterServer
import Testing

/// Hostile or confused input: every command is checked against the connection's worker rank,
/// and the weights stay intact (issue 13, point 4).
@Suite("KVServer refuses what a worker may not do")
struct KVServerAdmissionTests {
    let id = SliceID(key: 0, slice: 0)

    func refused(_ out: [Outgoing], _ words: String) -> Bool {
        out.count == 1 && out[0].message.header.isError && out[0].message.text.contains(words)
    }

    @Test("a connection of one worker cannot push, pull or heartbeat for another")
    func speaksForAnother() throws {
        let h = ServerHarness(workers: 2)
        #expect(refused(h.send(floats: [9, 9, 9], .push, from: 1, via: h.peer(0)), "belongs to worker 0"))
        #expect(refused(h.send(Message(header: MessageHeader(command: .heartbeat, sender: 1)), from: 1, via: h.peer(0)), "cannot speak for worker 1"))
        #expect(refused(h.send(floats: [], .pull, from: 1, via: h.peer(0)), "belongs to worker 0"))
        #expect(h.server.weights(id) == [1, 2, 3])
    }

    @Test("a second process claiming a taken rank is refused; the worker's two connections are not")
    func rankTaken() {
        let h = ServerHarness(workers: 2)
        h.send(floats: [1, 1, 1], .push, from: 1)
        #expect(h.send(Message(header: MessageHeader(command: .heartbeat, sender: 1)), from: 1, via: PeerID("hb-1")).first?.message.header.isError == false)
        #expect(refused(h.send(floats: [5, 5, 5], .push, from: 1, via: PeerID("rogue")), "already taken by worker 1"))
        let done = h.send(floats: [1, 1, 1], .push, from: 0)
        #expect(done.count == 2 && done.allSatisfy { !$0.message.header.isError })
        #expect(h.server.weights(id) == [0, 1, 2])
    }

    @Test("initialize after training started and shutdown from anyone but worker 0 are refused")
    func outOfTurn() {
        let h = ServerHarness(workers: 2)
        h.send(floats: [1, 1, 1], .push, from: 0)
        #expect(refused(h.send(floats: [7, 7, 7], .initialize, from: 0), "after training started"))
        #expect(refused(h.send(Message(header: MessageHeader(command: .shutdown, sender: 1)), from: 1), "only worker 0"))
        #expect(!h.server.shutdownRequested)
        #expect(h.server.weights(id) == [1, 2, 3])
    }

    @Test("a NaN or Inf gradient is refused naming the index; the round still completes with clean pushes",
          arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteRejected(_ bad: Float) {
        let h = ServerHarness(workers: 2)
        let out = h.send(floats: [1, bad, 1], .push, from: 0)
        #expect(refused(out, "non-finite value (\(bad) at index 1)"))
        #expect(h.server.weights(id) == [1, 2, 3])
        h.send(floats: [1, 1, 1], .push, from: 0)
        #expect(h.send(floats: [1, 1, 1], .push, from: 1).count == 2)
        #expect(h.server.weights(id) == [0, 1, 2])
    }

    @Test("with skip, a non-finite push counts as made but adds nothing, and is counted", arguments: [SyncMode.sync, .async])
    func nonFiniteSkipped(_ mode: SyncMode) {
        let h = ServerHarness(workers: 2, mode: mode)
        h.server.nonFinite = .skip
        let out = h.send(floats: [.nan, 1, 1], .push, from: 0)
        #expect(out.allSatisfy { !$0.message.header.isError })
        h.send(floats: [2, 2, 2], .push, from: 1)
        #expect(h.server.skippedNonFinite == 1)
        #expect(h.server.weights(id) == [0, 1, 2])
    }

    @Test("after a barrage of garbage the weights equal a clean run's")
    func garbageLeavesWeightsIntact() throws {
        let clean = ServerHarness(workers: 2), attacked = ServerHarness(workers: 2)
        for round in UInt64(0)..<3 {
            for h in [clean, attacked] {
                if h === attacked {
                    h.send(floats: [9, 9, 9], .push, round: round, from: 1, via: h.peer(0))                    // for another rank
                    h.send(floats: [9, 9, 9], .push, round: round, from: 0, via: PeerID("rogue-\(round)"))   // a taken rank (after round 0)
                    h.send(floats: [.nan, 0, 0], .pushPull, round: round, from: 0)                           // non-finite
                    h.send(floats: [9, 9, 9, 9], .push, round: round, from: 1)                               // wrong size
                    h.send(floats: [9, 9, 9], .push, key: 42, round: round, from: 1)                         // unknown key
                    h.send(floats: [9, 9, 9], .push, round: round + 5, from: 1)                              // wrong round
                    h.send(floats: [9, 9, 9], .initialize, from: 1)                                          // initialize late
                    h.send(Message(header: MessageHeader(command: .shutdown, sender: 1)), from: 1)           // not worker 0
                    h.send(Message(header: MessageHeader(command: .configure, sender: 0), text: "{}"), from: 0)  // bad setup
                }
                h.send(floats: [0.5, -1, Float(round)], .pushPull, round: round, from: 0)
                h.send(floats: [0.5, 1, 1], .pushPull, round: round, from: 1)
            }
        }
        #expect(attacked.server.weights(id) == clean.server.weights(id))
        #expect(attacked.server.updateCount == 3 && !attacked.server.shutdownRequested)
    }
}

@Suite("Non-finite gradient scan")
struct NonFiniteScanTests {
    @Test("finds the first NaN or Inf at any position, chunk edge or tail; none in finite data", arguments: [0, 15, 16, 4095, 4096, 9000, 10_006])
    func scan(_ position: Int) {
        var values = (0..<10_007).map { Float($0) * 1e30 }  // large but finite
        #expect(values.withUnsafeBufferPointer { NonFiniteGradients.first(in: $0) } == nil)
        values[position] = .nan
        if position + 1 < values.count { values[position + 1] = .infinity }
        let found = values.withUnsafeBufferPointer { NonFiniteGradients.first(in: $0) }
        #expect(found?.index == position && found?.value.isNaN == true)
    }
}
