@testable import ParameterServer
import Testing

/// Servers — each a real `ServerLoop` around a `KVServer` — on an `InProcessNetwork`, and
/// `KVClient`s on the same network. Single-threaded and on virtual time: a server answers when
/// a client waits, and "30 s of silence" costs no wall time.
final class InProcessCluster {
    let network: InProcessNetwork
    let endpoints: [String]
    let loops: [ServerLoop]
    let transports: [InProcessTransport]
    let workers: Int
    var config: ClusterConfig
    /// Virtual time before which server i does not serve (a slow server).
    var servesFrom: [Double]
    /// Heartbeating hand-driven workers, kept here so that their handlers need not hold them
    /// (the network keeps its handlers and an endpoint keeps its network: a cycle).
    private var heartbeaters: [InProcessTransport] = []

    init(servers: Int = 1, workers: Int = 1, serverWorkers: Int? = nil, heartbeatTimeout: Double = 30,
         requestTimeout: Double = 600, roundTimeout: Double = 600) {
        self.workers = workers
        config = ClusterConfig(role: .worker, rootURI: "127.0.0.1", rootPort: 1, numServers: servers, numWorkers: workers,
                               heartbeatInterval: 1, heartbeatTimeout: heartbeatTimeout, roundTimeout: roundTimeout,
                               requestTimeout: requestTimeout)
        let network = InProcessNetwork()
        let endpoints = (0..<servers).map { "inproc://server\($0)" }
        // Servers and clients defer payload checks to the pass that sums or copies, as
        // `param-server` and `worker` do over ZeroMQ.
        let transports = endpoints.map { network.endpoint($0, codec: WireCodec(defersPayloadChecks: true)) }
        self.network = network; self.endpoints = endpoints; self.transports = transports
        loops = transports.indices.map { i in
            ServerLoop(server: KVServer(rank: i, numWorkers: serverWorkers ?? workers,
                                        timeouts: .init(heartbeat: heartbeatTimeout, round: roundTimeout)),
                       transport: transports[i])
        }
        servesFrom = [Double](repeating: 0, count: servers)
        for i in loops.indices {
            network.whenIdle(serving: transports[i]) { [unowned self] in
                // A slow server serves only from its `servesFrom` virtual time on.
                if self.network.now >= self.servesFrom[i] {
                    do { _ = try self.loops[i].serve(until: self.network.now) } catch { Issue.record("server \(i): \(error)") }
                }
            }
        }
    }

    /// Worker `rank`'s client.
    func client(rank: Int = 0) -> KVClient {
        KVClient(roster: Roster(rank: rank, servers: endpoints, numWorkers: workers), config: config,
                 transport: network.endpoint("worker\(rank)", codec: WireCodec(defersPayloadChecks: true)))
    }

    /// Server `i` dies: it stops serving and messages to it are lost.
    func kill(server i: Int) { transports[i].close() }

    /// A hand-driven worker endpoint (for a second worker in single-threaded tests); with
    /// `heartbeating`, it sends a heartbeat to every server each virtual second — alive, even
    /// when it never pushes.
    func rawWorker(_ rank: Int, heartbeating: Bool = false) -> InProcessTransport {
        let t = network.endpoint("worker\(rank)")
        guard heartbeating else { return t }
        var last = -1.0
        heartbeaters.append(t)
        network.whenIdle(serving: t) { [unowned self, unowned t] in
            if self.network.now - last >= 1 {  // one heartbeat per virtual second
                last = self.network.now
                for e in self.endpoints {
                    do { try t.send(Message(header: MessageHeader(command: .heartbeat, sender: Int32(rank))), to: PeerID(e)) } catch {
                        Issue.record("heartbeat of worker \(rank): \(error)")
                    }
                }
            }
        }
        return t
    }
}
