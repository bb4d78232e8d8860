// Elementwise sum of two tensors of the same shape (ResNet shortcut connections).

/// `y = a + b`.
public enum ElementwiseAdd {
    /// Writes `a + b` into `output`. Elementwise: any `threading` gives the same bits.
    public static func forward(
        _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
        threading: Threading = .serial
    ) throws(TensorError) {
        guard a.count == b.count, a.count == output.count else {
            throw .shapeMismatch(kernel: "ElementwiseAdd", argument: "b/output", expected: [a.count], actual: [b.count, output.count])
        }
        guard let x = a.baseAddress, let z = b.baseAddress, let y = output.baseAddress else { return }
        threading.forEachChunk(a.count, minimumPerChunk: 1 << 16) { range in
            for i in range { y[i] = x[i] + z[i] }
        }
    }

    /// `gradA += gradOutput`, `gradB += gradOutput` (either may be nil). Accumulates.
    public static func backward(
        gradOutput: UnsafeBufferPointer<Float>,
        gradA: UnsafeMutableBufferPointer<Float>?, gradB: UnsafeMutableBufferPointer<Float>?,
        threading: Threading = .serial
    ) throws(TensorError) {
        for grad in [gradA, gradB] {
            guard let grad else { continue }
            guard grad.count == gradOutput.count else {
                throw .shapeMismatch(kernel: "ElementwiseAdd.backward", argument: "grad", expected: [gradOutput.count], actual: [grad.count])
            }
            guard let dy = gradOutput.baseAddress, let dx = grad.baseAddress else { continue }
            threading.forEachChunk(grad.count, minimumPerChunk: 1 << 16) { range in
                for i in range { dx[i] += dy[i] }
            }
        }
    }
}
