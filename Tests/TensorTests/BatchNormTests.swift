import Tensor
import TestSupport
import Testing

struct BatchNormRun {
    var output: [Float]
    var saved: BatchNorm.Saved
    var movingMean: [Float]
    var movingVar: [Float]
}

func bnForward(_ g: BatchNorm.Geometry, _ x: [Float], _ gamma: [Float], _ beta: [Float], _ mm: [Float], _ mv: [Float]) throws -> BatchNormRun {
    var y = [Float](repeating: 0, count: x.count), mm = mm, mv = mv
    let saved = try x.withUnsafeBufferPointer { xp in try gamma.withUnsafeBufferPointer { gp in try beta.withUnsafeBufferPointer { bp in
        try mm.withUnsafeMutableBufferPointer { mmp in try mv.withUnsafeMutableBufferPointer { mvp in try y.withUnsafeMutableBufferPointer { yp in
            try BatchNorm.forward(g, input: xp, gamma: gp, beta: bp, movingMean: mmp, movingVar: mvp, output: yp)
        } } }
    } } }
    return BatchNormRun(output: y, saved: saved, movingMean: mm, movingVar: mv)
}

func bnBackward(_ g: BatchNorm.Geometry, _ saved: BatchNorm.Saved, _ x: [Float], _ gamma: [Float], _ dy: [Float]) throws -> ([Float], [Float], [Float]) {
    var dx = [Float](repeating: 0, count: x.count), dg = [Float](repeating: 0, count: g.channels), db = dg
    try x.withUnsafeBufferPointer { xp in try gamma.withUnsafeBufferPointer { gp in try dy.withUnsafeBufferPointer { d in
        try dx.withUnsafeMutableBufferPointer { a in try dg.withUnsafeMutableBufferPointer { b in try db.withUnsafeMutableBufferPointer { c in
            try BatchNorm.backward(g, saved: saved, input: xp, gamma: gp, gradOutput: d, gradInput: a, gradGamma: b, gradBeta: c)
        } } }
    } } }
    return (dx, dg, db)
}

@Suite("BatchNorm")
struct BatchNormTests {
    @Test("forward, moving statistics and gradients equal MXNet's BatchNorm")
    func matchesMXNet() throws {
        let f = try kernelFixture("batchnorm")
        let cases = fixtureCases(f)
        #expect(cases.count >= 5)
        for name in cases {
            let p = try fixtureParams(f, name)
            let g = BatchNorm.Geometry(batch: p[0], channels: p[1], height: p[2], width: p[3], eps: 2e-5, momentum: 0.9,
                                       fixGamma: p[4] == 1, useGlobalStats: p[5] == 1)
            let x = try f.values("\(name)/input"), gamma = try f.values("\(name)/gamma")
            let run = try bnForward(g, x, gamma, try f.values("\(name)/beta"), try f.values("\(name)/movingMean"), try f.values("\(name)/movingVar"))
            let y = closeness(run.output, try f.values("\(name)/output"), rtol: 1e-4, atol: 1e-5)
            #expect(y.passed, "\(name) output: \(y)")
            #expect(closeness(run.movingMean, try f.values("\(name)/movingMeanAfter"), rtol: 1e-4, atol: 1e-6).passed, "\(name) moving mean")
            #expect(closeness(run.movingVar, try f.values("\(name)/movingVarAfter"), rtol: 1e-4, atol: 1e-6).passed, "\(name) moving var")
            let (dx, dg, db) = try bnBackward(g, run.saved, x, gamma, try f.values("\(name)/head"))
            for (label, mine, theirs) in [("gradInput", dx, try f.values("\(name)/gradInput")),
                                          ("gradGamma", dg, try f.values("\(name)/gradGamma")),
                                          ("gradBeta", db, try f.values("\(name)/gradBeta"))] {
                let c = closeness(mine, theirs, rtol: 1e-3, atol: 1e-4)
                #expect(c.passed, "\(name) \(label): \(c)")
            }
        }
    }

    @Test("backward matches finite differences (training and frozen statistics)", arguments: [false, true])
    func gradientCheck(frozen: Bool) throws {
        let g = BatchNorm.Geometry(batch: 2, channels: 3, height: 3, width: 2, eps: 1e-3, useGlobalStats: frozen)
        var x = randomValues(36, seed: 21), gamma = randomValues(3, seed: 22, low: 0.5, high: 1.5)
        var beta = randomValues(3, seed: 23)
        let mm = randomValues(3, seed: 24, low: -0.1, high: 0.1), mv = randomValues(3, seed: 25, low: 0.5, high: 1.5)
        let r = randomValues(36, seed: 26)
        let run = try bnForward(g, x, gamma, beta, mm, mv)
        let (dx, dg, db) = try bnBackward(g, run.saved, x, gamma, r)
        let (xx, gg, bb) = (x, gamma, beta)
        func loss(_ x: [Float], _ gm: [Float], _ bt: [Float]) throws -> Double {
            GradientCheck.weightedSum(try bnForward(g, x, gm, bt, mm, mv).output, r)
        }
        let rx = try GradientCheck.check(point: &x, analytic: dx, eps: 1e-2, atol: 2e-3, rtol: 1e-2) { try loss($0, gg, bb) }
        let rg = try GradientCheck.check(point: &gamma, analytic: dg, eps: 1e-2, atol: 2e-3, rtol: 1e-2) { try loss(xx, $0, bb) }
        let rb = try GradientCheck.check(point: &beta, analytic: db, eps: 1e-2, atol: 2e-3, rtol: 1e-2) { try loss(xx, gg, $0) }
        #expect(rx.passed, "gradInput: \(rx)")
        #expect(rg.passed, "gradGamma: \(rg)")
        #expect(rb.passed, "gradBeta: \(rb)")
    }

    @Test("a 1x1 map with batch 1 in frozen mode is an affine map")
    func frozenOnePixel() throws {
        let g = BatchNorm.Geometry(batch: 1, channels: 2, height: 1, width: 1, eps: 0, useGlobalStats: true)
        let run = try bnForward(g, [3, -1], [2, 0.5], [1, 1], [1, 1], [4, 0.25])
        #expect(closeness(run.output, [2 * (3 - 1) / 2 + 1, 0.5 * (-1 - 1) / 0.5 + 1]).passed)
        #expect(run.movingMean == [1, 1])
    }

    @Test("wrong per-channel parameter size is rejected")
    func rejectsMismatch() {
        let g = BatchNorm.Geometry(batch: 1, channels: 2, height: 1, width: 1)
        #expect(throws: TensorError.self) { _ = try bnForward(g, [1, 2], [1], [0, 0], [0, 0], [1, 1]) }
    }
}
