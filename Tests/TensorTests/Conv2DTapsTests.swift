@testable import Tensor
import TestSupport
import Testing

/// Convolution by taps (one GEMM per kernel tap over the outputs it reads the image on,
/// Conv2D+Taps.swift) against the im2col path and the direct convolution: forward, input gradient
/// and weight gradient, on every way of threading a batch.
@Suite("Conv2D by taps")
struct Conv2DTapsTests {
    /// Every layer by taps; Winograd off so that 3×3 pad-1 layers take this path too.
    static func byTaps() -> Conv2D.Workspace {
        let workspace = Conv2D.Workspace(winogradMinimumChannels: nil)
        workspace.tapGEMMsBelowValidFraction = 2
        return workspace
    }

    /// The im2col path.
    static func im2col() -> Conv2D.Workspace {
        let workspace = Conv2D.Workspace(winogradMinimumChannels: nil)
        workspace.tapGEMMsBelowValidFraction = nil
        return workspace
    }

    static let threadings: [(String, Threading)] = [
        ("serial", .serial),
        ("OpenBLAS-threaded ×2", Threading(threads: 2)),
        ("own threads ×2", Threading(threads: 2, gemmsOnOwnThreads: true)),
        ("own threads ×3", Threading(threads: 3, gemmsOnOwnThreads: true)),
    ]

    /// Dilated and undilated, odd sizes, stride 1 and 2, maps smaller than the dilation (some taps
    /// read only padding), 1×1 maps, batches below, at and above the thread counts.
    static let geometries: [Conv2D.Geometry] = [
        .init(batch: 2, inChannels: 5, height: 19, width: 19, outChannels: 7, kernel: 3, stride: 1, pad: 6, dilation: 6),
        .init(batch: 3, inChannels: 4, height: 11, width: 9, outChannels: 6, kernel: 3, stride: 1, pad: 6, dilation: 6),
        .init(batch: 1, inChannels: 3, height: 5, width: 4, outChannels: 5, kernel: 3, stride: 1, pad: 6, dilation: 6),
        .init(batch: 4, inChannels: 3, height: 13, width: 10, outChannels: 4, kernel: 3, stride: 2, pad: 6, dilation: 6),
        .init(batch: 2, inChannels: 4, height: 9, width: 7, outChannels: 5, kernel: 3, stride: 2, pad: 2, dilation: 2),
        .init(batch: 5, inChannels: 6, height: 3, width: 3, outChannels: 4, kernel: 3, stride: 1, pad: 1),
        .init(batch: 2, inChannels: 5, height: 1, width: 1, outChannels: 3, kernel: 3, stride: 1, pad: 1),
        .init(batch: 3, inChannels: 4, height: 5, width: 5, outChannels: 6, kernel: 3, stride: 2, pad: 1),
        .init(batch: 2, inChannels: 3, height: 10, width: 7, outChannels: 4, kernel: 3, stride: 2, pad: 1),
        .init(batch: 2, inChannels: 3, height: 7, width: 6, outChannels: 2, kernel: 3, stride: 1, pad: 0),
        .init(batch: 2, inChannels: 2, height: 6, width: 6, outChannels: 3, kernelHeight: 1, kernelWidth: 3,
              strideHeight: 1, strideWidth: 2, padHeight: 0, padWidth: 1),
        .init(batch: 3, inChannels: 2, height: 8, width: 9, outChannels: 3, kernelHeight: 3, kernelWidth: 2,
              strideHeight: 2, strideWidth: 1, padHeight: 2, padWidth: 1, dilationHeight: 2, dilationWidth: 3),
    ]

    /// `Conv2D.backward` into zeroed buffers; only the gradients asked for.
    static func backward(_ g: Conv2D.Geometry, _ x: [Float], _ w: [Float], _ dy: [Float], input: Bool, weight: Bool,
                         workspace: Conv2D.Workspace, threading: Threading) throws -> (dx: [Float], dw: [Float]) {
        var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: w.count)
        try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try dy.withUnsafeBufferPointer { dyp in
            try dx.withUnsafeMutableBufferPointer { dxp in try dw.withUnsafeMutableBufferPointer { dwp in
                try Conv2D.backward(g, input: xp, weight: wp, gradOutput: dyp, gradInput: input ? dxp : nil,
                                    gradWeight: weight ? dwp : nil, gradBias: nil, workspace: workspace, threading: threading)
            } }
        } } }
        return (dx, dw)
    }

    @Test("forward by taps equals im2col and the direct convolution, with bias, without, and with ReLU", arguments: geometries)
    func forwardEqualsIm2col(_ g: Conv2D.Geometry) throws {
        let x = randomValues(g.inputShape.reduce(1, *), seed: 41), w = randomValues(g.weightShape.reduce(1, *), seed: 42)
        let b = randomValues(g.outChannels, seed: 43)
        for bias in [b, nil] {
            let reference = try convolveForward(g, x, w, bias, .identity, .serial, workspace: Self.im2col())
            let direct = closeness(reference, naiveConv(g, x, w, bias), rtol: 1e-5, atol: 1e-5)
            #expect(direct.passed, "\(g) im2col vs direct: \(direct)")
            var rectified = reference
            try rectified.withUnsafeMutableBufferPointer { y in try ReLU.forward(input: UnsafeBufferPointer(y), output: y) }
            for (name, threading) in Self.threadings {
                let taps = try convolveForward(g, x, w, bias, .identity, threading, workspace: Self.byTaps())
                let c = closeness(taps, reference, rtol: 1e-5, atol: 1e-5)
                #expect(c.passed, "\(g) \(name), bias \(bias != nil): \(c)")
                let relu = try convolveForward(g, x, w, bias, .relu, threading, workspace: Self.byTaps())
                let r = closeness(relu, rectified, rtol: 1e-5, atol: 1e-5)
                #expect(r.passed, "\(g) \(name) ReLU, bias \(bias != nil): \(r)")
            }
        }
    }

    @Test("input and weight gradients by taps equal im2col's, asked for together and apart", arguments: geometries)
    func backwardEqualsIm2col(_ g: Conv2D.Geometry) throws {
        let x = randomValues(g.inputShape.reduce(1, *), seed: 44), w = randomValues(g.weightShape.reduce(1, *), seed: 45)
        let dy = randomValues(g.outputShape.reduce(1, *), seed: 46)
        let reference = try Self.backward(g, x, w, dy, input: true, weight: true, workspace: Self.im2col(), threading: .serial)
        for (name, threading) in Self.threadings {
            for (input, weight) in [(true, true), (true, false), (false, true)] {
                let taps = try Self.backward(g, x, w, dy, input: input, weight: weight, workspace: Self.byTaps(), threading: threading)
                let dx = closeness(taps.dx, input ? reference.dx : [Float](repeating: 0, count: x.count), rtol: 1e-5, atol: 1e-5)
                let dw = closeness(taps.dw, weight ? reference.dw : [Float](repeating: 0, count: w.count), rtol: 1e-5, atol: 1e-5)
                #expect(dx.passed, "\(g) \(name) gradInput (input \(input), weight \(weight)): \(dx)")
                #expect(dw.passed, "\(g) \(name) gradWeight (input \(input), weight \(weight)): \(dw)")
            }
        }
    }

    @Test("backward by taps matches finite differences and accumulates into the gradient buffers",
          arguments: [geometries[1], geometries[3], geometries[6], geometries[11]])
    func gradientCheck(_ g: Conv2D.Geometry) throws {
        let threading = Threading(threads: 2, gemmsOnOwnThreads: true)
        var x = randomValues(g.inputShape.reduce(1, *), seed: 47), w = randomValues(g.weightShape.reduce(1, *), seed: 48)
        let b = randomValues(g.outChannels, seed: 49), r = randomValues(g.outputShape.reduce(1, *), seed: 50)
        let workspace = Self.byTaps()
        let (dx, dw) = try Self.backward(g, x, w, r, input: true, weight: true, workspace: workspace, threading: threading)
        let (xx, ww) = (x, w)
        let rx = try GradientCheck.check(point: &x, analytic: dx, eps: 0.05, atol: 2e-3, rtol: 1e-3) {
            GradientCheck.weightedSum(try convolveForward(g, $0, ww, b, .identity, threading, workspace: workspace), r)
        }
        let rw = try GradientCheck.check(point: &w, analytic: dw, eps: 0.05, atol: 2e-3, rtol: 1e-3) {
            GradientCheck.weightedSum(try convolveForward(g, xx, $0, b, .identity, threading, workspace: workspace), r)
        }
        #expect(rx.passed, "gradInput \(g): \(rx)")
        #expect(rw.passed, "gradWeight \(g): \(rw)")

        var (dx2, dw2) = (dx, dw)
        try xx.withUnsafeBufferPointer { xp in try ww.withUnsafeBufferPointer { wp in try r.withUnsafeBufferPointer { dyp in
            try dx2.withUnsafeMutableBufferPointer { a in try dw2.withUnsafeMutableBufferPointer { c in
                try Conv2D.backward(g, input: xp, weight: wp, gradOutput: dyp, gradInput: a, gradWeight: c, gradBias: nil,
                                    workspace: workspace, threading: threading)
            } }
        } } }
        #expect(closeness(dx2, dx.map { 2 * $0 }, rtol: 1e-5, atol: 1e-6).passed, "\(g): gradInput accumulates")
        #expect(closeness(dw2, dw.map { 2 * $0 }, rtol: 1e-5, atol: 1e-6).passed, "\(g): gradWeight accumulates")
    }

    @Test("the weight gradient by taps depends only on the thread count, not on scheduling")
    func weightGradientIsReproducible() throws {
        let g = Self.geometries[1]
        let x = randomValues(g.inputShape.reduce(1, *), seed: 51), w = randomValues(g.weightShape.reduce(1, *), seed: 52)
        let dy = randomValues(g.outputShape.reduce(1, *), seed: 53)
        let threading = Threading(threads: 2, gemmsOnOwnThreads: true)
        let first = try Self.backward(g, x, w, dy, input: true, weight: true, workspace: Self.byTaps(), threading: threading)
        for _ in 0..<3 {
            let again = try Self.backward(g, x, w, dy, input: true, weight: true, workspace: Self.byTaps(), threading: threading)
            #expect(again.dw == first.dw && again.dx == first.dx)
        }
    }

    @Test("fc6's taps: hand-counted rectangles, 0.62 of the outputs on the image, and only its layers run by taps")
    func fc6Plan() {
        let fc6 = Conv2D.Geometry(batch: 8, inChannels: 512, height: 19, width: 19, outChannels: 1024, kernel: 3, pad: 6, dilation: 6)
        let plan = Conv2D.TapPlan(fc6)
        // Per axis the taps read rows 6..<19 (offset −6), all 19, 0..<13 (offset +6).
        #expect(plan.taps.count == 9 && plan.coversOutput && plan.taps[0].index == 4 && plan.largest == 361)
        let corner = plan.taps.first { $0.index == 0 }!
        #expect(corner.oh0 == 6 && corner.nh == 13 && corner.ow0 == 6 && corner.nw == 13 && corner.ih0 == 0 && corner.iw0 == 0)
        #expect(!corner.inputInPlace && !corner.outputInPlace)
        let below = plan.taps.first { $0.index == 7 }!   // r = 2, s = 1: output rows 0..<13 read input rows 6..<19, whole rows
        #expect(below.oh0 == 0 && below.nh == 13 && below.nw == 19 && below.ih0 == 6 && below.inputInPlace && below.outputInPlace)
        #expect(abs(Conv2D.TapPlan.validFraction(fc6) - Double(45 * 45) / Double(57 * 57)) < 1e-12)

        // A map smaller than the dilation: only the centre tap reads the image.
        let small = Conv2D.TapPlan(.init(batch: 1, inChannels: 2, height: 5, width: 4, outChannels: 2, kernel: 3, pad: 6, dilation: 6))
        #expect(small.taps.map(\.index) == [4])
        // 1×1 map with pad 1: the centre tap only; 3×3 with pad 1: 49 of 81 (a corner tap 4 of its 9).
        #expect(Conv2D.TapPlan(.init(batch: 1, inChannels: 2, height: 1, width: 1, outChannels: 2, kernel: 3, pad: 1)).taps.map(\.index) == [4])
        #expect(abs(Conv2D.TapPlan.validFraction(.init(batch: 1, inChannels: 2, height: 3, width: 3, outChannels: 2, kernel: 3, pad: 1))
                    - 49.0 / 81.0) < 1e-12)
        // Pad 0: no tap in padding; stride 2 pad 1 on 19×19: 28 of 30 per axis.
        #expect(Conv2D.TapPlan.validFraction(.init(batch: 1, inChannels: 2, height: 7, width: 6, outChannels: 2, kernel: 3)) == 1)
        #expect(abs(Conv2D.TapPlan.validFraction(.init(batch: 1, inChannels: 2, height: 19, width: 19, outChannels: 2, kernel: 3,
                                                       stride: 2, pad: 1)) - Double(28 * 28) / Double(30 * 30)) < 1e-12)

        let workspace = Conv2D.Workspace()
        #expect(workspace.runsByTaps(fc6))
        let conv5 = Conv2D.Geometry(batch: 8, inChannels: 512, height: 19, width: 19, outChannels: 512, kernel: 3, pad: 1)
        #expect(!workspace.runsByTaps(conv5))   // Winograd
        let conv6 = Conv2D.Geometry(batch: 8, inChannels: 256, height: 19, width: 19, outChannels: 512, kernel: 3, stride: 2, pad: 1)
        #expect(!workspace.runsByTaps(conv6))   // 0.87 on the image: im2col
        workspace.tapGEMMsBelowValidFraction = nil
        #expect(!workspace.runsByTaps(fc6))
    }
}
