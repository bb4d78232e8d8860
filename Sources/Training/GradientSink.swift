import Detection
import Foundation
import Optimizers

/// Where a training step's gradients go and where the next weights come from: the one seam
/// between the training loop and the update path. `LocalUpdate` runs the optimizer in this
/// process; `DistributedUpdate` exchanges with the parameter servers. The step itself
/// (`Trainer.run`) is the same code in both.
protocol GradientSink: AnyObject {
    /// This worker's rank and the number of workers (0 and 1 on a single machine).
    var rank: Int { get }
    var workers: Int { get }
    /// Seconds spent waiting for others (the servers), for the summary.
    var waitingSeconds: Double { get }

    /// Restores the optimizer's side of `checkpoint` (its weights are loaded already); returns
    /// where training continues.
    func restore(from checkpoint: CheckpointFiles) throws -> TrainingPosition
    /// Once, before the first step: every worker starts from the same weights.
    func start() throws
    /// The loss divisors for a batch's counts (nil: the batch's own).
    func normalizers(for counts: (valid: Int, boxNonZero: Int)) throws -> SSDModel.Normalizers?
    /// Backward has finished parameter `index`'s gradient.
    func gradientReady(_ index: Int) throws
    /// Backward is done: apply update number `update` to `model.parameters.values`.
    func update(_ update: Int) throws
    /// Writes what the optimizer needs to resume beside `checkpoint` (before its weights).
    func save(beside checkpoint: CheckpointFiles, position: TrainingPosition) throws
    /// After worker 0 validated and wrote the checkpoint.
    func endEpoch() throws
    /// Every worker's answer to "stop now?", given rank 0's `decision`.
    func agreeOnStopping(_ decision: Bool) throws -> Bool
    /// Training is over (a cluster stops its servers).
    func finish() throws
}

/// The single-machine update: owns the optimizer, one state per trained parameter, and their
/// file beside each checkpoint (`.states`).
final class LocalUpdate: GradientSink {
    let rank = 0, workers = 1, waitingSeconds = 0.0
    private let store: ParameterStore
    private let optimizer: Optimizer
    private let trainable: [Int]
    private var states: [Int: OptimizerState]
    /// Threads each array's update is split over (elementwise: the same bits for any count).
    private let threads: Int

    init(store: ParameterStore, optimizer config: OptimizerConfig, threads: Int) {
        self.store = store
        self.threads = threads
        let optimizer = Optimizer(config), trainable = store.trainable
        self.optimizer = optimizer
        self.trainable = trainable
        states = Dictionary(uniqueKeysWithValues: trainable.map { ($0, optimizer.makeState(count: store.specs[$0].count)) })
    }

    func restore(from checkpoint: CheckpointFiles) throws -> TrainingPosition {
        let (restored, position) = try checkpoint.readOptimizerState(states, names: store.specs.map(\.name), optimizer: optimizer.config.kind)
        states = restored
        return position
    }

    func start() {}
    func normalizers(for counts: (valid: Int, boxNonZero: Int)) -> SSDModel.Normalizers? { nil }
    func gradientReady(_ index: Int) {}

    func update(_ update: Int) throws {
        for i in trainable {
            try optimizer.update(weights: store.values.mutableView(i), gradient: store.gradients.view(i), state: &states[i]!,
                                 multipliers: ParameterMultipliers(lrMult: store.specs[i].lrMult, wdMult: store.specs[i].wdMult),
                                 globalUpdate: update, threads: threads)
        }
    }

    func save(beside checkpoint: CheckpointFiles, position: TrainingPosition) throws {
        try checkpoint.writeOptimizerState(states, names: store.specs.map(\.name), position: position, optimizer: optimizer.config.kind)
    }

    func endEpoch() {}
    func agreeOnStopping(_ decision: Bool) -> Bool { decision }
    func finish() {}
}
