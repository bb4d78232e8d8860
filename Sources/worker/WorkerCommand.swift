import ArgumentParser
import ClusterMetrics
import Detection
import Foundation
import Logging
import ParameterServer
import Tensor
import Training

/// `worker`: trains SSD on its shard. Alone (no kv_store) it is the single-machine trainer;
/// with kv_store=dist_sync/dist_async and MXNet's DMLC_* environment (or SageMaker's) it
/// exchanges gradients with the parameter servers. With `DMLC_ROLE=scheduler|server` it runs
/// that role instead (MXNet's one-command-for-every-role convention; `ServiceRole`).
@main
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Train SSD (SageMaker Object Detection hyperparameters) on one machine or as a cluster worker.",
        discussion: """
            Hyperparameters come from --hyperparameters FILE (SageMaker's hyperparameters.json, every value a \
            string; default /opt/ml/input/config/hyperparameters.json when present) and from --name value flags \
            (flags win), e.g. --num_classes 4 --epochs 2. `worker --help-hyperparameters` lists them all. Invalid \
            values exit with status 2 before any data is read. --metrics-port (or SSD_METRICS_PORT) serves Prometheus \
            metrics at GET /metrics while it trains (or serves, with DMLC_ROLE=server).
            """)

    @Option(help: "SageMaker-style hyperparameters.json.") var hyperparameters: String?
    @Option(help: "Directory with the train/validation channels (default /opt/ml/input/data).") var dataRoot: String?
    @Option(help: "Where the final model goes (default /opt/ml/model, else ./model).") var modelDir: String?
    @Option(help: "Where per-epoch checkpoints go and a start resumes from (default /opt/ml/checkpoints when it exists, else the model directory).")
    var checkpointDir: String?
    @Option(help: "MXNet .params of the base network for use_pretrained_model=1.") var pretrainedModel: String?
    @Option(help: "Log a progress line every N batches.") var logEvery = 10
    @Option(help: "Data-loading threads.") var loaderThreads = 2
    @Option(name: [.customLong("threads"), .customLong("blas-threads")],
            help: "Compute threads (default: OPENBLAS_NUM_THREADS, else all cores); with a batch of at least one image per thread, GEMMs run one per thread and OpenBLAS single-threaded (ComputeThreads).")
    var threads: Int?
    @Option(help: "Random seed for shuffling, augmentation and initialisation.") var seed: UInt64 = 233
    @Option(help: "3×3 layers with at least this many channels run as Winograd F(2×2,3×3); 0: never (default 64, measured by KernelBenchmarks, Benchmarks/results/README.md).")
    var winogradChannels: Int?
    @Option(help: "Their weight gradients run as Winograd from this many channels; 0: never (default 64).")
    var winogradWeightGradientChannels: Int?

    func validate() throws {
        for (flag, value) in [("--winograd-channels", winogradChannels), ("--winograd-weight-gradient-channels", winogradWeightGradientChannels)] {
            if let value, value < 0 { throw ValidationError("\(flag) \(value): give a channel count ≥ 1, or 0 for never") }
        }
        if let threads, threads < 1 { throw ValidationError("--threads \(threads): give at least 1 (default: OPENBLAS_NUM_THREADS, else all cores)") }
    }
    @Flag(help: "Turn training augmentation off (deterministic runs).") var noAugment = false
    @Flag(help: "Skip and count unreadable samples instead of failing.") var skipBadSamples = false
    @Option(help: "Continue from the newest complete checkpoint of this directory (an error when it has none).") var resume: String?
    @Option(help: "Class names for the model artifacts (JSON array or one per line; default: the train annotations' categories).")
    var classNames: String?
    @Option(help: "Cluster only: CURVE keys directory made by `ssd keys` (PS_SECURE_DIR).") var secure: String?
    @OptionGroup var metricsOptions: MetricsPortOptions
    @Option(help: "Cluster only: compress gradient pushes — none, fp16, bf16 or 2bit, as MXNet's set_gradient_compression (PS_GRADIENT_COMPRESSION; default none). Every worker must give the same.")
    var gradientCompression: String?
    @Option(help: "Cluster only: the 2bit threshold (PS_COMPRESSION_THRESHOLD; default 0.5).") var compressionThreshold: String?
    @Flag(help: "Print the hyperparameter table and exit.") var helpHyperparameters = false
    @Flag(help: .hidden) var tinyNetwork = false

    /// Hyperparameter flags (`--num_classes 4`, `--learning-rate=0.01`) are taken out of the
    /// command line before ArgumentParser sees the rest, so they may stand anywhere; they
    /// travel to `run(hyperparameterFlags:)` as an argument (no process-wide state).
    static func main() {
        let (flags, rest) = Hyperparameters.extractFlags(Array(CommandLine.arguments.dropFirst()))
        do {
            let command = try parse(rest)
            try command.run(hyperparameterFlags: flags)
        } catch {
            exit(withError: error)
        }
    }

    func run(hyperparameterFlags: [String: String]) throws {
        if helpHyperparameters { print(Hyperparameters.helpText); return }
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "worker")
        let env = ProcessInfo.processInfo.environment
        let metricsSettings: MetricsPortSettings?
        do {
            metricsSettings = try metricsOptions.settings(environment: env)
        } catch {
            FileHandle.standardError.write(Data("worker: \(error)\n".utf8)); throw ExitCode(2)
        }
        if env["DMLC_ROLE"] == "scheduler" || env["DMLC_ROLE"] == "server" {
            // `--secure DIR` holds for every role the one command line starts.
            let status = ServiceRole.run(environment: env.merging(secure.map { ["PS_SECURE_DIR": $0] } ?? [:]) { $1 },
                                         metrics: metricsSettings, logger: Logger(label: env["DMLC_ROLE"] ?? "server"))
            if status != 0 { throw ExitCode(status) }
            return
        }
        var values: [String: String] = [:]
        let file = hyperparameters ?? (FileManager.default.fileExists(atPath: "/opt/ml/input/config/hyperparameters.json")
                                       ? "/opt/ml/input/config/hyperparameters.json" : nil)
        do {
            if let file { values = try Hyperparameters.readFile(file) }
        } catch {
            FileHandle.standardError.write(Data("worker: \(error)\n".utf8)); throw ExitCode(2)
        }
        values.merge(hyperparameterFlags) { _, flag in flag }
        let clusterConfigured = env["DMLC_ROLE"] != nil || env["SM_HOSTS"] != nil
        let h: Hyperparameters
        switch Hyperparameters.parse(values, clusterConfigured: clusterConfigured) {
        case .success(let parsed): h = parsed
        case .failure(let problems):
            FileHandle.standardError.write(Data("worker: \(problems)\n".utf8)); throw ExitCode(2)
        }
        var cluster: ClusterConfig?
        if h.kvStore != nil {
            do {
                var e = env
                e["DMLC_ROLE"] = e["DMLC_ROLE"] ?? "worker"
                if let secure { e["PS_SECURE_DIR"] = secure }
                if let gradientCompression { e["PS_GRADIENT_COMPRESSION"] = gradientCompression }
                if let compressionThreshold { e["PS_COMPRESSION_THRESHOLD"] = compressionThreshold }
                cluster = try ClusterConfig.resolve(environment: e)
            } catch {
                FileHandle.standardError.write(Data("worker: \(error)\n".utf8)); throw ExitCode(2)
            }
        } else if values["kv_store"] != nil {
            logger.notice("kv_store is ignored on a single machine")
        }
        let compute = ComputeThreads.resolve(requested: threads, batch: h.miniBatchSize)
        HeapPolicy.keepFreedMemoryForReuse()
        if let warning = BLASKernelChoice.adoptAtStartup().warning { logger.warning("\(warning)") }
        var options = TrainingOptions(hyperparameters: h,
                                      dataRoot: dataRoot ?? "/opt/ml/input/data",
                                      modelDir: modelDir ?? (FileManager.default.fileExists(atPath: "/opt/ml") ? "/opt/ml/model" : "model"))
        options.pretrainedModel = pretrainedModel
        options.augment = !noAugment
        options.seed = seed
        options.loaderThreads = loaderThreads
        options.threading = compute.apply()
        logger.info("compute: \(compute)")
        options.logEvery = logEvery
        options.skipBadSamples = skipBadSamples
        options.resumeFrom = resume
        options.checkpointDir = CheckpointLocation.resolve(option: checkpointDir, modelDir: options.modelDir)
        let stop = StopFlag()
        options.stopRequest = stop
        let signals = StopSignals.SignalCount()
        let signalSources = StopSignals.install(flag: stop, cluster: cluster != nil, checkpointDirectory: options.checkpointDirectory,
                                                signals: signals)
        if let c = winogradChannels { options.winogradMinimumChannels = c > 0 ? c : nil }
        if let c = winogradWeightGradientChannels { options.winogradWeightGradientMinimumChannels = c > 0 ? c : nil }
        if tinyNetwork { options.networkOverride = h.baseNetwork == .resnet50 ? .tinyResNet(numClasses: h.numClasses) : .tiny(numClasses: h.numClasses) }
        var metricsEndpoint: MetricsPort?
        if let metricsSettings {
            let metrics = WorkerMetrics()
            do { metricsEndpoint = try MetricsPort.open(metricsSettings, registry: metrics.registry, logger: logger) } catch {
                FileHandle.standardError.write(Data("worker: metrics port: \(error)\n".utf8)); throw ExitCode(2)
            }
            options.observer = metrics
        }
        defer {
            // Training is over (or failed): from here a signal only ends the metrics linger (the
            // handlers above stay installed — installing others for the same signals would lose them).
            signals.trainingOver = true
            metricsEndpoint?.close(stop: stop)
            signalSources.forEach { $0.cancel() }
        }
        do {
            let trainer = try Trainer(options: options, cluster: cluster, logger: logger)
            let summary = try trainer.run()
            if summary.rank == 0 {
                let written = try trainer.writeModelArtifacts(classNamesFile: classNames)
                logger.info("final model: \(written.joined(separator: ", "))")
            }
            logger.info("done: loss \(String(format: "%.4f", summary.firstLoss)) → \(String(format: "%.4f", summary.lastLoss)), \(String(format: "%.2f", summary.imagesPerSecond)) images/s (\(String(format: "%.0f", 100 * summary.waitingFraction))% waiting on the servers)\(summary.validationMAP.map { String(format: ", validation mAP %.4f", $0) } ?? "")\(summary.checkpoint.map { ", checkpoint \($0)" } ?? "")")
            print(try WorkerSummary(summary).jsonLine())
        } catch let error as CheckpointError {
            FileHandle.standardError.write(Data("worker: \(error)\n".utf8))
            if case .interrupted = error { throw ExitCode(130) }
            throw ExitCode(2)
        } catch let error as TrainingError where error.isDivergence {
            FileHandle.standardError.write(Data("worker: \(error)\n".utf8)); throw ExitCode(3)
        } catch let error as ModelError {
            FileHandle.standardError.write(Data("worker: \(error)\n".utf8)); throw ExitCode(2)
        } catch let error as HyperparameterProblems {
            FileHandle.standardError.write(Data("worker: \(error)\n".utf8)); throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("worker: \(error)\n".utf8)); throw ExitCode(1)
        }
    }
}

/// The worker's last line on standard output: its summary as one JSON object (scripts and
/// tests read it; `checkpoint` is "" on ranks that write none).
struct WorkerSummary: Encodable {
    var rank: Int
    var workers: Int
    var effective_batch: Int
    var first_loss: Double
    var last_loss: Double
    var images_per_sec: Double
    var waiting_fraction: Double
    var mAP: Double?
    var learning_rates: [Float]
    var checkpoint: String

    init(_ s: TrainingSummary) {
        rank = s.rank; workers = s.workers; effective_batch = s.effectiveBatch; first_loss = s.firstLoss; last_loss = s.lastLoss
        images_per_sec = s.imagesPerSecond; waiting_fraction = s.waitingFraction
        mAP = s.validationMAP.flatMap { $0.isNaN ? nil : $0 }  // NaN: no ground truth in the validation channel
        learning_rates = s.learningRates; checkpoint = s.checkpoint ?? ""
    }

    enum CodingKeys: String, CodingKey {
        case rank, workers, effective_batch, first_loss, last_loss, images_per_sec, waiting_fraction, mAP, learning_rates, checkpoint
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rank, forKey: .rank); try c.encode(workers, forKey: .workers); try c.encode(effective_batch, forKey: .effective_batch)
        try c.encode(first_loss, forKey: .first_loss); try c.encode(last_loss, forKey: .last_loss)
        try c.encode(images_per_sec, forKey: .images_per_sec); try c.encode(waiting_fraction, forKey: .waiting_fraction)
        try c.encode(mAP, forKey: .mAP)  // null without a validation channel or without ground truth in it
        try c.encode(learning_rates, forKey: .learning_rates); try c.encode(checkpoint, forKey: .checkpoint)
    }

    func jsonLine() throws -> String { try JSONLine.encode(self) }
}
