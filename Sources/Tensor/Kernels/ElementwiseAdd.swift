// Elementwise sum of two tensors of the same shape (ResNet shortcut connections).

/// `y = a + b`.
public enum ElementwiseAdd {
    /// Writes `a + b` into `output`.
    public static func forward(
        _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) {
        guard a.count == b.count, a.count == output.count else {
            throw .shapeMismatch(kernel: "ElementwiseAdd", argument: "b/output", expected: [a.count], actual: [b.count, output.count])
        }
        for i in 0..<a.count { output[i] = a[i] + b[i] }
    }

    /// `gradA += gradOutput`, `gradB += gradOutput` (either may be nil). Accumulates.
    public static func backward(
        gradOutput: UnsafeBufferPointer<Float>,
        gradA: UnsafeMutableBufferPointer<Float>?, gradB: UnsafeMutableBufferPointer<Float>?
    ) throws(TensorError) {
        for grad in [gradA, gradB] {
            guard let grad else { continue }
            guard grad.count == gradOutput.count else {
                throw .shapeMismatch(kernel: "ElementwiseAdd.backward", argument: "grad", expected: [gradOutput.count], actual: [grad.count])
            }
            for i in 0..<grad.count { grad[i] += gradOutput[i] }
        }
    }
}
