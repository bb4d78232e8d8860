import Detection
import Foundation
import Logging
import Optimizers
import ParameterServer

/// The cluster update: owns the KV client, the exchange of the loss counts, the stop key and
/// the barriers. Each layer's gradient goes to the servers as soon as backward has it, while
/// backward continues with the layers below; the servers' new weights are written into the
/// store's own memory in `update`.
///
/// Loss normalization across workers (DESIGN "Mind the loss normalization"): in dist_sync,
/// before backward, every worker pushes its [valid anchors, non-zero box terms] to a
/// summed-only key and pulls the sums; each normalizes its gradient by these global counts,
/// and the servers apply the sum of the N gradients with rescale 1 — exactly one
/// single-machine step at batch N × mini_batch_size. (MXNet's example instead sums N
/// per-worker means, an N-times larger step.) In dist_async each push is normalized by its
/// own batch's counts, as one worker's batch.
///
/// Checkpoints: worker 0 fetches every slice's weights, optimizer slots and update count from
/// the servers over the wire (`KVClient.fetchState`) and writes them per key as the
/// checkpoint's `.states` — the single machine's layout, so neither the number of servers nor
/// a shared filesystem matters. On `--resume` worker 0 gives the slots and counts back
/// (`restoreState`) before anyone pushes, so the learning-rate schedule and Adam's bias
/// correction continue where they were. "Exact": in dist_sync a resumed run continues with the
/// same weights, optimizer state, update counts, epoch and schedule as the uninterrupted run,
/// bit for bit (every worker waits at the epoch's barrier while worker 0 checkpoints). In
/// dist_async each slice is saved as it was at one instant (weights, slots and count in one
/// reply), but the slices are read one after another while the other workers may still push,
/// and which push lands first is a race in any async run: the resumed servers hold exactly the
/// saved state, and what follows is as reproducible as dist_async ever is.
final class DistributedUpdate: GradientSink {
    let client: KVClient
    let mode: SyncMode
    let optimizer: OptimizerConfig
    let logger: Logger
    private let store: ParameterStore
    private let trainable: [Int], isTrainable: Set<Int>
    /// Keys after the parameters': the summed loss counts and the early-stopping flag.
    private let countsKey: Int, stopKey: Int
    /// Parameters whose gradient went out during this step's backward.
    private var sent = Set<Int>()
    /// The servers' optimizer state read by `restore`, given back to them in `start`.
    private var restoredStates: [Int: OptimizerState]?
    private(set) var waitingSeconds = 0.0
    private let observer: (any TrainingObserver)?

    var rank: Int { client.rank }
    var workers: Int { client.numWorkers }

    /// Joins the cluster (registration with the scheduler, which refuses workers that would
    /// start from different positions: `start` is this one's); `observer` is told of the waits and exchanges.
    init(cluster: ClusterConfig, mode: SyncMode, store: ParameterStore, hyperparameters: Hyperparameters, logger: Logger,
         observer: (any TrainingObserver)? = nil, start: TrainingPosition = TrainingPosition()) throws {
        var cluster = cluster
        cluster.startPosition = StartPosition(epoch: start.epoch, batch: start.batch, update: start.update)
        client = try KVClient.connect(config: cluster, logger: logger)
        self.observer = observer
        self.mode = mode; self.store = store; self.logger = logger
        optimizer = hyperparameters.optimizerConfig(workers: client.numWorkers)
        trainable = store.trainable
        isTrainable = Set(trainable)
        countsKey = store.specs.count
        stopKey = store.specs.count + 1
        client.observer = observer
    }

    deinit { client.close() }

    /// Reads the servers' state that worker 0 saved in the checkpoint's `.states`; worker 0
    /// gives it back to the servers in `start`.
    func restore(from checkpoint: CheckpointFiles) throws -> TrainingPosition {
        let (states, position) = try checkpoint.readOptimizerState(freshStates(), names: store.specs.map(\.name), optimizer: optimizer.kind)
        restoredStates = states
        return position
    }

    /// Declares the keys (worker 0's weights win) and pulls the starting weights.
    func start() throws {
        var keys: [Int: (values: [Float], multipliers: ParameterMultipliers, optimized: Bool)] = [:]
        for i in trainable {
            keys[i] = (Array(store.values.view(i)), ParameterMultipliers(lrMult: store.specs[i].lrMult, wdMult: store.specs[i].wdMult), true)
        }
        keys[countsKey] = ([0, 0], .one, false)
        keys[stopKey] = ([0], .one, false)
        try client.initialize(keys: keys, mode: mode, optimizer: optimizer)
        if let restoredStates {
            // Worker 0 gives the servers their optimizer state and update counts; the barrier
            // keeps every push after it, so no update runs on a fresh state.
            if rank == 0 {
                try client.restoreState(restoredStates)
                logger.info("restored the servers' optimizer state: \(restoredStates.count) key(s), update counts up to \(restoredStates.values.map(\.updateCount).max() ?? 0)")
            }
            try client.barrier()
        }
        for i in trainable { try client.pull(key: i, into: store.values.mutableView(i)) }
        try client.wait()
    }

    func normalizers(for counts: (valid: Int, boxNonZero: Int)) throws -> SSDModel.Normalizers? {
        guard mode == .sync else { return nil }
        let local: [Float] = [Float(counts.valid), Float(counts.boxNonZero)]
        var global: [Float] = [0, 0]
        try waiting {
            try local.withUnsafeBufferPointer { g in try global.withUnsafeMutableBufferPointer { try client.pushPull(key: countsKey, gradient: g, into: $0) } }
            try client.wait()
        }
        return (max(global[0], 1), max(global[1], 1))
    }

    func gradientReady(_ index: Int) throws {
        guard isTrainable.contains(index) else { return }
        try client.pushPull(key: index, gradient: store.gradients.view(index), into: store.values.mutableView(index))
        sent.insert(index)
    }

    func update(_ update: Int) throws {
        try waiting {
            for i in trainable where !sent.contains(i) {
                try client.pushPull(key: i, gradient: store.gradients.view(i), into: store.values.mutableView(i))
            }
            try client.wait()
        }
        sent.removeAll(keepingCapacity: true)
    }

    /// Worker 0 fetches every server's weights, optimizer state and update counts and writes
    /// the state as the checkpoint's `.states`; the fetched weights replace its own,
    /// so the `.params` written next are the servers' (in dist_sync they are equal already; in
    /// dist_async worker 0's last pull may be older than other workers' pushes).
    func save(beside checkpoint: CheckpointFiles, position: TrainingPosition) throws {
        let fetched = try client.fetchState(keys: trainable, slots: optimizer.stateSlots)
        // Checked again here: in dist_async the servers' weights may be newer than the ones the trainer checked.
        for (key, state) in fetched.sorted(by: { $0.key < $1.key }) where !state.weights.allSatisfy(\.isFinite) {
            throw TrainingError.nonFiniteWeights(epoch: position.epoch - 1, parameter: store.specs[key].name)
        }
        for (key, state) in fetched {
            let out = store.values.mutableView(key)
            guard state.weights.count == out.count else { throw KVClientError.bufferSize(key: key, count: state.weights.count, expected: out.count) }
            _ = out.update(fromContentsOf: state.weights)
        }
        try checkpoint.writeOptimizerState(fetched.mapValues(\.optimizer), names: store.specs.map(\.name), position: position,
                                           optimizer: optimizer.kind)
    }

    /// A zero optimizer state per trained key (what the servers start from).
    private func freshStates() -> [Int: OptimizerState] {
        let opt = Optimizer(optimizer)
        return Dictionary(uniqueKeysWithValues: trainable.map { ($0, opt.makeState(count: store.specs[$0].count)) })
    }

    func endEpoch() throws {
        // The others wait here, not in the next step's first round, while worker 0 validates
        // and writes the checkpoint: a long validation must not run into the round timeout.
        if mode == .sync { try client.barrier() }
    }

    /// dist_sync: all push their flag to a summed key (only rank 0's can be 1) and read the sum.
    /// dist_async (a key holds the latest push): rank 0 writes its decision, a barrier makes
    /// sure it is there, and the others read it — the one point per epoch where async workers
    /// wait for each other, and only with early stopping on.
    func agreeOnStopping(_ decision: Bool) throws -> Bool {
        var answer: [Float] = [0]
        let flag: [Float] = [rank == 0 && decision ? 1 : 0]
        try answer.withUnsafeMutableBufferPointer { out in
            if mode == .sync || rank == 0 {
                try flag.withUnsafeBufferPointer { try client.pushPull(key: stopKey, gradient: $0, into: out) }
                try client.wait()
            }
            if mode == .async {
                try client.barrier()
                if rank != 0 {
                    try client.pull(key: stopKey, into: out)
                    try client.wait()
                }
            }
        }
        return answer[0] > 0
    }

    func finish() throws { try client.shutdownServers() }

    private func waiting(_ body: () throws -> Void) rethrows {
        let start = Date()
        defer {
            let waited = Date().timeIntervalSince(start)
            waitingSeconds += waited
            observer?.waited(seconds: waited)
        }
        try body()
    }
}
