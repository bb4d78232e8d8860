import Tensor
// Which samples worker `rank` of `count` reads at each step of an epoch.
//
// One global permutation of the dataset per epoch, drawn from (seed, epoch) — identical on
// every machine. Global step t covers positions [t·n·b, (t+1)·n·b) of that permutation;
// worker r takes [t·n·b + r·b, t·n·b + (r+1)·b). So the union of the n workers' step-t
// batches is exactly the single machine's step-t batch of size n·b (what dist_sync
// equivalence needs), the shards are disjoint, and together they cover every sample once.
//
// Remainder (dataset size not a multiple of n·b): with `.pad` (default, MXNet's
// round_batch / last_batch 'roll_over'-style) batchesPerEpoch = ceil(N / (n·b)) and the
// positions past N wrap to the start of the same permutation; those duplicates are counted
// in `Batch.pad`. With `.drop` batchesPerEpoch = floor(N / (n·b)) and the tail is unused this
// epoch. Either way every worker gets the same number of batches per epoch, so dist_sync
// rounds never wait for a worker that ran out of data.

/// A worker's shard of the data: its rank among `count` workers.
public struct Shard: Equatable, Sendable {
    /// This worker's rank, 0..<count.
    public var rank: Int
    /// Number of workers.
    public var count: Int
    /// Creates a shard; rank must be in 0..<count.
    public init(rank: Int, count: Int) {
        precondition(count >= 1 && rank >= 0 && rank < count, "Shard: rank \(rank) outside 0..<\(count)")
        self.rank = rank; self.count = count
    }
    /// The single-machine shard.
    public static let single = Shard(rank: 0, count: 1)
}

/// What happens to the samples left over after the last full global batch.
public enum RemainderPolicy: Sendable {
    /// Fill the last batch by wrapping to the start of the epoch's permutation (padding).
    case pad
    /// Leave the tail out of this epoch.
    case drop
}

/// The sample order of one epoch for one shard.
public struct EpochPlan: Sendable {
    /// Samples in the dataset.
    public let datasetCount: Int
    /// Samples per worker batch.
    public let batchSize: Int
    /// This worker's shard.
    public let shard: Shard
    /// The global permutation (dataset indices).
    public let permutation: [Int]
    /// Batches per epoch, the same for every worker.
    public let batchesPerEpoch: Int

    /// Batches per epoch for the given sizes.
    public static func batchesPerEpoch(datasetCount: Int, batchSize: Int, workers: Int, remainder: RemainderPolicy) -> Int {
        let global = batchSize * workers
        switch remainder {
        case .pad: return (datasetCount + global - 1) / global
        case .drop: return datasetCount / global
        }
    }

    /// The plan for `epoch`; `shuffle: false` keeps dataset order.
    public init(datasetCount: Int, batchSize: Int, shard: Shard, seed: UInt64, epoch: Int, shuffle: Bool, remainder: RemainderPolicy) {
        precondition(datasetCount > 0 && batchSize > 0, "EpochPlan: empty dataset or batch")
        self.datasetCount = datasetCount; self.batchSize = batchSize; self.shard = shard
        var perm = Array(0..<datasetCount)
        if shuffle {
            var rng = SeededGenerator(mixing: seed, UInt64(epoch), 0x5348_5546)
            for i in stride(from: datasetCount - 1, to: 0, by: -1) {
                perm.swapAt(i, Int(rng.next() % UInt64(i + 1)))
            }
        }
        permutation = perm
        batchesPerEpoch = Self.batchesPerEpoch(datasetCount: datasetCount, batchSize: batchSize, workers: shard.count, remainder: remainder)
    }

    /// Positions in the epoch (0..<batchesPerEpoch·n·b) of this worker's batch at `step`.
    public func positions(step: Int) -> Range<Int> {
        let start = step * shard.count * batchSize + shard.rank * batchSize
        return start..<(start + batchSize)
    }

    /// Dataset indices of this worker's batch at `step`, and how many of them are padding
    /// (positions ≥ datasetCount wrapped to the start).
    public func indices(step: Int) -> (indices: [Int], pad: Int) {
        let pos = positions(step: step)
        return (pos.map { permutation[$0 % datasetCount] }, pos.filter { $0 >= datasetCount }.count)
    }
}
