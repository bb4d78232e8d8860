import Detection
import Foundation
import Glibc
import Launcher
import ParameterServer
import TestSupport
import Testing

/// The real executables (`ssd synth`, `worker`, `param-server`) on a small network (the hidden
/// `--tiny-network`, 64×64 inputs) and a small synthetic data set; servers on 127.0.0.1.
@Suite("Training end to end (real processes)", .serialized)
struct TrainingEndToEndTests {
    static var products: URL { productsDirectory }

    typealias Run = ScriptRun

    /// Runs one of this package's executables (see `runProcess`).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 120) async throws -> Run {
        try await runProcess(products.appendingPathComponent(executable), arguments, environment: environment, timeout: timeout)
    }

    struct Summary: Decodable { var first_loss: Double; var last_loss: Double; var checkpoint: String; var learning_rates: [Float] }

    static func summary(_ r: Run) throws -> Summary {
        let line = try #require(r.stdout.split(separator: "\n").last { $0.hasPrefix("{") }, "no summary in \(r.stdout) \(r.stderr)")
        return try JSONDecoder().decode(Summary.self, from: Data(line.utf8))
    }

    let work: URL
    init() async throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("train-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        let synth = try await Self.run("ssd", ["synth", "--output", work.appendingPathComponent("data").path, "--num-classes", "2",
                                         "--train", "16", "--validation", "4", "--image-size", "64"])
        guard synth.status == 0 else { throw SetupFailure(step: "ssd synth", output: synth.stderr) }
    }

    func common(_ model: String) -> [String] {
        ["--data-root", work.appendingPathComponent("data").path, "--model-dir", work.appendingPathComponent(model).path, "--tiny-network",
         "--num_classes", "2", "--num_training_samples", "16", "--use_pretrained_model", "0", "--learning_rate", "0.003",
         "--blas-threads", "1"]
    }

    /// Scheduler + one server + workers for a distributed run through the `ClusterLauncher`
    /// (as `ssd train` starts them); returns each worker's result.
    func cluster(workers: Int, arguments: [String]) async throws -> [Run] {
        var cluster = try LocalCluster(binDirectory: Self.products, servers: 1, workers: workers)
        cluster.workerArguments = arguments
        let launcher = ClusterLauncher()
        try await launcher.start(cluster.processes)
        let outcome = await launcher.wait(timeout: .seconds(120))
        return outcome.results.filter { $0.part == .worker }.map { Run(status: $0.status, stdout: $0.stdout, stderr: $0.stderr) }
    }

    @Test("single machine trains: the loss falls and a checkpoint MXNet can load is written")
    func singleMachine() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let r = try await Self.run("worker", common("single") + ["--epochs", "3", "--mini_batch_size", "4"])
        #expect(r.status == 0, "\(r.stderr)")
        let s = try Self.summary(r)
        #expect(s.last_loss < s.first_loss)
        #expect(FileManager.default.fileExists(atPath: s.checkpoint))
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("single/hyperparams.json").path))
        #expect(r.stderr.contains("effective batch 4") && r.stderr.contains("Validation-mAP="))
        #expect(r.stderr.contains("train cross_entropy <loss>=") && r.stderr.contains("train smooth_l1 <loss>=") && r.stderr.contains("Train-CrossEntropy="))
        // ssd eval and ssd predict work on the checkpoint it leaves.
        let model = work.appendingPathComponent("single").path
        let eval = try await Self.run("ssd", ["eval", "--model-dir", model, "--data-root", work.appendingPathComponent("data").path, "--json"])
        #expect(eval.status == 0 && eval.stdout.contains("\"mAP\"") && eval.stdout.contains("\"classes\""), "\(eval.stderr)")
        let image = work.appendingPathComponent("data/validation").path
        let first = try #require(try FileManager.default.contentsOfDirectory(atPath: image).sorted().first)
        let out = work.appendingPathComponent("pred").path
        let predict = try await Self.run("ssd", ["predict", "--model-dir", model, "--output", out, "\(image)/\(first)"])
        #expect(predict.status == 0, "\(predict.stderr)")
        let base = (first as NSString).deletingPathExtension
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/\(base).json"))) as? [String: Any]
        #expect(json?["prediction"] is [[Double]])
        #expect(FileManager.default.fileExists(atPath: "\(out)/\(base).png"))
    }

    @Test("base_network=resnet-50 (small ResNet) trains in dist_sync with 2 workers; the checkpoint keeps the BatchNorm statistics as aux:")
    func resnetCluster() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let runs = try await cluster(workers: 2, arguments: common("resnet") + ["--base_network", "resnet-50", "--epochs", "6",
                                                                          "--mini_batch_size", "2", "--kv_store", "dist_sync"])
        #expect(runs.count == 2 && runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.stderr))")
        let s = try Self.summary(try #require(runs.first { $0.stdout.contains("model_algo_1-") }))
        #expect(s.last_loss < s.first_loss)
        let names = try MXNetParams.read(path: s.checkpoint).map(\.name)
        #expect(names.contains("arg:stage4_unit1_conv2_weight") && names.contains("arg:_plus3_cls_pred_conv_weight"))
        #expect(names.contains("aux:bn0_moving_mean") && names.contains("aux:stage1_unit1_bn1_moving_var"))
    }

    @Test("multi-host: the small SSD trains in dist_sync with 1 server and 2 workers in separate network namespaces (deploy/netns.sh)",
          .enabled(if: networkNamespacesAvailable, "needs root and iproute2's ip netns (scripts/install-deps.sh installs iproute2)"))
    func networkNamespaces() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let r = try await runScript(root.appendingPathComponent("deploy/netns.sh").path,
                              ["-n", "2", "-r", "1gbit", "-d", "0.5ms", "-b", Self.products.path, "--", Self.products.appendingPathComponent("worker").path]
                                  + common("netns") + ["--epochs", "1", "--mini_batch_size", "2", "--kv_store", "dist_sync"], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        struct Finished: Decodable { var rank: Int; var workers: Int; var effective_batch: Int; var checkpoint: String }
        let finished = try r.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }.map { try JSONDecoder().decode(Finished.self, from: Data($0.utf8)) }
        #expect(finished.map(\.rank).sorted() == [0, 1], "\(r.stdout)")
        #expect(finished.allSatisfy { $0.workers == 2 && $0.effective_batch == 4 })
        let checkpoint = try #require(finished.first { $0.rank == 0 }).checkpoint
        #expect(FileManager.default.fileExists(atPath: checkpoint))
    }

    @Test("dist_sync with 2 workers × batch 2 gives the weights of 1 worker × batch 4 (real SSD code path)")
    func distSyncEqualsSingleMachine() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let single = try await Self.run("worker", common("one") + ["--epochs", "1", "--mini_batch_size", "4", "--no-augment"])
        #expect(single.status == 0, "\(single.stderr)")
        let runs = try await cluster(workers: 2, arguments: common("two") + ["--epochs", "1", "--mini_batch_size", "2", "--no-augment",
                                                                      "--kv_store", "dist_sync"])
        #expect(runs.count == 2 && runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.stderr))")
        #expect(runs.contains { $0.stderr.contains("effective batch 4 (dist_sync)") })
        let a = try Self.summary(single).checkpoint
        let b = try #require(runs.compactMap { try? Self.summary($0).checkpoint }.first { !$0.isEmpty })
        let wa = try MXNetParams.read(path: a).flatMap(\.values), wb = try MXNetParams.read(path: b).flatMap(\.values)
        #expect(wa.count == wb.count && wa.count > 1000)
        var maxDiff: Float = 0
        for (x, y) in zip(wa, wb) { maxDiff = max(maxDiff, abs(x - y)) }
        #expect(maxDiff < 1e-5, "max weight difference \(maxDiff)")
    }

    @Test("ssd train --workers 2 --servers 1 runs a local dist_sync cluster with prefixed logs; a failing worker stops it")
    func ssdTrain() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let r = try await Self.run("ssd", ["train", "--workers", "2", "--servers", "1"] + common("ssd-train") + ["--epochs", "1", "--mini_batch_size", "2"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("[worker 0]") && r.stdout.contains("[worker 1]") && r.stdout.contains("[server 0]"))
        #expect(r.stdout.contains("effective batch 4 (dist_sync)"))
        // A worker that cannot start (bad data root) fails the whole job, naming it, with nothing left running.
        let bad = try await Self.run("ssd", ["train", "--workers", "2", "--servers", "1", "--data-root", "/nonexistent"]
                               + Array(common("x").dropFirst(2)) + ["--epochs", "1"], timeout: 60)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("exited with status"), "\(bad.stderr)")
    }

    @Test("ssd train --workers 2 interrupted (SIGINT): workers and servers stop on SIGTERM, not SIGKILL; exit 130; nothing left")
    func ssdTrainInterrupted() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let tag = UUID().uuidString
        let launcher = ClusterLauncher()
        try await launcher.start(ProcessSpec(name: "ssd", executable: Self.products.appendingPathComponent("ssd").path,
                                             arguments: ["train", "--workers", "2", "--servers", "1"] + common("ssd-int")
                                                 + ["--epochs", "500", "--mini_batch_size", "2", "--log-every", "1"],
                                             environment: ["SSD_TEST_TAG": tag]))
        // Wait until both workers train (a progress line each), at most 60 s.
        let deadline = ContinuousClock.now + .seconds(60)
        func training(_ w: Int) -> Bool { launcher.output(of: "ssd").stdout.contains("[worker \(w)] ") &&
            launcher.output(of: "ssd").stdout.split(separator: "\n").contains { $0.hasPrefix("[worker \(w)]") && $0.contains("Batch [") } }
        while !(training(0) && training(1)) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(training(0) && training(1), "\(launcher.output(of: "ssd"))")
        launcher.send(SIGINT, to: "ssd")
        let r = try #require(await launcher.result(of: "ssd", timeout: .seconds(20)))
        #expect(r.termination == .exited(130), "\(r.stderr)")
        #expect(r.stderr.contains("ssd train: interrupted"), "\(r.stderr)")
        for w in ["worker 0", "worker 1", "server 0"] {
            #expect(!r.stderr.contains("\(w) was stopped by SIGKILL"), "\(r.stderr)")
        }
        #expect(r.stderr.contains("worker 0 exited with status 130") && r.stderr.contains("worker 1 exited with status 130"), "\(r.stderr)")
        #expect(r.stderr.contains("server 0 exited with status 0"), "\(r.stderr)")
        #expect(await noProcessLeft(tag: tag), "processes left after the interrupt")
    }

    @Test("deploy/local.sh: 2 servers × 2 workers train in dist_sync; Ctrl-C and a killed worker leave no process behind")
    func deployLocal() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/local.sh").path
        let tag = UUID().uuidString
        // The launcher starts local.sh with default signal dispositions, so its INT/TERM trap works
        // even though the test runner blocks those signals.
        func launch(_ extra: [String], model: String) async throws -> ClusterLauncher {
            let launcher = ClusterLauncher()
            try await launcher.start(ProcessSpec(
                name: "local.sh", executable: "/bin/bash",
                arguments: [script, "-s", "2", "-n", "2", "-b", Self.products.path, "-l", work.appendingPathComponent("logs-\(model)").path, "--",
                            Self.products.appendingPathComponent("worker").path] + common(model) + ["--kv_store", "dist_sync"] + extra,
                environment: ["PS_HEARTBEAT_TIMEOUT": "3", "SSD_TEST_TAG": tag]))
            return launcher
        }
        // A full run succeeds.
        let ok = try await launch(["--epochs", "1", "--mini_batch_size", "2"], model: "ok")
        #expect(await ok.result(of: "local.sh", timeout: .seconds(90))?.termination == .exited(0))
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("ok/model_algo_1-0001.params").path))
        // Ctrl-C in the middle of a long run: everything stops.
        let long = try await launch(["--epochs", "500", "--mini_batch_size", "2"], model: "int")
        // Wait (bounded) until the cluster formed: 2 servers and 2 workers, and the scheduler gone
        // (it exits then). By role, in one look: four processes alone were also the scheduler, the
        // servers and one worker while the other was still starting (a fresh-clone run failed so).
        func formed() async throws -> Bool {
            func roles() -> [Int] {
                ["scheduler", "server", "worker"].map { taggedProcesses(tag: tag, alsoHaving: "DMLC_ROLE=\($0)").count }
            }
            let deadline = ContinuousClock.now + .seconds(60)
            var seen = roles()
            while seen != [0, 2, 2] && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                seen = roles()
            }
            return seen == [0, 2, 2]
        }
        #expect(try await formed(), "2 servers and 2 workers should be running (the scheduler exits once the cluster formed)")
        long.send(SIGINT, to: "local.sh")
        #expect(await long.result(of: "local.sh", timeout: .seconds(20))?.termination == .exited(130))
        #expect(await noProcessLeft(tag: tag), "processes left after the interrupt")
        // A worker killed: the job stops with a non-zero status naming it, nothing left.
        let victim = try await launch(["--epochs", "500", "--mini_batch_size", "2"], model: "kill")
        #expect(try await formed())
        for p in taggedProcesses(tag: tag, alsoHaving: "DMLC_WORKER_ID=1") { kill(p, SIGKILL) }
        let end = await victim.result(of: "local.sh", timeout: .seconds(30))
        #expect(end != nil && end?.termination != .exited(0))
        let log = (try? String(contentsOf: work.appendingPathComponent("logs-kill/worker1.log"), encoding: .utf8)) ?? ""
        #expect(!log.isEmpty)
        #expect(await noProcessLeft(tag: tag), "processes left after a worker died")
    }

    @Test("resume: interrupted after epoch 1 and resumed gives the weights of an uninterrupted run")
    func resume() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let args = ["--mini_batch_size", "4", "--no-augment", "--lr_scheduler_step", "2", "--lr_scheduler_factor", "0.5"]
        let full = try await Self.run("worker", common("full") + args + ["--epochs", "3"])
        #expect(full.status == 0, "\(full.stderr)")
        let first = try await Self.run("worker", common("part") + args + ["--epochs", "1"])
        #expect(first.status == 0, "\(first.stderr)")
        let part = work.appendingPathComponent("part").path
        let second = try await Self.run("worker", common("part") + args + ["--epochs", "3", "--resume", part])
        #expect(second.status == 0 && second.stderr.contains("resumed from"), "\(second.stderr)")
        let a = try MXNetParams.read(path: try Self.summary(full).checkpoint).flatMap(\.values)
        let b = try MXNetParams.read(path: try Self.summary(second).checkpoint).flatMap(\.values)
        #expect(a == b)
        #expect(try Self.summary(second).learning_rates == [0.003, 0.0015])
    }

    @Test("deploy/sagemaker/train: SageMaker's /opt/ml layout on one host trains and leaves the model artifacts")
    func sageMakerLayout() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let root = work.appendingPathComponent("opt-ml")
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("input/config"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("input/data"), withIntermediateDirectories: true)
        for channel in ["train", "train_annotation", "validation", "validation_annotation"] {
            try fm.copyItem(at: work.appendingPathComponent("data/\(channel)"), to: root.appendingPathComponent("input/data/\(channel)"))
        }
        try #"{"num_classes": "2", "num_training_samples": "16", "epochs": "1", "mini_batch_size": "4", "use_pretrained_model": "0", "kv_store": "dist_sync"}"#
            .write(to: root.appendingPathComponent("input/config/hyperparameters.json"), atomically: true, encoding: .utf8)
        try #"{"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}"#
            .write(to: root.appendingPathComponent("input/config/resourceconfig.json"), atomically: true, encoding: .utf8)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/sagemaker/train").path
        let r = try await runScript(script, [], environment: ["SM_ROOT": root.path, "SSD_BIN": Self.products.path,
                                                            "SSD_WORKER_ARGS": "--tiny-network"], timeout: 120)
        let log = r.stdout + r.stderr  // the launcher echoes the worker's log on its standard output
        #expect(r.status == 0, "\(log)")
        #expect(log.contains("kv_store is ignored on a single machine"))
        for file in ["model_algo_1-0001.params", "model_algo_1-model.json", "hyperparams.json"] {
            #expect(fm.fileExists(atPath: root.appendingPathComponent("model/\(file)").path), "\(file)")
        }
    }

    @Test("dist_async with 2 workers trains and checkpoints")
    func distAsync() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let runs = try await cluster(workers: 2, arguments: common("async") + ["--epochs", "2", "--mini_batch_size", "2", "--kv_store", "dist_async"])
        #expect(runs.count == 2 && runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.stderr))")
        let s = try runs.map { try Self.summary($0) }
        #expect(s.allSatisfy { $0.last_loss < $0.first_loss })
    }

    @Test("early stopping: rank 0's decision stops every dist_sync and dist_async worker after the same epoch, as on one machine")
    func earlyStopping() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        // A learning rate too small to move the validation mAP: no epoch improves it.
        let stopping = ["--epochs", "6", "--learning_rate", "0.000001", "--early_stopping", "True", "--early_stopping_patience", "1",
                        "--early_stopping_min_epochs", "2", "--early_stopping_tolerance", "0.5"]
        let single = try await Self.run("worker", common("es1") + stopping + ["--mini_batch_size", "4"])
        #expect(single.status == 0, "\(single.stderr)")
        #expect(try Self.summary(single).learning_rates.count == 2 && single.stderr.contains("early stopping after epoch 1"))
        let runs = try await cluster(workers: 2, arguments: common("es2") + stopping + ["--mini_batch_size", "2", "--kv_store", "dist_sync"])
        #expect(runs.count == 2 && runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.stderr))")
        for run in runs {
            #expect(try Self.summary(run).learning_rates.count == 2)
            #expect(run.stderr.contains("early stopping after epoch 1"), "\(run.stderr)")
        }
        // dist_async: the others read rank 0's decision after a barrier at the end of each epoch.
        let async = try await cluster(workers: 2, arguments: common("es3") + stopping + ["--mini_batch_size", "2", "--kv_store", "dist_async"])
        #expect(async.count == 2 && async.allSatisfy { $0.status == 0 }, "\(async.map(\.stderr))")
        #expect(try async.map { try Self.summary($0).learning_rates.count } == [2, 2])
    }

    @Test("the learning rate of each epoch follows lr_scheduler_step 2,4 with factor 0.5, for 1 and 2 workers")
    func schedule() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let r = try await Self.run("worker", common("sched") + ["--epochs", "5", "--mini_batch_size", "8", "--lr_scheduler_step", "2,4",
                                                            "--lr_scheduler_factor", "0.5"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Self.summary(r).learning_rates == [0.003, 0.003, 0.0015, 0.0015, 0.00075])
        // The same schedule with 2 dist_sync workers: epochs of the effective batch, same rates.
        let runs = try await cluster(workers: 2, arguments: common("sched2") + ["--epochs", "5", "--mini_batch_size", "4", "--kv_store", "dist_sync",
                                                                         "--lr_scheduler_step", "2,4", "--lr_scheduler_factor", "0.5"])
        #expect(runs.count == 2 && runs.allSatisfy { $0.status == 0 }, "\(runs.map(\.stderr))")
        for run in runs { #expect(try Self.summary(run).learning_rates == [0.003, 0.003, 0.0015, 0.0015, 0.00075]) }
    }

    @Test("invalid hyperparameters exit 2 before any data is read, one message per problem")
    func invalid() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let r = try await Self.run("worker", ["--data-root", "/nonexistent", "--num_classes", "0", "--learning_rate", "0", "--optimizer", "adamw",
                                        "--image_shape", "299", "--kv_store", "dist_sync"])
        #expect(r.status == 2)
        for text in ["num_classes=0", "learning_rate=0: must be a float in (0, 1]", "optimizer=adamw", "image_shape=299",
                     "num_training_samples: required", "kv_store=dist_sync: needs a cluster"] {
            #expect(r.stderr.contains(text), "\(text) in \(r.stderr)")
        }
        let pretrained = try await Self.run("worker", ["--data-root", work.appendingPathComponent("data").path, "--num_classes", "2",
                                                 "--num_training_samples", "16", "--tiny-network"])
        #expect(pretrained.status == 2 && pretrained.stderr.contains("use_pretrained_model=0"), "\(pretrained.stderr)")
    }
}
