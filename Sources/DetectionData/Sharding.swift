import Tensor

/// Which samples worker `rank` of `count` reads, and in what order, per epoch.
///
/// Every epoch has one global order — a permutation of all samples drawn from `seed` and the
/// epoch number (identity when not shuffling) — that is the same on every machine. Global
/// step t covers positions [t·count·b, (t+1)·count·b) of that order; worker r takes the r-th
/// block of b. So the union of the workers' step-t batches is exactly the batch a single
/// machine with batch count·b would train on at step t — what makes dist_sync provably equal
/// to one machine at the effective batch.
///
/// Every worker gets the same number of steps per epoch (dist_sync hangs otherwise):
/// ⌈samples / (count·b)⌉ steps, with the last global batch filled by wrapping around to the
/// start of the epoch's order (MXNet's `last_batch_handle='roll_over'`/pad behaviour). Each
/// sample is therefore read at least once per epoch, and exactly once by a unique owner when
/// `samples` is a multiple of `count·b`.
public struct Sharding: Equatable, Sendable {
    public var samples: Int
    public var rank: Int
    public var count: Int
    public var batchSize: Int
    public var shuffle: Bool
    public var seed: UInt64

    public init(samples: Int, rank: Int, count: Int, batchSize: Int, shuffle: Bool, seed: UInt64) {
        precondition(count >= 1 && rank >= 0 && rank < count && batchSize >= 1, "invalid sharding \(rank)/\(count) batch \(batchSize)")
        self.samples = samples; self.rank = rank; self.count = count; self.batchSize = batchSize
        self.shuffle = shuffle; self.seed = seed
    }

    /// Steps per epoch, the same for every worker.
    public var stepsPerEpoch: Int {
        samples == 0 ? 0 : (samples + count * batchSize - 1) / (count * batchSize)
    }

    /// The global order of an epoch (same on every worker).
    public func order(epoch: Int) -> [Int] {
        var order = Array(0..<samples)
        guard shuffle, samples > 1 else { return order }
        var rng = SeededGenerator(seed: seed ^ (UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
        for i in stride(from: samples - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        return order
    }

    /// Sample indices this worker reads at `step` of `epoch`.
    public func batch(epoch: Int, step: Int, order precomputed: [Int]? = nil) -> [Int] {
        let order = precomputed ?? self.order(epoch: epoch)
        let start = step * count * batchSize + rank * batchSize
        return (0..<batchSize).map { order[(start + $0) % samples] }
    }
}
