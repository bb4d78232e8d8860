import Foundation
import Tensor
import TestSupport
import Testing

@Suite("Conv2D: Winograd with the images of a batch on separate threads")
struct WinogradImagesTests {
    /// A workspace whose 3×3 layers all take Winograd (F(4×4) where `f4x4` and the map suits it),
    /// images on separate threads from `imagesFrom` threads (nil: never).
    func workspace(f4x4: Bool, imagesFrom: Int?) -> Conv2D.Workspace {
        let ws = Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1,
                                  winograd4x4MinimumChannels: f4x4 ? 1 : nil, winograd4x4WeightGradientMinimumChannels: f4x4 ? 1 : nil)
        ws.winogradImagesInParallelMinimumThreads = imagesFrom
        return ws
    }

    @Test("forward, input and weight gradients equal the batch path's (F(2×2) and F(4×4), uneven shares), the same bits every run",
          arguments: [false, true])
    func matchesBatchPath(f4x4: Bool) throws {
        let (batch, c, k, h, w) = (5, 6, 7, 38, 40)
        let g = Conv2D.Geometry(batch: batch, inChannels: c, height: h, width: w, outChannels: k, kernel: 3, pad: 1)
        var rng = SeededGenerator(seed: f4x4 ? 44 : 22)
        let x = (0..<(batch * c * h * w)).map { _ in rng.uniform(-1, 1) }
        let weights = (0..<(k * c * 9)).map { _ in rng.uniform(-0.5, 0.5) }
        let b = (0..<k).map { _ in rng.uniform(-0.2, 0.2) }
        let dy = (0..<(batch * k * h * w)).map { _ in rng.uniform(-1, 1) }
        let dxStart = (0..<x.count).map { _ in rng.uniform(-1, 1) }
        let threading = Threading(threads: 3, gemmsOnOwnThreads: true)   // shares of 1, 2 and 2 images
        let byImages = workspace(f4x4: f4x4, imagesFrom: 2)
        let split = try WinogradTests().run(g, x, weights, b, dy, dxStart, workspace: byImages, threading: threading)
        #expect(byImages.imageWorkspaceCount == 3, "the images went to 3 threads")
        let again = try WinogradTests().run(g, x, weights, b, dy, dxStart, workspace: workspace(f4x4: f4x4, imagesFrom: 2), threading: threading)
        #expect(split.y == again.y && split.dx == again.dx && split.dw == again.dw, "same thread count, same bits")

        let batchPathWorkspace = workspace(f4x4: f4x4, imagesFrom: nil)
        let whole = try WinogradTests().run(g, x, weights, b, dy, dxStart, workspace: batchPathWorkspace, threading: threading)
        #expect(batchPathWorkspace.imageWorkspaceCount == 0)
        let tolerance: Float = 1e-6 * Float(c * 9).squareRoot() * (f4x4 ? 32 : 4)
        for (name, a, e) in [("forward", split.y, whole.y), ("input gradient", split.dx, whole.dx), ("bias gradient", split.db, whole.db)] {
            let worst = zip(a, e).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= tolerance, "\(name): largest difference \(worst)")
        }
        let scale = whole.dw.map(abs).max() ?? 1
        let worst = zip(split.dw, whole.dw).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-6 * Float(batch * h * w).squareRoot() * max(scale, 1), "weight gradient: largest difference \(worst) of \(scale)")
    }

    @Test("fewer images than threads, too few threads, or GEMMs not on own threads keep the batch path")
    func rule() throws {
        let g = Conv2D.Geometry(batch: 2, inChannels: 4, height: 9, width: 9, outChannels: 4, kernel: 3, pad: 1)
        var rng = SeededGenerator(seed: 3)
        let x = (0..<(2 * 4 * 81)).map { _ in rng.uniform(-1, 1) }, w = (0..<(4 * 4 * 9)).map { _ in rng.uniform(-1, 1) }
        let dy = (0..<(2 * 4 * 81)).map { _ in rng.uniform(-1, 1) }, b = [Float](repeating: 0.1, count: 4)
        let zeros = [Float](repeating: 0, count: x.count)
        for (threading, imagesFrom) in [(Threading(threads: 3, gemmsOnOwnThreads: true), 2),    // 2 images < 3 threads
                                        (Threading(threads: 2, gemmsOnOwnThreads: true), 4),    // 2 threads < 4
                                        (Threading(threads: 2, gemmsOnOwnThreads: false), 2)] { // OpenBLAS threads the GEMMs
            let ws = workspace(f4x4: false, imagesFrom: imagesFrom)
            _ = try WinogradTests().run(g, x, w, b, dy, zeros, workspace: ws, threading: threading)
            #expect(ws.imageWorkspaceCount == 0, "\(threading.threads) threads, own GEMMs \(threading.gemmsOnOwnThreads), from \(imagesFrom)")
        }
        let ws = workspace(f4x4: false, imagesFrom: 2)
        _ = try WinogradTests().run(g, x, w, b, dy, zeros, workspace: ws, threading: Threading(threads: 2, gemmsOnOwnThreads: true))
        #expect(ws.imageWorkspaceCount == 2)
    }
}
