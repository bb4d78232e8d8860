import Tensor
import TestSupport
import Testing

func poolForward(_ g: MaxPool2D.Geometry, _ x: [Float]) throws -> ([Float], MaxPool2D.Saved) {
    var y = [Float](repeating: 0, count: g.outputShape.reduce(1, *))
    let saved = try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { yp in
        try MaxPool2D.forward(g, input: xp, output: yp, threading: Threading(threads: 2))
    } }
    return (y, saved)
}

func poolBackward(_ g: MaxPool2D.Geometry, _ saved: MaxPool2D.Saved, _ dy: [Float]) throws -> [Float] {
    var dx = [Float](repeating: 0, count: g.inputShape.reduce(1, *))
    try dy.withUnsafeBufferPointer { d in try dx.withUnsafeMutableBufferPointer { o in
        try MaxPool2D.backward(g, saved: saved, gradOutput: d, gradInput: o)
    } }
    return dx
}

/// Distinct values (a shuffled ramp) so no window has a tie and the max is differentiable.
func distinctValues(_ count: Int, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    var v = (0..<count).map { Float($0) / Float(count) - 0.5 }
    v.shuffle(using: &g)
    return v
}

@Suite("MaxPool2D")
struct MaxPool2DTests {
    @Test("output sizes follow MXNet's valid and full conventions")
    func outputSizes() {
        #expect(MaxPool2D.Geometry(batch: 1, channels: 1, height: 75, width: 75, kernel: 2, stride: 2, convention: .full).outHeight == 38)
        #expect(MaxPool2D.Geometry(batch: 1, channels: 1, height: 75, width: 75, kernel: 2, stride: 2, convention: .valid).outHeight == 37)
        #expect(MaxPool2D.Geometry(batch: 1, channels: 1, height: 19, width: 19, kernel: 3, stride: 1, pad: 1).outHeight == 19)
        #expect(MaxPool2D.Geometry(batch: 1, channels: 1, height: 150, width: 150, kernel: 2, stride: 2).outHeight == 75)
    }

    @Test("hand-computed 4x4 pooling with its argmax routing")
    func handComputed() throws {
        let g = MaxPool2D.Geometry(batch: 1, channels: 1, height: 4, width: 4, kernel: 2, stride: 2)
        let x: [Float] = [1, 2, 3, 4, 8, 7, 6, 5, 9, 10, 12, 11, 16, 15, 14, 13]
        let (y, saved) = try poolForward(g, x)
        #expect(y == [8, 6, 16, 14])
        let dx = try poolBackward(g, saved, [1, 2, 3, 4])
        #expect(dx == [0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0])
    }

    @Test("backward keeps one byte per output (the max's place in its window); windows beyond 15×15 are refused")
    func savedPlaces() throws {
        let g = MaxPool2D.Geometry(batch: 1, channels: 1, height: 5, width: 5, kernel: 3, stride: 2, pad: 1)
        let x = (0..<25).map { Float(($0 * 7) % 25) }
        let (_, saved) = try poolForward(g, x)
        #expect(saved.byteCount == g.outputShape.reduce(1, *))
        // Window (0, 0) covers rows/columns −1…1 (x[k] = 7k mod 25): of x[0], x[1], x[5], x[6]
        // = 0, 7, 10, 17 the max x[1·5 + 1] sits at (dh 2, dw 2) of the window.
        #expect(saved.window[0] == 2 * 3 + 2)
        let big = MaxPool2D.Geometry(batch: 1, channels: 1, height: 16, width: 16, kernel: 16, stride: 1)
        #expect(throws: TensorError.self) { _ = try poolForward(big, [Float](repeating: 0, count: 256)) }
    }

    @Test("forward and gradient equal MXNet's Pooling")
    func matchesMXNet() throws {
        let f = try kernelFixture("maxpool2d")
        let cases = fixtureCases(f)
        #expect(cases.count >= 6)
        for name in cases {
            let p = try fixtureParams(f, name)
            let g = MaxPool2D.Geometry(batch: p[0], channels: p[1], height: p[2], width: p[3], kernel: p[4], stride: p[5],
                                       pad: p[6], convention: p[7] == 1 ? .full : .valid)
            let (y, saved) = try poolForward(g, try f.values("\(name)/input"))
            let c = closeness(y, try f.values("\(name)/output"), rtol: 0, atol: 0)
            #expect(c.passed, "\(name) output: \(c)")
            let dx = try poolBackward(g, saved, try f.values("\(name)/head"))
            let d = closeness(dx, try f.values("\(name)/gradInput"), rtol: 1e-6, atol: 1e-7)
            #expect(d.passed, "\(name) gradInput: \(d)")
        }
    }

    @Test("backward matches finite differences", arguments: [
        MaxPool2D.Geometry(batch: 2, channels: 2, height: 6, width: 6, kernel: 2, stride: 2),
        MaxPool2D.Geometry(batch: 1, channels: 2, height: 7, width: 5, kernel: 2, stride: 2, convention: .full),
        MaxPool2D.Geometry(batch: 1, channels: 1, height: 5, width: 5, kernel: 3, stride: 1, pad: 1),
        MaxPool2D.Geometry(batch: 1, channels: 3, height: 1, width: 1, kernel: 1, stride: 1),
    ])
    func gradientCheck(_ g: MaxPool2D.Geometry) throws {
        // Ramp spacing 1/count ≫ eps keeps every window's argmax fixed under perturbation.
        var x = distinctValues(g.inputShape.reduce(1, *), seed: 11)
        let r = randomValues(g.outputShape.reduce(1, *), seed: 12)
        let (_, saved) = try poolForward(g, x)
        let dx = try poolBackward(g, saved, r)
        let eps = 0.2 / Float(x.count)
        let report = try GradientCheck.check(point: &x, analytic: dx, eps: eps, maxCoordinates: 200, atol: 1e-3, rtol: 1e-3) {
            GradientCheck.weightedSum(try poolForward(g, $0).0, r)
        }
        #expect(report.passed, "\(g): \(report)")
    }

    @Test("forwardOnly gives forward's output bit for bit: ties, ±0, NaN, −∞, windows past the edge, vector and scalar columns",
          arguments: [
              MaxPool2D.Geometry(batch: 2, channels: 3, height: 36, width: 40, kernel: 2, stride: 2),
              MaxPool2D.Geometry(batch: 1, channels: 2, height: 37, width: 35, kernel: 2, stride: 2, convention: .full),
              MaxPool2D.Geometry(batch: 1, channels: 5, height: 9, width: 19, kernel: 2, stride: 2),
              MaxPool2D.Geometry(batch: 1, channels: 2, height: 19, width: 19, kernel: 3, stride: 1, pad: 1),
              MaxPool2D.Geometry(batch: 2, channels: 1, height: 11, width: 13, kernel: 3, stride: 2, pad: 1, convention: .full),
          ])
    func forwardOnlyEqualsForward(_ g: MaxPool2D.Geometry) throws {
        var rng = SeededGenerator(seed: 21)
        // Few distinct values so windows tie; some −0, NaN and −∞ among them.
        let special: [Float] = [0, -0.0, .nan, -.infinity, 1, 1, -1]
        let x = (0..<g.inputShape.reduce(1, *)).map { _ in special[Int(rng.uniform(0, Float(special.count) - 0.001))] }
        let (expected, _) = try poolForward(g, x)
        for threads in [1, 2] {
            var y = [Float](repeating: 7, count: expected.count)
            try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { yp in
                try MaxPool2D.forwardOnly(g, input: xp, output: yp, threading: Threading(threads: threads))
            } }
            #expect(y.map(\.bitPattern) == expected.map(\.bitPattern), "\(g), \(threads) thread(s)")
        }
    }

    @Test("forward's output and recorded places equal a plain window scan (first of equals, NaN kept where first): ties, ±0, NaN, −∞, windows past the edge, vector and scalar columns",
          arguments: [
              MaxPool2D.Geometry(batch: 2, channels: 3, height: 36, width: 40, kernel: 2, stride: 2),
              MaxPool2D.Geometry(batch: 1, channels: 2, height: 37, width: 35, kernel: 2, stride: 2, convention: .full),
              MaxPool2D.Geometry(batch: 1, channels: 5, height: 9, width: 19, kernel: 2, stride: 2),
              MaxPool2D.Geometry(batch: 2, channels: 1, height: 11, width: 13, kernel: 3, stride: 2, pad: 1, convention: .full),
          ])
    func forwardEqualsScan(_ g: MaxPool2D.Geometry) throws {
        var rng = SeededGenerator(seed: 23)
        let special: [Float] = [0, -0.0, .nan, -.infinity, 1, 1, -1]
        let x = (0..<g.inputShape.reduce(1, *)).map { _ in special[Int(rng.uniform(0, Float(special.count) - 0.001))] }
        var expected: [Float] = [], places: [UInt8] = []
        for plane in 0..<(g.batch * g.channels) {
            for i in 0..<g.outHeight {
                for j in 0..<g.outWidth {
                    var best = -Float.infinity, at = MaxPool2D.Saved.none
                    for dh in 0..<g.kernel {
                        for dw in 0..<g.kernel {
                            let h = i * g.stride - g.pad + dh, w = j * g.stride - g.pad + dw
                            guard h >= 0 && h < g.height && w >= 0 && w < g.width else { continue }
                            let v = x[(plane * g.height + h) * g.width + w]
                            if v > best || at == MaxPool2D.Saved.none { (best, at) = (v, UInt8(dh * g.kernel + dw)) }
                        }
                    }
                    expected.append(at == MaxPool2D.Saved.none ? 0 : best)
                    places.append(at)
                }
            }
        }
        let (y, saved) = try poolForward(g, x)
        #expect(y.map(\.bitPattern) == expected.map(\.bitPattern), "\(g)")
        #expect(saved.window == places, "\(g)")
    }

    @Test("mismatched shapes are rejected")
    func rejectsMismatch() {
        let g = MaxPool2D.Geometry(batch: 1, channels: 1, height: 4, width: 4, kernel: 2, stride: 2)
        #expect(throws: TensorError.self) { _ = try poolForward(g, [1, 2, 3]) }
        let bad = MaxPool2D.Geometry(batch: 1, channels: 1, height: 4, width: 4, kernel: 2, stride: 2, pad: 2)
        #expect(throws: TensorError.self) { _ = try poolForward(bad, [Float](repeating: 0, count: 16)) }
    }
}
