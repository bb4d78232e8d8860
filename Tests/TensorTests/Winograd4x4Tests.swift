import Foundation
@testable import Tensor
import TestSupport
import Testing

@Suite("Conv2D: Winograd F(4×4, 3×3) path")
struct Winograd4x4Tests {
    /// The im2col-only workspace: the reference for gradients.
    static func im2col() -> Conv2D.Workspace { Conv2D.Workspace(winogradMinimumChannels: nil) }

    /// Every layer that can runs F(4×4), forward and both gradients.
    static func everywhere() -> Conv2D.Workspace {
        Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1,
                         winograd4x4MinimumChannels: 1, winograd4x4WeightGradientMinimumChannels: 1)
    }

    /// What `algorithm` computes for `g`: the forward output (overwritten), the forward added to
    /// `yStart`, and the input and weight gradients added to `dxStart` and `dwStart`.
    static func winograd(_ algorithm: Winograd.Algorithm, _ g: Conv2D.Geometry, x: [Float], w: [Float], b: [Float], dy: [Float],
                         yStart: [Float], dxStart: [Float], dwStart: [Float], workspace: Conv2D.Workspace, threading: Threading)
        -> (y: [Float], yAccumulated: [Float], dx: [Float], dw: [Float]) {
        var y = [Float](repeating: .nan, count: yStart.count), ya = yStart, dx = dxStart, dw = dwStart
        x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in b.withUnsafeBufferPointer { bp in dy.withUnsafeBufferPointer { dyp in
            let (x, w, b, dy) = (xp.baseAddress!, wp.baseAddress!, bp.baseAddress!, dyp.baseAddress!)
            y.withUnsafeMutableBufferPointer {
                Winograd.forward(algorithm, g, input: x, weight: w, bias: b, output: $0.baseAddress!, workspace: workspace, threading: threading)
            }
            ya.withUnsafeMutableBufferPointer {
                Winograd.convolve(algorithm, batch: g.batch, input: x, channels: g.inChannels, height: g.height, width: g.width, weight: w,
                                  outChannels: g.outChannels, bias: b, output: $0.baseAddress!, accumulate: true,
                                  workspace: workspace, threading: threading)
            }
            dx.withUnsafeMutableBufferPointer {
                Winograd.inputGradient(algorithm, g, weight: w, gradOutput: dy, gradInput: $0.baseAddress!, workspace: workspace, threading: threading)
            }
            dw.withUnsafeMutableBufferPointer {
                Winograd.weightGradient(algorithm, g, input: x, gradOutput: dy, gradWeight: $0.baseAddress!, workspace: workspace, threading: threading)
            }
        } } } }
        return (y, ya, dx, dw)
    }

    /// im2col's input and weight gradients added to `dxStart` and `dwStart`.
    static func im2colGradients(_ g: Conv2D.Geometry, x: [Float], w: [Float], dy: [Float], dxStart: [Float], dwStart: [Float]) throws
        -> (dx: [Float], dw: [Float]) {
        var dx = dxStart, dw = dwStart
        try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try dy.withUnsafeBufferPointer { dyp in
            try dx.withUnsafeMutableBufferPointer { dxp in try dw.withUnsafeMutableBufferPointer { dwp in
                try Conv2D.backward(g, input: xp, weight: wp, gradOutput: dyp, gradInput: dxp, gradWeight: dwp, gradBias: nil,
                                    workspace: im2col(), threading: .serial)
            } }
        } } }
        return (dx, dw)
    }

    /// Largest |a − e| over the largest |e| (1 where e is all below 1).
    static func relativeError(_ a: [Float], _ e: [Float]) -> Float {
        (zip(a, e).map { abs($0 - $1) }.max() ?? 0) / max(e.map(abs).max() ?? 0, 1)
    }

    @Test("forward (overwriting and accumulating, with bias), input and weight gradients (accumulating) equal the direct convolution and im2col",
          arguments: [(2, 3, 5, 1, 1), (1, 4, 6, 3, 3), (2, 8, 6, 5, 7), (1, 6, 5, 19, 19), (2, 5, 4, 38, 37), (1, 3, 4, 75, 75),
                     (2, 7, 3, 6, 41), (2, 9, 11, 19, 19), (1, 4, 3, 10, 13), (3, 2, 3, 2, 9)])
    // Tile rows of 1 to 19 tiles: runs cut by chunks of 13 tiles, partial eight-tile groups, maps not a multiple of 4.
    func matchesDirectAndIm2col(batch: Int, c: Int, k: Int, h: Int, w: Int) throws {
        let g = Conv2D.Geometry(batch: batch, inChannels: c, height: h, width: w, outChannels: k, kernel: 3, pad: 1)
        var rng = SeededGenerator(seed: UInt64(c * 100 + k * 10 + h))
        func values(_ count: Int, _ scale: Float) -> [Float] { (0..<count).map { _ in rng.uniform(-scale, scale) } }
        let x = values(batch * c * h * w, 1), weights = values(k * c * 9, 0.5), b = values(k, 0.2), dy = values(batch * k * h * w, 1)
        let yStart = values(dy.count, 1), dxStart = values(x.count, 1), dwStart = values(weights.count, 1)
        // Chunks of 13 tiles (not a multiple of 8, nor of a row of tiles) on two threads, GEMMs on their own.
        let workspace = Self.everywhere()
        workspace.winogradChunkFloats = 36 * max(c, k) * 13
        let f4 = Self.winograd(.f4x4, g, x: x, w: weights, b: b, dy: dy, yStart: yStart, dxStart: dxStart, dwStart: dwStart,
                               workspace: workspace, threading: Threading(threads: 2, gemmsOnOwnThreads: true))
        let direct = naiveConv(g, x, weights, b)
        let (dx, dw) = try Self.im2colGradients(g, x: x, w: weights, dy: dy, dxStart: dxStart, dwStart: dwStart)
        // The bounds of the F(2×2) tests (WinogradTests): a few roundings per output, growing with the sum's length.
        let tolerance: Float = 2e-5 * Float(c * 9).squareRoot() * 4
        for (name, a, e) in [("forward vs direct", f4.y, direct), ("accumulated forward vs direct", f4.yAccumulated, zip(yStart, direct).map(+)),
                             ("input gradient vs im2col", f4.dx, dx)] {
            let worst = zip(a, e).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= tolerance, "\(name): largest difference \(worst)")
        }
        let scale = dw.map(abs).max() ?? 1
        let worst = zip(f4.dw, dw).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-5 * Float(batch * h * w).squareRoot() * max(scale, 1), "weight gradient: largest difference \(worst) of \(scale)")
    }

    @Test("one thread and whole-batch chunks give the same results as two threads and small chunks")
    func threadsAndChunks() throws {
        let g = Conv2D.Geometry(batch: 3, inChannels: 9, height: 38, width: 45, outChannels: 10, kernel: 3, pad: 1)
        var rng = SeededGenerator(seed: 3)
        func values(_ count: Int) -> [Float] { (0..<count).map { _ in rng.uniform(-1, 1) } }
        let x = values(g.inputShape.reduce(1, *)), weights = values(g.weightShape.reduce(1, *)), b = values(10)
        let dy = values(g.outputShape.reduce(1, *)), zeros = [Float](repeating: 0, count: dy.count)
        let small = Self.everywhere()
        small.winogradChunkFloats = 36 * 10 * 21
        let a = Self.winograd(.f4x4, g, x: x, w: weights, b: b, dy: dy, yStart: zeros, dxStart: [Float](repeating: 0, count: x.count),
                              dwStart: [Float](repeating: 0, count: weights.count), workspace: small, threading: Threading(threads: 2, gemmsOnOwnThreads: true))
        let e = Self.winograd(.f4x4, g, x: x, w: weights, b: b, dy: dy, yStart: zeros, dxStart: [Float](repeating: 0, count: x.count),
                              dwStart: [Float](repeating: 0, count: weights.count), workspace: Self.everywhere(), threading: .serial)
        // Equal to rounding (GEMMs of other widths, the weight gradient's chunks summed in another grouping).
        for (name, p, q) in [("forward", a.y, e.y), ("accumulated forward", a.yAccumulated, e.yAccumulated),
                             ("input gradient", a.dx, e.dx), ("weight gradient", a.dw, e.dw)] {
            #expect(Self.relativeError(p, q) < 1e-5, "\(name)")
        }
    }

    @Test("input, weight and bias gradients through Conv2D match finite differences")
    func finiteDifferences() throws {
        let g = Conv2D.Geometry(batch: 2, inChannels: 3, height: 9, width: 38, outChannels: 4, kernel: 3, pad: 1)
        let workspace = Self.everywhere()
        #expect(workspace.winogradAlgorithm(g) == .f4x4 && workspace.winogradWeightGradientAlgorithm(g) == .f4x4)
        var x = randomValues(g.inputShape.reduce(1, *), seed: 21), w = randomValues(g.weightShape.reduce(1, *), seed: 22)
        var b = randomValues(g.outChannels, seed: 23)
        let r = randomValues(g.outputShape.reduce(1, *), seed: 24)
        func forward(_ x: [Float], _ w: [Float], _ b: [Float]) throws -> [Float] {
            var y = [Float](repeating: 0, count: r.count)
            try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try b.withUnsafeBufferPointer { bp in
                try y.withUnsafeMutableBufferPointer { yp in
                    try Conv2D.forward(g, input: xp, weight: wp, bias: bp, output: yp, workspace: workspace, threading: .serial)
                }
            } } }
            return y
        }
        var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: w.count), db = [Float](repeating: 0, count: b.count)
        try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try r.withUnsafeBufferPointer { rp in
            try dx.withUnsafeMutableBufferPointer { dxp in try dw.withUnsafeMutableBufferPointer { dwp in try db.withUnsafeMutableBufferPointer { dbp in
                try Conv2D.backward(g, input: xp, weight: wp, gradOutput: rp, gradInput: dxp, gradWeight: dwp, gradBias: dbp,
                                    workspace: workspace, threading: .serial)
            } } }
        } } }
        // The Conv2D tests' steps and tolerances (linear in each argument).
        let (xx, ww, bb) = (x, w, b)
        let rx = try GradientCheck.check(point: &x, analytic: dx, eps: 0.05, atol: 2e-3, rtol: 1e-3) {
            GradientCheck.weightedSum(try forward($0, ww, bb), r)
        }
        let rw = try GradientCheck.check(point: &w, analytic: dw, eps: 0.05, atol: 2e-3, rtol: 1e-3) {
            GradientCheck.weightedSum(try forward(xx, $0, bb), r)
        }
        let rb = try GradientCheck.check(point: &b, analytic: db, eps: 0.05, atol: 2e-3, rtol: 1e-3) {
            GradientCheck.weightedSum(try forward(xx, ww, $0), r)
        }
        #expect(rx.passed, "gradInput: \(rx)")
        #expect(rw.passed, "gradWeight: \(rw)")
        #expect(rb.passed, "gradBias: \(rb)")
    }

    /// Measured: largest error / largest value F(2×2) 3.0e-7 (y), 3.9e-7 (dx), 5.7e-7 (dw);
    /// F(4×4) 2.9e-6, 6.5e-6, 1.6e-6 (×10, ×17, ×3).
    @Test("F(4×4)'s error against the direct convolution stays within 32× F(2×2)'s and 2e-5 of the largest value (64 channels, a 19×19 map)")
    func errorAgainstF2x2() throws {
        let g = Conv2D.Geometry(batch: 1, inChannels: 64, height: 19, width: 19, outChannels: 64, kernel: 3, pad: 1)
        // Post-ReLU-like activations and weights of a He-initialised layer.
        let x = randomValues(g.inputShape.reduce(1, *), seed: 31, low: 0, high: 1)
        let w = randomValues(g.weightShape.reduce(1, *), seed: 32, low: -0.06, high: 0.06), b = [Float](repeating: 0, count: 64)
        let dy = randomValues(g.outputShape.reduce(1, *), seed: 33)
        let zeros = { (n: Int) in [Float](repeating: 0, count: n) }
        let direct = naiveConv(g, x, w, b)
        let (dx, dw) = try Self.im2colGradients(g, x: x, w: w, dy: dy, dxStart: zeros(x.count), dwStart: zeros(w.count))
        var errors: [Winograd.Algorithm: (y: Float, dx: Float, dw: Float)] = [:]
        for algorithm in [Winograd.Algorithm.f2x2, .f4x4] {
            let r = Self.winograd(algorithm, g, x: x, w: w, b: b, dy: dy, yStart: zeros(direct.count), dxStart: zeros(x.count),
                                  dwStart: zeros(w.count), workspace: Self.everywhere(), threading: .serial)
            errors[algorithm] = (Self.relativeError(r.y, direct), Self.relativeError(r.dx, dx), Self.relativeError(r.dw, dw))
        }
        let f2 = errors[.f2x2]!, f4 = errors[.f4x4]!
        #expect(f4.y <= 32 * max(f2.y, 1e-7) && f4.dx <= 32 * max(f2.dx, 1e-7) && f4.dw <= 32 * max(f2.dw, 1e-7),
                "largest error / largest value: F(2×2) \(f2), F(4×4) \(f4)")
        #expect(f4.y < 2e-5 && f4.dx < 2e-5 && f4.dw < 2e-5, "F(4×4): \(f4)")
    }

    @Test("kept transformed weights are reused while the weights are unchanged and transformed again when they change in place",
          arguments: [Winograd.Algorithm.f2x2, .f4x4])
    func keptTransformedWeights(algorithm: Winograd.Algorithm) throws {
        let g = Conv2D.Geometry(batch: 2, inChannels: 5, height: 9, width: 38, outChannels: 6, kernel: 3, pad: 1)
        let x = randomValues(g.inputShape.reduce(1, *), seed: 41), b = randomValues(g.outChannels, seed: 42)
        let dy = randomValues(g.outputShape.reduce(1, *), seed: 43)
        // The weights live at one address throughout, as a model's parameters do.
        let w = UnsafeMutableBufferPointer<Float>.allocate(capacity: g.weightShape.reduce(1, *))
        defer { w.deallocate() }
        _ = w.initialize(from: randomValues(w.count, seed: 44))
        func workspace(keeps: Bool) -> Conv2D.Workspace {
            let workspace = Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1,
                                             winograd4x4MinimumChannels: algorithm == .f4x4 ? 1 : nil)
            workspace.keepsTransformedWeights = keeps
            return workspace
        }
        /// The forward output and the input gradient.
        func run(_ workspace: Conv2D.Workspace) throws -> [Float] {
            var y = [Float](repeating: 0, count: dy.count), dx = [Float](repeating: 0, count: x.count)
            try x.withUnsafeBufferPointer { xp in try b.withUnsafeBufferPointer { bp in try dy.withUnsafeBufferPointer { dyp in
                try y.withUnsafeMutableBufferPointer { yp in
                    try Conv2D.forward(g, input: xp, weight: UnsafeBufferPointer(w), bias: bp, output: yp, workspace: workspace, threading: .serial)
                }
                try dx.withUnsafeMutableBufferPointer { dxp in
                    try Conv2D.backward(g, input: xp, weight: UnsafeBufferPointer(w), gradOutput: dyp, gradInput: dxp, gradWeight: nil,
                                        gradBias: nil, workspace: workspace, threading: .serial)
                }
            } } }
            return y + dx
        }
        let kept = workspace(keeps: true)
        #expect(kept.winogradAlgorithm(g) == algorithm)
        let first = try run(kept)
        #expect(first == (try run(workspace(keeps: false))))
        #expect(try run(kept) == first)
        #expect(kept.transformedWeights.transforms == 2 && kept.transformedWeights.reuses == 2, "forward and input gradient, twice")
        w[7] += 0.25   // an update in place, as an optimizer step
        let changed = try run(kept)
        #expect(changed == (try run(workspace(keeps: false))) && changed != first)
        #expect(kept.transformedWeights.transforms == 4 && kept.transformedWeights.reuses == 2)
        kept.keepsTransformedWeights = false
        #expect(kept.transformedWeights.floats == 0)
    }

    @Test("transformed planes are padded to an odd number of 64-byte lines, at most 31 floats more")
    func planeStride() {
        for floats in [1, 15, 16, 17, 32, 64 * 13, 512 * 227, 512 * 512, 64 * 1820, 1000] {
            let stride = Winograd.planeStride(floats)
            #expect(stride >= floats && stride - floats < 32 && stride % 16 == 0 && (stride / 16) % 2 == 1, "\(floats) → \(stride)")
        }
    }

    @Test("the workspace picks F(4×4) from its channel cut-offs: forward and input gradient on maps at least 37 wide, weight gradients wherever it needs fewer multiplies; never for other geometries")
    func dispatch() {
        let workspace = Conv2D.Workspace(winogradMinimumChannels: 8, winogradWeightGradientMinimumChannels: 16,
                                         winograd4x4MinimumChannels: 32, winograd4x4WeightGradientMinimumChannels: 64)
        func layer(_ channels: Int, _ size: Int, stride: Int = 1) -> Conv2D.Geometry {
            Conv2D.Geometry(batch: 1, inChannels: channels, height: size, width: size, outChannels: channels, kernel: 3, stride: stride, pad: 1)
        }
        let cases: [(Conv2D.Geometry, Winograd.Algorithm?, Winograd.Algorithm?)] = [
            (layer(4, 38), nil, nil), (layer(8, 38), .f2x2, nil), (layer(16, 38), .f2x2, .f2x2), (layer(32, 38), .f4x4, .f2x2),
            (layer(64, 38), .f4x4, .f4x4), (layer(64, 37), .f4x4, .f4x4), (layer(64, 36), .f2x2, .f4x4), (layer(64, 19), .f2x2, .f4x4),
            (layer(64, 5), .f2x2, .f2x2),
            (layer(64, 1), .f2x2, .f2x2), (layer(64, 38, stride: 2), nil, nil),
        ]
        for (g, forward, weightGradient) in cases {
            #expect(workspace.winogradAlgorithm(g) == forward && workspace.winogradWeightGradientAlgorithm(g) == weightGradient, "\(g)")
        }
        workspace.winograd4x4MinimumChannels = nil
        #expect(workspace.winogradAlgorithm(layer(64, 38)) == .f2x2 && workspace.winogradWeightGradientAlgorithm(layer(64, 38)) == .f4x4)
        let defaults = Conv2D.Workspace()
        #expect(defaults.winogradAlgorithm(layer(64, 38)) == .f4x4 && defaults.winogradAlgorithm(layer(512, 19)) == .f2x2
                && defaults.winogradWeightGradientAlgorithm(layer(512, 19)) == .f4x4 && defaults.winogradAlgorithm(layer(32, 75)) == nil)
    }
}
