import Optimizers
@testable import ParameterServer
import Testing

typealias Keys = [Int: (values: [Float], multipliers: ParameterMultipliers, optimized: Bool)]

/// `KVClient` against real `ServerLoop`s over the in-process transport: the same framing as
/// the wire, no sockets, no sleeps, virtual time.
@Suite("KVClient over the in-process transport")
struct KVClientTests {
    let sgd = OptimizerConfig(kind: .sgd, learningRate: 0.5, momentum: 0.9)

    @Test("one worker, two servers, a sliced key: pushPull equals the optimizer run locally")
    func matchesLocalOptimizer() throws {
        let cluster = InProcessCluster(servers: 2)
        let client = cluster.client()
        var w: [Float] = [1, 2, 3, 4, 5], b: [Float] = [0.5]
        try client.initialize(keys: [0: (w, .one, true), 1: (b, .one, true)], mode: .sync, optimizer: sgd, bigArrayBound: 4)
        #expect(client.layout?.parts[0]?.count == 2)  // key 0 is split over both servers
        let opt = Optimizer(sgd)
        var local = w, state = opt.makeState(count: w.count)
        for step in 0..<3 {
            let g = w.indices.map { Float($0 + step) * 0.1 }
            try g.withUnsafeBufferPointer { gp in try w.withUnsafeMutableBufferPointer { try client.pushPull(key: 0, gradient: gp, into: $0) } }
            try [Float(1)].withUnsafeBufferPointer { gp in try b.withUnsafeMutableBufferPointer { try client.pushPull(key: 1, gradient: gp, into: $0) } }
            try client.wait()
            try local.withUnsafeMutableBufferPointer { lw in try g.withUnsafeBufferPointer { try opt.update(weights: lw, gradient: $0, state: &state) } }
            #expect(w == local, "step \(step)")
        }
        var pulled = [Float](repeating: 0, count: 5)
        try pulled.withUnsafeMutableBufferPointer { try client.pull(key: 0, into: $0) }
        try client.wait()
        #expect(pulled == local)
        try client.shutdownServers()
        #expect(cluster.loops.allSatisfy { $0.server.shutdownRequested })
    }

    @Test("two workers in dist_sync: the reply comes only once the other worker pushed, with the update of the sum")
    func twoWorkersSync() throws {
        let cluster = InProcessCluster(workers: 2)
        let other = cluster.rawWorker(1)
        let server = PeerID(cluster.endpoints[0])
        // Worker 1 is driven by hand: it is already at the initial barrier.
        try other.send(Message(header: MessageHeader(command: .barrier, sender: 1, round: 1, requestID: 1)), to: server)
        let client = cluster.client()
        var w: [Float] = [1, 1]
        try client.initialize(keys: [0: (w, .one, true)], mode: .sync, optimizer: OptimizerConfig(kind: .sgd, learningRate: 1))
        guard case .message(let released, _)? = try other.receive(deadline: cluster.network.now) else { Issue.record("no barrier"); return }
        #expect(released.header.command == .barrier && released.header.isReply && released.header.requestID == 1)
        try [Float(1), 2].withUnsafeBufferPointer { g in try w.withUnsafeMutableBufferPointer { try client.pushPull(key: 0, gradient: g, into: $0) } }
        try [Float](arrayLiteral: 3, 4).withUnsafeBufferPointer {
            try other.send(MessageHeader(command: .push, sender: 1, requestID: 9), payload: UnsafeRawBufferPointer($0), to: server)
        }
        try client.wait()
        #expect(w == [1 - 4, 1 - 6])
        guard case .message(let ack, _)? = try other.receive(deadline: cluster.network.now) else { Issue.record("no ack"); return }
        #expect(ack.header.command == .push && ack.header.requestID == 9 && ack.header.isReply && ack.header.round == 1)
    }

    @Test("a slow server (answering after 20 s of virtual time) is waited for, not declared dead")
    func slowServer() throws {
        let cluster = InProcessCluster(heartbeatTimeout: 30)
        let client = cluster.client()
        var w: [Float] = [1]
        try client.initialize(keys: [0: (w, .one, true)], mode: .sync, optimizer: sgd)
        cluster.servesFrom[0] = cluster.network.now + 20
        try [Float(1)].withUnsafeBufferPointer { g in try w.withUnsafeMutableBufferPointer { try client.pushPull(key: 0, gradient: g, into: $0) } }
        try client.wait()
        #expect(w == [0.5])
        #expect(cluster.network.now >= 20)
    }

    @Test("a dead server: wait fails after the heartbeat timeout naming the server and its address")
    func deadServer() throws {
        let cluster = InProcessCluster(servers: 2, heartbeatTimeout: 30)
        let client = cluster.client()
        var w: [Float] = [1, 2]
        try client.initialize(keys: [0: (w, .one, true)], mode: .sync, optimizer: sgd, bigArrayBound: 1)
        cluster.kill(server: 1)
        let start = cluster.network.now
        try [Float](arrayLiteral: 1, 1).withUnsafeBufferPointer { g in try w.withUnsafeMutableBufferPointer { try client.pushPull(key: 0, gradient: g, into: $0) } }
        do {
            try client.wait()
            Issue.record("wait returned although server 1 is dead")
        } catch let error as ClusterError {
            guard case .serverSilent(1, "inproc://server1", let seconds) = error else { Issue.record("\(error)"); return }
            #expect(seconds > 30 && seconds < 31)
            #expect(error.description.contains("server 1 at inproc://server1 stopped answering"))
        }
        #expect(cluster.network.now - start < 32)
    }

    @Test("a server alive but stuck (a sync round missing another worker) is told apart from a dead one")
    func stuckServer() throws {
        let cluster = InProcessCluster(workers: 2, heartbeatTimeout: 30, requestTimeout: 90)
        let other = cluster.rawWorker(1, heartbeating: true)
        try other.send(Message(header: MessageHeader(command: .barrier, sender: 1, round: 1, requestID: 1)), to: PeerID(cluster.endpoints[0]))
        let client = cluster.client()
        var w: [Float] = [1]
        try client.initialize(keys: [0: (w, .one, true)], mode: .sync, optimizer: sgd)
        try [Float(1)].withUnsafeBufferPointer { g in try w.withUnsafeMutableBufferPointer { try client.pushPull(key: 0, gradient: g, into: $0) } }
        do {
            try client.wait()
            Issue.record("wait returned without worker 1's push")
        } catch let error as ClusterError {
            guard case .requestTimedOut(0, _, let request, let seconds) = error else { Issue.record("\(error)"); return }
            #expect(request.hasPrefix("pushPull of key 0 slice 0/1 (round 0"))
            #expect(seconds > 90 && seconds < 91)
            #expect(error.description.contains("alive"))
        }
    }

    @Test("a request the server refuses fails with the server's reason and the request named")
    func refusedRequest() throws {
        let cluster = InProcessCluster(workers: 1, serverWorkers: 2)
        let client = cluster.client()
        do {
            try client.initialize(keys: [0: ([1], .one, true)], mode: .sync, optimizer: sgd)
            Issue.record("configure for the wrong cluster size was accepted")
        } catch let error as ClusterError {
            guard case .requestFailed(0, _, let request, let reason) = error else { Issue.record("\(error)"); return }
            #expect(request.hasPrefix("configure"))
            #expect(reason.contains("cluster has 2"))
        }
    }

    @Test("caller bugs are KVClientErrors, not cluster failures")
    func callerBugs() throws {
        let cluster = InProcessCluster()
        let client = cluster.client()
        var w: [Float] = [1, 2]
        try client.initialize(keys: [0: (w, .one, true)], mode: .sync, optimizer: sgd)
        let g: [Float] = [1, 2, 3]
        #expect(throws: KVClientError.undeclaredKey(5)) {
            try g.withUnsafeBufferPointer { gp in try w.withUnsafeMutableBufferPointer { try client.pushPull(key: 5, gradient: gp, into: $0) } }
        }
        #expect(throws: KVClientError.bufferSize(key: 0, count: 3, expected: 2)) {
            try g.withUnsafeBufferPointer { gp in try w.withUnsafeMutableBufferPointer { try client.pushPull(key: 0, gradient: gp, into: $0) } }
        }
    }

    @Test("a reply is matched by its request id: one echoing an id never sent is refused, not guessed")
    func unexpectedReply() throws {
        let network = InProcessNetwork()
        let fake = network.endpoint("inproc://fake")
        defer { fake.close() }  // drops the handler below, which holds `fake` and `network`
        let config = ClusterConfig(role: .worker, rootURI: "127.0.0.1", rootPort: 1, numServers: 1, numWorkers: 1)
        let client = KVClient(roster: Roster(rank: 0, servers: ["inproc://fake"], numWorkers: 1), config: config,
                              transport: network.endpoint("worker0"))
        // The fake server answers every request with the right command but request id + 100.
        network.whenIdle(serving: fake) {
            while case .message(let m, let peer)? = try? fake.receive(deadline: network.now) {
                var h = m.header.reply(sender: -1)
                h.requestID += 100
                try? fake.send(Message(header: h), to: peer)
            }
        }
        do {
            try client.barrier()
            Issue.record("a reply with a foreign request id was accepted")
        } catch let error as ClusterError {
            guard case .unexpectedReply(0, "inproc://fake", let reply) = error else { Issue.record("\(error)"); return }
            #expect(reply.contains("barrier reply") && reply.contains("req=101"))
        }
    }
}
