import Tensor
import TestSupport
import Testing

func smoothL1(_ x: [Float], sigma: Float) throws -> ([Float], Double, Int) {
    var y = [Float](repeating: 0, count: x.count)
    let (sum, nonZero) = try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { yp in
        try SmoothL1.forward(input: xp, sigma: sigma, output: yp)
    } }
    return (y, sum, nonZero)
}

func smoothL1Backward(_ x: [Float], sigma: Float, _ dy: [Float]) throws -> [Float] {
    var dx = [Float](repeating: 0, count: x.count)
    try x.withUnsafeBufferPointer { xp in try dy.withUnsafeBufferPointer { d in try dx.withUnsafeMutableBufferPointer { o in
        try SmoothL1.backward(input: xp, sigma: sigma, gradOutput: d, gradInput: o)
    } } }
    return dx
}

@Suite("SmoothL1")
struct SmoothL1Tests {
    @Test("hand-computed values for sigma 1")
    func handComputed() throws {
        let (y, sum, nonZero) = try smoothL1([0, 0.5, -2, 1], sigma: 1)
        #expect(y == [0, 0.125, 1.5, 0.5])
        #expect(sum == 2.125)
        #expect(nonZero == 3)
    }

    @Test("forward and gradient equal MXNet's smooth_l1")
    func matchesMXNet() throws {
        let f = try kernelFixture("smooth_l1")
        for name in fixtureCases(f) {
            let sigma = try f.values("\(name)/params")[0]
            let x = try f.values("\(name)/input")
            #expect(closeness(try smoothL1(x, sigma: sigma).0, try f.values("\(name)/output"), rtol: 1e-5, atol: 1e-6).passed, "\(name)")
            let dx = try smoothL1Backward(x, sigma: sigma, try f.values("\(name)/head"))
            #expect(closeness(dx, try f.values("\(name)/gradInput"), rtol: 1e-5, atol: 1e-6).passed, "\(name)")
        }
    }

    @Test("backward matches finite differences away from the kinks", arguments: [Float(1), 3])
    func gradientCheck(sigma: Float) throws {
        // Keep |x| away from 0 and from 1/σ² where f'' jumps.
        var x = randomValues(30, seed: 51, low: -2.5, high: 2.5).map { v -> Float in
            let knee = 1 / (sigma * sigma)
            return abs(abs(v) - knee) < 0.05 ? v + 0.1 : v
        }
        let r = randomValues(30, seed: 52)
        let dx = try smoothL1Backward(x, sigma: sigma, r)
        let report = try GradientCheck.check(point: &x, analytic: dx, eps: 1e-3, atol: 1e-3, rtol: 1e-2) {
            GradientCheck.weightedSum(try smoothL1($0, sigma: sigma).0, r)
        }
        #expect(report.passed, "\(report)")
    }
}
