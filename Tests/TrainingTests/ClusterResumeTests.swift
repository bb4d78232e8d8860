import Detection
import Foundation
import Launcher
import TestSupport
import Testing

/// `--resume` of a cluster with real processes (scheduler, 1 `param-server`, 2 `worker`s on
/// 127.0.0.1): the servers' optimizer state and update counts travel with the checkpoint.
@Suite("Cluster resume (real processes)", .serialized)
struct ClusterResumeTests {
    let work: URL
    init() async throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let synth = try await TrainingEndToEndTests.run("ssd", ["synth", "--output", work.appendingPathComponent("data").path, "--num-classes", "2",
                                                                "--train", "16", "--image-size", "64"])
        guard synth.status == 0 else { throw SetupFailure(step: "ssd synth", output: synth.stderr) }
    }

    /// A dist_sync run of 2 workers × batch 2 (4 steps an epoch), sgd with momentum 0.9, the rate
    /// halved after epoch 2, no augmentation: deterministic.
    func train(_ model: String, epochs: Int, resume: Bool = false, mode: String = "dist_sync") async throws -> [ScriptRun] {
        let dir = work.appendingPathComponent(model).path
        var cluster = try LocalCluster(binDirectory: TrainingEndToEndTests.products, servers: 1, workers: 2)
        cluster.workerArguments = ["--data-root", work.appendingPathComponent("data").path, "--model-dir", dir, "--tiny-network",
                                   "--num_classes", "2", "--num_training_samples", "16", "--use_pretrained_model", "0",
                                   "--learning_rate", "0.003", "--blas-threads", "1", "--no-augment", "--mini_batch_size", "2",
                                   "--kv_store", mode, "--lr_scheduler_step", "2", "--lr_scheduler_factor", "0.5",
                                   "--epochs", "\(epochs)"] + (resume ? ["--resume", dir] : [])
        let launcher = ClusterLauncher()
        try await launcher.start(cluster.processes)
        let outcome = await launcher.wait(timeout: .seconds(120))
        let runs = outcome.results.filter { $0.part == .worker }.map { ScriptRun(status: $0.status, stdout: $0.stdout, stderr: $0.stderr) }
        guard runs.count == 2, runs.allSatisfy({ $0.status == 0 }) else {
            throw SetupFailure(step: "\(mode) training of \(model)", output: outcome.results.map(\.stderr).joined(separator: "\n---\n"))
        }
        return runs
    }

    @Test("dist_sync 1 server + 2 workers stopped after epoch 1 and resumed to 3 ends with the weights of an uninterrupted run, bit for bit")
    func resumeIsExact() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let full = try await train("full", epochs: 3)
        _ = try await train("part", epochs: 1)
        let states = work.appendingPathComponent("part/model_algo_1-0001.states").path
        // Worker 0 wrote the servers' state: momentum of every trained array and its update count (4 steps).
        let saved = Dictionary(uniqueKeysWithValues: try MXNetParams.read(path: states).map { ($0.name, $0.values) })
        #expect(saved["meta:epoch"] == [1] && saved["meta:update"] == [4])
        let counts = saved.filter { $0.key.hasPrefix("count:") }
        #expect(!counts.isEmpty && counts.values.allSatisfy { $0 == [4] })
        #expect(saved.keys.contains { $0.hasPrefix("state:") && $0.hasSuffix(":0") })

        let resumed = try await train("part", epochs: 3, resume: true)
        #expect(resumed[0].stderr.contains("restored the servers' optimizer state"), "\(resumed[0].stderr)")
        let a = try MXNetParams.read(path: try TrainingEndToEndTests.summary(full[0]).checkpoint)
        let b = try MXNetParams.read(path: try TrainingEndToEndTests.summary(resumed[0]).checkpoint)
        #expect(a.map(\.name) == b.map(\.name))
        #expect(a.flatMap(\.values) == b.flatMap(\.values), "resumed weights differ from the uninterrupted run's")
        // The schedule continues: epochs 1 and 2 of the resumed run at the rates of the uninterrupted run.
        #expect(try TrainingEndToEndTests.summary(full[0]).learning_rates == [0.003, 0.003, 0.0015])
        for run in resumed { #expect(try TrainingEndToEndTests.summary(run).learning_rates == [0.003, 0.0015]) }
        // The servers end with the same optimizer state and update counts too.
        let finalStates = try MXNetParams.read(path: work.appendingPathComponent("part/model_algo_1-0003.states").path)
        let fullStates = try MXNetParams.read(path: work.appendingPathComponent("full/model_algo_1-0003.states").path)
        #expect(finalStates == fullStates)
    }

    /// The update count of every trained array in a `.states` file.
    func updateCounts(_ path: String) throws -> [String: Float] {
        Dictionary(uniqueKeysWithValues: try MXNetParams.read(path: path).filter { $0.name.hasPrefix("count:") }.map { ($0.name, $0.values[0]) })
    }

    @Test("dist_async: worker 0 saves the servers' state while the other worker may still push; a resumed job continues from those counts")
    func resumeAsync() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        _ = try await train("async", epochs: 1, mode: "dist_async")
        // Each worker pushes 4 batches an epoch; worker 0's 4 are in, worker 1's may not all be.
        let saved = try updateCounts(work.appendingPathComponent("async/model_algo_1-0001.states").path)
        #expect(!saved.isEmpty && saved.values.allSatisfy { (4...8).contains($0) }, "\(saved)")
        let resumed = try await train("async", epochs: 2, resume: true, mode: "dist_async")
        let highest = Int(saved.values.max() ?? 0)
        #expect(resumed[0].stderr.contains("update counts up to \(highest)"), "\(resumed[0].stderr)")
        // The servers counted on from the saved counts: at least worker 0's 4 pushes more for every array.
        let final = try updateCounts(work.appendingPathComponent("async/model_algo_1-0002.states").path)
        for (name, count) in saved { #expect((final[name] ?? 0) >= count + 4, "\(name): \(count) → \(final[name] ?? 0)") }
    }
}
