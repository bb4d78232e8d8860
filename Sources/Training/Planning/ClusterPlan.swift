import ParameterServer
import Tensor

// The scaling model behind `ssd plan`: one dist_sync step of N workers and M servers, from
// measured constants (PlanCalibration) and the real key layout (KeyLayout). Pure functions,
// no clocks, no I/O.
//
// Legend: N workers, M servers, P / Q bytes one worker pushes / pulls per step, f_s floats held
// by server s, B link bytes/s (each direction), T_c one worker's forward + backward seconds.
//
// What a step is (the worker's loop, Trainer.run + DistributedUpdate):
//   forward → backward (each key's gradient is pushed as soon as backward has it) → wait for
//   the last pull → next step. A key travels through three stages, each a whole message
//   (ZeroMQ delivers whole frames, the server answers a key only after all N pushes and the
//   update):
//     push   — the worker's uplink (P / B per worker) and the server's downlink (N·push_s / B);
//     server — the server's CPU: receive copy + checksum + sum of each of the N pushes, one
//              optimizer update, the checksum of the reply;
//     pull   — the server's uplink (N·pull_s / B) and the worker's downlink (Q / B).
//   Keys pipeline through the stages (push of key k+1 while key k is updated and pulled).
//
// Overlap assumptions (stated, not measured):
//   1. communication can start when backward starts and overlaps all of backward, none of
//      forward (the next forward needs every new weight);
//   2. the stages form a flow shop over the keys: its makespan is the busiest stage's total
//      plus the largest single key's time on each of the other stages (fill and drain);
//   3. the keys backward produces last need their whole trip after backward ends: the tail is
//      the last key's time through all three stages;
//   so step = forward + max(backward + tail, makespan).
//   On one shared machine (validation runs) the servers' CPU and the copies of every byte
//   also take the workers' cores: spread over the cores, they lengthen the compute.
//   Links are full duplex (a push and a pull share no capacity), except loopback: there every
//   byte is copied by the one machine, so pushes and pulls of every process share one
//   measured throughput. Latency per message is ignored (a few hundred µs against the
//   seconds of a step). Worker-side compression cost (quantizing, the residual) is not
//   modelled; the server's decode is counted as its sum.

/// How gradients (pushes) and weights (pulls) are encoded on the wire: the one table to adjust
/// when a codec changes (`WireCompression.table`).
public enum WireCompression: String, CaseIterable, Codable, Sendable {
    case none, fp16, bf16
    case twoBit = "2bit"

    /// Bytes per Float32 value each way and the codec's own bytes per push message.
    public struct Encoding: Equatable, Sendable {
        public var pushBytesPerFloat: Double
        public var pullBytesPerFloat: Double
        /// Codec bytes added to each push message (2bit: its threshold and element count).
        public var pushExtraBytes: Int
    }

    /// The table. Pulls stay Float32 in every mode (MXNet compresses pushes only).
    public static let table: [WireCompression: Encoding] = [
        .none: Encoding(pushBytesPerFloat: 4, pullBytesPerFloat: 4, pushExtraBytes: 0),
        .fp16: Encoding(pushBytesPerFloat: 2, pullBytesPerFloat: 4, pushExtraBytes: 0),
        .bf16: Encoding(pushBytesPerFloat: 2, pullBytesPerFloat: 4, pushExtraBytes: 0),
        // 2 bits per value: 16 values per 4-byte word, 1/16 of the Float32 bytes.
        .twoBit: Encoding(pushBytesPerFloat: 0.25, pullBytesPerFloat: 4, pushExtraBytes: 8),
    ]

    public var encoding: Encoding { Self.table[self]! }
}

/// What carries the bytes.
public enum PlanLink: Equatable, Sendable {
    /// Every process on its own machine, each machine's link full duplex at this rate each way.
    case network(bytesPerSecond: Double)
    /// Every process on one machine over TCP loopback: pushes and pulls of all processes share
    /// this measured throughput (bytes moved per second).
    case loopback(bytesPerSecond: Double)
}

/// Where the workers' compute runs.
public enum PlanPlacement: Equatable, Sendable {
    /// Each worker has a machine like the calibrated one (all its cores).
    case dedicated
    /// Every process on one machine of `cores` cores (loopback and network-namespace runs): each
    /// worker runs max(1, cores / N) BLAS threads, N > cores workers time-share the cores, and
    /// the servers' CPU time and the copies of every byte sent (at `copyBytesPerSecond`, bytes
    /// per CPU-second: the calibration's loopback rounds, CPU time measured) are taken from the
    /// same cores, spread over them.
    case shared(cores: Int, copyBytesPerSecond: Double)
}

/// The server's CPU cost, measured by `Calibrator` (seconds per Float32 value or byte).
public struct ServerCost: Codable, Equatable, Sendable {
    /// Adding one pushed value into the round's sum.
    public var sumSecondsPerFloat: Double
    /// One optimizer update (SGD with momentum) of one value.
    public var updateSecondsPerFloat: Double
    /// Copying one received byte out of the transport's buffer.
    public var copySecondsPerByte: Double
    /// Checksumming one byte (every push is verified, every reply checksummed).
    public var checksumSecondsPerByte: Double

    public init(sumSecondsPerFloat: Double, updateSecondsPerFloat: Double, copySecondsPerByte: Double, checksumSecondsPerByte: Double) {
        self.sumSecondsPerFloat = sumSecondsPerFloat; self.updateSecondsPerFloat = updateSecondsPerFloat
        self.copySecondsPerByte = copySecondsPerByte; self.checksumSecondsPerByte = checksumSecondsPerByte
    }
}

/// Everything the model needs for one configuration.
public struct ClusterPlanInput: Sendable {
    public var workers: Int
    public var servers: Int
    /// Images per worker per step (mini_batch_size).
    public var batch: Int
    /// One worker's forward + backward seconds for its batch, alone on its machine.
    public var computeSeconds: Double
    /// Share of `computeSeconds` spent in forward (no communication overlaps it).
    public var forwardFraction: Double
    /// Under `.shared`: one worker's step seconds with one BLAS thread (nil: scale `computeSeconds`
    /// by the cores it had, `computeThreads`).
    public var singleThreadComputeSeconds: Double?
    /// Threads `computeSeconds` was measured with.
    public var computeThreads: Int
    /// The float count of every pushed key (the model's trainable arrays).
    public var keyCounts: [Int: Int]
    /// Keys in the order backward produces their gradients (the last one is the tail).
    public var backwardOrder: [Int]
    public var link: PlanLink
    public var placement: PlanPlacement
    public var compression: WireCompression
    public var server: ServerCost
    /// Bytes of the wire header of every message (MessageHeader.byteCount).
    public var messageHeaderBytes: Int = MessageHeader.byteCount
    /// KeyLayout's bound: arrays of at least this many floats are sliced across the servers.
    public var bigArrayBound = 1_000_000

    public init(workers: Int, servers: Int, batch: Int, computeSeconds: Double, forwardFraction: Double, computeThreads: Int,
                keyCounts: [Int: Int], backwardOrder: [Int], link: PlanLink, placement: PlanPlacement = .dedicated,
                compression: WireCompression = .none, server: ServerCost, singleThreadComputeSeconds: Double? = nil) {
        self.workers = workers; self.servers = servers; self.batch = batch; self.computeSeconds = computeSeconds
        self.forwardFraction = forwardFraction; self.computeThreads = computeThreads; self.keyCounts = keyCounts
        self.backwardOrder = backwardOrder; self.link = link; self.placement = placement; self.compression = compression
        self.server = server; self.singleThreadComputeSeconds = singleThreadComputeSeconds
    }
}

/// What limits the step.
public enum PlanBottleneck: String, Codable, Sendable {
    case compute
    case serverLink = "a server's link"
    case serverCPU = "a server's CPU"
    case workerLink = "a worker's link"
    case loopback = "the loopback copies"
}

/// One server's share of a step.
public struct ServerTraffic: Codable, Equatable, Sendable {
    public var server: Int
    public var floats: Int
    /// Messages (key slices) it holds: one push and one pull per worker each.
    public var parts: Int
    /// Bytes into and out of the server per step (all workers).
    public var bytesIn: Double, bytesOut: Double
    /// Seconds of its downlink (pushes), uplink (pulls) and CPU per step.
    public var inSeconds: Double, outSeconds: Double, cpuSeconds: Double
}

/// The prediction for one configuration.
public struct ClusterPlanPrediction: Codable, Equatable, Sendable {
    public var workers: Int, servers: Int, batch: Int
    public var stepSeconds: Double
    public var imagesPerSecond: Double
    /// images/s ÷ (N × one worker alone on its machine, no server).
    public var efficiency: Double
    public var bottleneck: PlanBottleneck
    public var forwardSeconds: Double, backwardSeconds: Double
    /// Bytes one worker pushes and pulls per step.
    public var workerPushBytes: Double, workerPullBytes: Double
    /// Seconds of the worker's uplink (pushes) and downlink (pulls) per step.
    public var workerUpSeconds: Double, workerDownSeconds: Double
    public var perServer: [ServerTraffic]
    /// Totals of the three stages (push, server, pull) and the flow shop's makespan.
    public var pushStageSeconds: Double, serverStageSeconds: Double, pullStageSeconds: Double
    public var communicationSeconds: Double
    /// The last key's trip after backward ends.
    public var tailSeconds: Double
}

/// The model (see the comment at the top of this file).
public enum ClusterPlan {
    /// One worker's compute seconds in this placement: dedicated as measured; on a shared
    /// machine with max(1, cores / N) threads, stretched by N / cores when workers outnumber cores.
    public static func computeSeconds(_ input: ClusterPlanInput) -> Double {
        switch input.placement {
        case .dedicated:
            return input.computeSeconds
        case .shared(let cores, _):
            let n = input.workers
            let threads = ComputeThreads.perWorker(cores: cores, workers: n)
            if threads >= input.computeThreads { return input.computeSeconds }
            // Fewer threads than measured with: the single-thread figure when known.
            let single = input.singleThreadComputeSeconds ?? input.computeSeconds * Double(input.computeThreads)
            let withThreads = threads == 1 ? single : input.computeSeconds * Double(input.computeThreads) / Double(threads)
            return withThreads * max(1, Double(n) / Double(cores))
        }
    }

    /// Seconds one worker alone takes for its batch with its whole machine (the efficiency's base).
    public static func aloneSeconds(_ input: ClusterPlanInput) -> Double { input.computeSeconds }

    /// The bytes one push / pull message of `floats` values carries.
    static func pushBytes(_ floats: Int, _ input: ClusterPlanInput) -> Double {
        let e = input.compression.encoding
        return Double(floats) * e.pushBytesPerFloat + Double(e.pushExtraBytes + input.messageHeaderBytes)
    }

    static func pullBytes(_ floats: Int, _ input: ClusterPlanInput) -> Double {
        Double(floats) * input.compression.encoding.pullBytesPerFloat + Double(input.messageHeaderBytes)
    }

    /// Server CPU seconds for one part of `floats` values: N pushes received, verified and
    /// summed, one update, N replies checksummed.
    static func serverCPUSeconds(_ floats: Int, _ input: ClusterPlanInput) -> Double {
        let n = Double(input.workers), c = input.server, e = input.compression.encoding
        let perPush = Double(floats) * (c.sumSecondsPerFloat + e.pushBytesPerFloat * (c.copySecondsPerByte + c.checksumSecondsPerByte))
        let perReply = Double(floats) * e.pullBytesPerFloat * c.checksumSecondsPerByte
        return n * (perPush + perReply) + Double(floats) * c.updateSecondsPerFloat
    }

    /// The prediction.
    public static func predict(_ input: ClusterPlanInput) -> ClusterPlanPrediction {
        let n = max(1, input.workers), m = max(1, input.servers)
        let layout = KeyLayout(counts: input.keyCounts, numServers: m, bigArrayBound: input.bigArrayBound)
        let nd = Double(n)

        // Per key and per server: bytes and CPU of each stage.
        struct KeyStage { var push = 0.0, cpu = 0.0, pull = 0.0 }
        var perServer = (0..<m).map { ServerTraffic(server: $0, floats: 0, parts: 0, bytesIn: 0, bytesOut: 0, inSeconds: 0, outSeconds: 0, cpuSeconds: 0) }
        var workerPush = 0.0, workerPull = 0.0
        var keyStage: [Int: KeyStage] = [:]
        for (key, parts) in layout.parts {
            var stage = KeyStage()
            for p in parts {
                let push = pushBytes(p.count, input), pull = pullBytes(p.count, input), cpu = serverCPUSeconds(p.count, input)
                perServer[p.server].floats += p.count
                perServer[p.server].parts += 1
                perServer[p.server].bytesIn += nd * push
                perServer[p.server].bytesOut += nd * pull
                perServer[p.server].cpuSeconds += cpu
                workerPush += push; workerPull += pull
                // A key's slices on different servers travel in parallel: its stage time is
                // its slowest slice, and the worker's link carries all slices.
                stage.cpu = max(stage.cpu, cpu)
                switch input.link {
                case .network(let b):
                    stage.push = max(stage.push, nd * push / b); stage.pull = max(stage.pull, nd * pull / b)
                case .loopback(let l):
                    stage.push += nd * push / l; stage.pull += nd * pull / l
                }
            }
            if case .network(let b) = input.link {
                let total = parts.reduce(0.0) { $0 + pushBytes($1.count, input) }, totalPull = parts.reduce(0.0) { $0 + pullBytes($1.count, input) }
                stage.push = max(stage.push, total / b); stage.pull = max(stage.pull, totalPull / b)
            }
            keyStage[key] = stage
        }

        // Stage totals: the busiest resource of each stage.
        let pushStage: Double, pullStage: Double, workerUp: Double, workerDown: Double
        var bottleneckOfLinks: PlanBottleneck
        switch input.link {
        case .network(let b):
            for s in perServer.indices {
                perServer[s].inSeconds = perServer[s].bytesIn / b; perServer[s].outSeconds = perServer[s].bytesOut / b
            }
            workerUp = workerPush / b; workerDown = workerPull / b
            let serverIn = perServer.map(\.inSeconds).max() ?? 0, serverOut = perServer.map(\.outSeconds).max() ?? 0
            pushStage = max(workerUp, serverIn); pullStage = max(workerDown, serverOut)
            bottleneckOfLinks = max(serverIn, serverOut) >= max(workerUp, workerDown) ? .serverLink : .workerLink
        case .loopback(let l):
            // One shared copy path: every byte of every process, both directions.
            for s in perServer.indices {
                perServer[s].inSeconds = perServer[s].bytesIn / l; perServer[s].outSeconds = perServer[s].bytesOut / l
            }
            workerUp = nd * workerPush / l; workerDown = nd * workerPull / l
            pushStage = workerUp; pullStage = workerDown
            bottleneckOfLinks = .loopback
        }
        let serverStage = perServer.map(\.cpuSeconds).max() ?? 0

        // Flow shop over the keys: the busiest stage plus the largest key on each other stage.
        let largest = KeyStage(push: keyStage.values.map(\.push).max() ?? 0, cpu: keyStage.values.map(\.cpu).max() ?? 0,
                               pull: keyStage.values.map(\.pull).max() ?? 0)
        var busiest: Double
        var fill: Double
        if case .loopback = input.link {
            // Pushes and pulls share the copy path: one resource.
            busiest = max(pushStage + pullStage, serverStage)
            fill = pushStage + pullStage >= serverStage ? largest.cpu : largest.push + largest.pull
        } else {
            let stages = [pushStage, serverStage, pullStage], items = [largest.push, largest.cpu, largest.pull]
            let top = stages.indices.max { stages[$0] < stages[$1] }!
            busiest = stages[top]
            fill = items.indices.filter { $0 != top }.reduce(0) { $0 + items[$1] }
        }
        let makespan = busiest + fill
        let last = input.backwardOrder.last.flatMap { keyStage[$0] } ?? KeyStage()
        let tail = last.push + last.cpu + last.pull

        var compute = computeSeconds(input)
        if case .shared(let cores, let copy) = input.placement {
            let moved = nd * (workerPush + workerPull)
            compute += (perServer.reduce(0) { $0 + $1.cpuSeconds } + moved / copy) / Double(max(1, cores))
        }
        let forward = compute * input.forwardFraction, backward = compute - forward
        let step = forward + max(backward + tail, makespan)
        let bottleneck: PlanBottleneck
        if backward + tail >= makespan {
            bottleneck = .compute
        } else if serverStage >= max(pushStage, pullStage) {
            bottleneck = .serverCPU
        } else {
            bottleneck = bottleneckOfLinks
        }
        let images = Double(n * input.batch) / step
        let alone = Double(input.batch) / aloneSeconds(input)
        return ClusterPlanPrediction(
            workers: n, servers: m, batch: input.batch, stepSeconds: step, imagesPerSecond: images, efficiency: images / (nd * alone),
            bottleneck: bottleneck, forwardSeconds: forward, backwardSeconds: backward, workerPushBytes: workerPush, workerPullBytes: workerPull,
            workerUpSeconds: workerUp, workerDownSeconds: workerDown, perServer: perServer,
            pushStageSeconds: pushStage, serverStageSeconds: serverStage, pullStageSeconds: pullStage,
            communicationSeconds: makespan, tailSeconds: tail)
    }
}
