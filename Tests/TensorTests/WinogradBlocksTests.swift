import Foundation
import Tensor
import TestSupport
import Testing

@Suite("Conv2D: Winograd F(4×4) by per-thread blocks of tiles")
struct WinogradBlocksTests {
    /// A workspace whose 3×3 layers all take F(4×4) where the map suits it, by blocks of V and M
    /// of `blockFloats` floats each (nil: the shared chunks).
    func workspace(blockFloats: Int?) -> Conv2D.Workspace {
        let ws = Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1,
                                  winograd4x4MinimumChannels: 1, winograd4x4WeightGradientMinimumChannels: 1)
        ws.winogradBlockFloats = blockFloats
        return ws
    }

    /// The forward (`activation`) of `g` on `x`, then its input gradient accumulated into `dxStart`.
    func forwardAndInputGradient(_ g: Conv2D.Geometry, _ x: [Float], _ w: [Float], _ b: [Float], _ dy: [Float], _ dxStart: [Float],
                                 activation: Conv2D.Activation, workspace: Conv2D.Workspace,
                                 threading: Threading) throws -> (y: [Float], dx: [Float]) {
        var y = [Float](repeating: .nan, count: g.outputShape.reduce(1, *)), dx = dxStart
        try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in
            try b.withUnsafeBufferPointer { bp in try y.withUnsafeMutableBufferPointer { yp in
                try Conv2D.forward(g, input: xp, weight: wp, bias: bp, output: yp, activation: activation, workspace: workspace,
                                   threading: threading)
            } }
            try dy.withUnsafeBufferPointer { dyp in try dx.withUnsafeMutableBufferPointer { dxp in
                try Conv2D.backward(g, input: xp, weight: wp, gradOutput: dyp, gradInput: dxp, gradWeight: nil, gradBias: nil,
                                    workspace: workspace, threading: threading)
            } }
        } }
        return (y, dx)
    }

    // 42×45: 11×12 tiles, edge tiles cut on both sides, runs of 12 tiles split over blocks of 8
    // or 9 (an eight-lane group crosses a block's end); 7 → 5 channels and 5 → 7 in the input gradient.
    @Test("forward (with and without ReLU) and input gradient equal the shared chunks', the same bits every run",
          arguments: [(2, 36 * 7 * 8, Conv2D.Activation.identity), (3, 36 * 7 * 9, .relu), (2, 36 * 7 * 8, .relu)])
    func matchesSharedChunks(threads: Int, blockFloats: Int, activation: Conv2D.Activation) throws {
        let (batch, c, k, h, w) = (3, 5, 7, 42, 45)
        let g = Conv2D.Geometry(batch: batch, inChannels: c, height: h, width: w, outChannels: k, kernel: 3, pad: 1)
        var rng = SeededGenerator(seed: UInt64(blockFloats + threads))
        let x = (0..<(batch * c * h * w)).map { _ in rng.uniform(-1, 1) }
        let weights = (0..<(k * c * 9)).map { _ in rng.uniform(-0.5, 0.5) }
        let b = (0..<k).map { _ in rng.uniform(-0.2, 0.2) }
        let dy = (0..<(batch * k * h * w)).map { _ in rng.uniform(-1, 1) }
        let dxStart = (0..<x.count).map { _ in rng.uniform(-1, 1) }
        let threading = Threading(threads: threads, gemmsOnOwnThreads: true)
        let blocks = workspace(blockFloats: blockFloats)
        #expect(blocks.winograd4x4RunsByBlocks(g, threading: threading))
        let byBlocks = try forwardAndInputGradient(g, x, weights, b, dy, dxStart, activation: activation, workspace: blocks,
                                                   threading: threading)
        let again = try forwardAndInputGradient(g, x, weights, b, dy, dxStart, activation: activation,
                                                workspace: workspace(blockFloats: blockFloats), threading: threading)
        #expect(byBlocks.y == again.y && byBlocks.dx == again.dx, "blocks go to whichever thread is free; the bits do not change")

        let chunks = workspace(blockFloats: nil)
        #expect(!chunks.winograd4x4RunsByBlocks(g, threading: threading))
        let shared = try forwardAndInputGradient(g, x, weights, b, dy, dxStart, activation: activation, workspace: chunks,
                                                 threading: threading)
        #expect(!byBlocks.y.contains { $0.isNaN }, "every output written")
        // The same transforms per tile; only the GEMMs' widths differ (OpenBLAS may pick other kernels for them).
        let tolerance: Float = 1e-6 * Float(c * 9).squareRoot() * 32
        for (name, a, e) in [("forward", byBlocks.y, shared.y), ("input gradient", byBlocks.dx, shared.dx)] {
            let worst = zip(a, e).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= tolerance, "\(name): largest difference \(worst)")
        }
    }

    @Test("blocks only with GEMMs on own threads, several threads, at most the channel limit, and a block for every thread")
    func rule() {
        let g = Conv2D.Geometry(batch: 2, inChannels: 64, height: 76, width: 76, outChannels: 128, kernel: 3, pad: 1)  // 722 tiles
        let ws = Conv2D.Workspace()
        ws.winogradBlockFloats = 36 * 128 * 100   // blocks of 100 tiles
        #expect(ws.winograd4x4RunsByBlocks(g, threading: Threading(threads: 2, gemmsOnOwnThreads: true)))
        #expect(ws.winograd4x4RunsByBlocks(g, threading: Threading(threads: 7, gemmsOnOwnThreads: true)))
        #expect(!ws.winograd4x4RunsByBlocks(g, threading: Threading(threads: 8, gemmsOnOwnThreads: true)), "7 blocks for 8 threads")
        #expect(!ws.winograd4x4RunsByBlocks(g, threading: Threading(threads: 2, gemmsOnOwnThreads: false)), "OpenBLAS threads the GEMMs")
        #expect(!ws.winograd4x4RunsByBlocks(g, threading: .serial))
        var wide = g
        wide.outChannels = 256
        #expect(!ws.winograd4x4RunsByBlocks(wide, threading: Threading(threads: 2, gemmsOnOwnThreads: true)), "256 channels > 128")
        ws.winogradBlockFloats = 0
        #expect(!ws.winograd4x4RunsByBlocks(g, threading: Threading(threads: 2, gemmsOnOwnThreads: true)), "0 floats: never")
        ws.winogradBlockFloats = nil
        #expect(!ws.winograd4x4RunsByBlocks(g, threading: Threading(threads: 2, gemmsOnOwnThreads: true)))
        #expect(Conv2D.Workspace().winogradBlockFloats != nil, "on by default")
    }
}
