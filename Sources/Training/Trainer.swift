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
    /// The final model and `metrics.jsonl` go here (SageMaker `/opt/ml/model`).
    public var modelDir: String
    /// Per-epoch checkpoints with their optimizer states (and on SIGTERM a mid-epoch one) go
    /// here, and a start resumes automatically from the newest complete one here; nil: `modelDir`
    /// (`CheckpointLocation.resolve` picks `/opt/ml/checkpoints` on SageMaker).
    public var checkpointDir: String?
    /// An MXNet `.params` with the base network's weights, for `use_pretrained_model=1`
    /// (nil: the one `.params` of the `pretrained` channel, when there is one).
    public var pretrainedModel: String?
    /// Replaces the standard network (tests use `SSDConfig.tiny`).
    public var networkOverride: SSDConfig?
    /// Augment training images (off for deterministic equivalence checks).
    public var augment = true
    public var seed: UInt64 = 233
    public var loaderThreads = 2
    /// The kernels' threads (`ComputeThreads.apply()`); nil: the model's default.
    public var threading: Threading?
    /// Log a progress line every this many batches.
    public var logEvery = 10
    public var skipBadSamples = false
    /// Continue from the newest complete checkpoint in this directory — weights, optimizer state,
    /// update count, epoch and batch (in a cluster worker 0 gives the servers their saved state
    /// back) — and fail when there is none. Without it a run resumes from the checkpoint
    /// directory's newest complete checkpoint when it has one.
    public var resumeFrom: String?
    /// Raised (by the worker's SIGTERM/SIGINT handler) to stop after the step in hand, with a
    /// checkpoint of where it stopped (`CheckpointError.interrupted`).
    public var stopRequest: StopFlag?
    /// 3×3 layers with at least this many input and output channels run as Winograd F(2×2, 3×3)
    /// (forward and input gradient), and their weight gradients from the second count; nil:
    /// always im2col. The defaults (`Conv2D.Workspace`) were chosen by KernelBenchmarks on a
    /// 2-core machine (Benchmarks/results/README.md); another CPU may want other cut-offs.
    public var winogradMinimumChannels: Int? = Conv2D.Workspace().winogradMinimumChannels
    public var winogradWeightGradientMinimumChannels: Int? = Conv2D.Workspace().winogradWeightGradientMinimumChannels
    /// Told of every step, wait and exchange (`worker --metrics-port`); nil: nobody watches.
    public var observer: (any TrainingObserver)?

    public init(hyperparameters: Hyperparameters, dataRoot: String, modelDir: String) {
        self.hyperparameters = hyperparameters; self.dataRoot = dataRoot; self.modelDir = modelDir
    }

    /// Where checkpoints are written and resumed from.
    public var checkpointDirectory: String { checkpointDir ?? modelDir }
}

/// What a run produced.
public struct TrainingSummary: Sendable {
    public var epochs: Int
    public var lastLoss = Double.nan
    public var firstLoss = Double.nan
    public var validationMAP: Double?
    public var imagesPerSecond: Double { busySeconds > 0 ? Double(images) / busySeconds : 0 }
    public var checkpoint: String?
    /// The learning rate used in each epoch.
    public var learningRates: [Float] = []
    /// Fraction of step time spent exchanging with the servers (0 on a single machine).
    public var waitingFraction = 0.0
    /// This worker's rank, the number of workers and the effective batch they trained with.
    public var rank = 0, workers = 1, effectiveBatch = 0
    /// Images trained on and the seconds their steps took.
    public var images = 0, busySeconds = 0.0

    /// Adds one step.
    mutating func record(_ loss: MultiBoxLoss.Result, images count: Int, seconds: Double) {
        let total = loss.crossEntropy + loss.smoothL1
        if firstLoss.isNaN { firstLoss = total }
        lastLoss = total
        images += count; busySeconds += seconds
    }
}

/// The training loop, llm.c-style: per batch forward → loss → backward → update → log, per
/// epoch validation mAP, a checkpoint and early stopping. Everything that differs between one
/// machine and a cluster is behind `GradientSink` (`LocalUpdate`, `DistributedUpdate`).
public final class Trainer {
    public let options: TrainingOptions
    public let model: SSDModel
    let cluster: ClusterConfig?
    let logger: Logger
    let progress: ProgressLog
    /// The checkpoint this run continues from (its weights are loaded), if any.
    let resumePoint: (checkpoint: CheckpointFiles, manifest: CheckpointManifest)?

    public init(options: TrainingOptions, cluster: ClusterConfig?, logger: Logger) throws {
        self.options = options
        self.cluster = cluster
        self.logger = logger
        let h = options.hyperparameters
        let config = try options.networkOverride ?? SSDConfig.forBaseNetwork(h.baseNetwork.rawValue, imageShape: h.imageShape, numClasses: h.numClasses)
        model = try SSDModel(config: config, seed: options.seed)
        model.workspace.winogradMinimumChannels = options.winogradMinimumChannels
        model.workspace.winogradWeightGradientMinimumChannels = options.winogradWeightGradientMinimumChannels
        if let threading = options.threading { model.threading = threading }
        // The starting weights: a checkpoint of this run (a restart), else the model channel
        // (incremental training), else pretrained base weights, else the initialisation.
        resumePoint = try Self.findResumePoint(options, model: model, logger: logger)
        let modelChannel = ModelChannel.path(dataRoot: options.dataRoot)
        if let resumePoint {
            try resumePoint.checkpoint.loadWeights(into: model)
        } else if ModelChannel.exists(dataRoot: options.dataRoot) {
            let loaded = try ModelChannel.load(from: modelChannel, into: model)
            logger.info("incremental training: starting from all \(loaded) arrays of the model channel \(modelChannel)")
        } else if h.usePretrainedModel {
            let channel = (options.dataRoot as NSString).appendingPathComponent("pretrained")
            guard let path = options.pretrainedModel ?? Self.onlyParamsFile(in: channel) else {
                throw ModelError.pretrainedWeightsMissing(
                    expected: "\(channel) (no --pretrained-model given, and that channel does not hold exactly one .params file); to "
                        + "continue training an earlier model instead, put its \(ModelArtifacts.paramsFile), \(ModelArtifacts.symbolFile) and "
                        + "\(ModelArtifacts.hyperparametersFile) in the model channel \(modelChannel)")
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
        try FileManager.default.createDirectory(atPath: options.checkpointDirectory, withIntermediateDirectories: true)
        progress = try ProgressLog(directory: options.modelDir, logger: logger)
        progress.observer = options.observer
    }

    /// The newest complete checkpoint of `--resume`'s directory (none there is an error), else
    /// of the checkpoint directory (none there: a fresh start); newer incomplete ones are logged
    /// and skipped. A checkpoint of another network is an error naming both.
    static func findResumePoint(_ options: TrainingOptions, model: SSDModel,
                                logger: Logger) throws -> (checkpoint: CheckpointFiles, manifest: CheckpointManifest)? {
        let directory = options.resumeFrom ?? options.checkpointDirectory
        let search = CheckpointFiles.search(in: directory)
        for skipped in search.skipped {
            logger.warning("checkpoint \(skipped.checkpoint.params) is not complete (\(skipped.reason)); trying the previous one")
        }
        guard let newest = search.newest else {
            if options.resumeFrom != nil {
                if search.skipped.isEmpty { throw ModelError.checkpointMissing(directory: directory) }
                throw TrainingError.noUsableCheckpoint(directory: directory, tried: search.skipped.map { "\($0.reason)" })
            }
            if !search.skipped.isEmpty { logger.warning("no complete checkpoint in \(directory): starting from the beginning") }
            return nil
        }
        let differences = NetworkIdentity(model.config).differences(from: newest.manifest.network)
        guard differences.isEmpty else {
            throw CheckpointError.networkMismatch(
                source: "the checkpoint \(newest.checkpoint.manifest)", differences: differences,
                remedy: "A start resumes the checkpoints of its own run from \(directory): run with the earlier run's hyperparameters, "
                    + "or give another --checkpoint-dir (or remove those checkpoints) to start a new run")
        }
        return newest
    }

    /// The one `.params` file of `directory`, if it holds exactly one.
    static func onlyParamsFile(in directory: String) -> String? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".params") }
        return names.count == 1 ? (directory as NSString).appendingPathComponent(names[0]) : nil
    }

    /// Trains for `epochs`; returns the summary.
    public func run() throws -> TrainingSummary {
        let h = options.hyperparameters
        let sink = try makeSink()
        var position = try resumePoint.map { try resume(from: $0, sink: sink) } ?? TrainingPosition()
        try sink.start()
        let (loader, validation) = try openChannels(rank: sink.rank, workers: sink.workers)
        let schedule = h.optimizerConfig(workers: sink.workers).schedule
        try progress.start(hyperparameters: h, workers: sink.workers, rank: sink.rank, effectiveBatch: h.effectiveBatch(workers: sink.workers),
                           parameters: model.parameters.count, anchors: model.anchorCount, blas: BLAS.summary())
        var summary = TrainingSummary(epochs: h.epochs, rank: sink.rank, workers: sink.workers, effectiveBatch: h.effectiveBatch(workers: sink.workers))
        var stopping = EarlyStopping(h)
        var epochLoss = (ce: 0.0, l1: 0.0)
        if let m = resumePoint?.manifest {
            stopping.best = m.bestMAP; stopping.epochsWithoutImprovement = m.epochsWithoutImprovement
            epochLoss = (m.epochCrossEntropy, m.epochSmoothL1)
        }
        for epoch in position.epoch..<h.epochs {
            summary.learningRates.append(schedule.learningRate(base: h.learningRate, atUpdate: position.update + 1))
            // After a stop mid-epoch the epoch continues at its next batch: the order and the
            // augmentation of a batch depend only on the seed, the epoch and the batch's place.
            let batches = loader.epoch(epoch, from: position.batch)
            var step = position.batch
            let epochStart = Date()
            while let batch = try batches.next() {
                let t0 = Date()
                step += 1
                // Forward, loss and backward; each gradient goes to the sink as soon as backward has it.
                let loss: MultiBoxLoss.Result
                do {
                    loss = try model.trainingStep(images: batch.images, labels: batch.labels, batch: batch.count,
                                                  normalizers: sink.normalizers, gradientReady: sink.gradientReady)
                } catch ModelError.nonFiniteLoss(let ce, let l1) {
                    throw TrainingError.diverged(epoch: epoch, batch: step, crossEntropy: ce, smoothL1: l1)
                }
                // Update: the local optimizer, or the servers' new weights.
                position.update += 1
                try sink.update(position.update)
                // Log.
                let seconds = Date().timeIntervalSince(t0)
                summary.record(loss, images: batch.count, seconds: seconds)
                epochLoss.ce += loss.crossEntropy; epochLoss.l1 += loss.smoothL1
                try progress.batch(epoch: epoch, step: step, of: batches.batchesPerEpoch, samples: batch.count, metric: loss.metric,
                                   imagesPerSecond: Double(batch.count) / seconds,
                                   learningRate: schedule.learningRate(base: h.learningRate, atUpdate: position.update), every: options.logEvery)
                position.batch = step
                if options.stopRequest?.isRaised == true {
                    let written = sink.rank == 0
                        ? try saveCheckpoint(position, sink: sink, epochLoss: epochLoss, stopping: stopping).manifest : nil
                    throw CheckpointError.interrupted(checkpoint: written, epoch: epoch, batch: step)
                }
            }
            if !batches.skippedSummary.isEmpty { logger.warning("\(batches.skippedSummary)") }
            try progress.epoch(epoch, crossEntropy: epochLoss.ce / Double(max(step, 1)), smoothL1: epochLoss.l1 / Double(max(step, 1)),
                               seconds: Date().timeIntervalSince(epochStart))
            position.epoch = epoch + 1
            position.batch = 0
            epochLoss = (0, 0)
            var written: CheckpointFiles?, stopNow = false
            if sink.rank == 0 {
                if let validation {
                    summary.validationMAP = try evaluate(validation)
                    try progress.validation(epoch, mAP: summary.validationMAP!)
                }
                if h.earlyStopping { stopNow = stopping.shouldStop(afterEpoch: epoch, mAP: summary.validationMAP) }
                written = try saveCheckpoint(position, sink: sink, epochLoss: epochLoss, stopping: stopping)
                summary.checkpoint = written?.params
            }
            try sink.endEpoch()
            if h.earlyStopping, try sink.agreeOnStopping(stopNow) {
                logger.info("early stopping after epoch \(epoch): validation mAP did not improve by \(h.earlyStoppingTolerance) (relative) for \(h.earlyStoppingPatience) epoch(s)")
                break
            }
            if options.stopRequest?.isRaised == true, epoch + 1 < h.epochs {
                throw CheckpointError.interrupted(checkpoint: written?.manifest, epoch: epoch + 1, batch: 0)
            }
        }
        try sink.finish()
        summary.waitingFraction = summary.busySeconds > 0 ? sink.waitingSeconds / summary.busySeconds : 0
        return summary
    }

    /// The update path: the servers when a cluster and `kv_store` are given, else this process.
    func makeSink() throws -> any GradientSink {
        let h = options.hyperparameters
        if let cluster, let mode = h.kvStore {
            return try DistributedUpdate(cluster: cluster, mode: mode, store: model.parameters, hyperparameters: h, logger: logger,
                                         observer: options.observer, start: resumePoint.map {
                                             TrainingPosition(epoch: $0.manifest.epoch, batch: $0.manifest.batch, update: $0.manifest.update)
                                         } ?? TrainingPosition())
        }
        return LocalUpdate(store: model.parameters, optimizer: h.optimizerConfig(workers: 1), threads: model.threading.threads)
    }

    /// Restores the optimizer's side of `resumePoint` (its weights are loaded already); returns
    /// where training continues.
    func resume(from point: (checkpoint: CheckpointFiles, manifest: CheckpointManifest), sink: any GradientSink) throws -> TrainingPosition {
        let (checkpoint, manifest) = point
        let position = try sink.restore(from: checkpoint)
        logger.notice("resumed from \(checkpoint.manifest): epoch \(position.epoch), batch \(position.batch), update \(position.update)")
        let h = options.hyperparameters
        if manifest.batch > 0, manifest.seed != options.seed || manifest.miniBatchSize != h.miniBatchSize
            || manifest.workers != sink.workers || manifest.augment != options.augment {
            let then = "seed \(manifest.seed), mini_batch_size \(manifest.miniBatchSize), \(manifest.workers) worker(s), augmentation \(manifest.augment)"
            let now = "\(options.seed), \(h.miniBatchSize), \(sink.workers), \(options.augment)"
            logger.warning("the checkpoint was written mid-epoch with \(then); this run has \(now): the rest of epoch \(position.epoch) will not be the batches an uninterrupted run trains")
        }
        return position
    }

    /// This worker's shard of the `train` channel, and the `validation` channel when there is
    /// one (a validation channel that exists but cannot be opened is an error).
    func openChannels(rank: Int, workers: Int) throws -> (Loader, (any DetectionDataset)?) {
        let h = options.hyperparameters
        let train = try openSageMakerChannel(dataRoot: options.dataRoot, channel: "train")
        let loader = try Loader(dataset: train, batchSize: h.miniBatchSize, imageShape: model.config.imageShape, labelWidth: h.labelWidth,
                                shard: Shard(rank: rank, count: workers),
                                seed: options.seed, augment: options.augment, shuffle: options.augment, threads: options.loaderThreads,
                                skipBadSamples: options.skipBadSamples, numClasses: h.numClasses)
        let validationDir = (options.dataRoot as NSString).appendingPathComponent("validation")
        guard FileManager.default.fileExists(atPath: validationDir) || FileManager.default.fileExists(atPath: validationDir + ".rec") else {
            if h.earlyStopping { logger.warning("early_stopping=True but there is no validation channel: every epoch will run") }
            return (loader, nil)
        }
        do {
            return (loader, try openSageMakerChannel(dataRoot: options.dataRoot, channel: "validation"))
        } catch {
            throw TrainingError.validationChannelUnreadable(path: validationDir, reason: "\(error)")
        }
    }

    /// Validation mAP (VOC07 11-point, `overlap_threshold`, `nms_threshold`).
    public func evaluate(_ dataset: any DetectionDataset) throws -> Double {
        let h = options.hyperparameters
        return try Evaluation.meanAveragePrecision(model: model, dataset: dataset, batchSize: min(h.miniBatchSize, 8),
                                                   labelWidth: h.labelWidth, overlapThreshold: h.overlapThreshold,
                                                   nmsThreshold: h.nmsThreshold, threads: options.loaderThreads)
    }

    /// Writes the checkpoint of `position` (`CheckpointFiles`): the optimizer's state first, then
    /// the weights and the model description, and last the manifest that makes it complete; each
    /// file atomically. Non-finite weights never reach a checkpoint.
    func saveCheckpoint(_ position: TrainingPosition, sink: any GradientSink, epochLoss: (ce: Double, l1: Double),
                        stopping: EarlyStopping) throws -> CheckpointFiles {
        let store = model.parameters
        if let bad = store.specs.indices.first(where: { !store.values.view($0).allSatisfy(\.isFinite) }) {
            throw TrainingError.nonFiniteWeights(epoch: position.epoch - 1, parameter: store.specs[bad].name)
        }
        let h = options.hyperparameters
        let checkpoint = CheckpointFiles(directory: options.checkpointDirectory, epoch: position.epoch, batch: position.batch)
        try sink.save(beside: checkpoint, position: position)
        try checkpoint.writeModel(model, hyperparameters: h)
        try checkpoint.writeManifest(CheckpointManifest(
            epoch: position.epoch, batch: position.batch, update: position.update, seed: options.seed, miniBatchSize: h.miniBatchSize,
            workers: sink.workers, augment: options.augment, network: NetworkIdentity(model.config),
            epochCrossEntropy: epochLoss.ce, epochSmoothL1: epochLoss.l1, bestMAP: stopping.best,
            epochsWithoutImprovement: stopping.epochsWithoutImprovement))
        let superseded = checkpoint.removeSupersededMidEpochCheckpoints()
        for removed in superseded.removed { logger.info("removed mid-epoch checkpoint \(removed.manifest): \(checkpoint.manifest) supersedes it") }
        for failure in superseded.failures { logger.warning("could not remove a superseded mid-epoch checkpoint's file \(failure); delete it by hand") }
        return checkpoint
    }
}

/// `early_stopping`: rank 0 (the only one that validates) decides; the sink tells every worker.
/// Its memory (`best`, `epochsWithoutImprovement`) travels in the checkpoint's manifest.
struct EarlyStopping {
    let minEpochs: Int, patience: Int, tolerance: Double
    var best = -1.0, epochsWithoutImprovement = 0

    init(_ h: Hyperparameters) {
        minEpochs = h.earlyStoppingMinEpochs; patience = h.earlyStoppingPatience; tolerance = Double(h.earlyStoppingTolerance)
    }

    /// Whether to stop after `epoch` given its validation mAP (nil: this worker does not validate).
    mutating func shouldStop(afterEpoch epoch: Int, mAP: Double?) -> Bool {
        guard let m = mAP else { return false }
        if best < 0 || (best > 0 && (m - best) / best >= tolerance) || (best == 0 && m > 0) {
            best = max(best, m); epochsWithoutImprovement = 0
        } else {
            epochsWithoutImprovement += 1
        }
        return epoch + 1 >= minEpochs && epochsWithoutImprovement >= patience
    }
}
