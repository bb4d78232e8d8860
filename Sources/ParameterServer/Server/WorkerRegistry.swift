/// What a server knows of each worker rank: the connections that speak for it, when it was
/// last heard, and a name a person can find — `worker 1 (pid 4242 on host-a, from 10.0.0.5)`,
/// never a routing id.
///
/// A rank is bound to the first connection that sends it a request and the first that sends it
/// a heartbeat (a worker's request and heartbeat sockets; one connection may be both). Without
/// CURVE authentication that is trust on first use: a later connection claiming a taken rank,
/// or a connection of one rank speaking for another, is refused.
struct WorkerRegistry {
    struct Worker {
        var requests: PeerID?
        var heartbeats: PeerID?
        var lastSeen: Double
        var identity: WorkerIdentity?
        var address: String?
    }

    /// Why a message was refused before its command was looked at.
    enum Refusal: Error, CustomStringConvertible {
        case rankOutOfRange(rank: Int32, workers: Int)
        case speaksForAnother(claimed: Int32, owner: String)
        case rankTaken(rank: Int32, owner: String)

        var description: String {
            switch self {
            case let .rankOutOfRange(r, n): return "worker rank \(r) out of range 0..<\(n)"
            case let .speaksForAnother(claimed, owner): return "this connection belongs to \(owner); it cannot speak for worker \(claimed)"
            case let .rankTaken(r, owner): return "worker rank \(r) is already taken by \(owner); a second process cannot claim it"
            }
        }
    }

    let numWorkers: Int
    private(set) var workers: [Int32: Worker] = [:]
    private var rankOfPeer: [PeerID: Int32] = [:]

    init(numWorkers: Int) { self.numWorkers = numWorkers }

    /// Checks that `peer` may send `command` as worker `rank`, binds it on first use, and
    /// records the time.
    mutating func admit(_ peer: PeerID, as rank: Int32, command: Command, now: Double, address: String?) throws(Refusal) {
        guard rank >= 0, rank < numWorkers else { throw .rankOutOfRange(rank: rank, workers: numWorkers) }
        if let owner = rankOfPeer[peer], owner != rank { throw .speaksForAnother(claimed: rank, owner: name(owner)) }
        var w = workers[rank] ?? Worker(lastSeen: now)
        if command == .heartbeat {
            if w.heartbeats == nil, w.requests != peer { w.heartbeats = peer }
            guard w.heartbeats == peer || w.requests == peer else { throw .rankTaken(rank: rank, owner: name(rank)) }
        } else {
            if w.requests == nil { w.requests = peer }
            guard w.requests == peer else { throw .rankTaken(rank: rank, owner: name(rank)) }
        }
        rankOfPeer[peer] = rank
        w.lastSeen = now
        if let address { w.address = address }
        workers[rank] = w
    }

    /// Records what worker `rank` says about itself (its heartbeat payload).
    mutating func identify(_ rank: Int32, as identity: WorkerIdentity) { workers[rank]?.identity = identity }

    /// `worker 1 (pid 4242 on host-a, from 10.0.0.5)`, with what is known.
    func name(_ rank: Int32) -> String {
        guard let w = workers[rank] else { return "worker \(rank)" }
        var parts: [String] = []
        if let id = w.identity { parts.append("pid \(id.pid) on \(id.host)") }
        if let a = w.address { parts.append("from \(a)") }
        return parts.isEmpty ? "worker \(rank)" : "worker \(rank) (\(parts.joined(separator: ", ")))"
    }

    /// A sender as a person can find it: its worker name when bound, else where it sends from.
    func name(of peer: PeerID, address: String?) -> String {
        if let rank = rankOfPeer[peer] { return name(rank) }
        return "an unregistered peer" + (address.map { " from \($0)" } ?? "")
    }

    /// When this server began to serve (its first deadline check): a worker of the roster never
    /// heard from counts as silent since then — one killed before its first message would
    /// otherwise never be missed, and the others would wait for the round timeout.
    var servingSince: Double?

    /// The first worker silent for longer than `timeout` (counting those never heard since
    /// `servingSince`), and for how long.
    func silent(longerThan timeout: Double, now: Double) -> (rank: Int32, seconds: Double)? {
        for rank in 0..<Int32(numWorkers) {
            if let last = workers[rank]?.lastSeen ?? servingSince, now - last > timeout { return (rank, now - last) }
        }
        return nil
    }

    /// Whether worker `rank` has sent anything to this server.
    func wasHeard(_ rank: Int32) -> Bool { workers[rank] != nil }

    /// Whether worker `rank` was heard within `timeout` (alive, even if it does not push).
    func isAlive(_ rank: Int32, within timeout: Double, now: Double) -> Bool {
        workers[rank].map { now - $0.lastSeen <= timeout } ?? false
    }

    /// Every connection of every worker (a failure notice reaches the thread that waits).
    var allPeers: [PeerID] {
        Set(workers.values.flatMap { [$0.requests, $0.heartbeats].compactMap { $0 } }).sorted { $0.description < $1.description }
    }
}
