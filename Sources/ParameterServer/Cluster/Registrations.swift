/// The nodes that joined the scheduler so far, with the checks a registration must pass: no
/// more servers or workers than expected, a server gives its endpoint, a worker's requested
/// rank is in range and not asked for by another worker, a connection registers once.
struct Registrations {
    struct Node {
        var peer: PeerID
        var registration: Registration
        var address: String?
    }

    /// Why a registration was refused.
    enum Refusal: Error, CustomStringConvertible {
        case full(role: Role, expected: Int)
        case missingEndpoint
        case notANode(Role)
        case rankOutOfRange(rank: Int, workers: Int)
        case rankTaken(rank: Int, by: String)
        case alreadyRegistered
        /// A worker whose gradient compression differs from the workers' registered before it.
        case compressionMismatch(GradientCompression, other: GradientCompression, otherAt: String)
        /// Workers that would start from different positions: each worker's rank, address and position.
        case startPositionsDiffer([(rank: Int, address: String?, position: StartPosition)])

        var description: String {
            switch self {
            case let .full(role, n): return "the cluster already has its \(n) \(role.rawValue)(s) (DMLC_NUM_\(role == .server ? "SERVER" : "WORKER")=\(n)); this one is one too many"
            case .missingEndpoint: return "a server must register with the endpoint workers connect to"
            case let .notANode(role): return "a \(role.rawValue) does not register with the scheduler"
            case let .rankOutOfRange(r, n): return "worker rank \(r) asked for is out of range 0..<\(n) (DMLC_WORKER_ID)"
            case let .rankTaken(r, by): return "worker rank \(r) is already taken by the worker \(by); give each worker its own DMLC_WORKER_ID"
            case .alreadyRegistered: return "this connection has already registered"
            case let .compressionMismatch(mine, other, at):
                return "this worker pushes with gradient compression \(mine) but \(at) registered with \(other): "
                    + "give every worker the same --gradient-compression / PS_GRADIENT_COMPRESSION (and --compression-threshold)"
            case let .startPositionsDiffer(workers):
                let each = workers.map { "worker \($0.rank)\($0.address.map { " (\($0))" } ?? "") at \($0.position)" }
                return "the workers would start from different positions: \(each.joined(separator: "; ")); every worker must "
                    + "resume from the same checkpoint: give them one shared --model-dir (or copy worker 0's checkpoints into "
                    + "each one's), or start every worker without --resume"
            }
        }
    }

    let expectedServers: Int
    let expectedWorkers: Int
    private(set) var servers: [Node] = []
    private(set) var workers: [Node] = []

    var isComplete: Bool { servers.count == expectedServers && workers.count == expectedWorkers }

    /// The worker ranks no registered worker asked for, when every registered worker asked for
    /// one (`DMLC_WORKER_ID`, as the launchers set it); empty when that says nothing more than
    /// the count.
    var missingWorkerRanks: [Int] {
        let asked = workers.compactMap(\.registration.requestedRank)
        guard !asked.isEmpty, asked.count == workers.count else { return [] }
        return (0..<expectedWorkers).filter { !asked.contains($0) }
    }

    /// Adds a node or says why not.
    mutating func add(_ registration: Registration, from peer: PeerID, address: String?) throws(Refusal) {
        guard !(servers + workers).contains(where: { $0.peer == peer }) else { throw .alreadyRegistered }
        let node = Node(peer: peer, registration: registration, address: address)
        switch registration.role {
        case .server:
            guard registration.endpoint != nil else { throw .missingEndpoint }
            guard servers.count < expectedServers else { throw .full(role: .server, expected: expectedServers) }
            servers.append(node)
        case .worker:
            guard workers.count < expectedWorkers else { throw .full(role: .worker, expected: expectedWorkers) }
            if let rank = registration.requestedRank {
                guard rank >= 0, rank < expectedWorkers else { throw .rankOutOfRange(rank: rank, workers: expectedWorkers) }
                if let other = workers.first(where: { $0.registration.requestedRank == rank }) {
                    throw .rankTaken(rank: rank, by: other.address.map { "at \($0)" } ?? "registered first")
                }
            }
            if let first = workers.first, (first.registration.compression ?? .none) != (registration.compression ?? .none) {
                throw .compressionMismatch(registration.compression ?? .none, other: first.registration.compression ?? .none,
                                           otherAt: first.address.map { "the worker at \($0)" } ?? "the first worker")
            }
            workers.append(node)
        case .scheduler:
            throw .notANode(.scheduler)
        }
    }

    /// Once complete: `startPositionsDiffer` when the workers that said where they start
    /// (`Registration.startPosition`) do not all say the same; `rankOrder[r]` is the index of
    /// the worker given rank r.
    func startPositionDisagreement(rankOrder: [Int]) -> Refusal? {
        let said = rankOrder.enumerated().compactMap { rank, i in
            workers[i].registration.startPosition.map { (rank: rank, address: workers[i].address, position: $0) }
        }
        guard Set(said.map(\.position)).count > 1 else { return nil }
        return .startPositionsDiffer(said)
    }
}
