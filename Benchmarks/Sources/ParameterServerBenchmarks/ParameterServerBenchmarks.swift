// Push+pull throughput of the parameter server on SSD300-VGG16's real parameter shapes, over
// ZeroMQ on 127.0.0.1: rounds/s and GB/s per worker for dist_sync and dist_async, 1 and 2
// servers, 2 workers. Scheduler, servers and workers run as threads of this process, each
// with its own ZeroMQ context and sockets, talking over TCP loopback like separate processes;
// large payloads go through shared memory as between processes on one host (the cluster's
// default, `PS_SHARED_MEMORY=auto`) unless `--shared-memory off`.
import ArgumentParser
import Foundation
import Glibc
import Logging
import Optimizers
import ParameterServer
import Tensor

/// The 71 trainable arrays of SSD300 with a VGG16-reduced base and 20 classes (facts A.1–A.3).
func ssd300VGG16Shapes() -> [(name: String, count: Int)] {
    var arrays: [(String, Int)] = []
    func conv(_ name: String, _ inC: Int, _ outC: Int, _ k: Int) {
        arrays.append(("\(name)_weight", outC * inC * k * k)); arrays.append(("\(name)_bias", outC))
    }
    let vgg: [(String, Int, Int)] = [("conv1_1", 3, 64), ("conv1_2", 64, 64), ("conv2_1", 64, 128), ("conv2_2", 128, 128),
        ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv4_1", 256, 512), ("conv4_2", 512, 512),
        ("conv4_3", 512, 512), ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512), ("fc6", 512, 1024)]
    for (n, i, o) in vgg { conv(n, i, o, 3) }
    conv("fc7", 1024, 1024, 1)
    arrays.append(("relu4_3_scale", 512))
    for (k, (i, mid, o)) in [(1024, 256, 512), (512, 128, 256), (256, 128, 256), (256, 128, 256)].enumerated() {
        conv("multi_feat_\(k + 2)_conv_1x1_conv", i, mid, 1)
        conv("multi_feat_\(k + 2)_conv_3x3_conv", mid, o, 3)
    }
    let sources = ["relu4_3", "relu7", "multi_feat_2_conv_3x3_relu", "multi_feat_3_conv_3x3_relu",
                   "multi_feat_4_conv_3x3_relu", "multi_feat_5_conv_3x3_relu"]
    for (s, (c, a)) in zip(sources, zip([512, 1024, 512, 256, 256, 256], [4, 6, 6, 6, 4, 4])) {
        conv("\(s)_loc_pred_conv", c, a * 4, 3)
        conv("\(s)_cls_pred_conv", c, a * 21, 3)
    }
    return arrays
}

struct Row: Codable {
    var mode: String, servers: Int, workers: Int, rounds: Int
    /// Float32 bytes of one worker's push each server receives (from the key slicing), by server rank.
    var bytesPerServer: [Int]
    /// Every socket authenticated and encrypted with ZeroMQ CURVE (`--secure`).
    var curve: Bool
    /// Gradient compression of the pushes (`--compression`): none, fp16, bf16, 2bit.
    var compression: String
    /// Bytes one worker sends (compressed pushes) and receives (float32 weights) per round.
    var pushBytesPerWorker: Int, pullBytesPerWorker: Int
    var seconds: Double, roundsPerSecond: Double, gigabytesPerSecondPerWorker: Double
    /// With --profile: milliseconds per round spent in each phase, summed over all threads.
    var phases: [String: Double]?
    /// This process's CPU seconds (every thread) and minor page faults per timed round.
    var userSecondsPerRound: Double, systemSecondsPerRound: Double, minorFaultsPerRound: Double
    /// Which transport carried the payloads: ZeroMQ over TCP loopback, and how worker 0's large
    /// payloads went (shared memory or the socket).
    var transport: String
}

/// One phase per line: milliseconds per round (all threads together), calls per round, share.
func printProfile(_ phases: [String: Double], row: Row) {
    let measured = phases.values.reduce(0, +)
    print(String(format: "  where a round's time goes (%.1f ms wall per round; phases summed over the %d worker and %d server threads, which overlap):",
                 1000 * row.seconds / Double(row.rounds), row.workers, row.servers))
    for phase in RoundProfile.Phase.allCases {
        let ms = phases[phase.rawValue] ?? 0
        let name = phase.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0)
        print("    \(name)" + String(format: "%9.2f ms/round  %5.1f %%", ms, measured > 0 ? 100 * ms / measured : 0))
    }
}

@main
struct ParameterServerBenchmarks: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Parameter-server push+pull throughput on SSD300-VGG16 shapes.")

    @Option(help: "Rounds per configuration.") var rounds = 20
    @Option(help: "Warm-up rounds (not timed).") var warmup = 2
    @Option(help: "Server counts to measure.") var servers: [Int] = [1, 2]
    @Option(help: "Worker counts to measure.") var workers: [Int] = [2]
    @Option(help: "Modes to measure: dist_sync, dist_async.") var modes: [String] = ["dist_sync", "dist_async"]
    @Flag(help: "First measure this machine's floor: memory bandwidth for the bytes a round touches, and loopback TCP with the same frame sizes.")
    var floor = false
    @Option(help: "Write the results as JSON to this path.") var json: String?
    @Flag(help: "Also print where a round's time goes: send, receive, receive copy, checksum, non-finite check, sum, update + reply hash, reply.")
    var profile = false
    @Option(help: "Gradient compression settings to measure (none, fp16, bf16, 2bit; MXNet's default 2bit threshold 0.5).")
    var compression: [String] = ["none"]
    @Flag(help: "Run every socket with ZeroMQ CURVE (keys generated into a temporary directory), as `--secure` clusters do.")
    var secure = false
    @Option(help: "auto: large payloads through shared memory, as the cluster does on one host (the default); off: every payload on the TCP socket.")
    var sharedMemory = "auto"
    @Flag(help: "Leave the C heap at glibc's defaults (large messages mapped and unmapped each time, one arena per thread) instead of param-server's policy.")
    var systemHeap = false

    func run() throws {
        // As `param-server` does: freed messages stay in the heap (before any thread allocates).
        let heap = systemHeap ? "glibc's defaults"
            : HeapPolicy.keepFreedMemoryForReuse(oneArena: true) ? "freed memory kept for reuse, one arena" : "mallopt unavailable"
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .warning
            return h
        }
        let shapes = ssd300VGG16Shapes()
        let floats = shapes.reduce(0) { $0 + $1.count }
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; SSD300-VGG16: \(shapes.count) arrays, "
              + String(format: "%.2f M floats (%.1f MB per push)", Double(floats) / 1e6, Double(floats) * 4 / 1e6))
        var keys: CurveKeys?
        if secure {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ps-bench-keys-\(getpid())").path
            try CurveKeys.generate(into: dir)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            keys = try CurveKeys.load(directory: dir)
        }
        print("ZeroMQ security: \(secure ? "CURVE (authenticated and encrypted)" : "NULL (none)"); C heap: \(heap)")
        print(String(format: "load average at start: %.2f", loadAverage()))
        var floorFigures: Floor?
        if floor { floorFigures = try Floor.measure(frameSizes: shapes.map { $0.count * 4 }, workers: workers.max() ?? 2) }
        let chosen = try modes.map { name in
            guard let mode = SyncMode(rawValue: name) else { throw ValidationError("unknown mode \(name): use dist_sync or dist_async") }
            return mode
        }
        let settings = try compression.map { try GradientCompression.parse(kind: $0, threshold: nil, source: "--compression") }
        print("mode        compression servers workers rounds   seconds  rounds/s  GB/s/worker (push+pull)  MB pushed+pulled/worker/round"
              + "  MB per server per float32 push (max/mean)")
        var rows: [Row] = []
        for mode in chosen {
            for w in workers {
                for s in servers {
                    for setting in settings {
                        let row = try measure(mode: mode, servers: s, workers: w, shapes: shapes, security: keys, compression: setting)
                        rows.append(row)
                        let mb = row.bytesPerServer.map { Double($0) / 1e6 }
                        print(String(format: "%-11@ %-11@ %7d %7d %6d %9.2f %9.2f %12.2f %15.1f + %.1f %14@  %.2f", mode.rawValue as NSString,
                                     setting.kind.rawValue as NSString, s, w, rounds, row.seconds, row.roundsPerSecond,
                                     row.gigabytesPerSecondPerWorker, Double(row.pushBytesPerWorker) / 1e6, Double(row.pullBytesPerWorker) / 1e6,
                                     mb.map { String(format: "%.1f", $0) }.joined(separator: "/") as NSString,
                                     (mb.max() ?? 0) / (mb.reduce(0, +) / Double(max(1, mb.count)))))
                        print(String(format: "  per round: CPU %.0f ms user + %.0f ms system (all threads), %.0f minor page faults",
                                     1000 * row.userSecondsPerRound, 1000 * row.systemSecondsPerRound, row.minorFaultsPerRound))
                        print("  transport: \(row.transport)")
                        if let phases = row.phases { printProfile(phases, row: row) }
                        if let f = floorFigures, s == 1, setting.kind == .none { f.printBound(workers: w, measured: row.roundsPerSecond) }
                    }
                }
            }
        }
        print(String(format: "load average at end: %.2f", loadAverage()))
        print("against MXNet 1.9.1 ps-lite on this machine, in one command: python3 Benchmarks/compare/mxnet_kvstore.py")
        if let json {
            let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
            try e.encode(Results(cores: ProcessInfo.processInfo.activeProcessorCount, loadAverage: loadAverage(), floor: floorFigures, rows: rows))
                .write(to: URL(fileURLWithPath: json))
        }
    }

    func measure(mode: SyncMode, servers serverCount: Int, workers: Int, shapes: [(name: String, count: Int)], security: CurveKeys?,
                 compression: GradientCompression) throws -> Row {
        let port = 20000 + Int(getpid() % 20000) + serverCount * 7 + workers * 29 + (mode == .sync ? 0 : 3) + 11 * Int(compression.encoding.rawValue)
        var base = ClusterConfig(role: .scheduler, rootURI: "127.0.0.1", rootPort: port, numServers: serverCount,
                                 numWorkers: workers, heartbeatTimeout: 60, security: security)
        base.gradientCompression = compression
        guard ["auto", "off"].contains(sharedMemory) else { throw ValidationError("--shared-memory takes auto or off, not \(sharedMemory)") }
        base.sharedMemory = sharedMemory == "auto"
        let logger = Logger(label: "bench")
        let group = DispatchGroup()
        func spawn(_ body: @escaping () -> Void) {
            group.enter()
            Thread.detachNewThread { body(); group.leave() }
        }
        let phases: RoundProfile? = profile ? RoundProfile() : nil
        spawn { try? Rendezvous.runScheduler(config: base, logger: logger) }
        for _ in 0..<serverCount {
            spawn {
                var c = base; c.role = .server
                _ = try? ServerRunner(config: c, logger: logger, profile: phases).run()
            }
        }
        let lock = NSLock()
        var elapsed: [Double] = []
        var usage = ResourceUsage(userSeconds: 0, systemSeconds: 0, minorFaults: 0)
        var failures: [String] = []
        var paths = "none reported"
        let totalRounds = rounds, warm = warmup
        for rank in 0..<workers {
            spawn {
                do {
                    var c = base; c.role = .worker; c.requestedRank = rank
                    let client = try KVClient.connect(config: c, logger: logger, profile: phases)
                    defer { client.close() }
                    var weights = shapes.map { [Float](repeating: 0.01, count: $0.count) }
                    // Gradients of varied sign and size (some past the 2bit threshold), as training's are.
                    let grads = shapes.map { (0..<$0.count).map { i in Float(i % 1001 - 500) * 0.0013 } }
                    var keys: [Int: (values: [Float], multipliers: ParameterMultipliers, optimized: Bool)] = [:]
                    for (i, w) in weights.enumerated() { keys[i] = (w, .one, true) }
                    try client.initialize(keys: keys, mode: mode,
                                          optimizer: OptimizerConfig(kind: .sgd, learningRate: 0.001, momentum: 0.9, weightDecay: 0.0005,
                                                                     rescaleGrad: 1.0 / Double(8 * 2).asFloat))
                    var start = 0.0
                    var usageAtStart = ResourceUsage.now()
                    for r in 0..<(warm + totalRounds) {
                        if r == warm { try client.barrier(); phases?.reset(); start = MonotonicClock.now(); usageAtStart = ResourceUsage.now() }
                        for i in shapes.indices {
                            try grads[i].withUnsafeBufferPointer { g in
                                try weights[i].withUnsafeMutableBufferPointer { w in try client.pushPull(key: i, gradient: g, into: w) }
                            }
                        }
                        try client.wait()
                    }
                    let t = MonotonicClock.now() - start
                    let used = ResourceUsage.now().since(usageAtStart)
                    try client.shutdownServers()
                    lock.lock(); elapsed.append(t); if rank == 0 { usage = used; paths = client.payloadPaths ?? paths }; lock.unlock()
                } catch {
                    lock.lock(); failures.append("worker \(rank): \(error)"); lock.unlock()
                }
            }
        }
        group.wait()
        guard failures.isEmpty, let seconds = elapsed.max() else {
            throw ValidationError("benchmark run failed: \(failures.joined(separator: "; "))")
        }
        let pullBytes = shapes.reduce(0) { $0 + $1.count } * 4
        // What goes on the wire per slice (each slice's values encoded on their own).
        let layout = KeyLayout(counts: Dictionary(uniqueKeysWithValues: shapes.enumerated().map { ($0.offset, $0.element.count) }),
                               numServers: serverCount)
        let pushBytes = layout.parts.values.joined().reduce(0) { $0 + compression.encoding.byteCount(values: $1.count) }
        return Row(mode: mode.rawValue, servers: serverCount, workers: workers, rounds: rounds,
                   bytesPerServer: layout.loadPerServer.map { $0 * 4 }, curve: security != nil,
                   compression: compression.kind.rawValue, pushBytesPerWorker: pushBytes, pullBytesPerWorker: pullBytes, seconds: seconds,
                   roundsPerSecond: Double(rounds) / seconds,
                   gigabytesPerSecondPerWorker: Double(pushBytes + pullBytes) * Double(rounds) / seconds / 1e9,
                   phases: phases.map { p in
                       Dictionary(uniqueKeysWithValues: p.totals.map { ($0.key.rawValue, 1000 * $0.value.seconds / Double(rounds)) })
                   },
                   userSecondsPerRound: usage.userSeconds / Double(rounds), systemSecondsPerRound: usage.systemSeconds / Double(rounds),
                   minorFaultsPerRound: Double(usage.minorFaults) / Double(rounds),
                   transport: "ZeroMQ over TCP 127.0.0.1, shared memory \(sharedMemory): worker 0's \(paths)")
    }
}

extension Double {
    var asFloat: Float { Float(self) }
}
