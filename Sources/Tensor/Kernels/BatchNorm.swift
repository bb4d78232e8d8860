// Batch normalization over the channel axis (MXNet BatchNorm), training and frozen modes.
// Legend: N batch, C channels, H×W spatial, M = N·H·W values per channel.

/// `y = gamma · (x − mean) / sqrt(var + eps) + beta` per channel.
public enum BatchNorm {
    /// Sizes and options of one call.
    public struct Geometry: Equatable, Sendable {
        public var batch, channels, height, width: Int
        /// Added to the variance (MXNet default 1e-3; ResNet symbols use 2e-5).
        public var eps: Float
        /// Running statistics: `moving = moving · momentum + batch · (1 − momentum)` (MXNet 0.9).
        public var momentum: Float
        /// MXNet `fix_gamma`: gamma is taken as 1 and gets no gradient.
        public var fixGamma: Bool
        /// MXNet `use_global_stats`: normalise with the moving statistics (frozen BN).
        public var useGlobalStats: Bool

        /// A geometry with MXNet's defaults for the options.
        public init(batch: Int, channels: Int, height: Int, width: Int, eps: Float = 1e-3, momentum: Float = 0.9,
                    fixGamma: Bool = false, useGlobalStats: Bool = false) {
            self.batch = batch; self.channels = channels; self.height = height; self.width = width
            self.eps = eps; self.momentum = momentum; self.fixGamma = fixGamma; self.useGlobalStats = useGlobalStats
        }

        /// N×C×H×W.
        public var shape: [Int] { [batch, channels, height, width] }
    }

    /// Per-channel statistics used by forward, needed by backward.
    public struct Saved: Sendable {
        /// Mean used to normalise (batch mean in training, moving mean when frozen).
        public var mean: [Float]
        /// 1 / sqrt(var + eps) used to normalise.
        public var invStd: [Float]
    }

    /// Normalises `input` into `output`. In training mode (not `useGlobalStats`) the moving
    /// statistics are updated in place when `updateMovingStatistics` is true.
    public static func forward(
        _ g: Geometry, input: UnsafeBufferPointer<Float>, gamma: UnsafeBufferPointer<Float>,
        beta: UnsafeBufferPointer<Float>, movingMean: UnsafeMutableBufferPointer<Float>,
        movingVar: UnsafeMutableBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
        updateMovingStatistics: Bool = true, threading: Threading = .serial
    ) throws(TensorError) -> Saved {
        try check(g, input.count, output.count, [gamma.count, beta.count, movingMean.count, movingVar.count])
        let plane = g.height * g.width, m = g.batch * plane
        let mean = UnsafeMutableBufferPointer<Float>.allocate(capacity: g.channels), invStd = UnsafeMutableBufferPointer<Float>.allocate(capacity: g.channels)
        defer { mean.deallocate(); invStd.deallocate() }
        // Channels are independent: split over the threads, each summed as with one thread.
        threading.forEachChunk(g.channels) { channels in for c in channels {
            var mu: Float, variance: Float
            if g.useGlobalStats {
                mu = movingMean[c]; variance = movingVar[c]
            } else {
                var s: Double = 0, s2: Double = 0
                for n in 0..<g.batch {
                    let p = input.baseAddress! + (n * g.channels + c) * plane
                    for i in 0..<plane { s += Double(p[i]) }
                }
                let meanD = s / Double(m)
                for n in 0..<g.batch {
                    let p = input.baseAddress! + (n * g.channels + c) * plane
                    for i in 0..<plane { let d = Double(p[i]) - meanD; s2 += d * d }
                }
                mu = Float(meanD); variance = Float(s2 / Double(m))
                if updateMovingStatistics {
                    movingMean[c] = movingMean[c] * g.momentum + mu * (1 - g.momentum)
                    movingVar[c] = movingVar[c] * g.momentum + variance * (1 - g.momentum)
                }
            }
            let inv = 1 / (variance + g.eps).squareRoot()
            mean[c] = mu; invStd[c] = inv
            let scale = (g.fixGamma ? 1 : gamma[c]) * inv, shift = beta[c] - mu * scale
            for n in 0..<g.batch {
                let offset = (n * g.channels + c) * plane
                for i in 0..<plane { output[offset + i] = input[offset + i] * scale + shift }
            }
        } }
        return Saved(mean: Array(mean), invStd: Array(invStd))
    }

    /// Gradients of `forward`, accumulated (`+=`) into the non-nil buffers. With
    /// `useGlobalStats` the statistics are constants, so `gradInput = gradOutput · gamma · invStd`.
    public static func backward(
        _ g: Geometry, saved: Saved, input: UnsafeBufferPointer<Float>, gamma: UnsafeBufferPointer<Float>,
        gradOutput: UnsafeBufferPointer<Float>, gradInput: UnsafeMutableBufferPointer<Float>?,
        gradGamma: UnsafeMutableBufferPointer<Float>?, gradBeta: UnsafeMutableBufferPointer<Float>?,
        threading: Threading = .serial
    ) throws(TensorError) {
        try check(g, input.count, gradOutput.count, [gamma.count, saved.mean.count, saved.invStd.count])
        if let gradInput { try TensorError.check("BatchNorm.backward", "gradInput", count: gradInput.count, expected: g.shape) }
        for grad in [gradGamma, gradBeta] {
            if let grad { try TensorError.check("BatchNorm.backward", "gradGamma/gradBeta", count: grad.count, expected: [g.channels]) }
        }
        let plane = g.height * g.width, m = Float(g.batch * plane)
        // Channels are independent: split over the threads, each summed as with one thread.
        threading.forEachChunk(g.channels) { channels in for c in channels {
            let mu = saved.mean[c], inv = saved.invStd[c]
            var sumDy: Float = 0, sumDyXhat: Float = 0
            for n in 0..<g.batch {
                let offset = (n * g.channels + c) * plane
                for i in 0..<plane {
                    let dy = gradOutput[offset + i]
                    sumDy += dy; sumDyXhat += dy * (input[offset + i] - mu) * inv
                }
            }
            if let gradBeta { gradBeta[c] += sumDy }
            if let gradGamma, !g.fixGamma { gradGamma[c] += sumDyXhat }
            guard let gradInput else { continue }
            let gam = g.fixGamma ? 1 : gamma[c]
            for n in 0..<g.batch {
                let offset = (n * g.channels + c) * plane
                for i in 0..<plane {
                    let dy = gradOutput[offset + i]
                    if g.useGlobalStats {
                        gradInput[offset + i] += dy * gam * inv
                    } else {
                        let xhat = (input[offset + i] - mu) * inv
                        gradInput[offset + i] += gam * inv / m * (m * dy - sumDy - xhat * sumDyXhat)
                    }
                }
            }
        } }
    }

    private static func check(_ g: Geometry, _ input: Int, _ output: Int, _ perChannel: [Int]) throws(TensorError) {
        try TensorError.check("BatchNorm", "input", count: input, expected: g.shape)
        try TensorError.check("BatchNorm", "output", count: output, expected: g.shape)
        for count in perChannel { try TensorError.check("BatchNorm", "per-channel parameter", count: count, expected: [g.channels]) }
    }
}
