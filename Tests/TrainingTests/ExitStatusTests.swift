import Foundation
import TestSupport
import Testing

/// One exit-status policy for `ssd`, `worker` and `param-server` (README, "Exit status"):
/// 0 success, 1 runtime failure, 2 configuration error, 64 usage error, 130 interrupted
/// (the interrupt is checked in `TrainingEndToEndTests.ssdTrainInterrupted`).
@Suite("Exit status policy")
struct ExitStatusTests {
    func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> ScriptRun {
        try await runProcess(productsDirectory.appendingPathComponent(executable), arguments, environment: environment, timeout: 60)
    }

    @Test("usage errors exit 64 in every executable")
    func usage() async throws {
        for (exe, args) in [("ssd", ["--no-such-option"]), ("ssd", ["train", "--workers", "2", "--servers", "0"]),
                            ("ssd", ["predict"]), ("param-server", ["--no-such-option"]), ("worker", ["--seed", "many"])] {
            let r = try await run(exe, args)
            #expect(r.status == 64, "\(exe) \(args): \(r.status) \(r.stderr)")
        }
    }

    @Test("help exits 0 and starts nothing, also for the commands that pass their arguments on to workers")
    func help() async throws {
        for args in [["--help"], ["help", "predict"], ["train", "--help"], ["sagemaker-train", "--help"]] {
            let r = try await run("ssd", args)
            #expect(r.status == 0 && r.stdout.hasPrefix("OVERVIEW:") && !r.stdout.contains("[worker"), "\(args): \(r.stdout) \(r.stderr)")
        }
    }

    @Test("configuration errors exit 2: hyperparameters, cluster environment, and through ssd train")
    func configuration() async throws {
        let worker = try await run("worker", ["--num_classes", "0", "--num_training_samples", "1"])
        #expect(worker.status == 2 && worker.stderr.contains("num_classes=0"), "\(worker.stderr)")
        let server = try await run("param-server", [], environment: ["DMLC_ROLE": "boss"])
        #expect(server.status == 2 && server.stderr.contains("DMLC_ROLE=boss"), "\(server.stderr)")
        // ssd train reports its worker's status.
        let train = try await run("ssd", ["train", "--num_classes", "0", "--num_training_samples", "1"])
        #expect(train.status == 2 && train.stdout.contains("num_classes=0"), "\(train.stdout) \(train.stderr)")
    }

    @Test("runtime failures exit 1 with the subcommand's name, never as a usage error; a missing checkpoint is a configuration error")
    func runtime() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("exit-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path, model = dir.appendingPathComponent("model").path
        let missing = try await run("ssd", ["predict", "--model-dir", model, "--output", dir.path, "/nonexistent/image.jpg"])
        #expect(missing.status == 2 && missing.stderr.hasPrefix("ssd predict: "), "\(missing.stderr)")
        // A checkpoint to predict with: the small network, one epoch on 4 images.
        #expect(try await run("ssd", ["synth", "--output", data, "--num-classes", "2", "--train", "4", "--validation", "0",
                                      "--image-size", "64"]).status == 0)
        let trained = try await run("worker", ["--data-root", data, "--model-dir", model, "--tiny-network", "--num_classes", "2",
                                               "--num_training_samples", "4", "--mini_batch_size", "4", "--epochs", "1",
                                               "--use_pretrained_model", "0", "--blas-threads", "1"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let unreadable = try await run("ssd", ["predict", "--model-dir", model, "--output", dir.path, "/nonexistent/image.jpg"])
        #expect(unreadable.status == 1, "\(unreadable.stderr)")
        #expect(unreadable.stderr.hasPrefix("ssd predict: /nonexistent/image.jpg") && !unreadable.stderr.contains("Usage:"), "\(unreadable.stderr)")
    }
}
