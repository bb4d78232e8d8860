import Foundation
import Optimizers
import ParameterServer

/// SageMaker Object Detection's hyperparameters (shared/reference/object-detection-hyperparameters.md
/// plus the early-stopping family), with their exact names, defaults and valid ranges.
public struct Hyperparameters: Equatable, Sendable {
    public enum BaseNetwork: String, Sendable, CaseIterable { case vgg16 = "vgg-16", resnet50 = "resnet-50" }

    public var baseNetwork: BaseNetwork = .vgg16
    public var usePretrainedModel = true
    public var numClasses: Int
    public var epochs = 30
    public var learningRate: Float = 0.001
    public var lrSchedulerFactor: Float = 0.1
    /// Epochs at which the rate is multiplied by `lrSchedulerFactor`, ascending.
    public var lrSchedulerStep: [Int] = []
    public var optimizer: OptimizerKind = .sgd
    public var momentum: Float = 0.9
    public var weightDecay: Float = 0.0005
    public var miniBatchSize = 32
    public var imageShape = 300
    public var labelWidth = 350
    public var numTrainingSamples: Int
    public var nmsThreshold: Float = 0.45
    public var overlapThreshold: Float = 0.5
    public var freezeLayerPattern: String?
    /// nil: single machine.
    public var kvStore: SyncMode?
    public var earlyStopping = false
    public var earlyStoppingMinEpochs = 10
    public var earlyStoppingPatience = 5
    public var earlyStoppingTolerance: Float = 0

    public init(numClasses: Int, numTrainingSamples: Int) {
        self.numClasses = numClasses
        self.numTrainingSamples = numTrainingSamples
    }

    /// One row of the contract: name, valid range as users read it, default, and a doc line.
    public struct Definition: Sendable {
        public var name: String
        public var valid: String
        public var defaultValue: String
        public var doc: String
    }

    /// The contract as data: validation messages and `--help-hyperparameters` both use it.
    public static let definitions: [Definition] = [
        .init(name: "base_network", valid: "'vgg-16' or 'resnet-50'", defaultValue: "vgg-16", doc: "base network architecture"),
        .init(name: "use_pretrained_model", valid: "0 or 1", defaultValue: "1", doc: "start the base network from pretrained weights"),
        .init(name: "num_classes", valid: "a positive integer", defaultValue: "(required)", doc: "number of object classes"),
        .init(name: "epochs", valid: "a positive integer", defaultValue: "30", doc: "training epochs"),
        .init(name: "learning_rate", valid: "a float in (0, 1]", defaultValue: "0.001", doc: "initial learning rate"),
        .init(name: "lr_scheduler_factor", valid: "a float in (0, 1)", defaultValue: "0.1", doc: "learning-rate multiplier at each step"),
        .init(name: "lr_scheduler_step", valid: "comma-separated ascending positive epochs, e.g. \"10, 20\"", defaultValue: "(none)", doc: "epochs at which the rate drops"),
        .init(name: "optimizer", valid: "one of sgd, adam, rmsprop, adadelta", defaultValue: "sgd", doc: "update rule"),
        .init(name: "momentum", valid: "a float in (0, 1]", defaultValue: "0.9", doc: "sgd momentum (ignored by the others)"),
        .init(name: "weight_decay", valid: "a float in (0, 1)", defaultValue: "0.0005", doc: "weight decay for sgd and rmsprop"),
        .init(name: "mini_batch_size", valid: "a positive integer", defaultValue: "32", doc: "batch per machine; dist_sync's effective batch is this × workers"),
        .init(name: "image_shape", valid: "an integer >= 300", defaultValue: "300", doc: "input images are stretched to this square size"),
        .init(name: "label_width", valid: "an integer >= 7 (2 header values + 5 per object)", defaultValue: "350", doc: "padded label length"),
        .init(name: "num_training_samples", valid: "a positive integer", defaultValue: "(required)", doc: "training images (sets the schedule's epoch length)"),
        .init(name: "nms_threshold", valid: "a float in (0, 1]", defaultValue: "0.45", doc: "non-maximum suppression IoU"),
        .init(name: "overlap_threshold", valid: "a float in (0, 1]", defaultValue: "0.5", doc: "evaluation IoU of a true positive"),
        .init(name: "freeze_layer_pattern", valid: "a regular expression", defaultValue: "(none)", doc: "parameters whose names match are not trained"),
        .init(name: "kv_store", valid: "'dist_sync' or 'dist_async'", defaultValue: "(none)", doc: "distributed update mode; ignored on a single machine"),
        .init(name: "early_stopping", valid: "True or False", defaultValue: "False", doc: "stop when validation mAP stops improving"),
        .init(name: "early_stopping_min_epochs", valid: "a positive integer", defaultValue: "10", doc: "epochs before early stopping may act"),
        .init(name: "early_stopping_patience", valid: "a positive integer", defaultValue: "5", doc: "epochs without improvement before stopping"),
        .init(name: "early_stopping_tolerance", valid: "a float in [0, 1]", defaultValue: "0.0", doc: "relative mAP improvement that counts"),
    ]

    /// The table for `--help-hyperparameters`.
    public static var helpText: String {
        let width = definitions.map(\.name.count).max() ?? 0
        return definitions.map { d in
            d.name.padding(toLength: width + 2, withPad: " ", startingAt: 0) + "\(d.doc); \(d.valid); default \(d.defaultValue)"
        }.joined(separator: "\n")
    }
}

extension Hyperparameters {
    /// Batch of one optimizer step: mini_batch_size × workers in dist_sync, else mini_batch_size.
    public func effectiveBatch(workers: Int) -> Int { kvStore == .sync ? miniBatchSize * max(1, workers) : miniBatchSize }

    /// Optimizer updates per epoch: num_training_samples ÷ effective batch (at least 1), so
    /// the schedule does not depend on how many machines there are in dist_sync.
    public func iterationsPerEpoch(workers: Int) -> Int { max(1, numTrainingSamples / effectiveBatch(workers: workers)) }
}

extension Hyperparameters {
    /// The update rule these hyperparameters ask for — the one place they become an
    /// `OptimizerConfig`, used by the single-machine trainer and sent to the parameter servers:
    /// MXNet's rules with `momentum` for sgd only and `weight_decay` for sgd and rmsprop (adam
    /// and adadelta as SageMaker's algorithm runs them, without), `rescale_grad` 1 (the loss is
    /// already normalized, see `Trainer`), no clipping, and the rate multiplied by
    /// `lr_scheduler_factor` at each epoch of `lr_scheduler_step`, counted in updates of
    /// `workers` workers' effective batch.
    public func optimizerConfig(workers: Int) -> OptimizerConfig {
        let schedule = LearningRateSchedule(epochs: lrSchedulerStep, iterationsPerEpoch: iterationsPerEpoch(workers: workers),
                                            factor: lrSchedulerFactor)
        return OptimizerConfig(kind: optimizer, learningRate: learningRate,
                               momentum: optimizer == .sgd ? momentum : 0,
                               weightDecay: optimizer == .sgd || optimizer == .rmsprop ? weightDecay : 0,
                               rescaleGrad: 1, clipGradient: nil, schedule: schedule)
    }

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
