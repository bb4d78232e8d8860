import Optimizers
@testable import ParameterServer
import Testing

/// The parameter server runs the same optimizers: a 1-worker dist_sync server fed the
/// fixture's gradients must reproduce mxnet.optimizer's weights step by step.
@Suite("Optimizers on the parameter server")
struct ServerOptimizerTests {
    @Test("every optimizer matches its MXNet fixture when run by KVServer")
    func serverMatchesMXNet() throws {
        let f = try optimizerFixture()
        let cases = f.arrays.keys.filter { $0.hasSuffix("/params") }.map { String($0.dropLast(7)) }.sorted()
        #expect(cases.count == 9)
        let codec = WireCodec()
        for name in cases {
            let (cfg, mults) = config(fromParams: try f.values("\(name)/params"))
            let initial = try f.values("\(name)/initial")
            let grads = try f.array("\(name)/gradients"), after = try f.array("\(name)/weights")
            let n = initial.count
            let server = KVServer(rank: 0, numWorkers: 1)
            let peer = PeerID("worker-0")
            func send(_ m: Message) throws -> [Outgoing] {
                server.handle(try codec.decode(frames: codec.encode(m)), from: peer, now: 0)
            }
            let setup = ServerSetup(mode: .sync, numWorkers: 1, optimizer: cfg,
                                    slices: [SliceSpec(key: 0, slice: 0, sliceCount: 1, count: n, multipliers: mults)])
            _ = try send(try Message(header: MessageHeader(command: .configure, sender: 0), json: setup))
            _ = try send(initial.withUnsafeBufferPointer { Message(header: MessageHeader(command: .initialize, sender: 0), floats: $0) })
            for step in 0..<grads.shape[0] {
                let g = Array(grads.values[(step * n)..<((step + 1) * n)])
                let h = MessageHeader(command: .pushPull, sender: 0, round: UInt64(step))
                let reply = try send(g.withUnsafeBufferPointer { Message(header: h, floats: $0) })
                let weights = try #require(reply.first).message
                #expect(weights.header.command == .pushPull && weights.header.round == UInt64(step + 1))
                let expected = Array(after.values[(step * n)..<((step + 1) * n)])
                let c = closeness(try weights.floats(), expected, rtol: 1e-5, atol: 1e-6)
                #expect(c.passed, "\(name) step \(step + 1) on the server: \(c)")
            }
            #expect(server.updateCount == grads.shape[0])
        }
    }
}

import TestSupport
