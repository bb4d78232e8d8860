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
    /// Pixels (then channels) are split over `threading`; every value is summed in the same
    /// order as with one thread, so any thread count gives the same bits.
    public static func forward(
        _ g: Geometry, input: UnsafeBufferPointer<Float>, scale: UnsafeBufferPointer<Float>,
        output: UnsafeMutableBufferPointer<Float>, threading: Threading = .serial
    ) throws(TensorError) -> Saved {
        try TensorError.check("L2Normalization", "input", count: input.count, expected: g.shape)
        try TensorError.check("L2Normalization", "output", count: output.count, expected: g.shape)
        try TensorError.check("L2Normalization", "scale", count: scale.count, expected: [g.channels])
        let plane = g.height * g.width
        var norms = [Float](repeating: 0, count: g.batch * plane)
        if input.isEmpty { return Saved(norms: [Float](repeating: g.eps.squareRoot(), count: g.batch * plane)) }  // no channels
        let x = input.baseAddress!, y = output.baseAddress!, s = scale.baseAddress!
        norms.withUnsafeMutableBufferPointer { normsBuffer in
            let norm = normsBuffer.baseAddress!
            // norm[n, i] = sqrt(Σ_c x² + eps), channels summed in order (channel by channel over a
            // run of pixels: contiguous rows, the same additions per pixel as one pixel at a time).
            threading.forEachChunk(g.batch * plane, minimumPerChunk: 256) { pixels in
                forEachImageRun(pixels, plane: plane) { n, run in
                    let sq = norm + n * plane
                    for i in run { sq[i] = 0 }
                    for c in 0..<g.channels {
                        let xc = x + (n * g.channels + c) * plane
                        for i in run { let v = xc[i]; sq[i] += v * v }
                    }
                    for i in run { sq[i] = (sq[i] + g.eps).squareRoot() }
                }
            }
            threading.forEachChunk(g.batch * g.channels, minimumPerChunk: 4) { planes in
                for nc in planes {
                    let n = nc / g.channels, c = nc % g.channels, o = nc * plane
                    for i in 0..<plane { y[o + i] = s[c] * x[o + i] / norm[n * plane + i] }
                }
            }
        }
        return Saved(norms: norms)
    }

    /// Gradients, accumulated into the non-nil buffers:
    /// `gradScale[c] += Σ dy·x̂`, `gradInput += (s·dy − x̂ · Σ_c s·dy·x̂) / norm` with x̂ = x / norm.
    /// Split over `threading` by pixel (the channel sums), by channel (`gradScale`, summed image
    /// by image as with one thread) and by plane: any thread count gives the same bits.
    public static func backward(
        _ g: Geometry, saved: Saved, input: UnsafeBufferPointer<Float>, scale: UnsafeBufferPointer<Float>,
        gradOutput: UnsafeBufferPointer<Float>, gradInput: UnsafeMutableBufferPointer<Float>?,
        gradScale: UnsafeMutableBufferPointer<Float>?, threading: Threading = .serial
    ) throws(TensorError) {
        try TensorError.check("L2Normalization.backward", "input", count: input.count, expected: g.shape)
        try TensorError.check("L2Normalization.backward", "gradOutput", count: gradOutput.count, expected: g.shape)
        try TensorError.check("L2Normalization.backward", "scale", count: scale.count, expected: [g.channels])
        try TensorError.check("L2Normalization.backward", "saved.norms", count: saved.norms.count, expected: [g.batch, g.height, g.width])
        if let gradInput { try TensorError.check("L2Normalization.backward", "gradInput", count: gradInput.count, expected: g.shape) }
        if let gradScale { try TensorError.check("L2Normalization.backward", "gradScale", count: gradScale.count, expected: [g.channels]) }
        let plane = g.height * g.width
        if input.isEmpty { return }
        let x = input.baseAddress!, dy = gradOutput.baseAddress!, s = scale.baseAddress!
        saved.norms.withUnsafeBufferPointer { normsBuffer in
            let norm = normsBuffer.baseAddress!
            if let dscale = gradScale?.baseAddress {
                // gradScale[c] += Σ_n (Σ_i dy·x̂): one image's sum at a time, images in order.
                threading.forEachChunk(g.channels, minimumPerChunk: 4) { channels in
                    for c in channels {
                        for n in 0..<g.batch {
                            let o = (n * g.channels + c) * plane
                            var sumScale: Float = 0
                            for i in 0..<plane { sumScale += dy[o + i] * (x[o + i] / norm[n * plane + i]) }
                            dscale[c] += sumScale
                        }
                    }
                }
            }
            guard let dx = gradInput?.baseAddress else { return }
            // dot[n, i] = Σ_c s·dy·x̂, channels summed in order.
            let dot = UnsafeMutablePointer<Float>.allocate(capacity: g.batch * plane)
            defer { dot.deallocate() }
            threading.forEachChunk(g.batch * plane, minimumPerChunk: 256) { pixels in
                forEachImageRun(pixels, plane: plane) { n, run in
                    let sum = dot + n * plane, nrm = norm + n * plane
                    for i in run { sum[i] = 0 }
                    for c in 0..<g.channels {
                        let o = (n * g.channels + c) * plane, sc = s[c]
                        for i in run { sum[i] += sc * dy[o + i] * (x[o + i] / nrm[i]) }
                    }
                }
            }
            threading.forEachChunk(g.batch * g.channels, minimumPerChunk: 4) { planes in
                for nc in planes {
                    let n = nc / g.channels, c = nc % g.channels, o = nc * plane
                    for i in 0..<plane {
                        let nrm = norm[n * plane + i], xhat = x[o + i] / nrm
                        dx[o + i] += (s[c] * dy[o + i] - xhat * dot[n * plane + i]) / nrm
                    }
                }
            }
        }
    }

    /// Splits a range of N×H·W pixel indices into runs within one image: `body(n, i0..<i1)`.
    @inline(__always)
    static func forEachImageRun(_ pixels: Range<Int>, plane: Int, _ body: (_ image: Int, _ run: Range<Int>) -> Void) {
        var p = pixels.lowerBound
        while p < pixels.upperBound {
            let n = p / plane, i = p - n * plane, end = min(plane, i + (pixels.upperBound - p))
            body(n, i..<end)
            p += end - i
        }
    }
}
