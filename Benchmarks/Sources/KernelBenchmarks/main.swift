// Conv2D forward/backward GFLOP/s on the VGG16-reduced layer shapes of SSD300, beside a bare
// cblas_sgemm of the same M×N×K measured in the same run, and the ratio between them; for the
// 3×3 stride-1 pad-1 layers also Winograd F(2×2, 3×3) and F(4×4, 3×3) against im2col, forward,
// input gradient and weight gradient apart, all in the same run; for layers with taps on padding
// (fc6, the stride-2 extra layers) one GEMM per tap (Conv2D+Taps.swift) against im2col.
import ArgumentParser
import Foundation
import SSDBenchmarkSupport
import Tensor

/// One VGG16-reduced convolution at 300×300 input (facts file A.1).
struct Layer {
    var name: String
    var inChannels, outChannels, size, kernel, pad, dilation: Int
    var stride = 1
}

let vgg16Layers: [Layer] = [
    Layer(name: "conv1_1", inChannels: 3, outChannels: 64, size: 300, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "conv1_2", inChannels: 64, outChannels: 64, size: 300, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "conv2_1", inChannels: 64, outChannels: 128, size: 150, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "conv2_2", inChannels: 128, outChannels: 128, size: 150, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "conv3_1", inChannels: 128, outChannels: 256, size: 75, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "conv3_2", inChannels: 256, outChannels: 256, size: 75, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "conv3_3", inChannels: 256, outChannels: 256, size: 75, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "conv4_1", inChannels: 256, outChannels: 512, size: 38, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "conv4_2", inChannels: 512, outChannels: 512, size: 38, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "conv4_3", inChannels: 512, outChannels: 512, size: 38, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "conv5_1", inChannels: 512, outChannels: 512, size: 19, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "conv5_2", inChannels: 512, outChannels: 512, size: 19, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "conv5_3", inChannels: 512, outChannels: 512, size: 19, kernel: 3, pad: 1, dilation: 1),
    Layer(name: "fc6", inChannels: 512, outChannels: 1024, size: 19, kernel: 3, pad: 6, dilation: 6),
    Layer(name: "fc7", inChannels: 1024, outChannels: 1024, size: 19, kernel: 1, pad: 0, dilation: 1),
]

/// SSD512's fc6 (32×32 map: 0.77 of its taps' outputs on the image, 0.62 at 19×19) and SSD300's
/// first two extra layers' 3×3 convolutions (0.87; the other two have no padding).
let extraLayers: [Layer] = [
    Layer(name: "fc6_512", inChannels: 512, outChannels: 1024, size: 32, kernel: 3, pad: 6, dilation: 6),
    Layer(name: "multi_feat_2", inChannels: 256, outChannels: 512, size: 19, kernel: 3, pad: 1, dilation: 1, stride: 2),
    Layer(name: "multi_feat_3", inChannels: 128, outChannels: 256, size: 10, kernel: 3, pad: 1, dilation: 1, stride: 2),
]

/// Best wall time of `repetitions` runs of `body`, in seconds.
func bestTime(_ repetitions: Int, _ body: () throws -> Void) rethrows -> Double {
    var best = Double.infinity
    for _ in 0..<repetitions {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return best
}

/// Speedups of one Winograd algorithm over im2col (im2col time / its time; > 1: faster).
struct Speedup: Codable {
    var forward, inputGradient, weightGradient: Double
}

struct Row: Codable {
    var layer: String, batch: Int, m: Int, n: Int, k: Int
    var forwardGFLOPS: Double, sgemmGFLOPS: Double, forwardRatio: Double
    /// Backward = the input-gradient and weight-gradient passes, timed apart and added.
    var backwardGFLOPS: Double, sgemmBackwardGFLOPS: Double, backwardRatio: Double
    /// 3×3 stride-1 pad-1 layers: F(2×2, 3×3) and F(4×4, 3×3) against im2col.
    var winograd2x2: Speedup?, winograd4x4: Speedup?
    /// F(4×4)'s forward with its transformed weights kept from the previous call (inference).
    var winograd4x4KeptForward: Double?
    /// Layers with taps on padding: one GEMM per tap against im2col.
    var taps: Speedup?
    /// F(4×4) by per-thread blocks of tiles (`Workspace.winogradBlockFloats`) against F(4×4) by
    /// shared chunks (chunks time / blocks time, the two timed alternately; > 1: blocks faster).
    var winograd4x4Blocks: Speedup?
}

/// Best wall times of `repetitions` runs each of `first` and `second`, run alternately (so a
/// shared machine's slow spells fall on both), in seconds.
func alternatingBestTimes(_ repetitions: Int, _ first: () throws -> Void, _ second: () throws -> Void) rethrows -> (Double, Double) {
    var best = (Double.infinity, Double.infinity)
    for _ in 0..<repetitions {
        best.0 = min(best.0, try bestTime(1, first))
        best.1 = min(best.1, try bestTime(1, second))
    }
    return best
}

@main
struct KernelBenchmarks: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Conv2D GFLOP/s on SSD300's VGG16-reduced shapes vs bare sgemm of the same M×N×K.")

    @Option(help: "Batch sizes to measure.") var batch: [Int] = [1, 8]
    @Option(help: "Repetitions per measurement (best is reported).") var repetitions = 3
    @Option(help: "Threads; default: OPENBLAS_NUM_THREADS, else all cores (ComputeThreads, as the worker).") var threads: Int?
    @Option(help: "Only these layers (comma-separated names).") var layers: String?
    @Option(help: "Write the results as JSON to this path.") var json: String?
    @Option(help: "Who runs the GEMMs: openblas (one at a time, OpenBLAS-threaded: the sgemm columns are one multi-threaded sgemm each) or own (Winograd's and the images' GEMMs one per thread on single-threaded OpenBLAS, as the worker at batch ≥ threads).")
    var gemms: ComputeThreads.GEMMs = .openblas
    @Option(help: "Floats of each thread's own Winograd V and M where F(4×4) runs by blocks of tiles (the blocks column); 0 = never. Default: the workspace's.")
    var winogradBlockFloats: Int?
    @Option(help: "The most input and output channels of a Winograd layer that runs by blocks. Default: the workspace's.")
    var winogradBlockMaximumChannels: Int?

    func run() throws {
        let kernels = BLASKernelChoice.adoptAtStartup()
        let compute = ComputeThreads.resolve(requested: threads, batch: batch.min() ?? 1, gemms: gemms)
        let threading = compute.apply()
        print(kernels)
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(BLAS.summary()); \(compute)")
        let selected = layers.map { Set($0.split(separator: ",").map(String.init)) }
        var rows: [Row] = []
        print("Conv2D runs as im2col + sgemm in the first columns; then im2col time / Winograd time (> 1: Winograd faster)")
        print("for F(2×2, 3×3) and F(4×4, 3×3), forward, input gradient (dx) and weight gradient (dw), and F(2×2) time / F(4×4) time;")
        print("kept: F(4×4)'s forward with the transformed weights kept from the previous call (Workspace.keepsTransformedWeights);")
        print("taps: im2col time / time of one GEMM per tap over the outputs it reads the image on (layers with taps on padding);")
        print("blocks: F(4×4) by shared chunks time / F(4×4) by per-thread blocks of tiles time, timed alternately (where blocks apply;")
        print("the weight gradient never runs by blocks: its column shows the run's noise).")
        print("layer    batch      M       N      K | fwd GF/s  sgemm GF/s  ratio | bwd GF/s  sgemm GF/s  ratio |"
              + "  F2x2: fwd    dx    dw |  F4x4: fwd    dx    dw |  F4 vs F2: fwd    dx    dw |  kept |  taps: fwd    dx    dw"
              + " |  blocks: fwd    dx    dw")
        for b in batch {
            for layer in vgg16Layers + extraLayers where selected?.contains(layer.name) ?? true {
                let row = try measure(layer, batch: b, threading: threading)
                rows.append(row)
                func columns(_ s: Speedup?) -> String {
                    s.map { String(format: " %5.2f %5.2f %5.2f", $0.forward, $0.inputGradient, $0.weightGradient) } ?? "     -     -     -"
                }
                let f4OverF2 = row.winograd2x2.flatMap { f2 in row.winograd4x4.map { f4 in
                    Speedup(forward: f4.forward / f2.forward, inputGradient: f4.inputGradient / f2.inputGradient,
                            weightGradient: f4.weightGradient / f2.weightGradient)
                } }
                print(layer.name.padding(toLength: 8, withPad: " ", startingAt: 0)
                      + String(format: " %5d %6d %7d %6d | %8.1f %11.1f %6.2f | %8.1f %11.1f %6.2f |      ",
                               b, row.m, row.n, row.k, row.forwardGFLOPS, row.sgemmGFLOPS,
                               row.forwardRatio, row.backwardGFLOPS, row.sgemmBackwardGFLOPS, row.backwardRatio)
                      + columns(row.winograd2x2) + " |      " + columns(row.winograd4x4) + " |          " + columns(f4OverF2)
                      + (row.winograd4x4KeptForward.map { String(format: " | %5.2f", $0) } ?? " |     -")
                      + " |      " + columns(row.taps) + " |        " + columns(row.winograd4x4Blocks))
            }
            let mine = rows.filter { $0.batch == b && $0.layer.hasPrefix("conv") || $0.batch == b && $0.layer == "fc6" }
            let ratios = mine.map(\.forwardRatio)
            if !ratios.isEmpty {
                print(String(format: "batch %d: 3x3 conv forward / sgemm ratio: mean %.2f, min %.2f", b,
                             ratios.reduce(0, +) / Double(ratios.count), ratios.min()!))
            }
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(rows).write(to: URL(fileURLWithPath: json))
            print("wrote \(json)")
        }
    }

    func measure(_ layer: Layer, batch: Int, threading: Threading) throws -> Row {
        let g = Conv2D.Geometry(batch: batch, inChannels: layer.inChannels, height: layer.size, width: layer.size,
                                outChannels: layer.outChannels, kernel: layer.kernel, stride: layer.stride, pad: layer.pad,
                                dilation: layer.dilation)
        var rng = SeededGenerator(seed: 1)
        let x = Tensor.uniform(g.inputShape, using: &rng), w = Tensor.uniform(g.weightShape, low: -0.05, high: 0.05, using: &rng)
        let bias = Tensor(zeros: [g.outChannels])
        var y = Tensor(zeros: g.outputShape), dx = Tensor(zeros: g.inputShape), dw = Tensor(zeros: g.weightShape)
        let im2col = Conv2D.Workspace(winogradMinimumChannels: nil)
        im2col.tapGEMMsBelowValidFraction = nil
        let byTaps = Conv2D.Workspace(winogradMinimumChannels: nil)
        byTaps.tapGEMMsBelowValidFraction = 2   // every layer
        let winograd2x2 = Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1,
                                           winograd4x4MinimumChannels: nil, winograd4x4WeightGradientMinimumChannels: nil)
        let winograd4x4 = Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1,
                                           winograd4x4MinimumChannels: 1, winograd4x4WeightGradientMinimumChannels: 1)
        let winograd4x4Kept = Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1,
                                               winograd4x4MinimumChannels: 1, winograd4x4WeightGradientMinimumChannels: 1)
        winograd4x4Kept.keepsTransformedWeights = true
        let winograd4x4Chunks = Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1,
                                                 winograd4x4MinimumChannels: 1, winograd4x4WeightGradientMinimumChannels: 1)
        winograd4x4Chunks.winogradBlockFloats = nil
        if let winogradBlockFloats { winograd4x4.winogradBlockFloats = winogradBlockFloats }   // 0: never
        if let winogradBlockMaximumChannels { winograd4x4.winogradBlockMaximumChannels = winogradBlockMaximumChannels }
        let m = g.outChannels, n = g.outHeight * g.outWidth, k = g.inChannels * g.kernelHeight * g.kernelWidth
        let flops = 2.0 * Double(g.multiplyAdds)

        func forwardTime(_ workspace: Conv2D.Workspace, times: Int? = nil) throws -> Double {
            try bestTime(times ?? repetitions) {
                try x.storage.withUnsafeBufferPointer { xp in try w.storage.withUnsafeBufferPointer { wp in
                    try bias.storage.withUnsafeBufferPointer { bp in try y.storage.withUnsafeMutableBufferPointer { yp in
                        try Conv2D.forward(g, input: xp, weight: wp, bias: bp, output: yp, workspace: workspace, threading: threading)
                    } }
                } }
            }
        }
        /// Backward with only the input gradient (`input`) or only the weight gradient.
        func backwardTime(_ workspace: Conv2D.Workspace, input: Bool, times: Int? = nil) throws -> Double {
            try bestTime(times ?? repetitions) {
                try x.storage.withUnsafeBufferPointer { xp in try w.storage.withUnsafeBufferPointer { wp in
                    try y.storage.withUnsafeBufferPointer { dyp in try dx.storage.withUnsafeMutableBufferPointer { dxp in
                        try dw.storage.withUnsafeMutableBufferPointer { dwp in
                            try Conv2D.backward(g, input: xp, weight: wp, gradOutput: dyp, gradInput: input ? dxp : nil,
                                                gradWeight: input ? nil : dwp, gradBias: nil, workspace: workspace, threading: threading)
                        }
                    } }
                } }
            }
        }
        func speedup(_ workspace: Conv2D.Workspace, over base: Speedup) throws -> Speedup {
            Speedup(forward: base.forward / (try forwardTime(workspace)),
                    inputGradient: base.inputGradient / (try backwardTime(workspace, input: true)),
                    weightGradient: base.weightGradient / (try backwardTime(workspace, input: false)))
        }
        // im2col times (in a Speedup's fields).
        let base = Speedup(forward: try forwardTime(im2col), inputGradient: try backwardTime(im2col, input: true),
                           weightGradient: try backwardTime(im2col, input: false))
        let forward = base.forward, backward = base.inputGradient + base.weightGradient
        let winogradApplies = layer.kernel == 3 && layer.pad == 1 && layer.dilation == 1 && layer.stride == 1
        let tapsSpeedup = layer.pad > 0 && !winogradApplies ? try speedup(byTaps, over: base) : nil
        let winograd2x2Speedup = winogradApplies ? try speedup(winograd2x2, over: base) : nil
        let winograd4x4Speedup = winogradApplies ? try speedup(winograd4x4, over: base) : nil
        let keptSpeedup = winogradApplies ? base.forward / (try forwardTime(winograd4x4Kept)) : nil
        var blocksSpeedup: Speedup?
        if winogradApplies && winograd4x4.winograd4x4RunsByBlocks(g, threading: threading) {
            func ratio(_ time: (Conv2D.Workspace) throws -> Double) throws -> Double {
                let (chunks, blocks) = try alternatingBestTimes(repetitions, { _ = try time(winograd4x4Chunks) }, { _ = try time(winograd4x4) })
                return chunks / blocks
            }
            blocksSpeedup = Speedup(forward: try ratio { try forwardTime($0, times: 1) },
                                    inputGradient: try ratio { try backwardTime($0, input: true, times: 1) },
                                    weightGradient: try ratio { try backwardTime($0, input: false, times: 1) })
        }
        // Bare sgemm: the same M×N×K once per image (forward), and the two backward products.
        let a = [Float](repeating: 0.01, count: m * k), bm = [Float](repeating: 0.02, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        let gradOut = [Float](repeating: 0.03, count: m * n)
        var gradW = [Float](repeating: 0, count: m * k), gradCol = [Float](repeating: 0, count: k * n)
        let sgemmForward = bestTime(repetitions) {
            for _ in 0..<batch {
                Gemm.sgemm(m: m, n: n, k: k, a: a, lda: k, b: bm, ldb: n, c: &c, ldc: n)
            }
        }
        let sgemmBackward = bestTime(repetitions) {
            for _ in 0..<batch {
                Gemm.sgemm(transB: true, m: m, n: k, k: n, a: gradOut, lda: n, b: bm, ldb: n, beta: 1, c: &gradW, ldc: k)
                Gemm.sgemm(transA: true, m: k, n: n, k: m, a: a, lda: k, b: gradOut, ldb: n, c: &gradCol, ldc: n)
            }
        }
        return Row(layer: layer.name, batch: batch, m: m, n: n, k: k,
                   forwardGFLOPS: flops / forward / 1e9, sgemmGFLOPS: flops / sgemmForward / 1e9,
                   forwardRatio: sgemmForward / forward,
                   backwardGFLOPS: 2 * flops / backward / 1e9, sgemmBackwardGFLOPS: 2 * flops / sgemmBackward / 1e9,
                   backwardRatio: sgemmBackward / backward,
                   winograd2x2: winograd2x2Speedup, winograd4x4: winograd4x4Speedup, winograd4x4KeptForward: keptSpeedup, taps: tapsSpeedup,
                   winograd4x4Blocks: blocksSpeedup)
    }
}
