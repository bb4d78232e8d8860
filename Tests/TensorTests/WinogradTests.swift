import Foundation
import Tensor
import TestSupport
import Testing

@Suite("Conv2D: Winograd F(2×2, 3×3) path")
struct WinogradTests {
    /// Forward output and accumulated input gradient with the given workspace.
    func run(_ g: Conv2D.Geometry, _ x: [Float], _ w: [Float], _ b: [Float], _ dy: [Float], _ dxStart: [Float],
             workspace: Conv2D.Workspace, threading: Threading) throws -> (y: [Float], dx: [Float], dw: [Float], db: [Float]) {
        var y = [Float](repeating: 0, count: g.outputShape.reduce(1, *)), dx = dxStart
        var dw = (0..<w.count).map { Float($0 % 7) * 0.1 }, db = [Float](repeating: 0.5, count: g.outChannels)  // accumulated into
        try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try b.withUnsafeBufferPointer { bp in
            try y.withUnsafeMutableBufferPointer { yp in
                try Conv2D.forward(g, input: xp, weight: wp, bias: bp, output: yp, workspace: workspace, threading: threading)
            }
            try dy.withUnsafeBufferPointer { dyp in try dx.withUnsafeMutableBufferPointer { dxp in
                try dw.withUnsafeMutableBufferPointer { dwp in try db.withUnsafeMutableBufferPointer { dbp in
                    try Conv2D.backward(g, input: xp, weight: wp, gradOutput: dyp, gradInput: dxp, gradWeight: dwp, gradBias: dbp,
                                        workspace: workspace, threading: threading)
                } }
            } }
        } } }
        return (y, dx, dw, db)
    }

    @Test("forward, input and weight gradients equal the direct convolution and im2col (odd maps, 1×1 maps, batch 1 and 2)",
          arguments: [(2, 3, 5, 7, 9), (1, 4, 4, 1, 1), (2, 8, 6, 2, 3), (1, 16, 24, 10, 10), (2, 33, 17, 5, 6),
                     (2, 5, 7, 38, 37), (1, 6, 4, 19, 40)])  // the last two also run the 8-tile vector paths and their edges
    func matchesIm2col(batch: Int, c: Int, k: Int, h: Int, w: Int) throws {
        let g = Conv2D.Geometry(batch: batch, inChannels: c, height: h, width: w, outChannels: k, kernel: 3, pad: 1)
        var rng = SeededGenerator(seed: UInt64(c * 100 + k))
        let x = (0..<(batch * c * h * w)).map { _ in rng.uniform(-1, 1) }
        let weights = (0..<(k * c * 9)).map { _ in rng.uniform(-0.5, 0.5) }
        let b = (0..<k).map { _ in rng.uniform(-0.2, 0.2) }
        let dy = (0..<(batch * k * h * w)).map { _ in rng.uniform(-1, 1) }
        let dxStart = (0..<x.count).map { _ in rng.uniform(-1, 1) }   // backward accumulates into it
        let winograd = try run(g, x, weights, b, dy, dxStart, workspace: Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1),
                             threading: Threading(threads: 2, gemmsOnOwnThreads: true))
        let im2col = try run(g, x, weights, b, dy, dxStart, workspace: Conv2D.Workspace(winogradMinimumChannels: nil), threading: .serial)
        let direct = naiveConv(g, x, weights, b)
        // Winograd's transforms add a few roundings per output; scale the bound with the sum's length.
        let tolerance: Float = 2e-5 * Float(c * 9).squareRoot() * 4
        for (name, a, e) in [("forward vs direct", winograd.y, direct), ("forward vs im2col", winograd.y, im2col.y),
                             ("input gradient vs im2col", winograd.dx, im2col.dx), ("bias gradient vs im2col", winograd.db, im2col.db)] {
            let worst = zip(a, e).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= tolerance, "\(name): largest difference \(worst)")
        }
        // The weight gradient sums over every pixel of every image: compare relative to its size.
        let scale = im2col.dw.map(abs).max() ?? 1
        let worst = zip(winograd.dw, im2col.dw).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-5 * Float(batch * h * w).squareRoot() * max(scale, 1), "weight gradient: largest difference \(worst) of \(scale)")
    }

    @Test("only 3×3 stride-1 pad-1 undilated layers with enough channels take the Winograd path")
    func dispatch() throws {
        // A geometry Winograd must not take (stride 2): results equal with Winograd allowed or not.
        let g = Conv2D.Geometry(batch: 1, inChannels: 8, height: 9, width: 9, outChannels: 8, kernel: 3, stride: 2, pad: 1)
        var rng = SeededGenerator(seed: 5)
        let x = (0..<(8 * 81)).map { _ in rng.uniform(-1, 1) }, w = (0..<(8 * 8 * 9)).map { _ in rng.uniform(-1, 1) }
        let dy = (0..<(8 * 25)).map { _ in rng.uniform(-1, 1) }, b = [Float](repeating: 0.1, count: 8)
        let zeros = [Float](repeating: 0, count: x.count)
        let a = try run(g, x, w, b, dy, zeros, workspace: Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1),
                       threading: .serial)
        let e = try run(g, x, w, b, dy, zeros, workspace: Conv2D.Workspace(winogradMinimumChannels: nil), threading: .serial)
        #expect(a.y == e.y && a.dx == e.dx && a.dw == e.dw)
    }
}
