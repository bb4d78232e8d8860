import Detection
import Foundation
import TestSupport
import Testing
import Training

/// deploy/sagemaker/train on one host with SageMaker's layout under `SM_ROOT`: a first job's
/// `model.tar.gz` as the second job's `model` channel (incremental training), and
/// `checkpoints/` (managed spot training) receiving the checkpoints.
@Suite("deploy/sagemaker/train: model channel and checkpoints", .serialized)
struct SageMakerChannelsTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/sagemaker/train").path
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("sm-channels-\(UUID().uuidString)")

    /// A SageMaker root with the train channel and the hyperparameters (one host, no resourceconfig).
    func makeRoot(_ name: String, data: URL) throws -> URL {
        let root = work.appendingPathComponent(name), fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("input/config"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("input/data"), withIntermediateDirectories: true)
        for channel in ["train", "train_annotation"] {
            try fm.copyItem(at: data.appendingPathComponent(channel), to: root.appendingPathComponent("input/data/\(channel)"))
        }
        try #"{"num_classes": "2", "num_training_samples": "8", "epochs": "1", "mini_batch_size": "4", "use_pretrained_model": "0"}"#
            .write(to: root.appendingPathComponent("input/config/hyperparameters.json"), atomically: true, encoding: .utf8)
        return root
    }

    func train(_ root: URL) async throws -> ScriptRun {
        try await runScript(Self.script, [], environment: ["SM_ROOT": root.path, "SSD_BIN": productsDirectory.path,
                                                           "SSD_WORKER_ARGS": "--tiny-network --blas-threads 1"], timeout: 180)
    }

    @Test("a first job's model.tar.gz in the model channel: the second job unpacks it and starts from all its weights; checkpoints/ receives the checkpoints")
    func incrementalFromTarball() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let data = work.appendingPathComponent("data")
        let synth = try await runProcess(productsDirectory.appendingPathComponent("ssd"),
                                         ["synth", "--output", data.path, "--num-classes", "2", "--train", "8", "--validation", "0",
                                          "--image-size", "64"], timeout: 60)
        try #require(synth.status == 0, "\(synth.stderr)")
        let first = try makeRoot("first", data: data)
        let firstRun = try await train(first)
        try #require(firstRun.status == 0, "\(firstRun.stderr)")
        let second = try makeRoot("second", data: data)
        let channel = second.appendingPathComponent("input/data/model")
        try FileManager.default.createDirectory(at: channel, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: second.appendingPathComponent("checkpoints"), withIntermediateDirectories: true)
        let tar = try await runProcess(URL(fileURLWithPath: "/bin/tar"),
                                       ["-czf", channel.appendingPathComponent("model.tar.gz").path, "-C", first.appendingPathComponent("model").path,
                                        ModelArtifacts.symbolFile, ModelArtifacts.paramsFile, ModelArtifacts.hyperparametersFile], timeout: 60)
        try #require(tar.status == 0, "\(tar.stderr)")
        let secondRun = try await train(second)
        #expect(secondRun.status == 0, "\(secondRun.stderr)")
        let arrays = try MXNetParams.read(path: first.appendingPathComponent("model/\(ModelArtifacts.paramsFile)").path).count
        let log = secondRun.stdout + secondRun.stderr  // the worker's lines come through the launcher's echo
        #expect(log.contains("incremental training: starting from all \(arrays) arrays of the model channel \(channel.path)"), "\(log)")
        let checkpoints = second.appendingPathComponent("checkpoints").path
        #expect(CheckpointFiles.search(in: checkpoints).newest?.checkpoint == CheckpointFiles(directory: checkpoints, epoch: 1))
        #expect(CheckpointFiles.all(in: second.appendingPathComponent("model").path).isEmpty, "checkpoints in the final model's directory")
    }
}
