import Optimizers
@testable import ParameterServer
import Testing

/// Failures inside the server — an optimizer that refuses an update, frames that do not
/// decode, frames too large — are answered and logged, never swallowed.
@Suite("KVServer never fails silently")
struct KVServerFailureTests {
    @Test("an optimizer update that fails is an error reply to every worker of the round; the weights and round stay", arguments: [SyncMode.sync, .async])
    func failedUpdate(_ mode: SyncMode) throws {
        let h = ServerHarness(workers: 2, mode: mode, optimizer: OptimizerConfig(kind: .sgd, learningRate: 0.5, momentum: 0.9))
        let id = SliceID(key: 0, slice: 0)
        // A state of the wrong size: the optimizer refuses the update before writing anything.
        try #require(h.server.slices[id]).state = OptimizerState(slots: 1, count: 2)
        var out = h.send(floats: [1, 1, 1], .pushPull, from: 0)
        if mode == .sync { out += h.send(floats: [1, 1, 1], .push, from: 1) }
        #expect(out.count == (mode == .sync ? 2 : 1))
        for o in out {
            #expect(o.message.header.isError && o.message.header.isReply)
            #expect(o.message.text.contains("optimizer refused") && o.message.text.contains("unchanged"), "\(o.message.text)")
        }
        #expect(h.server.weights(id) == [1, 2, 3])
        #expect(h.server.updateCount == 0 && h.server.slices[id]?.round == 0)
    }

    @Test("malformed frames reaching the server loop get an error notice; the weights stay")
    func malformedFrames() throws {
        let cluster = InProcessCluster()
        let client = cluster.client()
        var w: [Float] = [1, 2]
        try client.initialize(keys: [0: (w, .one, true)], mode: .sync, optimizer: OptimizerConfig(kind: .sgd, learningRate: 1))
        let rogue = cluster.rawWorker(7)
        let server = PeerID(cluster.endpoints[0])
        var frames = WireCodec().encode(Message(header: MessageHeader(command: .push, sender: 0), payload: [0, 0, 128, 63, 0, 0, 128, 63]))
        frames[1][2] ^= 0x10
        for garbage in [[[1, 2, 3]], frames, [[UInt8](repeating: 0, count: 40), []]] as [[[UInt8]]] {
            rogue.sendRaw(garbage, to: server)
            _ = try cluster.loops[0].serve(until: cluster.network.now)
            guard case .message(let notice, _)? = try rogue.receive(deadline: cluster.network.now) else { Issue.record("no answer"); continue }
            // A notice, or (a push whose payload fails its checksum, found in the pass that sums
            // it) the push's own error reply.
            #expect((notice.header.command == .error || notice.header.isError) && !notice.text.isEmpty)
        }
        #expect(cluster.loops[0].server.weights(SliceID(key: 0, slice: 0)) == [1, 2])
        try [Float](arrayLiteral: 1, 1).withUnsafeBufferPointer { g in try w.withUnsafeMutableBufferPointer { try client.pushPull(key: 0, gradient: g, into: $0) } }
        try client.wait()
        #expect(w == [0, 1])
    }

    @Test("once configured, a payload larger than the largest slice is refused before it is decoded")
    func payloadCap() throws {
        let cluster = InProcessCluster()
        let client = cluster.client()
        try client.initialize(keys: [0: ([Float](repeating: 1, count: 20_000), .one, true)], mode: .sync,
                              optimizer: OptimizerConfig(kind: .sgd, learningRate: 1))
        #expect(cluster.transports[0].codec.maxPayloadBytes == 80_000)
        let rogue = cluster.rawWorker(5)
        let big = [Float](repeating: 0, count: 20_001)
        try big.withUnsafeBufferPointer {
            try rogue.send(MessageHeader(command: .push, sender: 0), payload: UnsafeRawBufferPointer($0), to: PeerID(cluster.endpoints[0]))
        }
        _ = try cluster.loops[0].serve(until: cluster.network.now)
        guard case .message(let notice, _)? = try rogue.receive(deadline: cluster.network.now) else { Issue.record("no answer"); return }
        #expect(notice.text.contains("exceeds the limit of 80000"))
        #expect(client.transport.codec.maxPayloadBytes == 80_000)
    }
}
