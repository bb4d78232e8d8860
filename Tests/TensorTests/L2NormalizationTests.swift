import Tensor
import TestSupport
import Testing

func l2Forward(_ g: L2Normalization.Geometry, _ x: [Float], _ s: [Float]) throws -> ([Float], L2Normalization.Saved) {
    var y = [Float](repeating: 0, count: x.count)
    let saved = try x.withUnsafeBufferPointer { xp in try s.withUnsafeBufferPointer { sp in try y.withUnsafeMutableBufferPointer { yp in
        try L2Normalization.forward(g, input: xp, scale: sp, output: yp)
    } } }
    return (y, saved)
}

func l2Backward(_ g: L2Normalization.Geometry, _ saved: L2Normalization.Saved, _ x: [Float], _ s: [Float], _ dy: [Float]) throws -> ([Float], [Float]) {
    var dx = [Float](repeating: 0, count: x.count), ds = [Float](repeating: 0, count: s.count)
    try x.withUnsafeBufferPointer { xp in try s.withUnsafeBufferPointer { sp in try dy.withUnsafeBufferPointer { d in
        try dx.withUnsafeMutableBufferPointer { a in try ds.withUnsafeMutableBufferPointer { b in
            try L2Normalization.backward(g, saved: saved, input: xp, scale: sp, gradOutput: d, gradInput: a, gradScale: b)
        } }
    } } }
    return (dx, ds)
}

@Suite("L2Normalization")
struct L2NormalizationTests {
    @Test("a pixel's channel vector (3, 4) becomes scale·(0.6, 0.8)")
    func handComputed() throws {
        let g = L2Normalization.Geometry(batch: 1, channels: 2, height: 1, width: 1)
        let (y, _) = try l2Forward(g, [3, 4], [20, 10])
        #expect(closeness(y, [12, 8], rtol: 1e-6).passed)
    }

    @Test("forward and gradients equal MXNet's L2Normalization(mode=channel) times the scale")
    func matchesMXNet() throws {
        let f = try kernelFixture("l2normalization")
        for name in fixtureCases(f) {
            let p = try fixtureParams(f, name)
            let g = L2Normalization.Geometry(batch: p[0], channels: p[1], height: p[2], width: p[3])
            let x = try f.values("\(name)/input"), s = try f.values("\(name)/scale")
            let (y, saved) = try l2Forward(g, x, s)
            #expect(closeness(y, try f.values("\(name)/output"), rtol: 1e-4, atol: 1e-5).passed, "\(name) output")
            let (dx, ds) = try l2Backward(g, saved, x, s, try f.values("\(name)/head"))
            let cx = closeness(dx, try f.values("\(name)/gradInput"), rtol: 1e-3, atol: 1e-4)
            let cs = closeness(ds, try f.values("\(name)/gradScale"), rtol: 1e-3, atol: 1e-5)
            #expect(cx.passed, "\(name) gradInput: \(cx)")
            #expect(cs.passed, "\(name) gradScale: \(cs)")
        }
    }

    @Test("backward matches finite differences")
    func gradientCheck() throws {
        let g = L2Normalization.Geometry(batch: 2, channels: 4, height: 2, width: 3)
        var x = randomValues(48, seed: 31), s = randomValues(4, seed: 32, low: 1, high: 3)
        let r = randomValues(48, seed: 33)
        let (_, saved) = try l2Forward(g, x, s)
        let (dx, ds) = try l2Backward(g, saved, x, s, r)
        let (xx, ss) = (x, s)
        let rx = try GradientCheck.check(point: &x, analytic: dx, eps: 1e-3, atol: 2e-3, rtol: 1e-2) {
            GradientCheck.weightedSum(try l2Forward(g, $0, ss).0, r)
        }
        let rs = try GradientCheck.check(point: &s, analytic: ds, eps: 1e-2, atol: 1e-3, rtol: 1e-3) {
            GradientCheck.weightedSum(try l2Forward(g, xx, $0).0, r)
        }
        #expect(rx.passed, "gradInput: \(rx)")
        #expect(rs.passed, "gradScale: \(rs)")
    }
}
