/// One dist_sync round of one slice: which workers pushed, the sum of their gradients, and who
/// waits for the result. The round completes when every worker pushed exactly once; the server
/// then applies one update from `sum` and answers `waiters`.
struct SyncRound {
    /// Where the sum of this round's pushes is.
    private enum Sum {
        /// No push added yet (or only skipped ones): zeros.
        case zeros
        /// The round's only push so far, kept where it was received (no copy).
        case received(Payload)
        /// In `sum`.
        case summed
    }

    /// What `stage` left for `commit`.
    private enum Staged { case received(Payload), spare }

    private var current: Sum = .zeros
    private var staged: Staged?
    /// The sum, and the buffer the next push's sum is written to: a push is added out of
    /// place, so the sum is unchanged until that push passed its checksum and scan (`commit`).
    private var sum: [Float]
    private var spare: [Float]
    /// Ranks that pushed this round.
    private(set) var pushed: Set<Int32> = []
    /// When the first push of the round arrived (for the round timeout).
    private(set) var started: Double?
    /// The pushes (and pushPulls) of this round, answered when it completes.
    private(set) var waiters: [Waiter] = []

    init(count: Int) {
        sum = [Float](repeating: 0, count: count)
        spare = sum
    }

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

    /// Checks that worker `rank` may push for `round` (the slice is at round `current`).
    func admit(rank: Int32, round: UInt64, current: UInt64) throws(Rejection) {
        guard round == current else { throw .wrongRound(pushed: round, current: current) }
        guard !pushed.contains(rank) else { throw .duplicate(rank: rank, round: current) }
    }

    /// One pass over a push's Float32 `values`: hashes them (`WireChecksum.payloadHash`), scans
    /// them for NaN/±Inf and writes the sum with them into the spare buffer — or, for the
    /// round's first push, keeps `received` (the payload holding `values`, when they are one)
    /// instead of copying. Nothing the round holds changes until `commit`; a push that fails
    /// its checksum or scan is simply not committed.
    mutating func stage(_ values: UnsafeRawBufferPointer, received: Payload?) -> (hash: UInt64, hasNonFinite: Bool) {
        precondition(values.count == sum.count * MemoryLayout<Float>.stride, "the server checks the push size before adding it")
        guard !values.isEmpty else { staged = .spare; return (WireChecksum.payloadHash(values), false) }
        if case .zeros = current, let received {
            staged = .received(received)
            return WireChecksum.hashAndScan(floats: values)
        }
        staged = .spare
        let current = self.current, sum = self.sum  // read-only views while `spare` is written
        return spare.withUnsafeMutableBytes { out in
            switch current {
            case .zeros:
                return WireChecksum.hashScanAndSum(floats: values, adding: nil, into: out.baseAddress!)
            case .received(let first):
                return first.withUnsafeBytes { WireChecksum.hashScanAndSum(floats: values, adding: $0.baseAddress!, into: out.baseAddress!) }
            case .summed:
                return sum.withUnsafeBytes { WireChecksum.hashScanAndSum(floats: values, adding: $0.baseAddress!, into: out.baseAddress!) }
            }
        }
    }

    /// Counts worker `rank`'s push in the round; with `adding`, the push `stage` just read
    /// becomes part of the sum (without, it adds nothing: a skipped non-finite gradient).
    mutating func commit(rank: Int32, adding: Bool, waiter: Waiter, now: Double) {
        if pushed.isEmpty { started = now }
        pushed.insert(rank)
        if adding {
            switch staged {
            case .received(let payload): current = .received(payload)
            case .spare: swap(&sum, &spare); current = .summed
            case nil: preconditionFailure("commit(adding:) without a staged push")
            }
        }
        staged = nil
        waiters.append(waiter)
    }

    /// Calls `body` with the round's sum (valid during the call).
    mutating func withSum<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        switch current {
        case .zeros:
            sum.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
            return try sum.withUnsafeBufferPointer(body)
        case .received(let payload):
            // Float-aligned: KVServer keeps a received push only when it is.
            return try payload.withUnsafeBytes { try body(UnsafeBufferPointer(start: $0.baseAddress?.assumingMemoryBound(to: Float.self), count: $0.count / 4)) }
        case .summed:
            return try sum.withUnsafeBufferPointer(body)
        }
    }

    /// True once every one of `workers` pushed.
    func isComplete(workers: Int) -> Bool { pushed.count == workers }

    /// Ranks of `workers` that have not pushed yet.
    func missing(workers: Int) -> [Int32] { (0..<Int32(workers)).filter { !pushed.contains($0) } }

    /// Ends the round: returns its waiters (the caller has applied the sum first) and lets go of
    /// a received push it kept.
    mutating func finish() -> [Waiter] {
        let done = waiters
        waiters = []
        pushed = []
        started = nil
        current = .zeros
        staged = nil
        return done
    }
}
