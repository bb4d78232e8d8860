import ArgumentParser
import Detection
import Foundation
import Launcher
import Logging
import ParameterServer
import Tensor
import Training

/// `ssd plan`: predicts a dist_sync cluster's step time, images/s, scaling efficiency and
/// bottleneck from constants measured on this machine (`--calibrate`), the model's real key
/// layout and the links — to size a cluster before renting one (`ClusterPlan` states the model).
struct Plan: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Predict a cluster's step time, images/s, efficiency and bottleneck; --calibrate measures this machine.",
        discussion: """
            Lists (--workers 8 32 128 --bandwidth 10gbit 25gbit) print one row per combination. The worker's compute is \
            this machine's measured step: a worker machine is assumed to be like the calibrated one.
            """)

    @Option(parsing: .upToNextOption, help: "Workers (one or more counts).") var workers: [Int] = [1]
    @Option(parsing: .upToNextOption, help: "Servers (one or more counts).") var servers: [Int] = [1]
    @Option(parsing: .upToNextOption, help: "Each machine's link, each way (10gbit, 25gbit, 100mbit, 1.25gbyte), or 'loopback' (every process on this machine).")
    var bandwidth: [String] = ["10gbit"]
    @Option(help: "Gradient compression on pushes: none, fp16, bf16 or 2bit.") var compression: WireCompression = .none
    @Option(help: "base_network: vgg-16 or resnet-50.") var network = "vgg-16"
    @Option(help: "image_shape.") var imageShape = 300
    @Option(help: "mini_batch_size (per worker).") var miniBatchSize = 8
    @Option(help: "num_classes (sizes the class heads' keys).") var numClasses = 20
    @Flag(help: "Every process runs on this one machine (network namespaces, loopback): workers share its cores.")
    var sharedMachine = false
    @Option(help: "One worker's forward + backward seconds per step, instead of the calibrated step (measured elsewhere, or in the run being checked: then it already holds the machine's sharing, and --shared-machine adds nothing to it); the forward share stays the calibrated one.")
    var computeSeconds: Double?
    @Option(help: "The calibration JSON (read, or written by --calibrate).") var calibration = "plan-calibration.json"
    @Flag(help: "Print the predictions as JSON.") var json = false

    @Flag(help: "Measure this machine's constants (training step, server CPU, loopback) and write them to --calibration (release build).")
    var calibrate = false
    @Option(parsing: .upToNextOption, help: "--calibrate: OpenBLAS thread counts to time the step with (default: all cores, and 1).")
    var threads: [Int] = []
    @Option(help: "--calibrate: timed training steps per thread count (after one warm-up).") var steps = 2
    @Flag(help: "--calibrate: keep the server and loopback figures of an existing file, add only the step.") var stepOnly = false

    func validate() throws {
        for (name, values) in [("--workers", workers), ("--servers", servers)] {
            if let bad = values.first(where: { $0 < 1 }) { throw ValidationError(PlanError.invalidCount(name: name, value: bad).description) }
        }
        if let c = computeSeconds, !(c > 0) { throw ValidationError("--compute-seconds must be a positive number of seconds, not \(c)") }
        if miniBatchSize < 1 { throw ValidationError(PlanError.invalidCount(name: "--mini-batch-size", value: miniBatchSize).description) }
        for b in bandwidth where b != "loopback" {
            do { _ = try LinkRate.bytesPerSecond(b) } catch { throw ValidationError(error.description) }
        }
    }

    func run() async throws {
        if calibrate { try await runCalibration(); return }
        let cal = try PlanCalibration.load(path: calibration)
        let model = try SSDModel(config: try .forBaseNetwork(network, imageShape: imageShape, numClasses: numClasses))
        let keys = Calibrator.keys(of: model)
        guard let (step, scaledFrom) = cal.estimatedStep(network: network, imageShape: imageShape, batch: miniBatchSize) else {
            throw PlanError.notCalibrated(network: network, imageShape: imageShape, batch: miniBatchSize,
                                          measured: cal.compute.map { "\($0.network) \($0.imageShape) batch \($0.batch) (\($0.threads) threads)" })
        }
        let single = cal.estimatedStep(network: network, imageShape: imageShape, batch: miniBatchSize, threads: 1)?.step
        var rows: [ClusterPlanPrediction] = []
        var labels: [String] = []
        for b in bandwidth {
            let link: PlanLink = b == "loopback" ? .loopback(bytesPerSecond: cal.loopback.bytesPerSecond) : .network(bytesPerSecond: try LinkRate.bytesPerSecond(b))
            let shared = (sharedMachine || b == "loopback") && computeSeconds == nil
            let placement: PlanPlacement = shared ? .shared(cores: cal.machine.cores, copyBytesPerSecond: cal.loopback.copyBytesPerCPUSecond) : .dedicated
            for m in servers {
                for n in workers {
                    let input = ClusterPlanInput(
                        workers: n, servers: m, batch: miniBatchSize, computeSeconds: computeSeconds ?? step.stepSeconds, forwardFraction: step.forwardFraction,
                        computeThreads: step.threads, keyCounts: keys.counts, backwardOrder: keys.backwardOrder, link: link,
                        placement: placement, compression: compression, server: cal.server, singleThreadComputeSeconds: single?.stepSeconds)
                    rows.append(ClusterPlan.predict(input))
                    labels.append(b)
                }
            }
        }
        if json {
            struct Output: Encodable { var link: String; var compression: String; var prediction: ClusterPlanPrediction }
            let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
            let out = zip(labels, rows).map { Output(link: $0, compression: compression.rawValue, prediction: $1) }
            print(String(decoding: try e.encode(out), as: UTF8.self))
            return
        }
        let floats = keys.counts.values.reduce(0, +)
        print("SSD\(imageShape) \(network), \(numClasses) classes: \(keys.counts.count) keys, \(String(format: "%.2f", Double(floats) / 1e6)) M floats; "
              + "mini_batch_size \(miniBatchSize); compression \(compression.rawValue); dist_sync")
        if let computeSeconds { print("worker compute: \(computeSeconds) s per step as given (--compute-seconds)") }
        print("calibrated worker compute: \(String(format: "%.3f", step.stepSeconds)) s per step with \(step.threads) thread(s) (forward \(String(format: "%.0f", 100 * step.forwardFraction)) %), "
              + "measured on \(cal.machine.cpu), \(cal.machine.cores) cores, OpenBLAS \(cal.machine.openBLASCore), load \(cal.machine.loadAverageAtStart)–\(cal.machine.loadAverageAtEnd) (\(calibration))")
        if let scaledFrom {
            print("note: mini_batch_size \(miniBatchSize) was not measured: batch \(scaledFrom)'s step scaled by \(miniBatchSize)/\(scaledFrom) "
                  + "(per-image time × batch; measure it with `ssd plan --calibrate --step-only --mini-batch-size \(miniBatchSize)`)")
        }
        print(sharedMachine ? "placement: every process on one \(cal.machine.cores)-core machine" : "placement: each worker and server on its own machine like the calibrated one (loopback: all on one)")
        print("workers servers link        step s   images/s  efficiency  bottleneck          push MB/worker  busiest server in/out MB  server link s  server CPU s  worker link s")
        for (label, p) in zip(labels, rows) {
            let busiest = p.perServer.max { $0.bytesOut < $1.bytesOut }!
            let serverLink = p.perServer.map { max($0.inSeconds, $0.outSeconds) }.max() ?? 0
            let line = String(format: "%7d %7d %@ %8.3f %10.2f %11.2f  %@ %14.1f %12.0f / %-11.0f %13.3f %13.3f %14.3f",
                              p.workers, p.servers, label.padding(toLength: 10, withPad: " ", startingAt: 0) as NSString, p.stepSeconds, p.imagesPerSecond,
                              p.efficiency, p.bottleneck.rawValue.padding(toLength: 19, withPad: " ", startingAt: 0) as NSString,
                              p.workerPushBytes / 1e6, busiest.bytesIn / 1e6, busiest.bytesOut / 1e6, serverLink,
                              p.perServer.map(\.cpuSeconds).max() ?? 0, max(p.workerUpSeconds, p.workerDownSeconds))
            print(line)
        }
    }

    /// Measures and writes the calibration; an existing file's other steps are kept.
    func runCalibration() async throws {
        let kernels = BLASKernelChoice.adoptAtStartup()
        HeapPolicy.keepFreedMemoryForReuse()  // as the worker runs its steps
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label); h.logLevel = .info; return h
        }
        let logger = Logger(label: "ssd-plan")
        logger.info("\(kernels)")
        #if DEBUG
        logger.warning("a debug build: the measured step is many times slower than release; build with `swift build -c release`")
        #endif
        var calibrator = Calibrator(logger: logger)
        calibrator.steps = steps
        var machine = Calibrator.machine()
        let existing = FileManager.default.fileExists(atPath: calibration) ? try PlanCalibration.load(path: calibration) : nil
        let model = try SSDModel(config: try .forBaseNetwork(network, imageShape: imageShape, numClasses: numClasses))
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var measured: [PlanCalibration.Compute] = []
        for t in (threads.isEmpty ? Array(Set([cores, 1])).sorted(by: >) : threads) {
            measured.append(try calibrator.measureStep(model: model, network: network, batch: miniBatchSize, threads: t))
        }
        BLAS.setThreads(cores)
        let server: ServerCost, loopback: PlanCalibration.Loopback
        if stepOnly, let existing {
            server = existing.server; loopback = existing.loopback
        } else {
            server = try calibrator.measureServer()
            loopback = try calibrator.measureLoopback(counts: Calibrator.keys(of: model).counts, port: try freeLoopbackPort(), server: server)
        }
        machine.loadAverageAtEnd = Calibrator.loadAverage()
        var result = PlanCalibration(machine: machine, compute: existing?.compute ?? [], server: server, loopback: loopback)
        result.merge(measured)
        try result.write(path: calibration)
        print("wrote \(calibration): \(result.compute.count) step(s); load average \(machine.loadAverageAtStart) → \(machine.loadAverageAtEnd) on \(machine.cores) cores")
    }
}

extension WireCompression: ExpressibleByArgument {}
