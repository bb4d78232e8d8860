import Detection
import Foundation
import Launcher
import TestSupport
import Testing
import Training

/// Managed spot training with a real `worker` process on the small SSD, one machine: SIGTERM
/// mid-epoch, the same command again, and the final model equals an uninterrupted run's, bit
/// for bit (fixed seed; augmentation and shuffling on).
@Suite("SIGTERM to a real worker", .serialized)
struct SpotInterruptionTests {
    let work: URL
    var data: String { work.appendingPathComponent("data").path }
    var worker: String { productsDirectory.appendingPathComponent("worker").path }

    init() {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("sigterm-\(UUID().uuidString)")
    }

    /// The one command line both runs use (`name` picks the model and checkpoint directories).
    func command(_ name: String) -> [String] {
        ["--data-root", data, "--model-dir", work.appendingPathComponent(name).path,
         "--checkpoint-dir", work.appendingPathComponent(name + "-checkpoints").path, "--tiny-network",
         "--num_classes", "2", "--num_training_samples", "48", "--mini_batch_size", "1", "--epochs", "2",
         "--use_pretrained_model", "0", "--learning_rate", "0.003", "--seed", "7", "--blas-threads", "1", "--log-every", "1"]
    }

    func finalWeights(_ name: String) throws -> [MXNetParams.Array] {
        try MXNetParams.read(path: work.appendingPathComponent(name).appendingPathComponent(ModelArtifacts.paramsFile).path)
    }

    @Test("SIGTERM mid-epoch: the step finishes, a complete checkpoint is written, exit 130 within 30 s; the same command resumes and ends with an uninterrupted run's weights")
    func sigtermMidEpochThenRestart() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let synth = try await runProcess(productsDirectory.appendingPathComponent("ssd"),
                                         ["synth", "--output", data, "--num-classes", "2", "--train", "48", "--validation", "4",
                                          "--image-size", "64"], timeout: 120)
        try #require(synth.status == 0, "\(synth.stderr)")
        let full = try await runProcess(URL(fileURLWithPath: worker), command("full"), timeout: 300)
        try #require(full.status == 0, "\(full.stderr)")

        // The interrupted run: SIGTERM once it has logged its first batch (48 per epoch, so that
        // the signal lands before the end even when a loaded machine shows the log late).
        let launcher = ClusterLauncher()
        try await launcher.start(ProcessSpec(name: "worker", executable: worker, arguments: command("part")))
        let deadline = ContinuousClock.now + .seconds(120)
        while !launcher.output(of: "worker").stderr.contains("Epoch[0] Batch [") && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try #require(launcher.output(of: "worker").stderr.contains("Epoch[0] Batch ["), "\(launcher.output(of: "worker").stderr)")
        launcher.send(SIGTERM, to: "worker")
        let stopped = try #require(await launcher.result(of: "worker", timeout: .seconds(30)), "the worker did not exit within 30 s of SIGTERM")
        #expect(stopped.termination == .exited(130), "\(stopped.stderr)")
        #expect(stopped.stderr.contains("worker: SIGTERM: finishing the step in hand, then writing a checkpoint"), "\(stopped.stderr)")
        #expect(stopped.stderr.contains("interrupted after") && stopped.stderr.contains("run the same command again"), "\(stopped.stderr)")
        let checkpoints = work.appendingPathComponent("part-checkpoints").path
        let newest = try #require(CheckpointFiles.search(in: checkpoints).newest)
        #expect(stopped.stderr.contains("interrupted after \(newest.checkpoint.batch) batch(es) of epoch \(newest.checkpoint.epoch); checkpoint \(newest.checkpoint.manifest) is complete"),
                "\(stopped.stderr)")
        #expect(newest.checkpoint.epoch * 48 + newest.checkpoint.batch < 96 && newest.manifest.update == newest.checkpoint.epoch * 48 + newest.checkpoint.batch)

        // The same command again: it resumes from there and finishes.
        let resumed = try await runProcess(URL(fileURLWithPath: worker), command("part"), timeout: 300)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resumed from \(newest.checkpoint.manifest): epoch \(newest.checkpoint.epoch), batch \(newest.checkpoint.batch)"),
                "\(resumed.stderr)")
        let (a, b) = (try finalWeights("full"), try finalWeights("part"))
        #expect(a.map(\.name) == b.map(\.name))
        for (x, y) in zip(a, b) { #expect(x.values == y.values, "\(x.name) differs after the resume") }
    }
}
