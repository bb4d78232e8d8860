import Detection
import Foundation
import Logging
import Optimizers
import ParameterServer
import Tensor

/// Measures `PlanCalibration`'s constants on this machine (`ssd plan --calibrate`): short runs
/// of the real code — the training step the worker runs, the server's sum and optimizer, the
/// checksum, and push+pull rounds through a real server on loopback. Release builds only give
/// meaningful figures; the machine's load is recorded beside them.
public struct Calibrator {
    /// Timed steps per configuration (after one warm-up step).
    public var steps = 2
    /// Timed loopback rounds (after one warm-up round).
    public var rounds = 3
    public var logger: Logger

    public init(logger: Logger) { self.logger = logger }

    /// The model's pushed keys (trainable arrays, the worker's key numbers) and their float
    /// counts, and the order backward produces them (the reverse of the layers').
    public static func keys(of model: SSDModel) -> (counts: [Int: Int], backwardOrder: [Int]) {
        let store = model.parameters
        let trainable = store.trainable
        return (Dictionary(uniqueKeysWithValues: trainable.map { ($0, store.specs[$0].count) }), trainable.reversed())
    }

    /// The machine, with the load average now (both ends set to it; the caller updates the end).
    public static func machine() -> PlanCalibration.Machine {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "" } ?? "unknown"
        let load = loadAverage()
        return PlanCalibration.Machine(cores: ProcessInfo.processInfo.activeProcessorCount, cpu: model,
                                       memoryGiB: Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30),
                                       openBLASCore: BLAS.coreName, openBLASConfig: BLAS.config,
                                       loadAverageAtStart: load, loadAverageAtEnd: load,
                                       measuredAt: ISO8601DateFormatter().string(from: Date()))
    }

    /// The 1-minute load average (/proc/loadavg), or -1 where there is none.
    public static func loadAverage() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
              let first = text.split(separator: " ").first, let value = Double(first) else { return -1 }
        return value
    }

    /// One training step of `model` on a synthetic batch with `threads` threads, run as a worker
    /// runs them (`ComputeThreads`): median of `steps` timed steps after a warm-up, and one
    /// forward pass alone.
    public func measureStep(model: SSDModel, network: String, batch: Int, threads: Int) throws -> PlanCalibration.Compute {
        model.threading = ComputeThreads.resolve(requested: threads, batch: batch).apply()
        let shape = model.config.imageShape
        var rng = SeededGenerator(seed: 7)
        let images = (0..<(batch * 3 * shape * shape)).map { _ in rng.uniform(-120, 130) }
        var labels = [Float](repeating: -1, count: batch * 4 * 5)
        for n in 0..<batch {
            labels.replaceSubrange((n * 20)..<(n * 20 + 5), with: [Float(n % max(1, model.config.numClasses)), 0.2, 0.25, 0.6, 0.7])
        }
        _ = try model.trainingStep(images: images, labels: labels, batch: batch)
        var times: [Double] = []
        for _ in 0..<max(1, steps) {
            let t0 = MonotonicClock.now()
            _ = try model.trainingStep(images: images, labels: labels, batch: batch)
            times.append(MonotonicClock.now() - t0)
        }
        let t0 = MonotonicClock.now()
        _ = try model.forward(images: images, batch: batch, training: true)
        let forward = MonotonicClock.now() - t0
        let entry = PlanCalibration.Compute(network: network, imageShape: shape, batch: batch, threads: threads,
                                            stepSeconds: Self.median(times), forwardSeconds: forward, timedSteps: times.count)
        logger.info("\(network) \(shape) batch \(batch), \(threads) thread(s): step \(String(format: "%.3f", entry.stepSeconds)) s, forward \(String(format: "%.3f", forward)) s")
        return entry
    }

    /// The server's CPU cost per value: the sum of a push into the round's accumulator (the
    /// loop of `SyncRound.add`), an SGD-with-momentum update through `Optimizer`, a copy out of a
    /// receive buffer, and `WireChecksum` — each over `floats` values, best of 5.
    public func measureServer(floats: Int = 4 << 20) throws -> ServerCost {
        let gradient = [Float](repeating: 0.001, count: floats)
        var acc = [Float](repeating: 0, count: floats), weights = [Float](repeating: 0.01, count: floats)
        let optimizer = Optimizer(OptimizerConfig(kind: .sgd, learningRate: 0.001, momentum: 0.9, weightDecay: 0.0005))
        var state = optimizer.makeState(count: floats)
        func best(_ body: () throws -> Void) rethrows -> Double {
            var t = Double.infinity
            for _ in 0..<5 {
                let t0 = MonotonicClock.now(); try body(); t = min(t, MonotonicClock.now() - t0)
            }
            return t
        }
        let sum = best {
            gradient.withUnsafeBufferPointer { g in acc.withUnsafeMutableBufferPointer { a in for i in 0..<a.count { a[i] += g[i] } } }
        }
        let update = try best {
            try gradient.withUnsafeBufferPointer { g in
                try weights.withUnsafeMutableBufferPointer { w in try optimizer.update(weights: w, gradient: g, state: &state) }
            }
        }
        var sink = [UInt8](repeating: 0, count: floats * 4)
        let copy = best {
            gradient.withUnsafeBytes { src in sink.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
        }
        var hash: UInt64 = 0
        let checksum = best { gradient.withUnsafeBytes { hash ^= WireChecksum.payloadHash($0) } }
        if hash == 1 { logger.debug("checksum \(hash)") }  // keeps the hash from being optimised away
        let cost = ServerCost(sumSecondsPerFloat: sum / Double(floats), updateSecondsPerFloat: update / Double(floats),
                              copySecondsPerByte: copy / Double(floats * 4), checksumSecondsPerByte: checksum / Double(floats * 4))
        logger.info("server per value: sum \(String(format: "%.2f", cost.sumSecondsPerFloat * 1e9)) ns, update \(String(format: "%.2f", cost.updateSecondsPerFloat * 1e9)) ns; per byte: copy \(String(format: "%.3f", cost.copySecondsPerByte * 1e9)) ns, checksum \(String(format: "%.3f", cost.checksumSecondsPerByte * 1e9)) ns")
        return cost
    }

    /// Push+pull rounds of `counts` (the model's keys) through a real scheduler, server and one
    /// worker — threads of this process, each with its own ZeroMQ sockets on 127.0.0.1:`port` —
    /// with SGD with momentum on the server. The loopback throughput is the round's bytes over
    /// the round time less the server's modelled CPU time (`ClusterPlan`'s one worker, one server).
    public func measureLoopback(counts: [Int: Int], port: Int, server: ServerCost) throws -> PlanCalibration.Loopback {
        let config = ClusterConfig(role: .scheduler, rootURI: "127.0.0.1", rootPort: port, numServers: 1, numWorkers: 1, heartbeatTimeout: 60)
        let quiet = Logger(label: "calibrate-loopback") { _ in SwiftLogNoOpLogHandler() }
        let group = DispatchGroup()
        func spawn(_ body: @escaping @Sendable () -> Void) {
            group.enter()
            Thread.detachNewThread { body(); group.leave() }
        }
        let failure = LockedBox<String?>(nil)
        spawn {
            do { try Rendezvous.runScheduler(config: config, logger: quiet) } catch { failure.set("scheduler: \(error)") }
        }
        spawn {
            var c = config; c.role = .server
            do { _ = try ServerRunner(config: c, logger: quiet).run() } catch { failure.set("server: \(error)") }
        }
        var times: [Double] = []
        var cpu0 = 0.0, cpuTimed = 0.0
        let keys = counts.keys.sorted()
        do {
            var c = config; c.role = .worker; c.requestedRank = 0
            let client = try KVClient.connect(config: c, logger: quiet)
            defer { client.close() }
            var weights = keys.map { [Float](repeating: 0.01, count: counts[$0]!) }
            let gradients = keys.map { [Float](repeating: 0.001, count: counts[$0]!) }
            var declared: [Int: (values: [Float], multipliers: ParameterMultipliers, optimized: Bool)] = [:]
            for (i, key) in keys.enumerated() { declared[key] = (weights[i], .one, true) }
            try client.initialize(keys: declared, mode: .sync,
                                  optimizer: OptimizerConfig(kind: .sgd, learningRate: 0.001, momentum: 0.9, weightDecay: 0.0005))
            for r in 0..<(1 + max(1, rounds)) {
                if r == 1 { cpu0 = Self.processCPUSeconds() }
                let t0 = MonotonicClock.now()
                for (i, key) in keys.enumerated() {
                    try gradients[i].withUnsafeBufferPointer { g in
                        try weights[i].withUnsafeMutableBufferPointer { w in try client.pushPull(key: key, gradient: g, into: w) }
                    }
                }
                try client.wait()
                if r > 0 { times.append(MonotonicClock.now() - t0) }
            }
            cpuTimed = Self.processCPUSeconds() - cpu0
            try client.shutdownServers()
        } catch {
            failure.set("worker: \(error)")
        }
        group.wait()
        if let message = failure.value { throw PlanError.measurementFailed(what: "push+pull rounds on loopback", reason: message) }
        let floats = counts.values.reduce(0, +)
        let round = Self.median(times)
        var one = ClusterPlanInput(workers: 1, servers: 1, batch: 1, computeSeconds: 0, forwardFraction: 0, computeThreads: 1,
                                   keyCounts: counts, backwardOrder: keys, link: .loopback(bytesPerSecond: 1), server: server)
        one.compression = .none
        let cpu = ClusterPlan.predict(one).serverStageSeconds
        // The copy path's share of the round; at least a tenth of it (a server CPU model that
        // overestimates must not leave an infinite throughput).
        let transport = max(round - cpu, round / 10)
        // CPU per byte moved: every thread of this process over the timed rounds (the scheduler
        // idles), less the server's modelled CPU; at least a tenth of the round's CPU, as above.
        let cpuPerRound = cpuTimed / Double(max(1, times.count))
        let copyCPU = max(cpuPerRound - cpu, cpuPerRound / 10)
        let loop = PlanCalibration.Loopback(floatsPerRound: floats, roundSeconds: round, bytesPerSecond: Double(2 * 4 * floats) / transport,
                                            cpuSecondsPerByte: copyCPU / Double(2 * 4 * floats))
        logger.info("loopback: \(String(format: "%.1f", Double(floats * 4) / 1e6)) MB each way per round, \(String(format: "%.3f", round)) s per round (server CPU modelled \(String(format: "%.3f", cpu)) s), \(String(format: "%.2f", loop.bytesPerSecond / 1e9)) GB/s; \(String(format: "%.3f", cpuPerRound)) CPU-s per round, \(String(format: "%.2f", loop.copyBytesPerCPUSecond / 1e9)) GB per CPU-second moved")
        return loop
    }

    /// User + system CPU seconds of every thread of this process so far (getrusage).
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// A value shared by the calibration's threads.
final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.lock(); defer { lock.unlock() }; return stored }
    func set(_ value: T) { lock.lock(); stored = value; lock.unlock() }
}
