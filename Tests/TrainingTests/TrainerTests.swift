import Detection
import DetectionData
import Foundation
import Launcher
import Logging
import ParameterServer
import Tensor
import TestSupport
import Testing
@testable import Training

/// `Trainer` in this process on the small SSD (`SSDConfig.tiny`, 64×64) and 16 synthetic images:
/// the production step, on one machine and as two dist_sync workers whose scheduler, server and
/// clients are real ZeroMQ peers on 127.0.0.1 in threads of this process.
@Suite("Trainer in process", .serialized)
struct TrainerTests {
    let work: String
    var data: String { work + "/data" }
    static let logger: Logger = { var l = Logger(label: "trainer-test"); l.logLevel = .error; return l }()

    init() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-\(UUID().uuidString)").path
        try SyntheticDataset(numClasses: 2, imageSize: 64, seed: 1).write(to: work + "/data", trainCount: 16, validationCount: 4,
                                                                            formats: .json)
    }

    func options(_ model: String, epochs: Int, batch: Int = 4, kvStore: SyncMode? = nil) -> TrainingOptions {
        var h = Hyperparameters(numClasses: 2, numTrainingSamples: 16)
        h.usePretrainedModel = false
        h.learningRate = 0.003
        h.miniBatchSize = batch
        h.epochs = epochs
        h.kvStore = kvStore
        h.lrSchedulerStep = [2]
        h.lrSchedulerFactor = 0.5
        var o = TrainingOptions(hyperparameters: h, dataRoot: data, modelDir: work + "/" + model)
        o.networkOverride = .tiny(numClasses: 2)
        o.augment = false
        o.loaderThreads = 1
        o.logEvery = 1000
        return o
    }

    /// A trainer whose kernels run on the calling thread (the same summation order in every run).
    static func trainer(_ o: TrainingOptions, cluster: ClusterConfig? = nil) throws -> Trainer {
        let trainer = try Trainer(options: o, cluster: cluster, logger: logger)
        trainer.model.threading = .serial
        return trainer
    }

    func train(_ o: TrainingOptions) throws -> (TrainingSummary, Trainer) {
        let trainer = try Self.trainer(o)
        return (try trainer.run(), trainer)
    }

    func weights(_ path: String) throws -> [Float] { try MXNetParams.read(path: path).flatMap(\.values) }

    func metricsEvents(_ model: String) throws -> [String] {
        try String(contentsOfFile: work + "/" + model + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test("one machine: a few steps of the production step lower the loss and write a whole checkpoint")
    func singleMachine() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        let (summary, trainer) = try train(options("one", epochs: 3))
        #expect(summary.lastLoss < summary.firstLoss, "loss \(summary.firstLoss) → \(summary.lastLoss)")
        #expect(summary.learningRates == [0.003, 0.003, 0.0015])
        #expect(summary.validationMAP != nil)
        let checkpoint = CheckpointFiles(directory: work + "/one", epoch: 3)
        #expect(summary.checkpoint == checkpoint.params)
        #expect(try weights(checkpoint.params) == Array(trainer.model.parameters.values))
        #expect(FileManager.default.fileExists(atPath: checkpoint.states))
        #expect(try metricsEvents("one").filter { $0.contains("\"event\":\"epoch_end\"") }.count == 3)
        // No temporary file is left beside the checkpoints.
        #expect(try FileManager.default.contentsOfDirectory(atPath: work + "/one").allSatisfy { !$0.hasSuffix(".partial") })
    }

    @Test("the Winograd cut-offs are options: the trainer's model takes them (nil: im2col only), defaults from Conv2D.Workspace")
    func winogradCutOffs() throws {
        var o = options("winograd", epochs: 1)
        #expect(try Self.trainer(o).model.workspace.winogradMinimumChannels == Conv2D.Workspace().winogradMinimumChannels)
        o.winogradMinimumChannels = nil
        o.winogradWeightGradientMinimumChannels = 256
        let model = try Self.trainer(o).model
        #expect(model.workspace.winogradMinimumChannels == nil && model.workspace.winogradWeightGradientMinimumChannels == 256)
    }

    @Test("dist_sync: 2 workers × batch 2 (real KVServer and KVClients on 127.0.0.1, in threads) equal 1 machine × batch 4")
    func distSyncInProcess() async throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        let (single, _) = try train(options("one", epochs: 1))
        let summaries = try await Self.runCluster(workers: 2) { w in options("w\(w)", epochs: 1, batch: 2, kvStore: .sync) }
        #expect(summaries.map(\.rank) == [0, 1] && summaries.allSatisfy { $0.effectiveBatch == 4 })
        let a = try weights(try #require(single.checkpoint)), b = try weights(try #require(summaries[0].checkpoint))
        #expect(a.count == b.count && a.count > 1000)
        // OpenBLAS with several threads sums in another order for batch 2 than for batch 4 (1 thread
        // gives < 1e-5, as the real-process test shows); the 4 steps move the weights far more.
        let maxDiff = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        #expect(maxDiff < 1e-4, "max weight difference \(maxDiff)")
        let initial = Array(try SSDModel(config: .tiny(numClasses: 2), seed: options("x", epochs: 1).seed).parameters.values)
        let moved = zip(a, initial).map { abs($0 - $1) }.max() ?? 0
        #expect(moved > 100 * maxDiff && moved > 1e-3, "the weights moved by \(moved)")
    }

    /// A scheduler, one server and `workers` trainers (options of rank w from `options`) as
    /// threads of this process, real ZeroMQ peers on 127.0.0.1; the trainers' summaries once the
    /// server has shut down.
    static func runCluster(workers: Int, compression: GradientCompression = .none,
                           options: @escaping @Sendable (Int) -> TrainingOptions) async throws -> [TrainingSummary] {
        let port = try freeLoopbackPort()
        @Sendable func config(_ role: Role, rank: Int? = nil) -> ClusterConfig {
            var c = ClusterConfig(role: role, rootURI: "127.0.0.1", rootPort: port, numServers: 1, numWorkers: workers, requestedRank: rank,
                                  heartbeatTimeout: 30, registrationTimeout: 30, roundTimeout: 60)
            c.gradientCompression = compression
            return c
        }
        let results = Box([Result<TrainingSummary, any Error>?](repeating: nil, count: workers))
        let serverOutcome = Box<Result<ServerLoop.Outcome, any Error>?>(nil)
        let lock = NSLock(), group = DispatchGroup()
        group.enter()
        Thread.detachNewThread {
            _ = Result { try Rendezvous.runScheduler(config: config(.scheduler), logger: Self.logger) }
            group.leave()
        }
        group.enter()
        Thread.detachNewThread {
            let outcome = Result { try ServerRunner(config: config(.server), logger: Self.logger).run() }
            lock.lock(); serverOutcome.value = outcome; lock.unlock()
            group.leave()
        }
        for w in 0..<workers {
            group.enter()
            Thread.detachNewThread {
                let r = Result { try Self.trainer(options(w), cluster: config(.worker, rank: w)).run() }
                lock.lock(); results.value[w] = r; lock.unlock()
                group.leave()
            }
        }
        // Waited for off Swift concurrency's few shared threads (process tests' timers run there).
        let finished = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            DispatchQueue.global().async { c.resume(returning: group.wait(timeout: .now() + 120) == .success) }
        }
        #expect(finished, "the in-process cluster did not finish within 120 s")
        let (server, trainers) = lock.withLock { (serverOutcome.value, results.value) }
        #expect(try server?.get() == .shutdown)
        return try trainers.map { try #require($0).get() }
    }

    enum Damage: String, CaseIterable { case statesMissing, paramsTruncated }

    @Test("--resume falls back to the newest whole checkpoint and then equals an uninterrupted run; metrics.jsonl is appended to",
          arguments: Damage.allCases)
    func resumeFallsBack(_ damage: Damage) throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        let (full, _) = try train(options("full", epochs: 3))
        _ = try train(options("part", epochs: 2))
        let newest = CheckpointFiles(directory: work + "/part", epoch: 2)
        switch damage {
        case .statesMissing: try FileManager.default.removeItem(atPath: newest.states)
        case .paramsTruncated:
            let bytes = try Data(contentsOf: URL(fileURLWithPath: newest.params))
            try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: newest.params))
        }
        var o = options("part", epochs: 3)
        o.resumeFrom = work + "/part"
        let (resumed, _) = try train(o)
        #expect(resumed.learningRates == [0.003, 0.0015], "epochs 1 and 2 trained again from the checkpoint of epoch 1")
        #expect(try weights(try #require(resumed.checkpoint)) == weights(try #require(full.checkpoint)))
        #expect(try metricsEvents("part").filter { $0.contains("\"event\":\"start\"") }.count == 2)
    }

    @Test("--resume with no usable checkpoint, or none at all, is an error naming each one")
    func resumeWithoutCheckpoint() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        var o = options("none", epochs: 1)
        o.resumeFrom = work + "/none"
        #expect(throws: ModelError.checkpointMissing(directory: work + "/none")) { _ = try train(o) }
        _ = try train(options("one", epochs: 1))
        try FileManager.default.removeItem(atPath: CheckpointFiles(directory: work + "/one", epoch: 1).states)
        o.resumeFrom = work + "/one"
        do {
            _ = try train(o)
            Issue.record("resumed without an optimizer state")
        } catch let error as TrainingError {
            guard case .noUsableCheckpoint(_, let tried) = error else { Issue.record("\(error)"); return }
            #expect(tried.count == 1 && tried[0].contains(".states"), "\(tried)")
        }
    }

    @Test("a non-finite loss stops training with an error and writes no checkpoint")
    func divergence() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        let trainer = try Trainer(options: options("nan", epochs: 1), cluster: nil, logger: Self.logger)
        let conv = trainer.model.parameters.index(of: "conv1_1_weight")!
        trainer.model.parameters.values.mutableView(conv)[0] = .nan
        do {
            _ = try trainer.run()
            Issue.record("training went on with a NaN weight")
        } catch let error as TrainingError {
            #expect(error.isDivergence, "\(error)")
            guard case .diverged(0, 1, _, _) = error else { Issue.record("\(error)"); return }
        }
        #expect(CheckpointFiles.all(in: work + "/nan").isEmpty)
    }

    @Test("a non-finite weight that the loss does not read (a moving mean, trained on batch statistics) never reaches a checkpoint")
    func nonFiniteWeights() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        var o = options("nan", epochs: 1)
        o.networkOverride = .tinyResNet(numClasses: 2)
        let trainer = try Self.trainer(o)
        #expect(trainer.model.batchNormStatistics == .batch)
        let mean = try #require(trainer.model.parameters.index(of: "bn_data_moving_mean"))
        trainer.model.parameters.values.mutableView(mean)[0] = .infinity
        do {
            _ = try trainer.run()
            Issue.record("a checkpoint with a non-finite weight was written")
        } catch let error as TrainingError {
            #expect(error.isDivergence && "\(error)".contains("bn_data_moving_mean"), "\(error)")
        }
        #expect(CheckpointFiles.all(in: work + "/nan").isEmpty)
    }

    @Test("a validation channel that exists but cannot be opened is an error, not a silent run without validation")
    func brokenValidationChannel() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.removeItem(atPath: data + "/validation_annotation")
        #expect {
            _ = try train(options("v", epochs: 1))
        } throws: { error in
            guard case .validationChannelUnreadable = error as? TrainingError else { return false }
            return true
        }
    }

    /// Runs `mount`/`umount`; true when it exited 0.
    @discardableResult
    static func mountCommand(_ arguments: [String]) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: arguments[0] == "umount" ? "/bin/umount" : "/bin/mount")
        p.arguments = Array(arguments.dropFirst())
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    /// Whether this process may mount a small tmpfs (root, and a kernel and container that allow it).
    static let canMountTmpfs: Bool = {
        guard getuid() == 0, FileManager.default.fileExists(atPath: "/bin/mount") else { return false }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tmpfs-probe-\(UUID().uuidString)").path
        guard (try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)) != nil else { return false }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        guard mountCommand(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]) else { return false }
        return mountCommand(["umount", dir])
    }()

    @Test("a full disk (a small tmpfs as model directory): a clear error, and the previous checkpoint stays whole and resumable",
          .enabled(if: TrainerTests.canMountTmpfs, "needs root and `mount -t tmpfs` to make a small full disk"))
    func fullDisk() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        // One epoch's files, each rounded up to tmpfs pages, plus a quarter: the second epoch's
        // optimizer state (written before its weights, beside the first's) cannot fit.
        _ = try train(options("measure", epochs: 1))
        let measured = try FileManager.default.contentsOfDirectory(atPath: work + "/measure").map { name -> Int in
            let size = try FileManager.default.attributesOfItem(atPath: work + "/measure/" + name)[.size] as? Int ?? 0
            return (size + 4095) / 4096 * 4096
        }.reduce(0, +)
        let disk = work + "/disk"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        try #require(Self.mountCommand(["mount", "-t", "tmpfs", "-o", "size=\(measured + measured / 4)", "tmpfs", disk]))
        defer { Self.mountCommand(["umount", disk]) }
        do {
            _ = try train(options("disk", epochs: 3))
            Issue.record("training filled the disk without an error")
        } catch let error as DurableFile.WriteError {
            #expect(error.errno == ENOSPC, "\(error)")
            #expect("\(error)".contains("No space left on device") && "\(error)".contains("free space"), "\(error)")
        }
        let dir = disk
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.hasSuffix(".partial") })
        #expect(CheckpointFiles.all(in: dir).map(\.epoch) == [1])
        // The checkpoint of epoch 1 loads whole; resumed elsewhere, training finishes.
        let copy = work + "/copy"
        try FileManager.default.copyItem(atPath: dir, toPath: copy)
        var o = options("copy", epochs: 2)
        o.resumeFrom = copy
        let (resumed, _) = try train(o)
        #expect(resumed.learningRates.count == 1 && resumed.checkpoint == CheckpointFiles(directory: copy, epoch: 2).params)
    }
}

/// A value shared with the test's threads (each access under the test's lock).
final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
