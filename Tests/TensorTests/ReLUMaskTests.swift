import Tensor
import TestSupport
import Testing

@Suite("ReLU mask")
struct ReLUMaskTests {
    @Test("backward from the one-bit mask gives the same bits as backward from the output (zeros, -0, NaN, a partial last word)",
          arguments: [1, 2])
    func sameAsOutput(threads: Int) throws {
        var rng = SeededGenerator(seed: 5)
        let count = 64 * 9000 + 37   // over two chunks of 4096 words
        let output: [Float] = (0..<count).map { i in
            switch i % 11 {
            case 0: return 0
            case 1: return -0.0
            case 2: return .nan
            case 3: return .leastNonzeroMagnitude
            default: return max(rng.uniform(-1, 1), 0) * (i % 3 == 0 ? 1 : -1)
            }
        }
        let gradient: [Float] = (0..<count).map { _ in rng.uniform(-1, 1) }
        var fromOutput = gradient, fromMask = gradient
        try output.withUnsafeBufferPointer { y in
            try fromOutput.withUnsafeMutableBufferPointer { g in try ReLU.backwardInPlace(output: y, gradient: g) }
            let threading = Threading(threads: threads)
            let mask = ReLU.Mask(output: y, threading: threading)
            #expect(mask.count == count && mask.byteCount == 8 * ((count + 63) / 64))
            #expect((0..<count).allSatisfy { mask[$0] == (y[$0] > 0) })
            try fromMask.withUnsafeMutableBufferPointer { g in try ReLU.backwardInPlace(mask: mask, gradient: g, threading: threading) }
        }
        #expect(fromMask.map(\.bitPattern) == fromOutput.map(\.bitPattern))
        #expect(fromOutput.map(\.bitPattern) == zip(output, gradient).map { $0 > 0 ? $1.bitPattern : 0 }, "the definition, element by element")
        #expect(fromMask.contains { $0 == 0 } && fromMask.contains { $0 != 0 })
    }

    @Test("a gradient of another size is an error")
    func sizeMismatch() {
        let output: [Float] = [1, 0, 2]
        let mask = output.withUnsafeBufferPointer { ReLU.Mask(output: $0) }
        var gradient: [Float] = [1, 1]
        #expect(throws: TensorError.self) {
            try gradient.withUnsafeMutableBufferPointer { try ReLU.backwardInPlace(mask: mask, gradient: $0) }
        }
    }
}
