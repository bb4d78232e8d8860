// Smooth L1 (MXNet smooth_l1 with `scalar` = sigma), elementwise.

/// `f(x) = 0.5·(σx)²` if |x| < 1/σ², else `|x| − 0.5/σ²`.
public enum SmoothL1 {
    /// Writes f(input) into `output` and returns Σ f (in Double) and the number of non-zero
    /// outputs (MXNet MakeLoss 'valid' normaliser: elements > 0).
    @discardableResult
    public static func forward(
        input: UnsafeBufferPointer<Float>, sigma: Float, output: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) -> (sum: Double, nonZero: Int) {
        guard input.count == output.count else {
            throw .shapeMismatch(kernel: "SmoothL1", argument: "output", expected: [input.count], actual: [output.count])
        }
        let s2 = sigma * sigma
        var sum: Double = 0, nonZero = 0
        for i in 0..<input.count {
            let x = input[i], a = abs(x)
            let y = a < 1 / s2 ? 0.5 * s2 * x * x : a - 0.5 / s2
            output[i] = y; sum += Double(y)
            if y > 0 { nonZero += 1 }
        }
        return (sum, nonZero)
    }

    /// `gradInput += gradOutput · f'(input)` with f'(x) = σ²x inside, sign(x) outside.
    /// Accumulates; zeroing is the caller's job.
    public static func backward(
        input: UnsafeBufferPointer<Float>, sigma: Float, gradOutput: UnsafeBufferPointer<Float>,
        gradInput: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) {
        guard input.count == gradOutput.count, input.count == gradInput.count else {
            throw .shapeMismatch(kernel: "SmoothL1.backward", argument: "gradOutput/gradInput",
                                 expected: [input.count], actual: [gradOutput.count, gradInput.count])
        }
        let s2 = sigma * sigma
        for i in 0..<input.count {
            let x = input[i]
            let d: Float = abs(x) < 1 / s2 ? s2 * x : (x > 0 ? 1 : (x < 0 ? -1 : 0))
            gradInput[i] += gradOutput[i] * d
        }
    }
}
