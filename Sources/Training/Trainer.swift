import Detection
import DetectionData
import Foundation
import Logging
import Optimizers
import ParameterServer
import Tensor

/// Where the data, the model and the logs live, and how to run.
public struct TrainingOptions: Sendable {
    public var hyperparameters: Hyperparameters
    /// Directory holding the `train` (and optionally `validation`) channels (SageMaker's
    /// `/opt/ml/input/data` layout: `.rec` files, or images + `<channel>_annotation`).
    public var dataRoot: String
    /// Checkpoints, `hyperparams.json` and the model description go here (SageMaker `/opt/ml/model`).
    public var modelDir: String
    /// An MXNet `.params` with the base network's weights, for `use_pretrained_model=1`.
    public var pretrainedModel: String?
    /// Replaces the standard network (tests use `SSDConfig.tiny`).
    public var networkOverride: SSDConfig?
    /// Augment training images (off for deterministic equivalence checks).
    public var augment = true
    public var seed: UInt64 = 233
    public var loaderThreads = 2
    /// Log a progress line every this many batches.
    public var logEvery = 10
    public var skipBadSamples = false
    /// Continue from the newest checkpoint in this directory: weights, and on a single machine
    /// also the optimizer state, update count and epoch (a cluster restarts the servers'
    /// optimizer state from the loaded weights).
    public var resumeFrom: String?

    public init(hyperparameters: Hyperparameters, dataRoot: String, modelDir: String) {
        self.hyperparameters = hyperparameters; self.dataRoot = dataRoot; self.modelDir = modelDir
    }
}

/// What a run produced.
public struct TrainingSummary: Sendable {
    public var epochs: Int
    public var lastLoss: Double
    public var firstLoss: Double
    public var validationMAP: Double?
    public var imagesPerSecond: Double
    public var checkpoint: String?
    /// The learning rate used in each epoch.
    public var learningRates: [Float]
    /// Fraction of step time spent exchanging with the servers (0 on a single machine).
    public var waitingFraction: Double
    /// This worker's rank, the number of workers and the effective batch they trained with.
    public var rank = 0, workers = 1, effectiveBatch = 0
}

/// The training loop: batches → forward/backward → local update or push/pull → log, per epoch,
/// with validation mAP and checkpoints.
///
/// Loss normalization across workers (DESIGN "Mind the loss normalization"): in dist_sync,
/// before backward, every worker pushes its [valid anchors, non-zero box terms] to a
/// summed-only key and pulls the sums; each normalizes its gradient by these global counts,
/// and the servers apply the sum of the N gradients with rescale 1 — exactly one
/// single-machine step at batch N × mini_batch_size. (MXNet's example instead sums N
/// per-worker means, an N-times larger step.) In dist_async each push is normalized by its
/// own batch's counts, as one worker's batch.
public final class Trainer {
    public let options: TrainingOptions
    public let model: SSDModel
    let cluster: ClusterConfig?
    let logger: Logger
    let progress: ProgressLog

    public init(options: TrainingOptions, cluster: ClusterConfig?, logger: Logger) throws {
        self.options = options
        self.cluster = cluster
        self.logger = logger
        let h = options.hyperparameters
        let config = try options.networkOverride ?? SSDConfig.forBaseNetwork(h.baseNetwork.rawValue, imageShape: h.imageShape, numClasses: h.numClasses)
        model = try SSDModel(config: config, seed: options.seed)
        if h.usePretrainedModel {
            guard let path = options.pretrainedModel else {
                throw ModelError.pretrainedWeightsMissing(expected: "(no --pretrained-model given and none in the model channel)")
            }
            let loaded = try model.loadPretrained(path: path)
            logger.info("loaded \(loaded.count) pretrained arrays from \(path)")
        }
        // Pretrained BatchNorm statistics are kept frozen; from scratch there are none to keep, so
        // BatchNorm trains on batch statistics as MXNet's does (per worker in a cluster, like MXNet).
        model.batchNormStatistics = h.usePretrainedModel ? .frozen : .batch
        if let pattern = h.freezeLayerPattern {
            let frozen = try model.parameters.freeze(matching: pattern)
            logger.info("freeze_layer_pattern \(pattern): \(frozen.count) frozen parameter array(s)")
        }
        try FileManager.default.createDirectory(atPath: options.modelDir, withIntermediateDirectories: true)
        progress = try ProgressLog(directory: options.modelDir, logger: logger)
    }

    /// Trains for `epochs`; returns the summary.
    public func run() throws -> TrainingSummary {
        let h = options.hyperparameters
        let store = model.parameters
        let trainable = store.specs.indices.filter { !store.frozen.contains($0) && !store.specs[$0].isAuxiliary }
        let trainableSet = Set(trainable)
        var client: KVClient?
        if let cluster, h.kvStore != nil { client = try KVClient.connect(config: cluster, logger: logger) }
        defer { client?.close() }
        let rank = client?.rank ?? 0, workers = client?.numWorkers ?? 1
        let iterations = h.iterationsPerEpoch(workers: workers)
        let schedule = LearningRateSchedule(epochs: h.lrSchedulerStep, iterationsPerEpoch: iterations, factor: h.lrSchedulerFactor)
        var config = OptimizerConfig(kind: OptimizerKind(rawValue: h.optimizer.rawValue)!, learningRate: h.learningRate,
                                     momentum: h.optimizer == .sgd ? h.momentum : 0,
                                     weightDecay: h.optimizer == .sgd || h.optimizer == .rmsprop ? h.weightDecay : 0,
                                     rescaleGrad: 1, schedule: schedule)
        config.clipGradient = nil
        let optimizer = Optimizer(config)
        var states = Dictionary(uniqueKeysWithValues: trainable.map { ($0, optimizer.makeState(count: store.specs[$0].count)) })
        var startEpoch = 0, resumedUpdates = 0
        if let dir = options.resumeFrom {
            let params = try Checkpoint.paramsPath(in: dir)
            try model.loadPretrained(path: params)
            let statePath = (params as NSString).deletingPathExtension + ".states"
            if client == nil, FileManager.default.fileExists(atPath: statePath) {
                (startEpoch, resumedUpdates) = try loadOptimizerState(statePath, into: &states)
            } else {
                startEpoch = Int(((params as NSString).lastPathComponent as NSString).deletingPathExtension.suffix(4)) ?? 0
            }
            logger.info("resumed from \(params) at epoch \(startEpoch) (update \(resumedUpdates))")
        }
        let countsKey = store.specs.count, stopKey = store.specs.count + 1
        if let client {
            var keys: [Int: (values: [Float], multipliers: ParameterMultipliers, optimized: Bool)] = [:]
            for i in trainable {
                keys[i] = (Array(store.values[store.range(i)]), ParameterMultipliers(lrMult: store.specs[i].lrMult, wdMult: store.specs[i].wdMult), true)
            }
            keys[countsKey] = ([0, 0], .one, false)
            keys[stopKey] = ([0], .one, false)
            try client.initialize(keys: keys, mode: h.kvStore == .distSync ? .sync : .async, optimizer: config)
            // Worker 0's initial weights won: start from them.
            try store.values.withUnsafeMutableBufferPointer { v in
                for i in trainable { try client.pull(key: i, into: UnsafeMutableBufferPointer(rebasing: v[store.range(i)])) }
                try client.wait()
            }
        }
        let train = try openSageMakerChannel(dataRoot: options.dataRoot, channel: "train")
        let loader = try Loader(dataset: train, batchSize: h.miniBatchSize, imageShape: model.config.imageShape, labelWidth: h.labelWidth,
                                shard: Shard(rank: rank, count: workers),
                                seed: options.seed, augment: options.augment, shuffle: options.augment, threads: options.loaderThreads,
                                skipBadSamples: options.skipBadSamples, numClasses: h.numClasses)
        let validationDir = (options.dataRoot as NSString).appendingPathComponent("validation")
        let validation = FileManager.default.fileExists(atPath: validationDir) || FileManager.default.fileExists(atPath: validationDir + ".rec")
            ? try? openSageMakerChannel(dataRoot: options.dataRoot, channel: "validation") : nil
        progress.start(hyperparameters: h, workers: workers, rank: rank, effectiveBatch: h.effectiveBatch(workers: workers),
                       parameters: store.count, anchors: model.anchorCount, blas: BLAS.summary())
        var update = resumedUpdates, firstLoss = Double.nan, lastLoss = Double.nan, lastMAP: Double?, rates: [Float] = []
        var images = 0, busy = 0.0, waiting = 0.0
        var bestMAP = -1.0, epochsWithoutImprovement = 0
        var checkpoint: String?
        for epoch in startEpoch..<h.epochs {
            rates.append(schedule.learningRate(base: h.learningRate, atUpdate: update + 1))
            let it = loader.epoch(epoch)
            var step = 0, epochLoss = (ce: 0.0, l1: 0.0)
            let epochStart = Date()
            while let batch = try it.next() {
                let t0 = Date()
                let state = try model.forward(images: batch.images, batch: batch.count, training: true)
                let targets = model.targets(for: state, labels: batch.labels, batch: batch.count)  // rows of 5, −1 padded
                var normalizers: (cls: Float, box: Float)?
                if let client, h.kvStore == .distSync {
                    let local = MultiBoxLoss.counts(loc: state.loc, targets: targets)
                    var counts: [Float] = [Float(local.valid), Float(local.boxNonZero)]
                    let mine = counts
                    let w0 = Date()
                    try mine.withUnsafeBufferPointer { g in try counts.withUnsafeMutableBufferPointer { try client.pushPull(key: countsKey, gradient: g, into: $0) } }
                    try client.wait()
                    waiting += Date().timeIntervalSince(w0)
                    normalizers = (max(counts[0], 1), max(counts[1], 1))
                }
                let loss = try MultiBoxLoss.compute(loc: state.loc, clsNHWC: state.cls, targets: targets, batch: batch.count,
                                                    anchors: model.anchorCount, classes: model.config.numClasses, normalizers: normalizers)
                store.zeroGradients()
                if let client {
                    // Each layer's gradient goes to the servers as soon as backward has it, while
                    // backward continues with the layers below; the new weights arrive in `wait`.
                    var sent = Set<Int>()
                    try model.backward(state, gradLoc: loss.gradLoc, gradCls: loss.gradCls) { i, gradient, weights in
                        guard trainableSet.contains(i) else { return }
                        try client.pushPull(key: i, gradient: gradient, into: weights)
                        sent.insert(i)
                    }
                    update += 1
                    let w0 = Date()
                    defer { waiting += Date().timeIntervalSince(w0) }
                    try store.gradients.withUnsafeBufferPointer { g in
                        try store.values.withUnsafeMutableBufferPointer { v in
                            for i in trainable where !sent.contains(i) {
                                try client.pushPull(key: i, gradient: UnsafeBufferPointer(rebasing: g[store.range(i)]),
                                                    into: UnsafeMutableBufferPointer(rebasing: v[store.range(i)]))
                            }
                            try client.wait()
                        }
                    }
                } else {
                    try model.backward(state, gradLoc: loss.gradLoc, gradCls: loss.gradCls)
                    update += 1
                    try store.gradients.withUnsafeBufferPointer { g in
                        try store.values.withUnsafeMutableBufferPointer { v in
                            for i in trainable {
                                try optimizer.update(weights: UnsafeMutableBufferPointer(rebasing: v[store.range(i)]),
                                                     gradient: UnsafeBufferPointer(rebasing: g[store.range(i)]), state: &states[i]!,
                                                     multipliers: ParameterMultipliers(lrMult: store.specs[i].lrMult, wdMult: store.specs[i].wdMult),
                                                     globalUpdate: update)
                            }
                        }
                    }
                }
                let seconds = Date().timeIntervalSince(t0)
                busy += seconds; images += batch.count
                let total = loss.crossEntropy + loss.smoothL1
                if firstLoss.isNaN { firstLoss = total }
                lastLoss = total
                epochLoss.ce += loss.crossEntropy; epochLoss.l1 += loss.smoothL1
                step += 1
                progress.batch(epoch: epoch, step: step, of: it.batchesPerEpoch, samples: batch.count, metric: loss.metric,
                               imagesPerSecond: Double(batch.count) / seconds, learningRate: schedule.learningRate(base: h.learningRate, atUpdate: update),
                               every: options.logEvery)
            }
            if !it.skippedSummary.isEmpty { logger.warning("\(it.skippedSummary)") }
            progress.epoch(epoch, crossEntropy: epochLoss.ce / Double(max(step, 1)), smoothL1: epochLoss.l1 / Double(max(step, 1)),
                           seconds: Date().timeIntervalSince(epochStart))
            if let validation, rank == 0 {
                lastMAP = try evaluate(validation)
                progress.validation(epoch, mAP: lastMAP!)
            }
            if rank == 0 {
                checkpoint = try saveCheckpoint(epoch: epoch)
                if client == nil, let checkpoint {
                    try saveOptimizerState(states, epoch: epoch + 1, update: update,
                                           to: (checkpoint as NSString).deletingPathExtension + ".states")
                }
            }
            if let client, h.kvStore == .distSync {
                // The others wait here, not in the next step's first round, while worker 0 validates
                // and writes the checkpoint: a long validation must not run into the round timeout.
                try client.barrier()
            }
            if h.earlyStopping {
                // Rank 0 (the only one that validates) decides; in a cluster every worker learns the
                // decision through the servers, so all stop after the same epoch.
                var stop = false
                if let m = lastMAP, rank == 0 {
                    if bestMAP < 0 || (bestMAP > 0 && (m - bestMAP) / bestMAP >= Double(h.earlyStoppingTolerance)) || (bestMAP == 0 && m > 0) {
                        bestMAP = max(bestMAP, m); epochsWithoutImprovement = 0
                    } else { epochsWithoutImprovement += 1 }
                    stop = epoch + 1 >= h.earlyStoppingMinEpochs && epochsWithoutImprovement >= h.earlyStoppingPatience
                }
                if let client { stop = try agreeOnStopping(stop, client: client, key: stopKey, rank: rank, sync: h.kvStore == .distSync) }
                if stop {
                    logger.info("early stopping after epoch \(epoch): validation mAP did not improve by \(h.earlyStoppingTolerance) (relative) for \(h.earlyStoppingPatience) epoch(s)")
                    break
                }
            }
        }
        if let client { try client.shutdownServers() }
        return TrainingSummary(epochs: h.epochs, lastLoss: lastLoss, firstLoss: firstLoss, validationMAP: lastMAP,
                               imagesPerSecond: busy > 0 ? Double(images) / busy : 0, checkpoint: checkpoint, learningRates: rates,
                               waitingFraction: busy > 0 ? waiting / busy : 0, rank: rank, workers: workers,
                               effectiveBatch: h.effectiveBatch(workers: workers))
    }

    /// Every worker's answer to "stop training now?", given rank 0's decision, so that all stop
    /// after the same epoch. dist_sync: all push their flag to a summed key (only rank 0's can
    /// be 1) and read the sum. dist_async (a key holds the latest push): rank 0 writes its
    /// decision, a barrier makes sure it is there, and the others read it — the one point per
    /// epoch where async workers wait for each other, and only with early stopping on.
    func agreeOnStopping(_ decision: Bool, client: KVClient, key: Int, rank: Int, sync: Bool) throws -> Bool {
        var answer: [Float] = [0]
        let flag: [Float] = [rank == 0 && decision ? 1 : 0]
        try answer.withUnsafeMutableBufferPointer { out in
            if sync || rank == 0 {
                try flag.withUnsafeBufferPointer { try client.pushPull(key: key, gradient: $0, into: out) }
                try client.wait()
            }
            if !sync {
                try client.barrier()
                if rank != 0 {
                    try client.pull(key: key, into: out)
                    try client.wait()
                }
            }
        }
        return answer[0] > 0
    }

    /// Validation mAP (VOC07 11-point, `overlap_threshold`, `nms_threshold`).
    public func evaluate(_ dataset: any DetectionDataset) throws -> Double {
        let h = options.hyperparameters
        return try Evaluation.meanAveragePrecision(model: model, dataset: dataset, batchSize: min(h.miniBatchSize, 8),
                                                   labelWidth: h.labelWidth, overlapThreshold: h.overlapThreshold,
                                                   nmsThreshold: h.nmsThreshold, threads: options.loaderThreads)
    }

    /// The optimizer's state beside a checkpoint (`.states`, MXNet NDArray-list format):
    /// `state:<parameter>:<slot>` arrays, `meta:epoch`, `meta:update`, and each array's own
    /// update count as `count:<parameter>`.
    func saveOptimizerState(_ states: [Int: OptimizerState], epoch: Int, update: Int, to path: String) throws {
        var arrays = [MXNetParams.Array(name: "meta:epoch", shape: [1], values: [Float(epoch)]),
                      MXNetParams.Array(name: "meta:update", shape: [1], values: [Float(update)])]
        for (i, state) in states.sorted(by: { $0.key < $1.key }) {
            let name = model.parameters.specs[i].name
            arrays.append(MXNetParams.Array(name: "count:\(name)", shape: [1], values: [Float(state.updateCount)]))
            for (k, slot) in state.slots.enumerated() {
                arrays.append(MXNetParams.Array(name: "state:\(name):\(k)", shape: [slot.count], values: slot))
            }
        }
        try MXNetParams.write(arrays, to: path)
    }

    func loadOptimizerState(_ path: String, into states: inout [Int: OptimizerState]) throws -> (epoch: Int, update: Int) {
        var meta: [String: Float] = [:]
        for a in try MXNetParams.read(path: path) {
            if a.name.hasPrefix("meta:") { meta[String(a.name.dropFirst(5))] = a.values.first; continue }
            let parts = a.name.split(separator: ":")
            guard parts.count >= 2, let i = model.parameters.index(of: String(parts[1])), states[i] != nil else { continue }
            if parts[0] == "count" { states[i]!.updateCount = Int(a.values.first ?? 0) }
            if parts[0] == "state", parts.count == 3, let k = Int(parts[2]), k < states[i]!.slots.count,
               a.values.count == states[i]!.slots[k].count {
                states[i]!.slots[k] = a.values
            }
        }
        return (Int(meta["epoch"] ?? 0), Int(meta["update"] ?? 0))
    }

    /// Writes `model_algo_1-NNNN.params` (MXNet `arg:` names), the model description and
    /// `hyperparams.json` into the model directory; returns the `.params` path.
    func saveCheckpoint(epoch: Int) throws -> String {
        let dir = options.modelDir
        let params = (dir as NSString).appendingPathComponent(String(format: "\(Checkpoint.prefix)-%04d.params", epoch + 1))
        try model.exportMXNet(to: params)
        try Checkpoint.writeDescription(model, epoch: epoch + 1,
                                        extra: ["base_network": options.hyperparameters.baseNetwork.rawValue], to: dir)
        try JSONSerialization.data(withJSONObject: options.hyperparameters.asStrings, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent("hyperparams.json")))
        return params
    }
}

extension Hyperparameters {
    /// The hyperparameters as SageMaker writes them (every value a string).
    public var asStrings: [String: String] {
        var d: [String: String] = [
            "base_network": baseNetwork.rawValue, "use_pretrained_model": usePretrainedModel ? "1" : "0",
            "num_classes": "\(numClasses)", "epochs": "\(epochs)", "learning_rate": "\(learningRate)",
            "lr_scheduler_factor": "\(lrSchedulerFactor)", "optimizer": optimizer.rawValue, "momentum": "\(momentum)",
            "weight_decay": "\(weightDecay)", "mini_batch_size": "\(miniBatchSize)", "image_shape": "\(imageShape)",
            "label_width": "\(labelWidth)", "num_training_samples": "\(numTrainingSamples)", "nms_threshold": "\(nmsThreshold)",
            "overlap_threshold": "\(overlapThreshold)", "early_stopping": earlyStopping ? "True" : "False",
            "early_stopping_min_epochs": "\(earlyStoppingMinEpochs)", "early_stopping_patience": "\(earlyStoppingPatience)",
            "early_stopping_tolerance": "\(earlyStoppingTolerance)",
        ]
        if !lrSchedulerStep.isEmpty { d["lr_scheduler_step"] = lrSchedulerStep.map(String.init).joined(separator: ",") }
        if let freezeLayerPattern { d["freeze_layer_pattern"] = freezeLayerPattern }
        if let kvStore { d["kv_store"] = kvStore.rawValue }
        return d
    }
}
