// Scaling report: SSD training with 1, 2, 3… workers in dist_sync and dist_async through real
// `param-server`/`worker` processes started by the project's ClusterLauncher on loopback (as
// `ssd train` starts them; cores / workers BLAS threads per worker), or by deploy/netns.sh in
// network namespaces: effective batch, total and per-worker images/s, scaling efficiency against
// one worker, fraction of step time waiting on the servers, bytes exchanged per step.
// Prints a table and writes JSON; scripts/plot_scaling.py draws the PNG from that JSON.
// Needs the main package built in release: `swift build -c release` in the repository root.
import ArgumentParser
import Detection
import Foundation
import Launcher
import Tensor

@main
struct ScalingBenchmarks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Training throughput against the number of workers (dist_sync, dist_async).")

    @Option(help: "Worker counts.") var workers: [Int] = [1, 2, 3]
    @Option(help: "kv_store modes.") var modes: [String] = ["dist_sync", "dist_async"]
    @Option(help: "Per-worker batch (mini_batch_size).") var batch = 4
    @Option(help: "Steps each worker trains.") var steps = 3
    @Option(help: "Parameter servers of every cluster (local launcher).") var servers = 1
    @Option(help: "Batch of the single-machine reference row (default: the per-worker batch); e.g. workers × batch for the same effective batch.")
    var singleBatch: Int?
    @Flag(inversion: .prefixedNo, help: "First run one worker alone (single machine, no server, every core) as the reference row.")
    var single = true
    @Flag(help: "Use the small test network (64×64) instead of SSD300, for a quick check.") var tiny = false
    @Option(help: "Launcher: 'local' (ClusterLauncher, loopback) or 'netns' (deploy/netns.sh: every process in its own network namespace, needs root).")
    var launcher = "local"
    @Option(help: "netns only: one-way delay added to every link (tc netem), e.g. 0.5ms.") var delay: String?
    @Option(help: "netns only: rate limit of every link (tc), e.g. 1gbit.") var rate: String?
    @Option(help: "Release products of the main package.") var bin = "../.build/release"
    @Option(help: "Write the rows as JSON here (plot it with scripts/plot_scaling.py).") var json: String?

    struct Row: Codable {
        var mode: String, launcher: String, link: String, workers: Int, effectiveBatch: Int
        var totalImagesPerSecond: Double, perWorkerImagesPerSecond: Double, efficiency: Double
        var waitingFraction: Double, bytesPerStepPerWorker: Int
        /// Total images/s against the single-machine run (no server, every core), when measured.
        var ratioToSingle: Double?
    }

    func run() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let binURL = URL(fileURLWithPath: bin.hasPrefix("/") ? bin
                         : ((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(bin) as NSString).standardizingPath)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("scaling-\(getpid())")
        defer { try? FileManager.default.removeItem(at: work) }
        let size = tiny ? 64 : 300
        let singleBatch = self.singleBatch ?? batch
        let images = max((workers.max() ?? 1) * batch, singleBatch) * steps
        try await shell(binURL.appendingPathComponent("ssd").path, ["synth", "--output", work.appendingPathComponent("data").path, "--num-classes", "4",
                                                              "--train", "\(images)", "--validation", "0", "--image-size", "\(size)"])
        guard servers >= 1, singleBatch >= 1 else { throw ValidationError("--servers and --single-batch take at least 1") }
        let config: SSDConfig = tiny ? .tiny(numClasses: 4) : try .vgg16Reduced(imageShape: 300, numClasses: 4)
        let parameters = try SSDModel(config: config).parameters.count
        guard ["local", "netns"].contains(launcher) else { throw ValidationError("--launcher must be 'local' or 'netns', not '\(launcher)'") }
        let link = launcher == "local" ? "loopback" : [delay, rate].compactMap { $0 }.joined(separator: ", ").isEmpty ? "bridge, unshaped"
            : "bridge, " + [delay.map { "delay \($0)" }, rate].compactMap { $0 }.joined(separator: ", ")
        print("links: \(link)")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(tiny ? "tiny SSD 64" : "SSD300 VGG16-reduced"), \(parameters) parameters, batch \(batch)/worker, \(steps) steps")
        print("mode        workers  eff.batch  total img/s  per-worker  efficiency  waiting  MB/step/worker  vs single")
        var rows: [Row] = []
        func common(_ modelDir: String, samples: Int, batch: Int) -> [String] {
            var args = ["--data-root", work.appendingPathComponent("data").path, "--model-dir", work.appendingPathComponent(modelDir).path,
                        "--num_classes", "4", "--num_training_samples", "\(samples)", "--epochs", "1", "--mini_batch_size", "\(batch)",
                        "--use_pretrained_model", "0", "--no-augment"]
            if tiny { args.append("--tiny-network") }
            return args
        }
        var singleRate: Double?
        if single {
            // One process, no server, OpenBLAS on every core: what a user gets without a cluster.
            let worker = binURL.appendingPathComponent("worker").path
            let out = try await shell(worker, common("m-single", samples: singleBatch * steps, batch: singleBatch))
            guard let (ips, _) = summaries(out).first else { throw ValidationError("no summary from the single-machine run:\n\(out.suffix(2000))") }
            singleRate = ips
            let row = Row(mode: "single", launcher: "none", link: "none", workers: 1, effectiveBatch: singleBatch, totalImagesPerSecond: ips,
                          perWorkerImagesPerSecond: ips, efficiency: 1, waitingFraction: 0, bytesPerStepPerWorker: 0, ratioToSingle: 1)
            rows.append(row)
            print(String(format: "%@ %7d %10d %12.2f %11.2f %11.2f %7.0f%% %15.1f %10.2f", ("single" as String).padding(toLength: 11, withPad: " ", startingAt: 0) as NSString, 1, singleBatch, ips, ips, 1.0, 0.0, 0.0, 1.0))
        }
        for mode in modes {
            var base: Double?
            for n in workers {
                let samples = n * batch * steps
                let args = common("m-\(mode)-\(n)", samples: samples, batch: batch) + ["--kv_store", mode]
                // Every worker reads the whole (small) data set; limit the epoch by the sample count.
                let out: String
                if launcher == "local" {
                    var cluster = try LocalCluster(binDirectory: binURL, servers: servers, workers: n)
                    cluster.workerArguments = args
                    cluster.workerEnvironment = ["OPENBLAS_NUM_THREADS": "\(ComputeThreads.perWorker(workers: n))"]
                    let clusterLauncher = ClusterLauncher()
                    try await clusterLauncher.start(cluster.processes)
                    let outcome = await clusterLauncher.wait(timeout: .seconds(3600))
                    guard outcome.reason == .completed else {
                        throw ValidationError("the cluster did not complete: \(outcome)\n\(outcome.results.map(\.stderr).joined().suffix(2000))")
                    }
                    out = outcome.results.map(\.stdout).joined()
                } else {
                    let shaping = (delay.map { ["-d", $0] } ?? []) + (rate.map { ["-r", $0] } ?? [])
                    out = try await shell(root.appendingPathComponent("deploy/netns.sh").path,
                                          shaping + ["-n", "\(n)", "-b", binURL.path, "--", binURL.appendingPathComponent("worker").path] + args)
                }
                let found = summaries(out)
                guard found.count == n else { throw ValidationError("expected \(n) worker summaries, got \(found.count):\n\(out.suffix(2000))") }
                let total = found.map(\.0).reduce(0, +)
                if n == 1 { base = total }
                let row = Row(mode: mode, launcher: launcher, link: link, workers: n, effectiveBatch: mode == "dist_sync" ? n * batch : batch,
                              totalImagesPerSecond: total, perWorkerImagesPerSecond: total / Double(n),
                              efficiency: base.map { total / ($0 * Double(n)) } ?? 1,
                              waitingFraction: found.map(\.1).reduce(0, +) / Double(n), bytesPerStepPerWorker: 2 * 4 * parameters,
                              ratioToSingle: singleRate.map { total / $0 })
                rows.append(row)
                print(String(format: "%@ %7d %10d %12.2f %11.2f %11.2f %7.0f%% %15.1f %10@", mode.padding(toLength: 11, withPad: " ", startingAt: 0) as NSString, n, row.effectiveBatch,
                             total, row.perWorkerImagesPerSecond, row.efficiency, 100 * row.waitingFraction, Double(row.bytesPerStepPerWorker) / 1e6,
                             (row.ratioToSingle.map { String(format: "%.2f", $0) } ?? "-") as NSString))
            }
        }
        if let json {
            let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
            try e.encode(rows).write(to: URL(fileURLWithPath: json))
        }
    }

    /// (images/s, waiting fraction) of every worker summary line (the JSON the worker prints last).
    func summaries(_ out: String) -> [(Double, Double)] {
        out.split(separator: "\n").compactMap { line -> (Double, Double)? in
            guard let brace = line.firstIndex(of: "{"),
                  let obj = try? JSONSerialization.jsonObject(with: Data(line[brace...].utf8)) as? [String: Any],
                  let ips = obj["images_per_sec"] as? Double, let wait = obj["waiting_fraction"] as? Double else { return nil }
            return (ips, wait)
        }
    }

    /// Runs `executable` (a `.sh` through bash) through the ClusterLauncher; its output (stdout
    /// then stderr), or an error with the tail of it when it fails.
    @discardableResult
    func shell(_ executable: String, _ arguments: [String]) async throws -> String {
        let spec = executable.hasSuffix(".sh") ? ProcessSpec(name: "script", executable: "/bin/bash", arguments: [executable] + arguments)
            : ProcessSpec(name: "command", executable: executable, arguments: arguments)
        let outcome = try await ClusterLauncher.run(spec, timeout: .seconds(3600))
        let result = outcome.results[0]
        let text = result.stdout + result.stderr
        guard outcome.reason == .completed else { throw ValidationError("\(executable) \(result.termination):\n\(text.suffix(2000))") }
        return text
    }
}
