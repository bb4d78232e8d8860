// Scaling report: SSD training with 1, 2, 3… workers in dist_sync and dist_async through real
// `param-server`/`worker` processes started by deploy/local.sh (one BLAS thread per worker when
// workers ≥ cores): effective batch, total and per-worker images/s, scaling efficiency against
// one worker, fraction of step time waiting on the servers, bytes exchanged per step.
// Prints a table, writes JSON and draws a PNG (images/s and efficiency against workers).
// Needs the main package built in release: `swift build -c release` in the repository root.
import ArgumentParser
import Detection
import DetectionData
import Foundation

@main
struct ScalingBenchmarks: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Training throughput against the number of workers (dist_sync, dist_async).")

    @Option(help: "Worker counts.") var workers: [Int] = [1, 2, 3]
    @Option(help: "kv_store modes.") var modes: [String] = ["dist_sync", "dist_async"]
    @Option(help: "Per-worker batch (mini_batch_size).") var batch = 4
    @Option(help: "Steps each worker trains.") var steps = 3
    @Flag(inversion: .prefixedNo, help: "First run one worker alone (single machine, no server, every core) as the reference row.")
    var single = true
    @Flag(help: "Use the small test network (64×64) instead of SSD300, for a quick check.") var tiny = false
    @Option(help: "Launcher: 'local' (deploy/local.sh, loopback) or 'netns' (deploy/netns.sh: every process in its own network namespace, needs root).")
    var launcher = "local"
    @Option(help: "netns only: one-way delay added to every link (tc netem), e.g. 0.5ms.") var delay: String?
    @Option(help: "netns only: rate limit of every link (tc), e.g. 1gbit.") var rate: String?
    @Option(help: "Release products of the main package.") var bin = "../.build/release"
    @Option(help: "Write the rows as JSON here.") var json: String?
    @Option(help: "Draw the plot as PNG here.") var png: String?

    struct Row: Codable {
        var mode: String, launcher: String, link: String, workers: Int, effectiveBatch: Int
        var totalImagesPerSecond: Double, perWorkerImagesPerSecond: Double, efficiency: Double
        var waitingFraction: Double, bytesPerStepPerWorker: Int
        /// Total images/s against the single-machine run (no server, every core), when measured.
        var ratioToSingle: Double?
    }

    func run() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let binURL = URL(fileURLWithPath: bin.hasPrefix("/") ? bin
                         : ((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(bin) as NSString).standardizingPath)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("scaling-\(getpid())")
        defer { try? FileManager.default.removeItem(at: work) }
        let size = tiny ? 64 : 300
        let images = (workers.max() ?? 1) * batch * steps
        try shell(binURL.appendingPathComponent("ssd").path, ["synth", "--output", work.appendingPathComponent("data").path, "--num-classes", "4",
                                                              "--train", "\(images)", "--validation", "0", "--image-size", "\(size)"])
        let config: SSDConfig = tiny ? .tiny(numClasses: 4) : try .vgg16Reduced(imageShape: 300, numClasses: 4)
        let parameters = try SSDModel(config: config).parameters.count
        guard ["local", "netns"].contains(launcher) else { throw ValidationError("--launcher must be 'local' or 'netns', not '\(launcher)'") }
        let link = launcher == "local" ? "loopback" : [delay, rate].compactMap { $0 }.joined(separator: ", ").isEmpty ? "bridge, unshaped"
            : "bridge, " + [delay.map { "delay \($0)" }, rate].compactMap { $0 }.joined(separator: ", ")
        print("links: \(link)")
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(tiny ? "tiny SSD 64" : "SSD300 VGG16-reduced"), \(parameters) parameters, batch \(batch)/worker, \(steps) steps")
        print("mode        workers  eff.batch  total img/s  per-worker  efficiency  waiting  MB/step/worker  vs single")
        var rows: [Row] = []
        func common(_ modelDir: String, samples: Int) -> [String] {
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
            let script = "eval \"$(\"$0\"/scripts/blas-env.sh)\"; exec \"$@\""
            let out = try shell("/bin/bash", ["-c", script, root.path, worker] + common("m-single", samples: batch * steps))
            guard let (ips, _) = summaries(out).first else { throw ValidationError("no summary from the single-machine run:\n\(out.suffix(2000))") }
            singleRate = ips
            let row = Row(mode: "single", launcher: "none", link: "none", workers: 1, effectiveBatch: batch, totalImagesPerSecond: ips,
                          perWorkerImagesPerSecond: ips, efficiency: 1, waitingFraction: 0, bytesPerStepPerWorker: 0, ratioToSingle: 1)
            rows.append(row)
            print(String(format: "%@ %7d %10d %12.2f %11.2f %11.2f %7.0f%% %15.1f %10.2f", ("single" as String).padding(toLength: 11, withPad: " ", startingAt: 0) as NSString, 1, batch, ips, ips, 1.0, 0.0, 0.0, 1.0))
        }
        for mode in modes {
            var base: Double?
            for n in workers {
                let samples = n * batch * steps
                var args = launcher == "local" ? ["-s", "1"] : (delay.map { ["-d", $0] } ?? []) + (rate.map { ["-r", $0] } ?? [])
                args += ["-n", "\(n)", "-b", binURL.path, "--", binURL.appendingPathComponent("worker").path]
                    + common("m-\(mode)-\(n)", samples: samples) + ["--kv_store", mode]
                // Every worker reads the whole (small) data set; limit the epoch by the sample count.
                let out = try shell(root.appendingPathComponent("deploy/\(launcher).sh").path, args)
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
        if let png { try plot(rows).write(to: URL(fileURLWithPath: png)); print("wrote \(png)") }
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

    /// Total images/s (solid squares) and efficiency (hollow squares) against workers; one color per mode.
    func plot(_ rows: [Row]) throws -> Data {
        var image = RGBImage(width: 480, height: 320, pixels: [UInt8](repeating: 255, count: 480 * 320 * 3))
        let maxWorkers = Float(rows.map(\.workers).max() ?? 1), maxRate = Float(rows.map(\.totalImagesPerSecond).max() ?? 1)
        func x(_ w: Int) -> Float { 0.1 + 0.8 * Float(w) / max(1, maxWorkers) }
        Drawing.drawBox(on: &image, xmin: 0.08, ymin: 0.08, xmax: 0.95, ymax: 0.92, color: (0, 0, 0), thickness: 1)
        for (k, mode) in Set(rows.map(\.mode)).sorted().enumerated() {
            let color = Drawing.color(forClass: k)
            for r in rows where r.mode == mode {
                let cx = x(r.workers)
                let rateY = 0.9 - 0.8 * Float(r.totalImagesPerSecond) / max(maxRate, 1e-9)
                Drawing.drawBox(on: &image, xmin: cx - 0.012, ymin: rateY - 0.018, xmax: cx + 0.012, ymax: rateY + 0.018, color: color, thickness: 6)
                let effY = 0.9 - 0.8 * Float(min(r.efficiency, 1.2)) / 1.2
                Drawing.drawBox(on: &image, xmin: cx - 0.012, ymin: effY - 0.018, xmax: cx + 0.012, ymax: effY + 0.018, color: color, thickness: 2)
            }
        }
        return Data(try ImageCodec.encodePNG(image))
    }

    @discardableResult
    func shell(_ executable: String, _ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable.hasSuffix(".sh") ? "/bin/bash" : executable)
        p.arguments = executable.hasSuffix(".sh") ? [executable] + arguments : arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard p.terminationStatus == 0 else { throw ValidationError("\(executable) failed (\(p.terminationStatus)):\n\(text.suffix(2000))") }
        return text
    }
}
