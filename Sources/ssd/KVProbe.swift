import ArgumentParser
import Foundation
import Logging
import Optimizers
import ParameterServer
import Training

/// `ssd kv-probe`: a worker that trains logistic regression through the parameter servers (or
/// alone with `--local`) in a second — to check that a launcher (deploy/*.sh, Slurm,
/// Kubernetes) forms a working cluster before a long SSD run, and used by the tests to prove
/// dist_sync ≡ one machine with the effective batch, async convergence, key slicing and
/// failure handling with real processes. Prints the final weights as JSON.
struct KVProbe: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kv-probe",
        abstract: "Check a cluster: a logistic-regression worker that trains through the parameter servers.")

    @Flag(help: "Train alone with a local optimizer (no servers).") var local = false
    @Option(help: "dist_sync or dist_async.") var mode = "dist_sync"
    @Option(help: "Steps to train.") var steps = 5
    @Option(help: "Per-worker batch (with --local: the whole batch).") var batch = 8
    @Option(help: "Samples in the data set.") var samples = 512
    @Option(help: "Feature dimension.") var dimension = 6
    @Option(help: "sgd, adam, rmsprop or adadelta.") var optimizer = "sgd"
    @Option(help: "Learning rate.") var lr: Float = 0.5
    @Option(help: "SGD momentum.") var momentum: Float = 0.9
    @Option(help: "Weight decay (sgd and rmsprop, as the worker's weight_decay).") var wd: Float = 0.001
    @Option(help: "Workers whose batches --local reproduces (its batch is workers × --batch).") var emulateWorkers = 1
    @Option(help: "Seconds to sleep after each step (lets tests kill a worker mid-run).") var stepDelay: Double = 0
    @Option(help: "Also round-trip a key of this many floats (tests key slicing).") var bigKey = 0
    @Option(help: "Arrays at least this large are split across all servers.") var bigArrayBound = 1_000_000
    @Option(help: "Write the result JSON here instead of stdout.") var output: String?
    @Option(help: "Scheduler host (DMLC_PS_ROOT_URI).") var rootURI: String?
    @Option(help: "Scheduler port (DMLC_PS_ROOT_PORT).") var rootPort: String?
    @Option(help: "Number of servers (DMLC_NUM_SERVER).") var numServers: String?
    @Option(help: "Number of workers (DMLC_NUM_WORKER).") var numWorkers: String?
    @Option(help: "Requested worker rank (DMLC_WORKER_ID).") var rank: String?
    @Option(help: "Seconds of silence before a server is declared dead (PS_HEARTBEAT_TIMEOUT).") var heartbeatTimeout: String?

    struct Result: Codable {
        var rank: Int
        var workers: Int
        var weights: [Float]
        var bias: Float
        var losses: [Double]
        var bigKeyRoundTrip: Bool?
        /// How this worker's large payloads travelled (shared memory or socket).
        var payloadPaths: String?
    }

    func run() throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "kv-probe")
        guard let kind = OptimizerKind(rawValue: optimizer) else { throw ValidationError("unknown optimizer \(optimizer)") }
        let data = LogisticRegression(samples: samples, dimension: dimension, seed: 42)
        var weights = [Float](repeating: 0.1, count: dimension), bias: [Float] = [0]
        var losses: [Double] = []
        if local {
            let opt = Optimizer(optimizerConfig(kind, mode: nil, batch: batch * emulateWorkers, workers: 1))
            var sw = opt.makeState(count: dimension), sb = opt.makeState(count: 1)
            for step in 0..<steps {
                let idx = data.indices(step: step, rank: 0, workers: 1, batch: batch * emulateWorkers)
                let g = data.gradient(weights: weights, bias: bias[0], batch: idx)
                losses.append(g.loss)
                try weights.withUnsafeMutableBufferPointer { w in try g.weights.withUnsafeBufferPointer { gp in
                    try opt.update(weights: w, gradient: gp, state: &sw) } }
                try bias.withUnsafeMutableBufferPointer { w in try [g.bias].withUnsafeBufferPointer { gp in
                    try opt.update(weights: w, gradient: gp, state: &sb, multipliers: .init(lrMult: 1, wdMult: 0)) } }
            }
            try emit(Result(rank: 0, workers: 1, weights: weights, bias: bias[0], losses: losses, bigKeyRoundTrip: nil))
            return
        }
        var flags = ClusterFlags()
        flags.role = "worker"; flags.rootURI = rootURI; flags.rootPort = rootPort; flags.numServers = numServers
        flags.numWorkers = numWorkers; flags.rank = rank; flags.heartbeatTimeout = heartbeatTimeout
        let cluster = try ClusterConfig.resolve(environment: ProcessInfo.processInfo.environment, flags: flags.asEnvironment)
        guard let syncMode = SyncMode(rawValue: mode) else { throw ValidationError("--mode must be dist_sync or dist_async") }
        do {
            let client = try KVClient.connect(config: cluster, logger: logger)
            defer { client.close() }
            let n = client.numWorkers
            let config = optimizerConfig(kind, mode: syncMode, batch: batch, workers: n)
            var keys: [Int: (values: [Float], multipliers: ParameterMultipliers, optimized: Bool)] = [
                0: (weights, .one, true), 1: (bias, .init(lrMult: 1, wdMult: 0), true),
            ]
            var big = (0..<bigKey).map { Float(bitPattern: UInt32(truncatingIfNeeded: $0 &* 2_654_435_761) & 0x7F7F_FFFF) }
            if bigKey > 0 { keys[2] = (big, .one, false) }
            try client.initialize(keys: keys, mode: syncMode, optimizer: config, bigArrayBound: bigArrayBound)
            // Past initialize's barrier every server has heard from every worker.
            logger.info("worker \(client.rank): keys initialized on every server; training \(steps) step(s)")
            var roundTrip: Bool?
            if bigKey > 0 {
                let expected = big
                big = [Float](repeating: 0, count: bigKey)
                try big.withUnsafeMutableBufferPointer { try client.pull(key: 2, into: $0) }
                try client.wait()
                roundTrip = big.map(\.bitPattern) == expected.map(\.bitPattern)
            }
            for step in 0..<steps {
                let idx = data.indices(step: step, rank: client.rank, workers: n, batch: batch)
                let g = data.gradient(weights: weights, bias: bias[0], batch: idx)
                losses.append(g.loss)
                try g.weights.withUnsafeBufferPointer { gp in try weights.withUnsafeMutableBufferPointer { w in
                    try client.pushPull(key: 0, gradient: gp, into: w)
                    try [g.bias].withUnsafeBufferPointer { gb in try bias.withUnsafeMutableBufferPointer { b in
                        try client.pushPull(key: 1, gradient: gb, into: b)
                        try client.wait()
                    } }
                } }
                if stepDelay > 0 { Thread.sleep(forTimeInterval: stepDelay) }
            }
            try client.shutdownServers()
            try emit(Result(rank: client.rank, workers: n, weights: weights, bias: bias[0], losses: losses, bigKeyRoundTrip: roundTrip,
                            payloadPaths: client.payloadPaths))
        } catch let error as TransportError {
            FileHandle.standardError.write(Data("ssd kv-probe: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The update rule as the SSD worker maps its hyperparameters (`Hyperparameters.optimizerConfig`),
    /// with `rescale_grad` = 1 / effective batch: the probe's gradient is a sum over its batch.
    func optimizerConfig(_ kind: OptimizerKind, mode: SyncMode?, batch: Int, workers: Int) -> OptimizerConfig {
        var h = Hyperparameters(numClasses: 1, numTrainingSamples: samples)
        h.optimizer = kind; h.learningRate = lr; h.momentum = momentum; h.weightDecay = wd
        h.miniBatchSize = batch; h.kvStore = mode
        var config = h.optimizerConfig(workers: workers)
        config.rescaleGrad = 1 / Float(h.effectiveBatch(workers: workers))
        return config
    }

    func emit(_ result: Result) throws {
        let line = try JSONLine.encode(result)
        if let output { try Data(line.utf8).write(to: URL(fileURLWithPath: output)) } else { print(line) }
    }
}
