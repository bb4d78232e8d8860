/// One dist_sync round of one slice: which workers pushed, the sum of their gradients, and who
/// waits for the result. The round completes when every worker pushed exactly once; the server
/// then applies one update from `sum` and answers `waiters`.
struct SyncRound {
    /// Sum of this round's pushes.
    private(set) var sum: [Float]
    /// Ranks that pushed this round.
    private(set) var pushed: Set<Int32> = []
    /// When the first push of the round arrived (for the round timeout).
    private(set) var started: Double?
    /// The pushes (and pushPulls) of this round, answered when it completes.
    private(set) var waiters: [Waiter] = []

    init(count: Int) { sum = [Float](repeating: 0, count: count) }

    /// Why a push cannot join the round.
    enum Rejection: Error, CustomStringConvertible {
        case wrongRound(pushed: UInt64, current: UInt64)
        case duplicate(rank: Int32, round: UInt64)

        var description: String {
            switch self {
            case let .wrongRound(p, c): return "push for round \(p), but the server is at round \(c)"
            case let .duplicate(r, round): return "duplicate push from worker \(r) in round \(round)"
            }
        }

        /// The label a monitor counts it under.
        var reason: PushRejection {
            switch self {
            case .wrongRound: return .wrongRound
            case .duplicate: return .duplicate
            }
        }
    }

    /// Adds worker `rank`'s gradient for `round` (the slice is at round `current`); a nil
    /// gradient counts the push but adds nothing (a skipped non-finite gradient).
    mutating func add(_ gradient: UnsafeBufferPointer<Float>?, from rank: Int32, round: UInt64, current: UInt64,
                      waiter: Waiter, now: Double) throws(Rejection) {
        guard round == current else { throw .wrongRound(pushed: round, current: current) }
        guard !pushed.contains(rank) else { throw .duplicate(rank: rank, round: current) }
        let first = pushed.isEmpty
        if first { started = now }
        pushed.insert(rank)
        precondition(gradient == nil || gradient?.count == sum.count, "the server checks the push size before adding it")
        sum.withUnsafeMutableBufferPointer { acc in
            // The round's first push is copied (no zeroing pass, no read of the old sum); a
            // skipped first push leaves zeros.
            switch (first, gradient) {
            case (true, let g?): _ = acc.update(fromContentsOf: g)
            case (true, nil): acc.update(repeating: 0)
            case (false, let g?): for i in 0..<acc.count { acc[i] += g[i] }
            case (false, nil): break
            }
        }
        waiters.append(waiter)
    }

    /// True once every one of `workers` pushed.
    func isComplete(workers: Int) -> Bool { pushed.count == workers }

    /// Ranks of `workers` that have not pushed yet.
    func missing(workers: Int) -> [Int32] { (0..<Int32(workers)).filter { !pushed.contains($0) } }

    /// Ends the round: returns its waiters (the caller has applied `sum` first; the next
    /// round's first push overwrites it).
    mutating func finish() -> [Waiter] {
        let done = waiters
        waiters = []
        pushed = []
        started = nil
        return done
    }
}
