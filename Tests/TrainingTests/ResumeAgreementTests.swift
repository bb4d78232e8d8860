import Foundation
import Launcher
import TestSupport
import Testing

/// Every worker of a cluster starts from the same position, or none starts: each tells the
/// scheduler where it starts, and a worker resuming a checkpoint beside one starting afresh (its
/// own model directory holds none) makes the scheduler refuse the cluster — every node learns
/// why, naming each rank's position, before anything is trained.
@Suite("Cluster resume: workers agree on where they start (real processes)")
struct ResumeAgreementTests {
    @Test("worker 0 resumes at epoch 1 while worker 1 starts at epoch 0: the cluster is refused at registration, naming both positions")
    func positionsDisagree() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("resume-agree-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let data = work.appendingPathComponent("data").path
        let synth = try await TrainingEndToEndTests.run("ssd", ["synth", "--output", data, "--num-classes", "2", "--train", "8", "--image-size", "64"])
        #expect(synth.status == 0, "\(synth.stderr)")
        let shared = work.appendingPathComponent("shared").path, own = work.appendingPathComponent("own").path
        func launch(epochs: Int, perWorker: [Int: [String]]) async throws -> LaunchOutcome {
            var cluster = try LocalCluster(binDirectory: TrainingEndToEndTests.products, servers: 1, workers: 2)
            cluster.workerArguments = ["--data-root", data, "--tiny-network", "--num_classes", "2", "--num_training_samples", "8",
                                       "--use_pretrained_model", "0", "--blas-threads", "1", "--no-augment", "--mini_batch_size", "2",
                                       "--kv_store", "dist_sync", "--epochs", "\(epochs)"]
            cluster.perWorkerArguments = perWorker
            let launcher = ClusterLauncher()
            try await launcher.start(cluster.processes)
            return await launcher.wait(timeout: .seconds(120))
        }
        let first = try await launch(epochs: 1, perWorker: [0: ["--model-dir", shared], 1: ["--model-dir", shared]])
        #expect(first.exitStatus == 0, "\(first.results.map(\.stderr))")

        let resumed = try await launch(epochs: 2, perWorker: [0: ["--model-dir", shared, "--resume", shared], 1: ["--model-dir", own]])
        let verdict = "the workers would start from different positions: worker 0 at epoch 1, batch 0, update 2; "
            + "worker 1 at epoch 0, batch 0, update 0; every worker must resume from the same checkpoint: give them one shared --model-dir"
        #expect(resumed.results.allSatisfy { $0.part == .service || !$0.termination.isSuccess }, "\(resumed.results.map(\.termination))")
        // The scheduler stops with the verdict and tells every node, which stops too (the
        // launcher, on the first failure, may stop the others before they say so: each that
        // exited by itself names both positions).
        let said = resumed.results.filter { ($0.part == .worker || $0.name == "scheduler") && $0.termination == .exited(1) }
        #expect(!said.isEmpty, "\(resumed.results.map(\.termination))")
        for p in said { #expect(p.stderr.contains(verdict), "\(p.name): \(p.stderr)") }
        // Nothing was trained: no checkpoint of epoch 2 anywhere.
        #expect(!FileManager.default.fileExists(atPath: (shared as NSString).appendingPathComponent("model_algo_1-0002.params")))
        #expect(!FileManager.default.fileExists(atPath: (own as NSString).appendingPathComponent("model_algo_1-0001.params")))
    }
}
