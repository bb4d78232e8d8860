import ArgumentParser
import Detection
import Foundation
import Logging
import ParameterServer
import Tensor
import Training

/// `worker`: trains SSD on its shard. Alone (no kv_store) it is the single-machine trainer;
/// with kv_store=dist_sync/dist_async and MXNet's DMLC_* environment (or SageMaker's) it
/// exchanges gradients with the parameter servers.
@main
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Train SSD (SageMaker Object Detection hyperparameters) on one machine or as a cluster worker.",
        discussion: """
            Hyperparameters come from --hyperparameters FILE (SageMaker's hyperparameters.json, every value a \
            string; default /opt/ml/input/config/hyperparameters.json when present) and from --name value flags \
            (flags win), e.g. --num_classes 4 --epochs 2. `worker --help-hyperparameters` lists them all. Invalid \
            values exit with status 2 before any data is read.
            """)

    @Option(help: "SageMaker-style hyperparameters.json.") var hyperparameters: String?
    @Option(help: "Directory with the train/validation channels (default /opt/ml/input/data).") var dataRoot: String?
    @Option(help: "Where checkpoints go (default /opt/ml/model, else ./model).") var modelDir: String?
    @Option(help: "MXNet .params of the base network for use_pretrained_model=1.") var pretrainedModel: String?
    @Option(help: "Log a progress line every N batches.") var logEvery = 10
    @Option(help: "Data-loading threads.") var loaderThreads = 2
    @Option(help: "OpenBLAS threads (default: OPENBLAS_NUM_THREADS, else all cores).") var blasThreads: Int?
    @Option(help: "Random seed for shuffling, augmentation and initialisation.") var seed: UInt64 = 233
    @Flag(help: "Turn training augmentation off (deterministic runs).") var noAugment = false
    @Flag(help: "Skip and count unreadable samples instead of failing.") var skipBadSamples = false
    @Option(help: "Continue from the newest checkpoint of this model directory.") var resume: String?
    @Flag(help: "Print the hyperparameter table and exit.") var helpHyperparameters = false
    @Flag(help: .hidden) var tinyNetwork = false

    /// Hyperparameter flags (`--num_classes 4`, `--learning-rate=0.01`) taken out of the
    /// command line before ArgumentParser sees the rest, so they may stand anywhere.
    static var hyperparameterFlags: [String: String] = [:]

    static func main() {
        let (flags, rest) = Hyperparameters.extractFlags(Array(CommandLine.arguments.dropFirst()))
        hyperparameterFlags = flags
        main(rest)
    }

    func run() throws {
        if helpHyperparameters { print(Hyperparameters.helpText); return }
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "worker")
        let env = ProcessInfo.processInfo.environment
        var values: [String: String] = [:]
        let file = hyperparameters ?? (FileManager.default.fileExists(atPath: "/opt/ml/input/config/hyperparameters.json")
                                       ? "/opt/ml/input/config/hyperparameters.json" : nil)
        do {
            if let file { values = try Hyperparameters.readFile(file) }
        } catch {
            FileHandle.standardError.write(Data("worker: \(error)\n".utf8)); throw ExitCode(2)
        }
        values.merge(Self.hyperparameterFlags) { _, flag in flag }
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
                cluster = try ClusterConfig.resolve(environment: e)
            } catch {
                FileHandle.standardError.write(Data("worker: \(error)\n".utf8)); throw ExitCode(2)
            }
        } else if values["kv_store"] != nil {
            logger.notice("kv_store is ignored on a single machine")
        }
        BLAS.configureThreads(requested: blasThreads)
        HeapPolicy.keepFreedMemoryForReuse()
        if let warning = BLAS.coreWarning() { logger.warning("\(warning)") }
        var options = TrainingOptions(hyperparameters: h,
                                      dataRoot: dataRoot ?? "/opt/ml/input/data",
                                      modelDir: modelDir ?? (FileManager.default.fileExists(atPath: "/opt/ml") ? "/opt/ml/model" : "model"))
        options.pretrainedModel = pretrainedModel
        options.augment = !noAugment
        options.seed = seed
        options.loaderThreads = loaderThreads
        options.logEvery = logEvery
        options.skipBadSamples = skipBadSamples
        options.resumeFrom = resume
        if tinyNetwork { options.networkOverride = h.baseNetwork == .resnet50 ? .tinyResNet(numClasses: h.numClasses) : .tiny(numClasses: h.numClasses) }
        do {
            let trainer = try Trainer(options: options, cluster: cluster, logger: logger)
            let summary = try trainer.run()
            logger.info("done: loss \(String(format: "%.4f", summary.firstLoss)) → \(String(format: "%.4f", summary.lastLoss)), \(String(format: "%.2f", summary.imagesPerSecond)) images/s (\(String(format: "%.0f", 100 * summary.waitingFraction))% waiting on the servers)\(summary.validationMAP.map { String(format: ", validation mAP %.4f", $0) } ?? "")\(summary.checkpoint.map { ", checkpoint \($0)" } ?? "")")
            print(String(format: "{\"rank\": %d, \"workers\": %d, \"effective_batch\": %d, \"first_loss\": %.6f, \"last_loss\": %.6f, \"images_per_sec\": %.4f, \"waiting_fraction\": %.4f, \"mAP\": %@, \"learning_rates\": [%@], \"checkpoint\": \"%@\"}",
                         summary.rank, summary.workers, summary.effectiveBatch,
                         summary.firstLoss, summary.lastLoss, summary.imagesPerSecond, summary.waitingFraction,
                         summary.validationMAP.map { String($0) } ?? "null",
                         summary.learningRates.map { "\($0)" }.joined(separator: ","), summary.checkpoint ?? ""))
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
