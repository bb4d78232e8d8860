import Detection
import Foundation
import ParameterServer
import Testing
@testable import Training

/// `ClusterPlan` on cases computed by hand (the arithmetic is in each test's comments).
@Suite("ClusterPlan")
struct ClusterPlanTests {
    static let free = ServerCost(sumSecondsPerFloat: 0, updateSecondsPerFloat: 0, copySecondsPerByte: 0, checksumSecondsPerByte: 0)

    func input(workers: Int, servers: Int = 1, counts: [Int: Int], order: [Int]? = nil, link: PlanLink, compute: Double = 1,
               forward: Double = 0.25, server: ServerCost = free, compression: WireCompression = .none) -> ClusterPlanInput {
        var i = ClusterPlanInput(workers: workers, servers: servers, batch: 2, computeSeconds: compute, forwardFraction: forward, computeThreads: 2,
                                 keyCounts: counts, backwardOrder: order ?? counts.keys.sorted(), link: link, compression: compression, server: server)
        i.messageHeaderBytes = 0
        return i
    }

    @Test("a small key on a fast link: compute-bound, the tail is the last key's trip")
    func computeBound() {
        // 250 floats = 1000 bytes at 1e6 B/s: push 1 ms, pull 1 ms. Makespan 1 + 1 ms; tail 2 ms.
        // step = forward 0.25 + max(backward 0.75 + 0.002, 0.002) = 1.002.
        let p = ClusterPlan.predict(input(workers: 1, counts: [0: 250], link: .network(bytesPerSecond: 1e6)))
        #expect(abs(p.stepSeconds - 1.002) < 1e-12)
        #expect(p.bottleneck == .compute)
        #expect(abs(p.imagesPerSecond - 2 / 1.002) < 1e-12)
        #expect(abs(p.efficiency - 1 / 1.002) < 1e-12)
        #expect(p.workerPushBytes == 1000 && p.workerPullBytes == 1000)
    }

    @Test("four workers on one server: the server's link limits, fill and drain of the largest key added")
    func serverLinkBound() {
        // Keys 0 (1000 floats, 4000 B) and 1 (250 floats, 1000 B); backward produces 1 then 0.
        // B = 1000 B/s. Server in = out = 4 × 5000 B = 20 s; worker up/down 5 s.
        // Stages: push 20, server 0, pull 20. Largest key: push max(4·4000, 4000)/1000 = 16 s, pull 16 s.
        // Makespan = 20 + (0 + 16) = 36. Tail (key 0) = 16 + 0 + 16 = 32 < 36 − backward 1.5.
        // step = 0.5 + 36 = 36.5.
        let p = ClusterPlan.predict(input(workers: 4, counts: [0: 1000, 1: 250], order: [1, 0], link: .network(bytesPerSecond: 1000), compute: 2))
        #expect(abs(p.stepSeconds - 36.5) < 1e-9)
        #expect(p.bottleneck == .serverLink)
        #expect(p.perServer[0].bytesIn == 20_000 && p.perServer[0].bytesOut == 20_000)
        #expect(abs(p.workerUpSeconds - 5) < 1e-12 && abs(p.pushStageSeconds - 20) < 1e-12)
        #expect(abs(p.tailSeconds - 32) < 1e-12 && abs(p.communicationSeconds - 36) < 1e-12)
        #expect(abs(p.efficiency - (8 / 36.5) / (4 * 2 / 2.0)) < 1e-12)
    }

    @Test("two servers: the real key layout slices a big key in halves and places a small one by hash")
    func slicing() {
        // Key 0: 2 000 000 floats ≥ the 1 000 000 bound → 1 000 000 on each server. Key 1: 10
        // floats → server (1 · 9973) mod 2 = 1. N = 2 workers, B = 1e8 B/s:
        // server 1 takes 2 × 4 000 040 B in = 0.0800008 s.
        let p = ClusterPlan.predict(input(workers: 2, servers: 2, counts: [0: 2_000_000, 1: 10], link: .network(bytesPerSecond: 1e8)))
        #expect(p.perServer.map(\.floats) == [1_000_000, 1_000_010])
        #expect(p.perServer.map(\.parts) == [1, 2])
        #expect(abs(p.perServer[1].inSeconds - 0.0800008) < 1e-12)
        // The worker's uplink carries both slices: 8 000 040 B = 0.0800004 s; the servers' 0.0800008 s.
        #expect(abs(p.workerUpSeconds - 0.0800004) < 1e-12)
        #expect(abs(p.pushStageSeconds - 0.0800008) < 1e-12)
    }

    @Test("2bit pushes 1/16 of the bytes plus its header; pulls stay Float32")
    func compressionBytes() {
        // 1000 floats, wire header 40: push 1000 × 0.25 + 8 + 40 = 298 B, pull 4000 + 40 = 4040 B.
        var i = input(workers: 1, counts: [0: 1000], link: .network(bytesPerSecond: 1e9), compression: .twoBit)
        i.messageHeaderBytes = 40
        let p = ClusterPlan.predict(i)
        #expect(p.workerPushBytes == 298 && p.workerPullBytes == 4040)
        i.compression = .fp16
        #expect(ClusterPlan.predict(i).workerPushBytes == 2040)
    }

    @Test("server CPU: N pushes copied, checksummed and summed, one update, N replies checksummed")
    func serverCPU() {
        // 1000 floats, N = 3: per push 1000 × (1 + 4 × (0.1 + 0.2)) ns = 2.2 µs; per reply 1000 × 4 × 0.2 ns
        // = 0.8 µs; 3 × 3 µs + update 1000 × 2 ns = 11 µs.
        let cost = ServerCost(sumSecondsPerFloat: 1e-9, updateSecondsPerFloat: 2e-9, copySecondsPerByte: 0.1e-9, checksumSecondsPerByte: 0.2e-9)
        let p = ClusterPlan.predict(input(workers: 3, counts: [0: 1000], link: .network(bytesPerSecond: 1e12), server: cost))
        #expect(abs(p.perServer[0].cpuSeconds - 11e-6) < 1e-15)
        #expect(abs(p.serverStageSeconds - 11e-6) < 1e-15)
    }

    @Test("a server whose CPU is the busiest stage is named the bottleneck")
    func serverCPUBound() {
        // Keys 0 (1000 floats) and 1 (1 float, produced last), update 1 ms per float: server stage
        // 1.001 s, links instant, compute 0.1 s (forward 0.025). Tail = key 1's 1 ms.
        // step = 0.025 + max(0.075 + 0.001, 1.001) = 1.026.
        let cost = ServerCost(sumSecondsPerFloat: 0, updateSecondsPerFloat: 1e-3, copySecondsPerByte: 0, checksumSecondsPerByte: 0)
        let p = ClusterPlan.predict(input(workers: 1, counts: [0: 1000, 1: 1], order: [0, 1], link: .network(bytesPerSecond: 1e15),
                                          compute: 0.1, server: cost))
        #expect(p.bottleneck == .serverCPU)
        #expect(abs(p.stepSeconds - 1.026) < 1e-6)
    }

    @Test("one shared machine: workers get cores / N threads and time-share beyond the cores")
    func sharedPlacement() {
        // 2 cores; 1.0 s with 2 threads, 1.6 s with 1. N = 1: 1.0; N = 2: 1 thread each, 1.6;
        // N = 3: 1.6 × 3 / 2 = 2.4.
        var i = input(workers: 1, counts: [0: 1], link: .network(bytesPerSecond: 1e12))
        i.placement = .shared(cores: 2, copyBytesPerSecond: 1e9)
        i.singleThreadComputeSeconds = 1.6
        for (n, expected) in [(1, 1.0), (2, 1.6), (3, 2.4)] {
            i.workers = n
            #expect(abs(ClusterPlan.computeSeconds(i) - expected) < 1e-12, "workers \(n)")
        }
    }

    @Test("one shared machine: the servers' CPU and the copies of every byte lengthen the compute")
    func sharedOverhead() {
        // 1000 floats, N = 2 on 2 cores (1 thread each, 1.6 s), update 1 µs per float → server CPU
        // 1 ms; bytes moved 2 × (4000 + 4000) = 16 000 at 16e6 B/s = 1 ms. Compute 1.6 + 2 ms / 2 = 1.601;
        // forward 0.25 of it. Links instant: step = compute + tail (1 ms of CPU) = 1.602.
        let cost = ServerCost(sumSecondsPerFloat: 0, updateSecondsPerFloat: 1e-6, copySecondsPerByte: 0, checksumSecondsPerByte: 0)
        var i = input(workers: 2, counts: [0: 1000], link: .network(bytesPerSecond: 1e15), server: cost)
        i.placement = .shared(cores: 2, copyBytesPerSecond: 16e6)
        i.singleThreadComputeSeconds = 1.6
        let p = ClusterPlan.predict(i)
        #expect(abs(p.forwardSeconds + p.backwardSeconds - 1.601) < 1e-9)
        #expect(abs(p.stepSeconds - 1.602) < 1e-9)
    }

    @Test("loopback: pushes and pulls of every process share one copy path")
    func loopback() {
        // 1000 floats, N = 2, L = 8000 B/s: push traffic 2 × 4000 / 8000 = 1 s, pull 1 s → 2 s.
        // Tail = 1 + 0 + 1 = 2 s; step = 0.5 + max(0.5 + 2, 2) = 3.0, compute-bound by the tail rule.
        let p = ClusterPlan.predict(input(workers: 2, counts: [0: 1000], link: .loopback(bytesPerSecond: 8000), forward: 0.5))
        #expect(abs(p.communicationSeconds - 2) < 1e-12)
        #expect(abs(p.stepSeconds - 3) < 1e-12)
    }

    @Test("link rates in tc's spelling", arguments: [("10gbit", 1.25e9), ("100mbit", 12.5e6), ("1.25gbyte", 1.25e9), ("25Gbps", 3.125e9), ("800kbit/s", 1e5)])
    func rates(text: String, bytes: Double) throws {
        #expect(abs(try LinkRate.bytesPerSecond(text) - bytes) < 1e-3)
    }

    @Test("a rate without a unit is refused with the spellings it takes", arguments: ["10", "fast", "10gb", "-1gbit", ""])
    func badRates(text: String) {
        #expect(throws: PlanError.invalidBandwidth(text)) { try LinkRate.bytesPerSecond(text) }
    }

    @Test("the model's keys are its trainable arrays, and two servers hold them all")
    func modelKeys() throws {
        let model = try SSDModel(config: .tiny(numClasses: 2))
        let keys = Calibrator.keys(of: model)
        #expect(keys.counts.values.reduce(0, +) == model.parameters.trainable.map { model.parameters.specs[$0].count }.reduce(0, +))
        #expect(keys.backwardOrder.first == model.parameters.trainable.last)
        let p = ClusterPlan.predict(input(workers: 2, servers: 2, counts: keys.counts, order: keys.backwardOrder, link: .network(bytesPerSecond: 1e9)))
        #expect(p.perServer.map(\.floats).reduce(0, +) == keys.counts.values.reduce(0, +))
    }

    @Test("a shared machine is charged the measured CPU per byte moved; a calibration without it falls back to the round's throughput")
    func copyCostPerCPUSecond() throws {
        let measured = PlanCalibration.Loopback(floatsPerRound: 1000, roundSeconds: 0.01, bytesPerSecond: 2e9, cpuSecondsPerByte: 0.25e-9)
        #expect(abs(measured.copyBytesPerCPUSecond - 4e9) < 1)
        let json = #"{"floatsPerRound": 1000, "roundSeconds": 0.01, "bytesPerSecond": 2e9}"#
        let older = try JSONDecoder().decode(PlanCalibration.Loopback.self, from: Data(json.utf8))
        #expect(older.cpuSecondsPerByte == nil && older.copyBytesPerCPUSecond == 2e9)
    }

    @Test("a calibration file round-trips; another format version is refused with what to do")
    func calibrationFile() throws {
        let machine = PlanCalibration.Machine(cores: 2, cpu: "test", memoryGiB: 1, openBLASCore: "Haswell", openBLASConfig: "OpenBLAS",
                                              loadAverageAtStart: 1, loadAverageAtEnd: 2, measuredAt: "2026-01-01T00:00:00Z")
        var cal = PlanCalibration(machine: machine, compute: [], server: Self.free,
                                  loopback: .init(floatsPerRound: 1, roundSeconds: 1, bytesPerSecond: 1e9))
        cal.merge([.init(network: "vgg-16", imageShape: 300, batch: 1, threads: 2, stepSeconds: 2, forwardSeconds: 0.5, timedSteps: 2),
                   .init(network: "vgg-16", imageShape: 300, batch: 1, threads: 1, stepSeconds: 3, forwardSeconds: 1, timedSteps: 2)])
        cal.merge([.init(network: "vgg-16", imageShape: 300, batch: 1, threads: 2, stepSeconds: 1.5, forwardSeconds: 0.5, timedSteps: 2)])
        #expect(cal.compute.count == 2)
        #expect(cal.step(network: "vgg-16", imageShape: 300, batch: 1)?.stepSeconds == 1.5)
        #expect(cal.step(network: "vgg-16", imageShape: 300, batch: 1, threads: 1)?.stepSeconds == 3)
        #expect(cal.step(network: "vgg-16", imageShape: 300, batch: 8) == nil)
        // Batch 8 not measured: batch 1's 1.5 s (forward 0.5 s) × 8, with 2 threads.
        let scaled = try #require(cal.estimatedStep(network: "vgg-16", imageShape: 300, batch: 8))
        #expect(scaled.scaledFrom == 1 && scaled.step.stepSeconds == 12 && scaled.step.forwardSeconds == 4 && scaled.step.threads == 2)
        #expect(cal.estimatedStep(network: "resnet-50", imageShape: 300, batch: 1) == nil)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("plan-cal-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try cal.write(path: path)
        #expect(try PlanCalibration.load(path: path) == cal)
        var old = cal
        old.formatVersion = 0
        try old.write(path: path)
        #expect(throws: PlanError.calibrationVersion(path: path, found: 0, expected: PlanCalibration.formatVersion)) { try PlanCalibration.load(path: path) }
    }
}
