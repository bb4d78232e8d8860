import Tensor
import TestSupport
import Testing

@Suite("Layout kernels: concat, NHWC flatten, flatten, elementwise add, ReLU")
struct LayoutTests {
    @Test("channel concat and NHWC flatten equal MXNet's concat and transpose+Flatten")
    func matchesMXNet() throws {
        let f = try kernelFixture("layout")
        let a = try f.values("concat/a"), b = try f.values("concat/b")
        var y = [Float](repeating: 0, count: a.count + b.count)
        try a.withUnsafeBufferPointer { ap in try b.withUnsafeBufferPointer { bp in try y.withUnsafeMutableBufferPointer { yp in
            try Concat.forward(parts: [ap, bp], outer: 2, inner: 4, output: yp)
        } } }
        #expect(y == (try f.values("concat/output")))
        let x = try f.values("nhwc/input")
        var z = [Float](repeating: 0, count: x.count)
        try x.withUnsafeBufferPointer { xp in try z.withUnsafeMutableBufferPointer { zp in
            try NHWCFlatten.forward(batch: 2, channels: 3, height: 4, width: 5, input: xp, output: zp)
        } }
        #expect(z == (try f.values("nhwc/output")))
    }

    @Test("concat backward splits the gradient back into the parts (adjoint check)")
    func concatBackward() throws {
        let a = randomValues(12, seed: 61), b = randomValues(6, seed: 62), r = randomValues(18, seed: 63)
        var y = [Float](repeating: 0, count: 18)
        try a.withUnsafeBufferPointer { ap in try b.withUnsafeBufferPointer { bp in try y.withUnsafeMutableBufferPointer { yp in
            try Concat.forward(parts: [ap, bp], outer: 3, inner: 1, output: yp)
        } } }
        var da = [Float](repeating: 0, count: 12), db = [Float](repeating: 0, count: 6)
        try r.withUnsafeBufferPointer { rp in try da.withUnsafeMutableBufferPointer { dap in try db.withUnsafeMutableBufferPointer { dbp in
            try Concat.backward(gradOutput: rp, outer: 3, inner: 1, gradParts: [dap, dbp], partCounts: [12, 6])
        } } }
        // <concat(a, b), r> == <a, da> + <b, db> for a permutation-style linear map.
        let lhs = GradientCheck.weightedSum(y, r), rhs = GradientCheck.weightedSum(a, da) + GradientCheck.weightedSum(b, db)
        #expect(abs(lhs - rhs) < 1e-5)
        #expect(Array(y[0..<4]) == Array(a[0..<4]) && Array(y[4..<6]) == Array(b[0..<2]))
    }

    @Test("NHWC flatten backward is the inverse permutation")
    func nhwcBackward() throws {
        let x = randomValues(2 * 3 * 2 * 2, seed: 64)
        var y = [Float](repeating: 0, count: x.count), back = [Float](repeating: 0, count: x.count)
        try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { yp in
            try NHWCFlatten.forward(batch: 2, channels: 3, height: 2, width: 2, input: xp, output: yp)
        } }
        try y.withUnsafeBufferPointer { yp in try back.withUnsafeMutableBufferPointer { bp in
            try NHWCFlatten.backward(batch: 2, channels: 3, height: 2, width: 2, gradOutput: yp, gradInput: bp)
        } }
        #expect(back == x)
        #expect(y[1] == x[4])  // (h=0, w=0, c=1) comes from channel 1's first pixel
    }

    @Test("NHWC flatten of a channel range equals flattening those channels alone, and backward adds only into them")
    func nhwcChannelRange() throws {
        let (batch, total, h, w) = (2, 5, 3, 2), range = 1..<4, plane = h * w
        let x = randomValues(batch * total * plane, seed: 65)
        // The same channels copied out into a map of their own, flattened whole.
        var alone = [Float]()
        for n in 0..<batch { for c in range { alone += x[((n * total + c) * plane)..<((n * total + c + 1) * plane)] } }
        var expected = [Float](repeating: 0, count: alone.count), y = expected
        try alone.withUnsafeBufferPointer { ap in try expected.withUnsafeMutableBufferPointer { ep in
            try NHWCFlatten.forward(batch: batch, channels: range.count, height: h, width: w, input: ap, output: ep)
        } }
        try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { yp in
            try NHWCFlatten.forward(batch: batch, channels: range, of: total, height: h, width: w, input: xp, output: yp)
        } }
        #expect(y == expected)
        var back = [Float](repeating: 1, count: x.count)
        try y.withUnsafeBufferPointer { yp in try back.withUnsafeMutableBufferPointer { bp in
            try NHWCFlatten.backward(batch: batch, channels: range, of: total, height: h, width: w, gradOutput: yp, gradInput: bp)
        } }
        for n in 0..<batch { for c in 0..<total { for i in 0..<plane {
            let at = (n * total + c) * plane + i
            #expect(back[at] == (range.contains(c) ? 1 + x[at] : 1))
        } } }
        #expect(throws: TensorError.self) {
            try x.withUnsafeBufferPointer { xp in try y.withUnsafeMutableBufferPointer { yp in
                try NHWCFlatten.forward(batch: batch, channels: 3..<6, of: total, height: h, width: w, input: xp, output: yp)
            } }
        }
    }

    @Test("flatten keeps the storage and makes N × rest")
    func flatten() throws {
        let t = try Tensor(shape: [2, 3, 2, 1], storage: (0..<12).map(Float.init))
        #expect(t.flattened().shape == [2, 6])
        #expect(t.flattened().storage == t.storage)
        #expect(t[1, 2, 1, 0] == 11)
    }

    @Test("elementwise add and ReLU: forward, accumulating backward")
    func addAndReLU() throws {
        let a: [Float] = [1, -2, 3], b: [Float] = [-4, 1, 0.5]
        var s = [Float](repeating: 0, count: 3), r = s, ga: [Float] = [1, 1, 1], gb = [Float](repeating: 0, count: 3)
        var gx = [Float](repeating: 0, count: 3)
        try a.withUnsafeBufferPointer { ap in try b.withUnsafeBufferPointer { bp in try s.withUnsafeMutableBufferPointer { sp in
            try ElementwiseAdd.forward(ap, bp, output: sp)
        } } }
        #expect(s == [-3, -1, 3.5])
        let dy: [Float] = [10, 20, 30]
        try dy.withUnsafeBufferPointer { d in try ga.withUnsafeMutableBufferPointer { gap in try gb.withUnsafeMutableBufferPointer { gbp in
            try ElementwiseAdd.backward(gradOutput: d, gradA: gap, gradB: gbp)
        } } }
        #expect(ga == [11, 21, 31] && gb == dy)
        try s.withUnsafeBufferPointer { sp in try r.withUnsafeMutableBufferPointer { rp in try ReLU.forward(input: sp, output: rp) } }
        #expect(r == [0, 0, 3.5])
        try r.withUnsafeBufferPointer { rp in try dy.withUnsafeBufferPointer { d in try gx.withUnsafeMutableBufferPointer { g in
            try ReLU.backward(output: rp, gradOutput: d, gradInput: g)
        } } }
        #expect(gx == [0, 0, 30])
        #expect(throws: TensorError.self) {
            try a.withUnsafeBufferPointer { ap in try r.withUnsafeMutableBufferPointer { rp in
                try ElementwiseAdd.forward(ap, UnsafeBufferPointer(rebasing: ap[0..<2]), output: rp)
            } }
        }
    }

    @Test("ReLU backward matches finite differences away from 0")
    func reluGradient() throws {
        var x = randomValues(40, seed: 65).map { abs($0) < 0.05 ? $0 + 0.1 : $0 }
        let r = randomValues(40, seed: 66)
        func relu(_ v: [Float]) throws -> [Float] {
            var y = [Float](repeating: 0, count: v.count)
            try v.withUnsafeBufferPointer { vp in try y.withUnsafeMutableBufferPointer { yp in try ReLU.forward(input: vp, output: yp) } }
            return y
        }
        let y = try relu(x)
        var dx = [Float](repeating: 0, count: 40)
        try y.withUnsafeBufferPointer { yp in try r.withUnsafeBufferPointer { rp in try dx.withUnsafeMutableBufferPointer { d in
            try ReLU.backward(output: yp, gradOutput: rp, gradInput: d)
        } } }
        let report = try GradientCheck.check(point: &x, analytic: dx, eps: 1e-2, atol: 1e-4, rtol: 1e-3) {
            GradientCheck.weightedSum(try relu($0), r)
        }
        #expect(report.passed, "\(report)")
    }

    @Test("BLAS reports its kernels and warns when they are weaker than the CPU")
    func blasReport() {
        #expect(!BLAS.coreName.isEmpty)
        #expect(BLAS.config.contains("OpenBLAS"))
        #expect(BLAS.threads >= 1)
        let bf16CPU: Set<String> = ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16"]
        let warning = BLAS.coreWarning(environment: ["OPENBLAS_CORETYPE": "Haswell"], loadedCore: "Haswell", cpuFlags: bf16CPU)
        #expect(warning?.contains("Haswell") == true)
        #expect(BLAS.coreWarning(environment: [:], loadedCore: "Cooperlake", cpuFlags: bf16CPU) == nil)
        #expect(BLAS.coreWarning(environment: [:], loadedCore: "Haswell", cpuFlags: ["avx", "avx2", "fma"]) == nil)
        #expect(BLAS.coreWarning(environment: [BLASKernelChoice.decisionVariable: "checked:Cooperlake"],
                                 loadedCore: "Cooperlake", cpuFlags: bf16CPU) == nil)
    }
}
