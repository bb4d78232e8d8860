import Detection
import DetectionData
import Foundation
import Logging
import ParameterServer
import Testing
@testable import Training

/// Spot-safe checkpoints in process, on the small SSD and 16 synthetic images: the checkpoint
/// directory, a stop request after any batch and the resume that follows, and the automatic
/// resume that skips an incomplete newest checkpoint. The same through a real `worker` and
/// SIGTERM is `SpotInterruptionTests`.
@Suite("Spot-safe checkpoints", .serialized)
struct SpotCheckpointTests {
    let work: String
    var data: String { work + "/data" }

    init() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("spot-\(UUID().uuidString)").path
        try SyntheticDataset(numClasses: 2, imageSize: 64, seed: 3).write(to: data, trainCount: 16, validationCount: 4, formats: .json)
    }

    /// 2 epochs of 4 batches, augmentation and shuffling on (what a resume must reproduce).
    func options(_ name: String, epochs: Int = 2) -> TrainingOptions {
        var h = Hyperparameters(numClasses: 2, numTrainingSamples: 16)
        h.usePretrainedModel = false
        h.learningRate = 0.003
        h.miniBatchSize = 4
        h.epochs = epochs
        h.lrSchedulerStep = [1]
        h.lrSchedulerFactor = 0.5
        var o = TrainingOptions(hyperparameters: h, dataRoot: data, modelDir: work + "/" + name)
        o.checkpointDir = work + "/" + name + "-checkpoints"
        o.networkOverride = .tiny(numClasses: 2)
        o.augment = true
        o.seed = 11
        o.loaderThreads = 1
        o.logEvery = 1000
        return o
    }

    func trainer(_ o: TrainingOptions, lines: CapturedLines = CapturedLines()) throws -> Trainer {
        let logger = Logger(label: "spot-test") { _ in CapturingHandler(sink: lines) }
        let trainer = try Trainer(options: o, cluster: nil, logger: logger)
        trainer.model.threading = .serial
        return trainer
    }

    func newestParams(_ o: TrainingOptions) throws -> [Float] {
        let newest = try #require(CheckpointFiles.search(in: o.checkpointDirectory).newest)
        return try MXNetParams.read(path: newest.checkpoint.params).flatMap(\.values)
    }

    @Test("per-epoch checkpoints, optimizer states and manifests go to the checkpoint directory; the model directory keeps only the log")
    func checkpointDirectory() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        let o = options("dir")
        _ = try trainer(o).run()
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: o.checkpointDirectory))
        for epoch in 1...2 {
            let c = CheckpointFiles(directory: o.checkpointDirectory, epoch: epoch)
            for file in [c.params, c.states, c.manifest] { #expect(names.contains((file as NSString).lastPathComponent), "\(names)") }
            let manifest = try c.readManifest().get()
            #expect(manifest.position == TrainingPosition(epoch: epoch, batch: 0, update: 4 * epoch))
            #expect(manifest.files.map(\.name) == [c.params, c.states].map { ($0 as NSString).lastPathComponent })
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: o.modelDir) == ["metrics.jsonl"])
        #expect(CheckpointLocation.resolve(option: nil, modelDir: "m", sageMaker: work + "/absent") == "m")
        #expect(CheckpointLocation.resolve(option: nil, modelDir: "m", sageMaker: o.checkpointDirectory) == o.checkpointDirectory)
        #expect(CheckpointLocation.resolve(option: "c", modelDir: "m", sageMaker: o.checkpointDirectory) == "c")
    }

    @Test("stopped after every single batch (mid-epoch and at an epoch's last batch) and restarted each time: the weights equal an uninterrupted run's, bit for bit")
    func stopAfterEveryBatch() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        let full = options("full")
        _ = try trainer(full).run()
        var o = options("stepwise")
        let stop = StopFlag()
        stop.raise()
        o.stopRequest = stop
        var stops: [TrainingPosition] = []
        for _ in 0..<20 {
            do {
                _ = try trainer(o).run()
                break
            } catch CheckpointError.interrupted(let checkpoint, let epoch, let batch) {
                let manifest = try #require(checkpoint)
                #expect(manifest.hasSuffix(String(format: "-%04d", epoch) + (batch > 0 ? String(format: "-batch%06d", batch) : "") + ".manifest.json"),
                        "\(manifest)")
                stops.append(TrainingPosition(epoch: epoch, batch: batch))
            }
        }
        // One step per run: batches 1…4 of epoch 0 (the 4th's checkpoint is taken before the
        // epoch's validation), then a run that only ends epoch 0 (validation, the epoch's
        // checkpoint) and stops there, then batches 1…4 of epoch 1; the last run ends epoch 1.
        let expected = (1...4).map { TrainingPosition(epoch: 0, batch: $0) } + (0...4).map { TrainingPosition(epoch: 1, batch: $0) }
        #expect(stops == expected, "\(stops)")
        #expect(try newestParams(o) == newestParams(full))
        let lastFull = CheckpointFiles(directory: full.checkpointDirectory, epoch: 2), last = CheckpointFiles(directory: o.checkpointDirectory, epoch: 2)
        #expect(try lastFull.readManifest().get().update == last.readManifest().get().update)
        // The epoch means logged at the end of the resumed epochs are the uninterrupted run's.
        func epochEnds(_ dir: String) throws -> [String] {
            try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
                .filter { $0.contains("\"event\":\"epoch_end\"") }
                .map { String($0).replacingOccurrences(of: #""seconds":[0-9.e-]+"#, with: "", options: .regularExpression) }
        }
        let meanKeys = #""mean_batch_[a-z_]+":[-0-9.e]+"#
        func means(_ line: String) -> [String] {
            let regex = try? NSRegularExpression(pattern: meanKeys)
            return regex?.matches(in: line, range: NSRange(line.startIndex..., in: line)).compactMap { Range($0.range, in: line).map { String(line[$0]) } } ?? []
        }
        let fullMeans = try epochEnds(full.modelDir).map(means), stepMeans = try epochEnds(o.modelDir).map(means)
        #expect(!fullMeans.isEmpty && fullMeans == stepMeans, "\(fullMeans) vs \(stepMeans)")
    }

    enum Damage: String, CaseIterable { case manifestMissing, paramsTruncated, statesReplaced }

    @Test("an interrupted checkpoint write (no manifest, a file cut short or replaced, a temporary file left) leaves the previous checkpoint usable, and the automatic resume picks it with a log line",
          arguments: Damage.allCases)
    func autoResumeSkipsIncomplete(_ damage: Damage) throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        let full = options("full", epochs: 3)
        _ = try trainer(full).run()
        let o = options("part", epochs: 3)
        _ = try trainer(options("part", epochs: 2)).run()
        let newest = CheckpointFiles(directory: o.checkpointDirectory, epoch: 2)
        switch damage {
        case .manifestMissing:
            // What a kill between the weights and the manifest leaves: both files, no manifest,
            // and the manifest's temporary file.
            try FileManager.default.removeItem(atPath: newest.manifest)
            try Data("{\"epoch\":".utf8).write(to: URL(fileURLWithPath: o.checkpointDirectory + "/.model_algo_1-0002.manifest.json.999.partial"))
        case .paramsTruncated:
            let bytes = try Data(contentsOf: URL(fileURLWithPath: newest.params))
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: newest.params))
        case .statesReplaced:
            try Data(contentsOf: URL(fileURLWithPath: CheckpointFiles(directory: o.checkpointDirectory, epoch: 1).states))
                .write(to: URL(fileURLWithPath: newest.states))
        }
        let lines = CapturedLines()
        let resumed = try trainer(o, lines: lines)
        #expect(resumed.resumePoint?.checkpoint == CheckpointFiles(directory: o.checkpointDirectory, epoch: 1))
        #expect(lines.lines.contains { $0.contains("model_algo_1-0002.params is not complete") && $0.contains("trying the previous one") },
                "\(lines.lines)")
        let summary = try resumed.run()
        #expect(summary.learningRates.count == 2, "epochs 1 and 2 trained again")
        #expect(lines.lines.contains { $0.contains("resumed from") && $0.contains("model_algo_1-0001.manifest.json") }, "\(lines.lines)")
        #expect(try newestParams(o) == newestParams(full))
    }

    @Test("no complete checkpoint at all: the automatic resume starts from the beginning (with a warning); --resume is an error")
    func noCompleteCheckpoint() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        let o = options("one", epochs: 1)
        _ = try trainer(o).run()
        try FileManager.default.removeItem(atPath: CheckpointFiles(directory: o.checkpointDirectory, epoch: 1).manifest)
        let lines = CapturedLines()
        #expect(try trainer(o, lines: lines).resumePoint == nil)
        #expect(lines.lines.contains { $0.contains("no complete checkpoint") && $0.contains("from the beginning") }, "\(lines.lines)")
        var explicit = o
        explicit.resumeFrom = o.checkpointDirectory
        do {
            _ = try trainer(explicit)
            Issue.record("--resume without a complete checkpoint started")
        } catch let error as TrainingError {
            guard case .noUsableCheckpoint(_, let tried) = error else { Issue.record("\(error)"); return }
            #expect(tried.count == 1 && tried[0].contains("no manifest"), "\(tried)")
        }
    }

    @Test("a checkpoint of another network is an error naming both values, not a silent restart")
    func checkpointOfAnotherNetwork() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        _ = try trainer(options("net", epochs: 1)).run()
        var o = options("net", epochs: 1)
        o.networkOverride = .tiny(numClasses: 3)
        o.hyperparameters.numClasses = 3
        do {
            _ = try trainer(o)
            Issue.record("resumed a checkpoint of 2 classes with 3")
        } catch let error as CheckpointError {
            #expect("\(error)".contains("num_classes=2 there, num_classes=3 in this run") && "\(error)".contains("--checkpoint-dir"), "\(error)")
        }
    }
}
