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
    private(set) var waitingSeconds = 0.0
    private let observer: (any TrainingObserver)?

    var rank: Int { client.rank }
    var workers: Int { client.numWorkers }

    /// Joins the cluster (registration with the scheduler); `observer` is told of the waits and exchanges.
    init(cluster: ClusterConfig, mode: SyncMode, store: ParameterStore, hyperparameters: Hyperparameters, logger: Logger,
         observer: (any TrainingObserver)? = nil) throws {
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

    func restore(from checkpoint: CheckpointFiles) -> TrainingPosition {
        logger.warning("resuming a cluster from \(checkpoint.params): weights and epoch only; the servers start a fresh optimizer state and update count")
        return TrainingPosition(epoch: checkpoint.epoch, update: 0)
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

    /// The servers hold the optimizer state (not saved yet).
    func save(beside checkpoint: CheckpointFiles, position: TrainingPosition) {}

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
