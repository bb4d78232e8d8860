import Foundation
import Tensor
import TestSupport
import Testing

/// Direct 7-loop convolution: the reference the im2col + sgemm kernel must equal.
func naiveConv(_ g: Conv2D.Geometry, _ x: [Float], _ w: [Float], _ b: [Float]?) -> [Float] {
    var y = [Float](repeating: 0, count: g.outputShape.reduce(1, *))
    for n in 0..<g.batch { for k in 0..<g.outChannels { for oh in 0..<g.outHeight { for ow in 0..<g.outWidth {
        var s = Double(b?[k] ?? 0)
        for c in 0..<g.inChannels { for r in 0..<g.kernelHeight { for q in 0..<g.kernelWidth {
            let ih = oh * g.strideHeight - g.padHeight + r * g.dilationHeight
            let iw = ow * g.strideWidth - g.padWidth + q * g.dilationWidth
            guard ih >= 0, ih < g.height, iw >= 0, iw < g.width else { continue }
            s += Double(x[((n * g.inChannels + c) * g.height + ih) * g.width + iw])
                * Double(w[((k * g.inChannels + c) * g.kernelHeight + r) * g.kernelWidth + q])
        } } }
        y[((n * g.outChannels + k) * g.outHeight + oh) * g.outWidth + ow] = Float(s)
    } } } }
    return y
}

func convForward(_ g: Conv2D.Geometry, _ x: [Float], _ w: [Float], _ b: [Float]?, threading: Threading = .serial) throws -> [Float] {
    var y = [Float](repeating: 0, count: g.outputShape.reduce(1, *))
    try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try y.withUnsafeMutableBufferPointer { yp in
        if let b {
            try b.withUnsafeBufferPointer { bp in try Conv2D.forward(g, input: xp, weight: wp, bias: bp, output: yp, threading: threading) }
        } else {
            try Conv2D.forward(g, input: xp, weight: wp, bias: nil, output: yp, threading: threading)
        }
    } } }
    return y
}

func convBackward(_ g: Conv2D.Geometry, _ x: [Float], _ w: [Float], _ dy: [Float], threading: Threading = .serial) throws -> (dx: [Float], dw: [Float], db: [Float]) {
    var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: w.count)
    var db = [Float](repeating: 0, count: g.outChannels)
    try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try dy.withUnsafeBufferPointer { dyp in
        try dx.withUnsafeMutableBufferPointer { dxp in try dw.withUnsafeMutableBufferPointer { dwp in try db.withUnsafeMutableBufferPointer { dbp in
            try Conv2D.backward(g, input: xp, weight: wp, gradOutput: dyp, gradInput: dxp, gradWeight: dwp, gradBias: dbp, threading: threading)
        } } }
    } } }
    return (dx, dw, db)
}

/// Geometries named from their values (ggml-style case table).
let convGeometries: [Conv2D.Geometry] = [
    .init(batch: 2, inChannels: 3, height: 7, width: 9, outChannels: 4, kernel: 3, stride: 1, pad: 1),
    .init(batch: 1, inChannels: 2, height: 7, width: 9, outChannels: 3, kernel: 3, stride: 2, pad: 1),
    .init(batch: 1, inChannels: 2, height: 9, width: 9, outChannels: 3, kernel: 3, stride: 1, pad: 6, dilation: 6),
    .init(batch: 1, inChannels: 2, height: 11, width: 8, outChannels: 2, kernel: 3, stride: 1, pad: 2, dilation: 2),
    .init(batch: 2, inChannels: 5, height: 1, width: 1, outChannels: 3, kernel: 1),
    .init(batch: 1, inChannels: 3, height: 1, width: 1, outChannels: 2, kernel: 3, stride: 1, pad: 1),
    .init(batch: 2, inChannels: 4, height: 6, width: 5, outChannels: 3, kernel: 1),
    .init(batch: 1, inChannels: 3, height: 8, width: 8, outChannels: 2, kernel: 3, stride: 2, pad: 1),
    .init(batch: 1, inChannels: 2, height: 5, width: 7, outChannels: 3, kernel: 3, stride: 1, pad: 0),
    .init(batch: 1, inChannels: 2, height: 6, width: 6, outChannels: 2, kernelHeight: 1, kernelWidth: 3,
          strideHeight: 1, strideWidth: 2, padHeight: 0, padWidth: 1),
    .init(batch: 1, inChannels: 1, height: 7, width: 7, outChannels: 1, kernel: 7, stride: 1, pad: 0),
]

@Suite("Conv2D")
struct Conv2DTests {
    @Test("im2col + sgemm equals the direct convolution", arguments: convGeometries)
    func matchesNaive(_ g: Conv2D.Geometry) throws {
        let x = randomValues(g.inputShape.reduce(1, *), seed: 1), w = randomValues(g.weightShape.reduce(1, *), seed: 2)
        let b = randomValues(g.outChannels, seed: 3)
        let c = closeness(try convForward(g, x, w, b), naiveConv(g, x, w, b), rtol: 1e-5, atol: 1e-5)
        #expect(c.passed, "\(g): \(c)")
        let threaded = try convForward(g, x, w, nil, threading: Threading(threads: 2))
        let c2 = closeness(threaded, naiveConv(g, x, w, nil), rtol: 1e-5, atol: 1e-5)
        #expect(c2.passed, "\(g) threaded, no bias: \(c2)")
    }

    @Test("backward matches finite differences for input, weight and bias", arguments: convGeometries)
    func gradientCheck(_ g: Conv2D.Geometry) throws {
        var x = randomValues(g.inputShape.reduce(1, *), seed: 4), w = randomValues(g.weightShape.reduce(1, *), seed: 5)
        var b = randomValues(g.outChannels, seed: 6)
        let r = randomValues(g.outputShape.reduce(1, *), seed: 7)
        let (dx, dw, db) = try convBackward(g, x, w, r)
        // Linear in each argument, so eps can be large; tolerance covers Float32 rounding of the loss.
        let (ww, bb, xx) = (w, b, x)
        let rx = try GradientCheck.check(point: &x, analytic: dx, eps: 0.05, atol: 2e-3, rtol: 1e-3) {
            GradientCheck.weightedSum(try convForward(g, $0, ww, bb), r)
        }
        let rw = try GradientCheck.check(point: &w, analytic: dw, eps: 0.05, atol: 2e-3, rtol: 1e-3) {
            GradientCheck.weightedSum(try convForward(g, xx, $0, bb), r)
        }
        let rb = try GradientCheck.check(point: &b, analytic: db, eps: 0.05, atol: 2e-3, rtol: 1e-3) {
            GradientCheck.weightedSum(try convForward(g, xx, ww, $0), r)
        }
        #expect(rx.passed, "gradInput \(g): \(rx)")
        #expect(rw.passed, "gradWeight \(g): \(rw)")
        #expect(rb.passed, "gradBias \(g): \(rb)")
    }

    /// Batches of at least as many images as threads: each thread its own images and GEMMs.
    static let batchParallelGeometries: [Conv2D.Geometry] = [
        .init(batch: 5, inChannels: 3, height: 7, width: 9, outChannels: 4, kernel: 3, stride: 1, pad: 1),
        .init(batch: 3, inChannels: 4, height: 6, width: 5, outChannels: 3, kernel: 1),
        .init(batch: 4, inChannels: 2, height: 9, width: 9, outChannels: 3, kernel: 3, stride: 2, pad: 6, dilation: 6),
    ]

    @Test("images in parallel: forward equals the direct convolution, backward equals one thread and finite differences",
          arguments: batchParallelGeometries)
    func imagesInParallel(_ g: Conv2D.Geometry) throws {
        let threads = Threading(threads: 3, gemmsOnOwnThreads: true)
        var x = randomValues(g.inputShape.reduce(1, *), seed: 11), w = randomValues(g.weightShape.reduce(1, *), seed: 12)
        let b = randomValues(g.outChannels, seed: 13), r = randomValues(g.outputShape.reduce(1, *), seed: 14)
        let y = closeness(try convForward(g, x, w, b, threading: threads), naiveConv(g, x, w, b), rtol: 1e-5, atol: 1e-5)
        #expect(y.passed, "\(g) forward: \(y)")
        let parallel = try convBackward(g, x, w, r, threading: threads), serial = try convBackward(g, x, w, r)
        for (label, a, s) in [("gradInput", parallel.dx, serial.dx), ("gradWeight", parallel.dw, serial.dw), ("gradBias", parallel.db, serial.db)] {
            let c = closeness(a, s, rtol: 1e-5, atol: 1e-5)
            #expect(c.passed, "\(g) \(label): \(c)")
        }
        let (ww, xx) = (w, x)
        let rx = try GradientCheck.check(point: &x, analytic: parallel.dx, eps: 0.05, atol: 2e-3, rtol: 1e-3) {
            GradientCheck.weightedSum(try convForward(g, $0, ww, b, threading: threads), r)
        }
        let rw = try GradientCheck.check(point: &w, analytic: parallel.dw, eps: 0.05, atol: 2e-3, rtol: 1e-3) {
            GradientCheck.weightedSum(try convForward(g, xx, $0, b, threading: threads), r)
        }
        #expect(rx.passed, "gradInput \(g): \(rx)")
        #expect(rw.passed, "gradWeight \(g): \(rw)")
    }

    @Test("forward and gradients equal MXNet's Convolution")
    func matchesMXNet() throws {
        let f = try kernelFixture("conv2d")
        let cases = fixtureCases(f)
        #expect(cases.count >= 8)
        for name in cases {
            let p = try fixtureParams(f, name)
            let g = Conv2D.Geometry(batch: p[0], inChannels: p[1], height: p[2], width: p[3], outChannels: p[4],
                                    kernelHeight: p[5], kernelWidth: p[6], strideHeight: p[7], strideWidth: p[8],
                                    padHeight: p[9], padWidth: p[10], dilationHeight: p[11], dilationWidth: p[12])
            let x = try f.values("\(name)/input"), w = try f.values("\(name)/weight"), b = try f.values("\(name)/bias")
            let y = closeness(try convForward(g, x, w, b), try f.values("\(name)/output"), rtol: 1e-4, atol: 1e-5)
            #expect(y.passed, "\(name) output: \(y)")
            let (dx, dw, db) = try convBackward(g, x, w, try f.values("\(name)/head"))
            for (label, mine, theirs) in [("gradInput", dx, try f.values("\(name)/gradInput")),
                                          ("gradWeight", dw, try f.values("\(name)/gradWeight")),
                                          ("gradBias", db, try f.values("\(name)/gradBias"))] {
                let c = closeness(mine, theirs, rtol: 1e-3, atol: 1e-5)
                #expect(c.passed, "\(name) \(label): \(c)")
            }
        }
    }

    @Test("backward accumulates into the gradient buffers")
    func backwardAccumulates() throws {
        let g = convGeometries[0]
        let x = randomValues(g.inputShape.reduce(1, *), seed: 8), w = randomValues(g.weightShape.reduce(1, *), seed: 9)
        let dy = randomValues(g.outputShape.reduce(1, *), seed: 10)
        let once = try convBackward(g, x, w, dy)
        var dx = once.dx, dw = once.dw, db = once.db
        try x.withUnsafeBufferPointer { xp in try w.withUnsafeBufferPointer { wp in try dy.withUnsafeBufferPointer { dyp in
            try dx.withUnsafeMutableBufferPointer { a in try dw.withUnsafeMutableBufferPointer { b in try db.withUnsafeMutableBufferPointer { c in
                try Conv2D.backward(g, input: xp, weight: wp, gradOutput: dyp, gradInput: a, gradWeight: b, gradBias: c)
            } } }
        } } }
        #expect(closeness(dx, once.dx.map { 2 * $0 }, rtol: 1e-5).passed)
        #expect(closeness(dw, once.dw.map { 2 * $0 }, rtol: 1e-5).passed)
        #expect(closeness(db, once.db.map { 2 * $0 }, rtol: 1e-5).passed)
    }

    @Test("mismatched buffers are rejected naming the kernel and both shapes")
    func rejectsMismatchedShapes() throws {
        let g = Conv2D.Geometry(batch: 1, inChannels: 3, height: 5, width: 5, outChannels: 2, kernel: 3, pad: 1)
        let x = [Float](repeating: 0, count: 74), w = [Float](repeating: 0, count: 54)
        #expect {
            _ = try convForward(g, x, w, nil)
        } throws: { error in
            let e = error as? TensorError
            return e == .shapeMismatch(kernel: "Conv2D", argument: "input", expected: [1, 3, 5, 5], actual: [74])
                && "\(error)".contains("Conv2D") && "\(error)".contains("[1, 3, 5, 5]")
        }
        let bad = Conv2D.Geometry(batch: 1, inChannels: 1, height: 2, width: 2, outChannels: 1, kernel: 5)
        #expect(throws: TensorError.self) { _ = try convForward(bad, [0, 0, 0, 0], [Float](repeating: 0, count: 25), nil) }
    }
}
