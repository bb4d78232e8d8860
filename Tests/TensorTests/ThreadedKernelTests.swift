import Foundation
import Tensor
import Testing

/// The kernels' threaded loops against one thread: bit for bit where the split keeps every
/// sum's order (elementwise kernels, per-channel and per-pixel sums), and the im2col
/// backward's per-thread weight-gradient partials the same on every run with one thread count.
/// Shapes are just large enough that every loop really splits over three threads.
@Suite("Threaded kernels equal one thread")
struct ThreadedKernelTests {
    static let threads = Threading(threads: 3)

    @Test("ReLU forward, backward and in-place backward: the same bits on 3 threads")
    func relu() throws {
        let count = 3 * (1 << 16) + 17
        let x = randomValues(count, seed: 21), dy = randomValues(count, seed: 22), dx0 = randomValues(count, seed: 23)
        func run(_ threading: Threading) throws -> [[Float]] {
            var y = [Float](repeating: 0, count: count), dx = dx0, inPlace = dy
            try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { try ReLU.forward(input: xp, output: $0, threading: threading) } }
            try y.withUnsafeBufferPointer { yp in
                try dy.withUnsafeBufferPointer { dyp in try dx.withUnsafeMutableBufferPointer { try ReLU.backward(output: yp, gradOutput: dyp, gradInput: $0, threading: threading) } }
                try inPlace.withUnsafeMutableBufferPointer { try ReLU.backwardInPlace(output: yp, gradient: $0, threading: threading) }
            }
            return [y, dx, inPlace]
        }
        let serial = try run(.serial), threaded = try run(Self.threads)
        #expect(serial == threaded)
        #expect(serial[0].contains(0) && serial[0].contains { $0 > 0 })
    }

    @Test("ElementwiseAdd forward and backward: the same bits on 3 threads")
    func elementwiseAdd() throws {
        let count = 3 * (1 << 16) + 5
        let a = randomValues(count, seed: 24), b = randomValues(count, seed: 25)
        func run(_ threading: Threading) throws -> [[Float]] {
            var y = [Float](repeating: 0, count: count), grad = b
            try a.withUnsafeBufferPointer { ap in try b.withUnsafeBufferPointer { bp in
                try y.withUnsafeMutableBufferPointer { try ElementwiseAdd.forward(ap, bp, output: $0, threading: threading) }
                try grad.withUnsafeMutableBufferPointer { try ElementwiseAdd.backward(gradOutput: ap, gradA: $0, gradB: nil, threading: threading) }
            } }
            return [y, grad]
        }
        #expect(try run(.serial) == run(Self.threads))
    }

    @Test("L2Normalization forward and backward (input and scale gradients): the same bits on 3 threads")
    func l2Normalization() throws {
        let g = L2Normalization.Geometry(batch: 3, channels: 5, height: 20, width: 21)
        let count = g.shape.reduce(1, *)
        let x = randomValues(count, seed: 26), dy = randomValues(count, seed: 27), scale = randomValues(g.channels, seed: 28, low: 1, high: 20)
        func run(_ threading: Threading) throws -> [[Float]] {
            var y = [Float](repeating: 0, count: count), dx = [Float](repeating: 0.5, count: count), dscale = [Float](repeating: 0.25, count: g.channels)
            let saved = try x.withUnsafeBufferPointer { xp in try scale.withUnsafeBufferPointer { sp in
                try y.withUnsafeMutableBufferPointer { try L2Normalization.forward(g, input: xp, scale: sp, output: $0, threading: threading) }
            } }
            try x.withUnsafeBufferPointer { xp in try scale.withUnsafeBufferPointer { sp in try dy.withUnsafeBufferPointer { dyp in
                try dx.withUnsafeMutableBufferPointer { dxp in try dscale.withUnsafeMutableBufferPointer { dsp in
                    try L2Normalization.backward(g, saved: saved, input: xp, scale: sp, gradOutput: dyp, gradInput: dxp, gradScale: dsp, threading: threading)
                } }
            } } }
            return [y, saved.norms, dx, dscale]
        }
        #expect(try run(.serial) == run(Self.threads))
    }

    @Test("BatchNorm forward and backward, batch and global statistics: the same bits on 3 threads", arguments: [false, true])
    func batchNorm(useGlobalStats: Bool) throws {
        var g = BatchNorm.Geometry(batch: 2, channels: 7, height: 5, width: 6)
        g.useGlobalStats = useGlobalStats
        let count = g.shape.reduce(1, *)
        let x = randomValues(count, seed: 29), dy = randomValues(count, seed: 30)
        let gamma = randomValues(g.channels, seed: 31), beta = randomValues(g.channels, seed: 32)
        func run(_ threading: Threading) throws -> [[Float]] {
            var mean = randomValues(g.channels, seed: 33), variance = randomValues(g.channels, seed: 34, low: 0.5, high: 2)
            var y = [Float](repeating: 0, count: count), dx = [Float](repeating: 0, count: count)
            var dgamma = [Float](repeating: 0, count: g.channels), dbeta = dgamma
            let saved = try x.withUnsafeBufferPointer { xp in try gamma.withUnsafeBufferPointer { gp in try beta.withUnsafeBufferPointer { bp in
                try mean.withUnsafeMutableBufferPointer { mp in try variance.withUnsafeMutableBufferPointer { vp in
                    try y.withUnsafeMutableBufferPointer {
                        try BatchNorm.forward(g, input: xp, gamma: gp, beta: bp, movingMean: mp, movingVar: vp, output: $0, threading: threading)
                    }
                } }
            } } }
            try x.withUnsafeBufferPointer { xp in try gamma.withUnsafeBufferPointer { gp in try dy.withUnsafeBufferPointer { dyp in
                try dx.withUnsafeMutableBufferPointer { dxp in try dgamma.withUnsafeMutableBufferPointer { dgp in try dbeta.withUnsafeMutableBufferPointer { dbp in
                    try BatchNorm.backward(g, saved: saved, input: xp, gamma: gp, gradOutput: dyp, gradInput: dxp, gradGamma: dgp, gradBeta: dbp,
                                           threading: threading)
                } } }
            } } }
            return [y, saved.mean, saved.invStd, mean, variance, dx, dgamma, dbeta]
        }
        #expect(try run(.serial) == run(Self.threads))
    }

    @Test("im2col backward with images on own threads: the same bits on every run with one thread count")
    func convBackwardDeterministic() throws {
        let g = Conv2D.Geometry(batch: 5, inChannels: 3, height: 7, width: 9, outChannels: 4, kernel: 3, stride: 1, pad: 1)
        let x = randomValues(g.inputShape.reduce(1, *), seed: 35), w = randomValues(g.weightShape.reduce(1, *), seed: 36)
        let dy = randomValues(g.outputShape.reduce(1, *), seed: 37)
        let threading = Threading(threads: 2, gemmsOnOwnThreads: true)
        let runs = try (0..<4).map { _ in try convBackward(g, x, w, dy, threading: threading) }
        for r in runs.dropFirst() {
            #expect(r.dx == runs[0].dx && r.dw == runs[0].dw && r.db == runs[0].db)
        }
        // The bias gradient (a per-channel sum, image by image) does not depend on the thread count.
        #expect(try convBackward(g, x, w, dy).db == runs[0].db)
    }
}
