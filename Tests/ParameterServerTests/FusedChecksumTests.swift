import Optimizers
@testable import ParameterServer
import Testing

/// The checksum verified in the pass that uses the values (a server's sum, a worker's copy of
/// its weights) still catches every corrupted payload before anything changes, and pushes sent
/// from the caller's buffer (no copy) are released by ZeroMQ.
@Suite("Checksum fused with sum and copy; borrowed pushes")
struct FusedChecksumTests {
    let deferring = WireCodec(defersPayloadChecks: true)
    let sgd = OptimizerConfig(kind: .sgd, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)

    @Test("hash-scan-and-sum equals payloadHash, copies or adds every value and flags NaN/±Inf, for every length and offset up to 80 bytes")
    func hashScanAndSum() {
        let values = (0..<24).map { Float($0) * 0.37 - 3 }, base = (0..<24).map { Float($0) * -1.5 + 0.25 }
        var bytes = [UInt8](repeating: 0, count: 4 + 96)
        for offset in 0..<4 {
            for n in 0...20 {
                bytes.withUnsafeMutableBytes { raw in
                    values.withUnsafeBytes { raw.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: n * 4) }
                }
                bytes.withUnsafeBytes { raw in
                    let source = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + n * 4)])
                    var copied = [Float](repeating: 0, count: max(n, 1)), summed = copied
                    let c = copied.withUnsafeMutableBytes { WireChecksum.hashScanAndSum(floats: source, adding: nil, into: $0.baseAddress!) }
                    let s = base.withUnsafeBytes { b in
                        summed.withUnsafeMutableBytes { WireChecksum.hashScanAndSum(floats: source, adding: b.baseAddress!, into: $0.baseAddress!) }
                    }
                    #expect(c.hash == WireChecksum.payloadHash(source) && s.hash == c.hash && !c.hasNonFinite && !s.hasNonFinite, "offset \(offset) n \(n)")
                    #expect(Array(copied.prefix(n)) == Array(values.prefix(n)), "offset \(offset) n \(n)")
                    #expect(Array(summed.prefix(n)) == (0..<n).map { base[$0] + values[$0] }, "offset \(offset) n \(n)")
                }
            }
        }
        for position in 0..<19 {
            for bad in [Float.nan, .infinity, -.infinity] {
                var v = Array(values.prefix(19)); v[position] = bad
                var out = [Float](repeating: 0, count: 19)
                let found = v.withUnsafeBytes { src in
                    out.withUnsafeMutableBytes { WireChecksum.hashScanAndSum(floats: src, adding: nil, into: $0.baseAddress!) }
                }
                #expect(found.hasNonFinite, "\(bad) at \(position)")
            }
        }
    }

    @Test("a deferred check catches a flipped bit anywhere in a push or a weight reply; other commands are still checked at decoding")
    func deferredCheck() throws {
        let values = (0..<33).map { Float($0) - 16.5 }
        for header in [MessageHeader(command: .pushPull, key: 2, sender: 1, round: 4, requestID: 9),
                       MessageHeader(command: .pull, isReply: true, key: 2, sender: -1, round: 4, requestID: 9)] {
            let good = try received(Message(header: header, payload: values.withUnsafeBufferPointer { Payload(floats: $0) }))
            #expect(good.pendingChecksum != nil)
            var checked = good
            try checked.checkPayload()
            let floats = try checked.floats()
            #expect(checked.floatCheck == .allFinite && checked.pendingChecksum == nil && floats == values)
            for byte in [0, 1, 66, 131] {
                let bad = try received(Message(header: header, payload: values.withUnsafeBufferPointer { Payload(floats: $0) }), flipping: byte)
                #expect(throws: WireError.self, "\(header.command) byte \(byte)") { var m = bad; try m.checkPayload() }
            }
        }
        let initialize = Message(header: MessageHeader(command: .initialize, key: 2, sender: 0), payload: values.withUnsafeBufferPointer { Payload(floats: $0) })
        #expect(throws: WireError.self) { _ = try received(initialize, flipping: 7) }
    }

    @Test("dist_sync: a corrupted push, first or second of its round, is refused and the round's sum stays exact")
    func corruptedSyncPush() throws {
        let g0: [Float] = [0.5, -1, 2, 0.25, 3], g1: [Float] = [1, 1, -0.5, 4, -2], initial: [Float] = [1, 2, 3, 4, 5]
        for corruptFirst in [true, false] {
            let server = try configuredServer(mode: .sync, initial: initial)
            let (p0, p1) = (PeerID("w0"), PeerID("w1"))
            let m0 = push(g0, sender: 0), m1 = push(g1, sender: 1)
            if corruptFirst {
                let refused = server.handle(try received(m0, flipping: 6), from: p0, now: 1)
                #expect(refused.count == 1 && refused[0].message.header.isError && refused[0].message.text.contains("corrupted"))
            }
            #expect(server.handle(try received(m0), from: p0, now: 1).isEmpty)
            if !corruptFirst {
                let refused = server.handle(try received(m1, flipping: 13), from: p1, now: 1)
                #expect(refused.count == 1 && refused[0].message.header.isError && refused[0].message.text.contains("corrupted"))
            }
            let replies = server.handle(try received(m1), from: p1, now: 2)
            #expect(replies.count == 2)
            #expect(try server.weights(SliceID(key: 0, slice: 0)) == expectedWeights(initial, gradient: zip(g0, g1).map(+)))
        }
    }

    @Test("dist_async: a corrupted push is refused and the weights are unchanged")
    func corruptedAsyncPush() throws {
        let initial: [Float] = [1, 2, 3]
        let server = try configuredServer(mode: .async, initial: initial)
        let refused = server.handle(try received(push([1, 2, 3], sender: 0), flipping: 2), from: PeerID("w0"), now: 1)
        #expect(refused.count == 1 && refused[0].message.text.contains("corrupted"))
        #expect(server.weights(SliceID(key: 0, slice: 0)) == initial && server.updateCount == 0)
        #expect(server.handle(try received(push([1, 2, 3], sender: 0)), from: PeerID("w0"), now: 1).count == 1)
        #expect(server.updateCount == 1)
    }

    @Test("a worker refuses a weight reply whose payload was corrupted (checked in the copy)")
    func corruptedReply() throws {
        let network = InProcessNetwork()
        let fake = network.endpoint("inproc://fake")
        defer { fake.close() }
        let config = ClusterConfig(role: .worker, rootURI: "127.0.0.1", rootPort: 1, numServers: 1, numWorkers: 2)
        let client = KVClient(roster: Roster(rank: 1, servers: ["inproc://fake"], numWorkers: 2), config: config,
                              transport: network.endpoint("worker1", codec: deferring))
        // The fake server answers a barrier, and every pull with weights, one payload bit flipped on the way.
        network.whenIdle(serving: fake) {
            while case .message(let m, let peer)? = try? fake.receive(deadline: network.now) {
                if m.header.command == .barrier { try? fake.send(Message(header: m.header.reply(sender: -1)), to: peer); continue }
                var frames = WireCodec().encode(Message(header: m.header.reply(sender: -1), payload: [Float](repeating: 1, count: 4)
                    .withUnsafeBufferPointer { Payload(floats: $0) }))
                frames[1][9] ^= 0x20
                fake.sendRaw(frames, to: peer)
            }
        }
        try client.initialize(keys: [0: ([0, 0, 0, 0], .one, true)], mode: .sync, optimizer: sgd)
        var out = [Float](repeating: 0, count: 4)
        try out.withUnsafeMutableBufferPointer { try client.pull(key: 0, into: $0) }
        do {
            try client.wait()
            Issue.record("a corrupted reply was accepted")
        } catch let error as ClusterError {
            guard case .malformedReply(0, _, .checksumMismatch) = error else { Issue.record("\(error)"); return }
        }
    }

    @Test("over ZeroMQ, a push sent from the caller's buffer arrives intact and ZeroMQ gives the frame back")
    func borrowedPushIsReturned() throws {
        let server = try ZeroMQTransport.bind("tcp://127.0.0.1:0")
        defer { server.close() }
        let endpoint = try #require(server.boundEndpoint)
        let client = try ZeroMQTransport.connect(to: [endpoint])
        defer { client.close() }
        let values = (0..<65_537).map { Float($0) * 0.5 - 3 }
        try values.withUnsafeBytes { try client.send(MessageHeader(command: .push, key: 1, sender: 0), borrowing: $0, to: PeerID(endpoint)) }
        #expect(client.lent.outstanding <= 1)
        guard case .message(let got, _)? = try server.receive(deadline: server.now() + 10) else {
            Issue.record("no intact message within 10 s"); return
        }
        #expect(try got.floats() == values)
        // Received means written: ZeroMQ closes the frame right after (bounded wait, no timing asserted).
        let deadline = client.now() + 10
        while client.lent.outstanding > 0, client.now() < deadline { _ = try client.receive(deadline: client.now() + 0.01) }
        #expect(client.lent.outstanding == 0)
    }

    @Test("reclaiming borrowed pushes drops a frame ZeroMQ could not send, before it returns")
    func reclaimDropsUnsent() throws {
        let gone = try ZeroMQTransport.bind("tcp://127.0.0.1:0")
        let endpoint = try #require(gone.boundEndpoint)
        gone.close()  // nobody listens there any more: the push stays queued
        let client = try ZeroMQTransport.connect(to: [endpoint], linger: 5)
        defer { client.close() }
        let values = [Float](repeating: 2, count: 70_000)
        try values.withUnsafeBytes { try client.send(MessageHeader(command: .push, key: 1, sender: 0), borrowing: $0, to: PeerID(endpoint)) }
        #expect(client.lent.outstanding == 1)
        client.reclaimBorrowedPayloads()
        #expect(client.lent.outstanding == 0)
        #expect(throws: TransportError.self) {
            try values.withUnsafeBytes { try client.send(MessageHeader(command: .push, key: 1, sender: 0), borrowing: $0, to: PeerID(endpoint)) }
        }
    }

    // MARK: - Helpers

    /// `m` encoded, optionally with payload byte `flipping` changed, and decoded by the
    /// deferring codec from an adopted frame (as a server or worker receives it).
    func received(_ m: Message, flipping byte: Int? = nil) throws -> Message {
        var frames = WireCodec().encode(m)
        if let byte { frames[1][byte] ^= 0x04 }
        let frame = ReceivedFrame(frames[1])
        return try deferring.decode(header: frames[0], payload: Payload(adopting: frame.bytes, owner: frame))
    }

    func push(_ gradient: [Float], sender: Int32) -> Message {
        Message(header: MessageHeader(command: .pushPull, sender: sender, round: 0), payload: gradient.withUnsafeBufferPointer { Payload(floats: $0) })
    }

    /// A server for two workers (sync) or one (async) holding key 0 with `initial` weights.
    func configuredServer(mode: SyncMode, initial: [Float]) throws -> KVServer {
        let workers = mode == .sync ? 2 : 1
        let server = KVServer(rank: 0, numWorkers: workers)
        let setup = ServerSetup(mode: mode, numWorkers: workers, optimizer: sgd,
                                slices: [SliceSpec(key: 0, slice: 0, sliceCount: 1, count: initial.count, multipliers: .one)])
        let configured = server.handle(try Message(header: MessageHeader(command: .configure, sender: 0), json: setup), from: PeerID("w0"), now: 0)
        let initialized = server.handle(Message(header: MessageHeader(command: .initialize, sender: 0), payload: initial.withUnsafeBufferPointer { Payload(floats: $0) }),
                                        from: PeerID("w0"), now: 0)
        #expect(configured.allSatisfy { !$0.message.header.isError } && initialized.allSatisfy { !$0.message.header.isError })
        return server
    }

    func expectedWeights(_ initial: [Float], gradient: [Float]) throws -> [Float] {
        var w = initial
        let opt = Optimizer(sgd)
        var state = opt.makeState(count: w.count)
        try w.withUnsafeMutableBufferPointer { lw in try gradient.withUnsafeBufferPointer { try opt.update(weights: lw, gradient: $0, state: &state) } }
        return w
    }
}
