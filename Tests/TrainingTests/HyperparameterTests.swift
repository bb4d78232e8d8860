import Foundation
import Testing
import Training

func parse(_ values: [String: String], cluster: Bool = false) -> Result<Hyperparameters, HyperparameterProblems> {
    Hyperparameters.parse(values, clusterConfigured: cluster)
}

func problems(_ values: [String: String], cluster: Bool = false) -> [String] {
    if case .failure(let p) = parse(values, cluster: cluster) { return p.messages }
    return []
}

let required = ["num_classes": "4", "num_training_samples": "100"]

@Suite("Hyperparameters")
struct HyperparameterTests {
    @Test("defaults are the contract's")
    func defaults() throws {
        let h = try parse(required).get()
        #expect(h.baseNetwork == .vgg16 && h.usePretrainedModel && h.epochs == 30 && h.learningRate == 0.001)
        #expect(h.lrSchedulerFactor == 0.1 && h.lrSchedulerStep.isEmpty && h.optimizer == .sgd && h.momentum == 0.9)
        #expect(h.weightDecay == 0.0005 && h.miniBatchSize == 32 && h.imageShape == 300 && h.labelWidth == 350)
        #expect(h.nmsThreshold == 0.45 && h.overlapThreshold == 0.5 && h.freezeLayerPattern == nil && h.kvStore == nil)
        #expect(!h.earlyStopping && h.earlyStoppingMinEpochs == 10 && h.earlyStoppingPatience == 5 && h.earlyStoppingTolerance == 0)
        #expect(Hyperparameters.definitions.count == 22)
    }

    @Test("a valid value of every hyperparameter takes effect")
    func validValues() throws {
        var v = required
        v.merge(["base_network": "resnet-50", "use_pretrained_model": "0", "epochs": "7", "learning_rate": "1",
                 "lr_scheduler_factor": "0.5", "lr_scheduler_step": "2, 4", "optimizer": "adam", "momentum": "1",
                 "weight_decay": "0.01", "mini_batch_size": "8", "image_shape": "512", "label_width": "60",
                 "nms_threshold": "1", "overlap_threshold": "0.7", "freeze_layer_pattern": "^(conv1_|conv2_).*",
                 "kv_store": "dist_async", "early_stopping": "True", "early_stopping_min_epochs": "3",
                 "early_stopping_patience": "2", "early_stopping_tolerance": "0.01"]) { $1 }
        let h = try parse(v, cluster: true).get()
        #expect(h.baseNetwork == .resnet50 && !h.usePretrainedModel && h.epochs == 7 && h.learningRate == 1)
        #expect(h.lrSchedulerFactor == 0.5 && h.lrSchedulerStep == [2, 4] && h.optimizer == .adam && h.momentum == 1)
        #expect(h.weightDecay == 0.01 && h.miniBatchSize == 8 && h.imageShape == 512 && h.labelWidth == 60)
        #expect(h.nmsThreshold == 1 && h.overlapThreshold == 0.7 && h.freezeLayerPattern == "^(conv1_|conv2_).*")
        #expect(h.kvStore == .async && h.earlyStopping && h.earlyStoppingMinEpochs == 3 && h.earlyStoppingPatience == 2)
        #expect(h.earlyStoppingTolerance == 0.01 && h.numClasses == 4 && h.numTrainingSamples == 100)
    }

    @Test("each invalid value is named with its value and valid range", arguments: [
        ("learning_rate", "0", "learning_rate=0: must be a float in (0, 1]"),
        ("learning_rate", "1.5", "learning_rate=1.5: must be a float in (0, 1]"),
        ("image_shape", "299", "image_shape=299: must be an integer >= 300"),
        ("optimizer", "adamw", "optimizer=adamw: must be one of sgd, adam, rmsprop, adadelta"),
        ("momentum", "1.5", "momentum=1.5: must be a float in (0, 1]"),
        ("momentum", "0", "momentum=0: must be a float in (0, 1]"),
        ("lr_scheduler_step", "10,x", "lr_scheduler_step=10,x: must be comma-separated"),
        ("lr_scheduler_step", "20,10", "lr_scheduler_step=20,10: must be comma-separated"),
        ("lr_scheduler_factor", "1", "lr_scheduler_factor=1: must be a float in (0, 1)"),
        ("weight_decay", "0", "weight_decay=0: must be a float in (0, 1)"),
        ("freeze_layer_pattern", "(conv1_", "freeze_layer_pattern=(conv1_: must be a regular expression"),
        ("epochs", "0", "epochs=0: must be a positive integer"),
        ("epochs", "three", "epochs=three: must be a positive integer"),
        ("mini_batch_size", "-2", "mini_batch_size=-2: must be a positive integer"),
        ("label_width", "6", "label_width=6: must be an integer >= 7"),
        ("base_network", "vgg-19", "base_network=vgg-19: must be 'vgg-16' or 'resnet-50'"),
        ("use_pretrained_model", "2", "use_pretrained_model=2: must be 0 or 1"),
        ("nms_threshold", "0", "nms_threshold=0: must be a float in (0, 1]"),
        ("overlap_threshold", "1.01", "overlap_threshold=1.01: must be a float in (0, 1]"),
        ("kv_store", "dist_sink", "kv_store=dist_sink: must be 'dist_sync' or 'dist_async'"),
        ("early_stopping", "maybe", "early_stopping=maybe: must be True or False"),
        ("early_stopping_tolerance", "2", "early_stopping_tolerance=2: must be a float in [0, 1]"),
        ("num_classes", "0", "num_classes=0: must be a positive integer"),
        ("num_classes", "1e3", "num_classes=1e3: must be a positive integer"),
        ("epochs", "10.0", "epochs=10.0: must be a positive integer"),
        ("mini_batch_size", "0x10", "mini_batch_size=0x10: must be a positive integer"),
        ("epochs", "99999999999999999999", "epochs=99999999999999999999: must be a positive integer"),
        ("epochs", "1000001", "epochs=1000001: must be at most 1000000"),
        ("lr_scheduler_step", "10, 9999999", "lr_scheduler_step=10, 9999999: must be comma-separated"),
        ("num_training_samples", "1099511627777", "num_training_samples=1099511627777: must be at most 1099511627776"),
    ])
    func invalid(_ name: String, _ value: String, _ message: String) {
        var v = required
        v[name] = value
        let found = problems(v, cluster: true)
        #expect(found.count == 1 && found[0].hasPrefix(message), "\(found)")
    }

    @Test("missing required values, unknown names (did you mean) and kv_store without a cluster; all reported together")
    func severalProblems() {
        let found = problems(["num_clases": "4", "learning_rate": "0", "kv_store": "dist_sync"])
        #expect(found.contains("num_clases: unknown hyperparameter; did you mean num_classes?"))
        #expect(found.contains { $0.hasPrefix("num_classes: required") })
        #expect(found.contains { $0.hasPrefix("num_training_samples: required") })
        #expect(found.contains { $0.hasPrefix("learning_rate=0") })
        #expect(found.contains { $0.hasPrefix("kv_store=dist_sync: needs a cluster") })
        #expect(found.count == 5)
        // On a single machine kv_store may be ignored instead of rejected.
        #expect((try? Hyperparameters.parse(required.merging(["kv_store": "dist_sync"]) { $1 }, clusterConfigured: false,
                                            requireClusterForKVStore: false).get())?.kvStore == nil)
    }

    @Test("names SageMaker adds (tuning objective, sagemaker_*) are not rejected")
    func sageMakerAddedNames() throws {
        let v = required.merging(["_tuning_objective_metric": "validation:mAP", "sagemaker_container_log_level": "20",
                                  "sagemaker_program": "train"]) { $1 }
        #expect(try parse(v).get().numClasses == 4)
    }

    @Test("SageMaker's hyperparameters.json (string values) with command-line flags winning")
    func fileAndFlags() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("hyperparameters.json").path
        try #"{"num_classes": "4", "num_training_samples": "100", "epochs": "3", "mini_batch_size": 16, "early_stopping": true}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try Hyperparameters.readFile(file)
        let (flags, rest) = Hyperparameters.extractFlags(["--epochs", "5", "--train", "data/train", "--learning_rate=0.01", "-v"])
        #expect(rest == ["--train", "data/train", "-v"])
        let h = try parse(fromFile.merging(flags) { _, flag in flag }).get()
        #expect(h.epochs == 5 && h.learningRate == 0.01 && h.miniBatchSize == 16 && h.earlyStopping)
        #expect(Hyperparameters.helpText.contains("num_training_samples"))
    }

    @Test("epochs of lr_scheduler_step become updates of the effective batch, for 1 and 2 workers")
    func schedule() throws {
        var v = required
        v.merge(["num_training_samples": "64", "mini_batch_size": "8", "lr_scheduler_step": "2,4", "lr_scheduler_factor": "0.5",
                 "kv_store": "dist_sync"]) { $1 }
        let h = try parse(v, cluster: true).get()
        #expect(h.effectiveBatch(workers: 1) == 8 && h.iterationsPerEpoch(workers: 1) == 8)
        #expect(h.effectiveBatch(workers: 2) == 16 && h.iterationsPerEpoch(workers: 2) == 4)
    }

    @Test("a batch or image too large for memory is refused with the largest value that fits, before any allocation")
    func memoryBounds() throws {
        let limits = HyperparameterLimits(memoryBytes: 24 << 30)
        func check(_ extra: [String: String]) -> [String] {
            if case .failure(let p) = Hyperparameters.parse(required.merging(extra) { $1 }, clusterConfigured: false, limits: limits) {
                return p.messages
            }
            return []
        }
        // The issue's two aborts (exit 134 after asking for terabytes).
        let batch = check(["mini_batch_size": "99999999"])
        #expect(batch == ["mini_batch_size=99999999: must be at most 1000000 (a positive integer)"])
        let image = check(["image_shape": "100000"])
        #expect(image.count == 1 && image[0].hasPrefix("image_shape=100000: one image needs at least 9.3 TiB of feature maps"), "\(image)")
        // The largest value named in each message fits, one more does not.
        let bigBatch = check(["mini_batch_size": "5000"])
        #expect(bigBatch.count == 1 && bigBatch[0].hasPrefix("mini_batch_size=5000: a batch at image_shape=300 needs at least"), "\(bigBatch)")
        let fit = try #require(Int(bigBatch[0].split(separator: "=").last!.split(separator: " ")[0]))
        #expect(check(["mini_batch_size": "\(fit)"]).isEmpty)
        #expect(!check(["mini_batch_size": "\(fit + 1)"]).isEmpty)
        let fitShape = try #require(Int(image[0].split(separator: "=").last!.split(separator: " ")[0]))
        #expect(check(["image_shape": "\(fitShape)", "mini_batch_size": "1"]).isEmpty)
        #expect(!check(["image_shape": "\(fitShape + 1)", "mini_batch_size": "1"]).isEmpty)
        let classes = check(["num_classes": "100000"])
        #expect(classes.count == 1 && classes[0].hasPrefix("num_classes=100000: the class heads alone need at least 97.7 GiB"), "\(classes)")
        // The lower bound never refuses the contract's largest defaults: SSD512, batch 32.
        #expect(check(["image_shape": "512", "mini_batch_size": "32"]).isEmpty)
        #expect(HyperparameterLimits.thisMachine.memoryBytes > 0)
    }

    @Test("JSON numbers stay numbers (0 and 1 are not booleans); nested values name their key")
    func jsonTypes() throws {
        let file = Data((#"{"num_classes": 4, "num_training_samples": 100, "epochs": 1, "use_pretrained_model": 0,"#
                         + #" "learning_rate": 0.5, "early_stopping": true, "mini_batch_size": "8"}"#).utf8)
        let values = try Hyperparameters.decodeFile(file, source: "hp.json")
        #expect(values == ["num_classes": "4", "num_training_samples": "100", "epochs": "1", "use_pretrained_model": "0",
                           "learning_rate": "0.5", "early_stopping": "True", "mini_batch_size": "8"])
        let h = try parse(values).get()
        #expect(h.epochs == 1 && !h.usePretrainedModel && h.learningRate == 0.5 && h.earlyStopping && h.miniBatchSize == 8)
        #expect(try Hyperparameters.decodeFile(Data(#"{"epochs": 1.5}"#.utf8), source: "hp.json") == ["epochs": "1.5"])
        #expect(problems(required.merging(["epochs": "1.5"]) { $1 }) == ["epochs=1.5: must be a positive integer"])
        #expect(throws: HyperparameterProblems.self) { try Hyperparameters.decodeFile(Data("[1, 2]".utf8), source: "hp.json") }
        do {
            _ = try Hyperparameters.decodeFile(Data(#"{"epochs": [1], "num_classes": null, "momentum": {"a": 1}}"#.utf8), source: "hp.json")
            Issue.record("nested values were accepted")
        } catch let error as HyperparameterProblems {
            #expect(error.messages.count == 3)
            #expect(error.messages[0].hasPrefix("epochs: a nested value (object or array) in hp.json"))
            #expect(error.messages[1].hasPrefix("momentum: a nested value"))
            #expect(error.messages[2].hasPrefix("num_classes: null in hp.json"))
        }
    }
}
