// L2 normalization across channels with a learnable per-channel scale: SSD's relu4_3_norm
// (MXNet L2Normalization mode="channel") followed by broadcast_mul with relu4_3_scale.
// Legend: N batch, C channels, H×W spatial.

/// `y[n,c,h,w] = scale[c] · x[n,c,h,w] / sqrt(Σ_c' x[n,c',h,w]² + eps)`.
public enum L2Normalization {
    /// Sizes of one call.
    public struct Geometry: Equatable, Sendable {
        public var batch, channels, height, width: Int
        /// Added under the square root (MXNet default 1e-10).
        public var eps: Float

        /// A geometry with MXNet's default eps.
        public init(batch: Int, channels: Int, height: Int, width: Int, eps: Float = 1e-10) {
            self.batch = batch; self.channels = channels; self.height = height; self.width = width; self.eps = eps
        }

        /// N×C×H×W.
        public var shape: [Int] { [batch, channels, height, width] }
    }

    /// The norm of every (n, h, w) position, N×H×W.
    public struct Saved: Sendable {
        public var norms: [Float]
    }

    /// Normalises every pixel's channel vector to unit length and multiplies by `scale`.
    public static func forward(
        _ g: Geometry, input: UnsafeBufferPointer<Float>, scale: UnsafeBufferPointer<Float>,
        output: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) -> Saved {
        try TensorError.check("L2Normalization", "input", count: input.count, expected: g.shape)
        try TensorError.check("L2Normalization", "output", count: output.count, expected: g.shape)
        try TensorError.check("L2Normalization", "scale", count: scale.count, expected: [g.channels])
        let plane = g.height * g.width
        var norms = [Float](repeating: 0, count: g.batch * plane)
        for n in 0..<g.batch {
            let base = n * g.channels * plane
            var sq = [Float](repeating: 0, count: plane)
            for c in 0..<g.channels {
                for i in 0..<plane { let v = input[base + c * plane + i]; sq[i] += v * v }
            }
            for i in 0..<plane { norms[n * plane + i] = (sq[i] + g.eps).squareRoot() }
            for c in 0..<g.channels {
                for i in 0..<plane {
                    output[base + c * plane + i] = scale[c] * input[base + c * plane + i] / norms[n * plane + i]
                }
            }
        }
        return Saved(norms: norms)
    }

    /// Gradients, accumulated into the non-nil buffers:
    /// `gradScale[c] += Σ dy·x̂`, `gradInput += (s·dy − x̂ · Σ_c s·dy·x̂) / norm` with x̂ = x / norm.
    public static func backward(
        _ g: Geometry, saved: Saved, input: UnsafeBufferPointer<Float>, scale: UnsafeBufferPointer<Float>,
        gradOutput: UnsafeBufferPointer<Float>, gradInput: UnsafeMutableBufferPointer<Float>?,
        gradScale: UnsafeMutableBufferPointer<Float>?
    ) throws(TensorError) {
        try TensorError.check("L2Normalization.backward", "input", count: input.count, expected: g.shape)
        try TensorError.check("L2Normalization.backward", "gradOutput", count: gradOutput.count, expected: g.shape)
        try TensorError.check("L2Normalization.backward", "scale", count: scale.count, expected: [g.channels])
        try TensorError.check("L2Normalization.backward", "saved.norms", count: saved.norms.count, expected: [g.batch, g.height, g.width])
        if let gradInput { try TensorError.check("L2Normalization.backward", "gradInput", count: gradInput.count, expected: g.shape) }
        if let gradScale { try TensorError.check("L2Normalization.backward", "gradScale", count: gradScale.count, expected: [g.channels]) }
        let plane = g.height * g.width
        for n in 0..<g.batch {
            let base = n * g.channels * plane
            var dot = [Float](repeating: 0, count: plane)  // Σ_c s·dy·x̂ per pixel
            for c in 0..<g.channels {
                var sumScale: Float = 0
                for i in 0..<plane {
                    let o = base + c * plane + i
                    let xhat = input[o] / saved.norms[n * plane + i]
                    sumScale += gradOutput[o] * xhat
                    dot[i] += scale[c] * gradOutput[o] * xhat
                }
                gradScale?[c] += sumScale
            }
            guard let gradInput else { continue }
            for c in 0..<g.channels {
                for i in 0..<plane {
                    let o = base + c * plane + i, norm = saved.norms[n * plane + i]
                    let xhat = input[o] / norm
                    gradInput[o] += (scale[c] * gradOutput[o] - xhat * dot[i]) / norm
                }
            }
        }
    }
}
