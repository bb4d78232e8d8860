import Tensor
import TestSupport
import Testing

func softmaxForward(_ g: SoftmaxCrossEntropy.Geometry, _ logits: [Float], _ labels: [Float]) throws -> SoftmaxCrossEntropy.Saved {
    try logits.withUnsafeBufferPointer { l in try labels.withUnsafeBufferPointer { y in
        try SoftmaxCrossEntropy.forward(g, logits: l, labels: y)
    } }
}

func softmaxBackward(_ g: SoftmaxCrossEntropy.Geometry, _ saved: SoftmaxCrossEntropy.Saved, _ labels: [Float], scale: Float) throws -> [Float] {
    var d = [Float](repeating: 0, count: g.logitsShape.reduce(1, *))
    try labels.withUnsafeBufferPointer { y in try d.withUnsafeMutableBufferPointer { dp in
        try SoftmaxCrossEntropy.backward(g, saved: saved, labels: y, scale: scale, gradLogits: dp)
    } }
    return d
}

@Suite("SoftmaxCrossEntropy")
struct SoftmaxCrossEntropyTests {
    @Test("probabilities, loss, valid count and 'valid'-normalised gradient equal MXNet's SoftmaxOutput")
    func matchesMXNet() throws {
        let f = try kernelFixture("softmax_cross_entropy")
        let cases = fixtureCases(f)
        #expect(cases.count >= 3)
        for name in cases {
            let p = try fixtureParams(f, name)
            let g = SoftmaxCrossEntropy.Geometry(batch: p[0], classes: p[1], positions: p[2])
            let labels = try f.values("\(name)/labels")
            let saved = try softmaxForward(g, try f.values("\(name)/logits"), labels)
            #expect(closeness(saved.probabilities, try f.values("\(name)/probabilities"), rtol: 1e-4, atol: 1e-6).passed, "\(name) prob")
            #expect(saved.validCount == (try f.int("\(name)/validCount")))
            #expect(abs(saved.lossSum - Double(try f.values("\(name)/lossSum")[0])) < 1e-4 * max(1, saved.lossSum))
            let grad = try softmaxBackward(g, saved, labels, scale: 1 / Float(max(saved.validCount, 1)))
            let c = closeness(grad, try f.values("\(name)/gradLogits"), rtol: 1e-3, atol: 1e-6)
            #expect(c.passed, "\(name) gradLogits: \(c)")
        }
    }

    @Test("gradient of the summed loss matches finite differences; ignored positions get none")
    func gradientCheck() throws {
        let g = SoftmaxCrossEntropy.Geometry(batch: 2, classes: 4, positions: 3)
        var logits = randomValues(24, seed: 41, low: -2, high: 2)
        let labels: [Float] = [0, 3, -1, 2, -1, 1]
        let saved = try softmaxForward(g, logits, labels)
        #expect(saved.validCount == 4)
        let analytic = try softmaxBackward(g, saved, labels, scale: 1)
        let report = try GradientCheck.check(point: &logits, analytic: analytic, eps: 1e-2, atol: 1e-3, rtol: 1e-2) {
            try softmaxForward(g, $0, labels).lossSum
        }
        #expect(report.passed, "\(report)")
        // Position 2 of image 0 and position 1 of image 1 are ignored.
        for k in 0..<4 {
            #expect(analytic[k * 3 + 2] == 0)
            #expect(analytic[12 + k * 3 + 1] == 0)
        }
    }

    @Test("a label outside the classes is an error naming the position")
    func rejectsBadLabel() {
        let g = SoftmaxCrossEntropy.Geometry(batch: 1, classes: 3, positions: 2)
        #expect(throws: TensorError.self) { _ = try softmaxForward(g, [Float](repeating: 0, count: 6), [0, 3]) }
        #expect(throws: TensorError.self) { _ = try softmaxForward(g, [Float](repeating: 0, count: 5), [0, 1]) }
    }
}
