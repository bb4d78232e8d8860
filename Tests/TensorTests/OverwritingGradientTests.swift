import Tensor
import TestSupport
import Testing

/// A first writer of an activation gradient overwrites it (`Conv2D.backward`'s
/// `overwritingGradInput`, `MaxPool2D.backward`'s `overwriting`): from a buffer full of garbage
/// (NaN, so a single element left unwritten or read shows) the result must be, bit for bit, what
/// accumulating into zeros gives.
@Suite("Gradients overwritten by their first writer")
struct OverwritingGradientTests {
    /// F(2×2) and F(4×4) Winograd, im2col (stride 2, dilated, 1×1) — each with a ragged edge.
    static let convolutions: [(String, Conv2D.Geometry, Conv2D.Workspace)] = [
        ("Winograd F(2×2)", .init(batch: 2, inChannels: 5, height: 11, width: 9, outChannels: 6, kernel: 3, stride: 1, pad: 1),
         Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1)),
        ("Winograd F(4×4)", .init(batch: 2, inChannels: 9, height: 13, width: 10, outChannels: 7, kernel: 3, stride: 1, pad: 1),
         Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1,
                          winograd4x4MinimumChannels: 1, winograd4x4WeightGradientMinimumChannels: 1)),
        ("im2col, stride 2", .init(batch: 3, inChannels: 4, height: 9, width: 9, outChannels: 6, kernel: 3, stride: 2, pad: 1),
         Conv2D.Workspace(winogradMinimumChannels: nil)),
        ("im2col, dilation 6", .init(batch: 2, inChannels: 3, height: 12, width: 12, outChannels: 4, kernel: 3, stride: 1, pad: 6, dilation: 6),
         Conv2D.Workspace(winogradMinimumChannels: nil)),
        ("1×1", .init(batch: 2, inChannels: 6, height: 7, width: 5, outChannels: 3, kernel: 1), Conv2D.Workspace()),
    ]

    @Test("Conv2D.backward overwriting gradInput equals accumulating into zeros, bit for bit; weight and bias gradients unchanged",
          arguments: 0..<convolutions.count)
    func convolution(_ index: Int) throws {
        let (name, g, workspace) = Self.convolutions[index]
        let x = randomValues(g.inputShape.reduce(1, *), seed: 31), w = randomValues(g.weightShape.reduce(1, *), seed: 32)
        let dy = randomValues(g.outputShape.reduce(1, *), seed: 33)
        func backward(start: Float, overwriting: Bool, threading: Threading) throws -> (dx: [Float], dw: [Float], db: [Float]) {
            var dx = [Float](repeating: start, count: x.count), dw = [Float](repeating: 0, count: w.count)
            var db = [Float](repeating: 0, count: g.outChannels)
            try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try dy.withUnsafeBufferPointer { dyp in
                try dx.withUnsafeMutableBufferPointer { dxp in try dw.withUnsafeMutableBufferPointer { dwp in
                    try db.withUnsafeMutableBufferPointer { dbp in
                        try Conv2D.backward(g, input: xp, weight: wp, gradOutput: dyp, gradInput: dxp, overwritingGradInput: overwriting,
                                            gradWeight: dwp, gradBias: dbp, workspace: workspace, threading: threading)
                    }
                } }
            } } }
            return (dx, dw, db)
        }
        for threading in [Threading.serial, Threading(threads: 2), Threading(threads: 2, gemmsOnOwnThreads: true)] {
            let accumulated = try backward(start: 0, overwriting: false, threading: threading)
            let overwritten = try backward(start: .nan, overwriting: true, threading: threading)
            #expect(overwritten.dx.map(\.bitPattern) == accumulated.dx.map(\.bitPattern), "\(name), \(threading): gradInput")
            #expect(overwritten.dw.map(\.bitPattern) == accumulated.dw.map(\.bitPattern), "\(name), \(threading): gradWeight")
            #expect(overwritten.db.map(\.bitPattern) == accumulated.db.map(\.bitPattern), "\(name), \(threading): gradBias")
            #expect(accumulated.dx.contains { $0 != 0 }, "\(name): a gradient of zeros would prove nothing")
        }
    }

    @Test("MaxPool2D.backward overwriting equals routing into zeros, bit for bit (2×2 pairs, odd edges, overlapping 3×3 windows)",
          arguments: [
              MaxPool2D.Geometry(batch: 2, channels: 3, height: 20, width: 37, kernel: 2, stride: 2),
              MaxPool2D.Geometry(batch: 1, channels: 4, height: 9, width: 7, kernel: 2, stride: 2, convention: .full),
              MaxPool2D.Geometry(batch: 2, channels: 2, height: 10, width: 10, kernel: 3, stride: 1, pad: 1),
          ])
    func pooling(_ g: MaxPool2D.Geometry) throws {
        let (_, saved) = try poolForward(g, randomValues(g.inputShape.reduce(1, *), seed: 41))
        let dy = randomValues(g.outputShape.reduce(1, *), seed: 42)
        let expected = try poolBackward(g, saved, dy)
        for threads in [1, 2] {
            var dx = [Float](repeating: .nan, count: g.inputShape.reduce(1, *))
            try dy.withUnsafeBufferPointer { d in try dx.withUnsafeMutableBufferPointer { o in
                try MaxPool2D.backward(g, saved: saved, gradOutput: d, gradInput: o, overwriting: true, threading: Threading(threads: threads))
            } }
            #expect(dx.map(\.bitPattern) == expected.map(\.bitPattern), "\(g), \(threads) thread(s)")
        }
    }
}
