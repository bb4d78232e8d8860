// Rectified linear unit, elementwise over any shape.

/// `y = max(x, 0)`.
public enum ReLU {
    /// Writes `max(input, 0)` into `output` (may alias `input` for in-place use).
    public static func forward(input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>) throws(TensorError) {
        guard input.count == output.count else {
            throw .shapeMismatch(kernel: "ReLU", argument: "output", expected: [input.count], actual: [output.count])
        }
        for i in 0..<input.count { output[i] = max(input[i], 0) }
    }

    /// `gradInput += gradOutput` where the forward output was positive. Uses the forward
    /// *output* so the input need not be kept. Accumulates; zeroing is the caller's job.
    public static func backward(
        output: UnsafeBufferPointer<Float>, gradOutput: UnsafeBufferPointer<Float>,
        gradInput: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) {
        guard output.count == gradOutput.count, output.count == gradInput.count else {
            throw .shapeMismatch(kernel: "ReLU.backward", argument: "gradOutput/gradInput",
                                 expected: [output.count], actual: [gradOutput.count, gradInput.count])
        }
        for i in 0..<output.count where output[i] > 0 { gradInput[i] += gradOutput[i] }
    }

    /// In-place backward: `gradient = gradient` where the forward output was positive, else 0
    /// (the gradient buffer holds the output's gradient on entry, the input's on return).
    public static func backwardInPlace(output: UnsafeBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>) throws(TensorError) {
        guard output.count == gradient.count else {
            throw .shapeMismatch(kernel: "ReLU.backwardInPlace", argument: "gradient", expected: [output.count], actual: [gradient.count])
        }
        for i in 0..<output.count where !(output[i] > 0) { gradient[i] = 0 }
    }
}
