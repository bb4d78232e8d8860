@testable import ParameterServer
import Testing

/// The scheduler and registration over the in-process transport: refusals, rosters and
/// deadlines, on virtual time.
@Suite("Rendezvous")
struct RendezvousTests {
    let network = InProcessNetwork()
    let schedulerName = "inproc://scheduler"

    func config(servers: Int, workers: Int) -> ClusterConfig {
        ClusterConfig(role: .scheduler, rootURI: "127.0.0.1", rootPort: 1, numServers: servers, numWorkers: workers, registrationTimeout: 120)
    }

    func join(_ name: String, _ registration: Registration) throws -> InProcessTransport {
        let t = network.endpoint(name)
        try t.send(try Message(header: MessageHeader(command: .register), json: registration), to: PeerID(schedulerName))
        return t
    }

    func answer(_ t: InProcessTransport) throws -> Message? {
        guard case .message(let m, _)? = try t.receive(deadline: network.now) else { return nil }
        return m
    }

    @Test("every node gets its roster; refused registrations get a reason and change nothing")
    func rostersAndRefusals() throws {
        let scheduler = network.endpoint(schedulerName)
        let s0 = try join("s0", Registration(role: .server, endpoint: "tcp://a:1", requestedRank: nil))
        let noEndpoint = try join("s-bad", Registration(role: .server, endpoint: nil, requestedRank: nil))
        let w1 = try join("w1", Registration(role: .worker, endpoint: nil, requestedRank: 1))
        let twin = try join("twin", Registration(role: .worker, endpoint: nil, requestedRank: 1))
        let outOfRange = try join("w9", Registration(role: .worker, endpoint: nil, requestedRank: 9))
        let notRegister = network.endpoint("push")
        try notRegister.send(Message(header: MessageHeader(command: .push, sender: 0)), to: PeerID(schedulerName))
        let garbage = network.endpoint("garbage")
        garbage.sendRaw([[1, 2, 3]], to: PeerID(schedulerName))
        let w0 = try join("w0", Registration(role: .worker, endpoint: nil, requestedRank: nil))
        let extra = try join("extra", Registration(role: .worker, endpoint: nil, requestedRank: nil))
        try Rendezvous.schedule(over: scheduler, config: config(servers: 1, workers: 2), logger: .init(label: "test"), stopFlag: StopFlag())

        for (t, words) in [(noEndpoint, "must register with the endpoint"), (twin, "rank 1 is already taken"),
                           (outOfRange, "out of range 0..<2"), (notRegister, "only accepts register"), (garbage, "malformed")] {
            let m = try #require(try answer(t))
            #expect((m.header.isError || m.header.command == .error) && m.text.contains(words), "\(m.text)")
        }
        #expect(try answer(extra) == nil)  // still waiting when the cluster completed: never part of it
        let roster0 = try #require(try answer(w0)).json(Roster.self), roster1 = try #require(try answer(w1)).json(Roster.self)
        #expect(roster1.rank == 1 && roster0.rank == 0 && roster0.servers == ["tcp://a:1"] && roster0.numWorkers == 2)
        #expect(try #require(try answer(s0)).json(Roster.self).rank == 0)
    }

    @Test("a registration beyond the expected count is refused while the cluster still forms")
    func tooMany() throws {
        let scheduler = network.endpoint(schedulerName)
        let w0 = try join("w0", Registration(role: .worker, endpoint: nil, requestedRank: nil))
        let extra = try join("extra", Registration(role: .worker, endpoint: nil, requestedRank: nil))
        let s0 = try join("s0", Registration(role: .server, endpoint: "tcp://a:1", requestedRank: nil))
        try Rendezvous.schedule(over: scheduler, config: config(servers: 1, workers: 1), logger: .init(label: "test"), stopFlag: StopFlag())
        #expect(try #require(try answer(extra)).text.contains("already has its 1 worker(s)"))
        #expect(try answer(w0)?.header.isError == false && answer(s0)?.header.isError == false)
    }

    @Test("the scheduler's deadline names what is missing; a node's deadline names the scheduler")
    func deadlines() throws {
        let scheduler = network.endpoint(schedulerName)
        _ = try join("s0", Registration(role: .server, endpoint: "tcp://a:1", requestedRank: nil))
        #expect(throws: ClusterError.clusterIncomplete(servers: 1, expectedServers: 1, workers: 0, expectedWorkers: 2, seconds: 120)) {
            try Rendezvous.schedule(over: scheduler, config: config(servers: 1, workers: 2), logger: .init(label: "test"), stopFlag: StopFlag())
        }
        let start = network.now
        let node = network.endpoint("late")
        #expect(throws: ClusterError.registrationTimedOut(scheduler: "inproc://nobody", seconds: 30)) {
            _ = try Rendezvous.register(Registration(role: .worker, endpoint: nil, requestedRank: nil), over: node,
                                        scheduler: PeerID("inproc://nobody"), timeout: 30, stopFlag: StopFlag())
        }
        #expect(network.now - start >= 30 && network.now - start < 31)
    }
}
