import Optimizers
@testable import ParameterServer
import Testing

/// Drives a KVServer directly with messages (no sockets, no sleeps).
final class ServerHarness {
    let server: KVServer
    let workers: Int

    init(workers: Int, mode: SyncMode = .sync, optimizer: OptimizerConfig = OptimizerConfig(kind: .sgd, learningRate: 0.5),
         counts: [Int] = [3], optimized: [Bool]? = nil) {
        self.workers = workers
        server = KVServer(rank: 0, numWorkers: workers, timeouts: .init(heartbeat: 10, round: 60))
        let specs = counts.enumerated().map { i, n in
            SliceSpec(key: UInt32(i), slice: 0, sliceCount: 1, count: n, optimized: optimized?[i] ?? true)
        }
        let setup = ServerSetup(mode: mode, numWorkers: workers, optimizer: optimizer, slices: specs)
        let out = send(try! Message(header: MessageHeader(command: .configure, sender: 0), json: setup), from: 0)
        precondition(out.first.map { $0.message.header.isReply && !$0.message.header.isError } == true)
        for (i, n) in counts.enumerated() {
            _ = send(floats: (0..<n).map { Float($0 + 1) }, .initialize, key: UInt32(i), from: 0)
        }
    }

    func peer(_ rank: Int32) -> PeerID { PeerID("worker-\(rank)") }

    /// Sends `m` as worker `rank` over its connection (or over `via`, another connection),
    /// through the codec as on the wire; the connection's address is 10.0.0.<rank>.
    @discardableResult
    func send(_ m: Message, from rank: Int32, via connection: PeerID? = nil, now: Double = 0) -> [Outgoing] {
        let codec = WireCodec()
        let decoded = try! codec.decode(frames: codec.encode(m))
        return server.handle(decoded, from: connection ?? peer(rank), address: "10.0.0.\(rank)", now: now)
    }

    @discardableResult
    func send(floats: [Float], _ command: Command, key: UInt32 = 0, round: UInt64 = 0, from rank: Int32, via connection: PeerID? = nil,
              now: Double = 0) -> [Outgoing] {
        let h = MessageHeader(command: command, key: key, sender: rank, round: round)
        return send(floats.withUnsafeBufferPointer { Message(header: h, floats: $0) }, from: rank, via: connection, now: now)
    }
}

@Suite("KVServer state machine")
struct KVServerTests {
    @Test("dist_sync: no reply until every worker pushed; then one update from the sum")
    func syncRound() throws {
        let h = ServerHarness(workers: 2)
        #expect(h.send(floats: [1, 1, 1], .pushPull, from: 0).isEmpty)
        #expect(h.server.weights(SliceID(key: 0, slice: 0)) == [1, 2, 3])  // no partial update
        let out = h.send(floats: [3, 1, -1], .pushPull, from: 1)
        #expect(out.count == 2)
        #expect(Set(out.map(\.peer)) == [h.peer(0), h.peer(1)])
        #expect(out[0].message.payload.storage === out[1].message.payload.storage, "a round's replies share one payload")
        let expected: [Float] = [1 - 0.5 * 4, 2 - 0.5 * 2, 3 - 0.5 * 0]
        for o in out {
            #expect(o.message.header.command == .pushPull && o.message.header.round == 1)
            #expect(try o.message.floats() == expected)
        }
        #expect(h.server.updateCount == 1)
        // Round 1 continues from the new weights.
        h.send(floats: [0, 0, 2], .push, round: 1, from: 1)
        let acks = h.send(floats: [0, 0, 2], .push, round: 1, from: 0)
        #expect(acks.map(\.message.header.command) == [.push, .push])
        #expect(acks.allSatisfy { $0.message.header.isReply && !$0.message.header.isError && $0.message.payload.isEmpty })
        #expect(h.server.weights(SliceID(key: 0, slice: 0)) == [expected[0], expected[1], expected[2] - 2])
    }

    @Test("a pull for a round not yet applied waits for it; a pull of an applied round answers at once")
    func pullWaitsForRound() throws {
        let h = ServerHarness(workers: 2)
        #expect(try h.send(floats: [], .pull, round: 0, from: 1).first?.message.floats() == [1, 2, 3])
        h.send(floats: [2, 2, 2], .push, from: 0)
        #expect(h.send(floats: [], .pull, round: 1, from: 0).isEmpty)
        let out = h.send(floats: [0, 0, 0], .push, from: 1)
        let pulled = out.first { $0.message.header.command == .pull }
        #expect(try pulled?.message.floats() == [0, 1, 2])
        #expect(out.count == 3)  // two push acknowledgements and the pull
    }

    @Test("malformed requests get an error reply and change no weight", arguments: [
        ("duplicate push in one round", Int32(0), UInt32(0), 3, UInt64(0)),
        ("rank out of range", Int32(5), UInt32(0), 3, UInt64(0)),
        ("negative rank", Int32(-3), UInt32(0), 3, UInt64(0)),
        ("unknown key", Int32(1), UInt32(9), 3, UInt64(0)),
        ("wrong size", Int32(1), UInt32(0), 4, UInt64(0)),
        ("future round", Int32(1), UInt32(0), 3, UInt64(7)),
    ])
    func rejects(_ name: String, _ rank: Int32, _ key: UInt32, _ count: Int, _ round: UInt64) throws {
        let h = ServerHarness(workers: 2)
        h.send(floats: [1, 1, 1], .push, from: 0)
        let out = h.send(floats: [Float](repeating: 9, count: count), .push, key: key, round: round, from: rank)
        #expect(out.count == 1, "\(name)")
        #expect(out.first?.message.header.isError == true, "\(name)")
        #expect(out.first?.message.header.command == .push, "\(name): the error reply echoes the command")
        #expect(!(out.first?.message.text.isEmpty ?? true))
        #expect(h.server.weights(SliceID(key: 0, slice: 0)) == [1, 2, 3], "\(name)")
        #expect(h.server.updateCount == 0)
        // The server still serves: the missing push completes the round normally.
        let done = h.send(floats: [1, 1, 1], .push, from: 1)
        #expect(done.count == 2 && h.server.updateCount == 1, "\(name)")
    }

    @Test("dist_async applies every push as it arrives; updates equal pushes")
    func async() throws {
        let h = ServerHarness(workers: 2, mode: .async)
        let a = h.send(floats: [1, 0, 0], .pushPull, from: 0)
        #expect(try a.first?.message.floats() == [0.5, 2, 3])
        let b = h.send(floats: [1, 0, 0], .pushPull, from: 1)
        #expect(try b.first?.message.floats() == [0, 2, 3])
        h.send(floats: [0, 2, 0], .push, from: 0)
        #expect(h.server.updateCount == 3)
    }

    @Test("a summed-only key returns the round's sum without an optimizer")
    func summedKey() throws {
        let h = ServerHarness(workers: 3, counts: [3, 2], optimized: [true, false])
        h.send(floats: [10, 1], .pushPull, key: 1, from: 0)
        h.send(floats: [20, 2], .pushPull, key: 1, from: 2)
        let out = h.send(floats: [30, 3], .pushPull, key: 1, from: 1)
        #expect(out.count == 3)
        #expect(try out.allSatisfy { try $0.message.floats() == [60, 6] })
        #expect(h.server.updateCount == 0)
    }

    @Test("worker 0's initial value wins over the others'")
    func initRankZeroWins() {
        let h = ServerHarness(workers: 2)
        h.send(floats: [7, 7, 7], .initialize, from: 1)
        #expect(h.server.weights(SliceID(key: 0, slice: 0)) == [1, 2, 3])
        h.send(floats: [4, 5, 6], .initialize, from: 0)
        #expect(h.server.weights(SliceID(key: 0, slice: 0)) == [4, 5, 6])
    }

    @Test("a silent worker is declared dead, named by rank, pid, host and address — never a routing id")
    func deadWorker() throws {
        let h = ServerHarness(workers: 2)
        h.send(floats: [1, 1, 1], .push, from: 0, now: 0)
        h.send(try Message(header: MessageHeader(command: .heartbeat, sender: 0), json: WorkerIdentity(host: "host-a", pid: 4242)), from: 0, now: 0)
        h.send(Message(header: MessageHeader(command: .heartbeat, sender: 1)), from: 1, now: 2)
        #expect(h.server.tick(now: 9).isEmpty)
        h.send(Message(header: MessageHeader(command: .heartbeat, sender: 1)), from: 1, now: 9)
        let out = h.server.tick(now: 11)
        let name = "worker 0 (pid 4242 on host-a, from 10.0.0.0)"
        #expect(h.server.failure == .deadWorker(rank: 0, name: name, silentFor: 11))
        #expect(out.count == 2 && out.allSatisfy { $0.message.header.command == .error })
        #expect(out.first?.message.text.hasPrefix("\(name) sent nothing for 11 s") == true)
        #expect(out.first?.message.text.contains("worker-0") == false)
    }

    @Test("a worker of the roster never heard from is presumed dead one heartbeat timeout after the server began to serve")
    func neverHeardWorker() {
        let h = ServerHarness(workers: 2)
        #expect(h.server.tick(now: 0).isEmpty)   // serving from 0 (worker 0 configured it then)
        h.send(Message(header: MessageHeader(command: .heartbeat, sender: 0)), from: 0, now: 5)
        h.send(Message(header: MessageHeader(command: .heartbeat, sender: 0)), from: 0, now: 9)
        #expect(h.server.tick(now: 9.5).isEmpty)
        let out = h.server.tick(now: 10.5)
        #expect(h.server.failure == .deadWorker(rank: 1, name: "worker 1, which never reached this server,", silentFor: 10.5))
        #expect(out.first?.message.text.hasPrefix("worker 1, which never reached this server, sent nothing for 10 s") == true)
    }

    @Test("a sync round missing a push times out naming the missing worker as alive but stuck")
    func roundTimeout() {
        let h = ServerHarness(workers: 3)
        h.server.timeouts.heartbeat = 1000
        h.send(floats: [1, 1, 1], .push, from: 0, now: 5)
        h.send(floats: [1, 1, 1], .push, from: 2, now: 6)
        h.send(Message(header: MessageHeader(command: .heartbeat, sender: 1)), from: 1, now: 50)
        #expect(h.server.tick(now: 60).isEmpty)
        _ = h.server.tick(now: 66)
        #expect(h.server.failure == .roundTimedOut(slice: "key 0 slice 0", round: 0, waited: 61,
                                                   missing: ["worker 1 (from 10.0.0.1), which is alive (heartbeats arrive) but stuck"]))
        #expect(h.server.failure?.description.contains("PS_ROUND_TIMEOUT") == true)
    }

    @Test("a barrier has a deadline too; a worker never heard from is told apart from a stuck one")
    func barrierTimeout() {
        let h = ServerHarness(workers: 3)
        h.server.timeouts.heartbeat = 1000
        h.send(Message(header: MessageHeader(command: .barrier, sender: 1, round: 4)), from: 1, now: 10)
        h.send(Message(header: MessageHeader(command: .heartbeat, sender: 2)), from: 2, now: 20)
        #expect(h.server.tick(now: 70).isEmpty)
        _ = h.server.tick(now: 71)
        guard case .barrierTimedOut(4, 61, let missing)? = h.server.failure else { Issue.record("\(String(describing: h.server.failure))"); return }
        // Worker 0 configured the server at time 0: heard within the (long) heartbeat timeout.
        #expect(missing == ["worker 0 (from 10.0.0.0), which is alive (heartbeats arrive) but stuck",
                            "worker 2 (from 10.0.0.2), which is alive (heartbeats arrive) but stuck"])
        let fresh = ServerHarness(workers: 2)
        fresh.server.timeouts.heartbeat = 1e9
        fresh.send(Message(header: MessageHeader(command: .barrier, sender: 0, round: 1)), from: 0, now: 0)
        _ = fresh.server.tick(now: 601)
        guard case .barrierTimedOut(1, _, let never)? = fresh.server.failure else { Issue.record("no barrier timeout"); return }
        #expect(never == ["worker 1, which never reached this server"])
    }

    @Test("barrier releases everyone once all workers arrived")
    func barrier() {
        let h = ServerHarness(workers: 3)
        let b = MessageHeader(command: .barrier, round: 1)
        var m = Message(header: b)
        m.header.sender = 2
        #expect(h.send(m, from: 2).isEmpty)
        m.header.sender = 0
        #expect(h.send(m, from: 0).isEmpty)
        m.header.sender = 1
        let out = h.send(m, from: 1)
        #expect(out.count == 3 && out.allSatisfy { $0.message.header.command == .barrier && $0.message.header.isReply })
    }

    @Test("requests before configuration and configuration by another rank are rejected")
    func unconfigured() throws {
        let server = KVServer(rank: 1, numWorkers: 2)
        let push = [Float](repeating: 1, count: 3).withUnsafeBufferPointer { Message(header: MessageHeader(command: .push, sender: 0), floats: $0) }
        #expect(server.handle(push, from: PeerID("w"), now: 0).first?.message.header.isError == true)
        let setup = ServerSetup(mode: .sync, numWorkers: 2, optimizer: .init(kind: .sgd, learningRate: 0.1), slices: [])
        let conf = try Message(header: MessageHeader(command: .configure, sender: 1), json: setup)
        #expect(server.handle(conf, from: PeerID("w"), now: 0).first?.message.header.isError == true)
        var wrongSize = setup
        wrongSize.numWorkers = 3
        let conf3 = try Message(header: MessageHeader(command: .configure, sender: 0), json: wrongSize)
        #expect(server.handle(conf3, from: PeerID("w"), now: 0).first?.message.text.contains("cluster has 2") == true)
        let garbage = Message(header: MessageHeader(command: .configure, sender: 0), text: "not json")
        #expect(server.handle(garbage, from: PeerID("w"), now: 0).first?.message.header.isError == true)
        #expect(server.setup == nil)
    }
}
