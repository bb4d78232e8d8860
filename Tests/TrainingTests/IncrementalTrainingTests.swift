import Detection
import DetectionData
import Foundation
import Logging
import Testing
@testable import Training

/// Incremental training from SageMaker's `model` channel on the small SSD: a first run writes
/// its model artifacts, a second run with them in `<data-root>/model/` starts from all of their
/// weights; another network is an error naming both values.
@Suite("Incremental training from the model channel", .serialized)
struct IncrementalTrainingTests {
    let work: String
    var data: String { work + "/data" }
    var channel: String { data + "/model" }
    static let logger: Logger = { var l = Logger(label: "incremental-test"); l.logLevel = .error; return l }()

    init() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("incremental-\(UUID().uuidString)").path
        try SyntheticDataset(numClasses: 2, imageSize: 64, seed: 5).write(to: data, trainCount: 8, validationCount: 0, formats: .json)
    }

    func options(_ name: String, network: SSDConfig = .tiny(numClasses: 2), base: Hyperparameters.BaseNetwork = .vgg16) -> TrainingOptions {
        var h = Hyperparameters(numClasses: network.numClasses, numTrainingSamples: 8)
        h.baseNetwork = base
        h.imageShape = network.imageShape
        h.learningRate = 0.003
        h.miniBatchSize = 4
        h.epochs = 1
        var o = TrainingOptions(hyperparameters: h, dataRoot: data, modelDir: work + "/" + name)
        o.networkOverride = network
        o.augment = false
        o.loaderThreads = 1
        o.logEvery = 1000
        return o
    }

    /// A first run (from scratch, a few steps) whose artifacts become the second run's model channel.
    func firstRun() throws -> [MXNetParams.Array] {
        var o = options("first")
        o.hyperparameters.usePretrainedModel = false
        let trainer = try Trainer(options: o, cluster: nil, logger: Self.logger)
        _ = try trainer.run()
        try trainer.writeModelArtifacts()
        try FileManager.default.createDirectory(atPath: channel, withIntermediateDirectories: true)
        for file in [ModelArtifacts.symbolFile, ModelArtifacts.paramsFile, ModelArtifacts.hyperparametersFile] {
            try FileManager.default.copyItem(atPath: o.modelDir + "/" + file, toPath: channel + "/" + file)
        }
        return try MXNetParams.read(path: channel + "/" + ModelArtifacts.paramsFile)
    }

    @Test("a second run starts from every array of the model channel (base, extra layers, heads, BatchNorm statistics), even with use_pretrained_model=1 and no pretrained file")
    func startsFromAllWeights() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        let artifacts = try firstRun()
        let o = options("second")
        #expect(o.hyperparameters.usePretrainedModel)
        let second = try Trainer(options: o, cluster: nil, logger: Self.logger)
        let store = second.model.parameters
        #expect(artifacts.count == store.specs.count)
        for a in artifacts {
            let name = String(a.name.dropFirst(4))
            let i = try #require(store.specs.firstIndex { $0.name == name }, "\(name)")
            #expect(Array(store.values.view(i)) == a.values, "\(name)")
        }
        // The heads are the trained ones, not a fresh initialisation.
        let fresh = try SSDModel(config: .tiny(numClasses: 2), seed: o.seed)
        let head = try #require(store.specs.firstIndex { $0.name.hasSuffix("_cls_pred_conv_weight") })
        #expect(Array(store.values.view(head)) != Array(fresh.parameters.values.view(head)))
        // And it trains on from there.
        let summary = try second.run()
        #expect(summary.firstLoss.isFinite && summary.checkpoint != nil)
    }

    @Test("the model channel of another network: base_network, num_classes or image_shape differing is an error naming both values")
    func mismatch() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        _ = try firstRun()
        let cases: [(TrainingOptions, String)] = [
            (options("classes", network: .tiny(numClasses: 3)), "num_classes=2 there, num_classes=3 in this run"),
            (options("shape", network: .tiny(numClasses: 2, imageShape: 128)), "image_shape=64 there, image_shape=128 in this run"),
            (options("base", network: .tinyResNet(numClasses: 2), base: .resnet50), "base_network=vgg-16 there, base_network=resnet-50 in this run"),
        ]
        for (o, expected) in cases {
            do {
                _ = try Trainer(options: o, cluster: nil, logger: Self.logger)
                Issue.record("started from a model of another network: \(expected)")
            } catch let error as CheckpointError {
                guard case .networkMismatch = error else { Issue.record("\(error)"); continue }
                #expect("\(error)".contains(expected) && "\(error)".contains("the model channel \(channel)")
                        && "\(error)".contains("remove the model channel"), "\(error)")
            }
        }
    }

    @Test("a model channel without the artifacts is an error saying what it must hold; without any channel the missing pretrained weights name both channels")
    func unusableChannel() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        do {
            _ = try Trainer(options: options("none"), cluster: nil, logger: Self.logger)
            Issue.record("use_pretrained_model=1 without weights started")
        } catch let error as ModelError {
            #expect("\(error)".contains(data + "/pretrained") && "\(error)".contains("model channel \(channel)"), "\(error)")
        }
        try FileManager.default.createDirectory(atPath: channel, withIntermediateDirectories: true)
        try Data("not a tarball".utf8).write(to: URL(fileURLWithPath: channel + "/model.tar.gz"))
        do {
            _ = try Trainer(options: options("empty"), cluster: nil, logger: Self.logger)
            Issue.record("an empty model channel was ignored")
        } catch let error as CheckpointError {
            #expect("\(error)".contains("model_algo_1-symbol.json") && "\(error)".contains("the model channel \(channel)"), "\(error)")
        }
    }
}
