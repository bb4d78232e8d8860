// Rectified linear unit, elementwise over any shape.

/// `y = max(x, 0)`.
public enum ReLU {
    /// Elements per thread below which a loop runs inline (a thread's start costs more).
    static let minimumPerChunk = 1 << 16

    /// Writes `max(input, 0)` into `output` (may alias `input` for in-place use). Elementwise,
    /// so any `threading` gives the same result.
    public static func forward(
        input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>, threading: Threading = .serial
    ) throws(TensorError) {
        guard input.count == output.count else {
            throw .shapeMismatch(kernel: "ReLU", argument: "output", expected: [input.count], actual: [output.count])
        }
        guard let x = input.baseAddress, let y = output.baseAddress else { return }
        threading.forEachChunk(input.count, minimumPerChunk: minimumPerChunk) { range in
            for i in range { y[i] = max(x[i], 0) }
        }
    }

    /// `gradInput += gradOutput` where the forward output was positive. Uses the forward
    /// *output* so the input need not be kept. Accumulates; zeroing is the caller's job.
    public static func backward(
        output: UnsafeBufferPointer<Float>, gradOutput: UnsafeBufferPointer<Float>,
        gradInput: UnsafeMutableBufferPointer<Float>, threading: Threading = .serial
    ) throws(TensorError) {
        guard output.count == gradOutput.count, output.count == gradInput.count else {
            throw .shapeMismatch(kernel: "ReLU.backward", argument: "gradOutput/gradInput",
                                 expected: [output.count], actual: [gradOutput.count, gradInput.count])
        }
        guard let y = output.baseAddress, let dy = gradOutput.baseAddress, let dx = gradInput.baseAddress else { return }
        threading.forEachChunk(output.count, minimumPerChunk: minimumPerChunk) { range in
            for i in range where y[i] > 0 { dx[i] += dy[i] }
        }
    }

    /// In-place backward: `gradient = gradient` where the forward output was positive, else 0
    /// (the gradient buffer holds the output's gradient on entry, the input's on return).
    public static func backwardInPlace(
        output: UnsafeBufferPointer<Float>, gradient: UnsafeMutableBufferPointer<Float>, threading: Threading = .serial
    ) throws(TensorError) {
        guard output.count == gradient.count else {
            throw .shapeMismatch(kernel: "ReLU.backwardInPlace", argument: "gradient", expected: [output.count], actual: [gradient.count])
        }
        guard let y = output.baseAddress, let g = gradient.baseAddress else { return }
        threading.forEachChunk(output.count, minimumPerChunk: minimumPerChunk) { range in
            // Eight at a time (the scalar loop below did not vectorize for baseline x86-64: 3.7% of a
            // one-thread SSD300 training step in a perf profile), then the rest.
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                let positive = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self) .> 0
                let d = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD8<Float>.self)
                UnsafeMutableRawPointer(g + i).storeBytes(of: SIMD8<Float>().replacing(with: d, where: positive), as: SIMD8<Float>.self)
                i += 8
            }
            for i in i..<range.upperBound { g[i] = y[i] > 0 ? g[i] : 0 }
        }
    }
}
