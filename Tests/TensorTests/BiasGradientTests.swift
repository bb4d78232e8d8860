import Tensor
import TestSupport
import Testing

@Suite("Conv2D bias gradient")
struct BiasGradientTests {
    /// Maps of 1 to 1 000+ pixels: the vectorised sum's tail alone, one block of 32, blocks and a tail.
    @Test("gradBias accumulates every image's per-channel sum (Double reference), for any thread count",
          arguments: [(1, 1), (4, 8), (5, 7), (33, 31)])
    func matchesDoubleSum(height: Int, width: Int) throws {
        let g = Conv2D.Geometry(batch: 3, inChannels: 2, height: height, width: width, outChannels: 5, kernel: 1)
        let x = randomValues(g.inputShape.reduce(1, *), seed: 71), w = randomValues(g.weightShape.reduce(1, *), seed: 72)
        let dy = randomValues(g.outputShape.reduce(1, *), seed: 73, low: -3, high: 5)
        let pixels = height * width
        let expected: [Float] = (0..<g.outChannels).map { k in
            Float((0..<g.batch).reduce(0.0) { s, n in s + (0..<pixels).reduce(0.0) { $0 + Double(dy[(n * g.outChannels + k) * pixels + $1]) } })
        }
        let serial = try convBackward(g, x, w, dy).db
        let c = closeness(serial, expected, rtol: 1e-5, atol: 1e-5)
        #expect(c.passed, "\(g): \(c)")
        for threading in [Threading(threads: 2), Threading(threads: 3, gemmsOnOwnThreads: true)] {
            #expect(try convBackward(g, x, w, dy, threading: threading).db.map(\.bitPattern) == serial.map(\.bitPattern))
        }
    }
}
