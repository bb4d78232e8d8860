/// SGD with momentum over flat buffers, sixteen values at a time (the parameter server's hot
/// loop: one pass over every weight per round). Same operations in the same order as the scalar
/// rule, without fused multiply-adds, so its results are bit-identical to it:
///
///     mom = momentum·mom − (lr·wd)·weight − lr·clip(rescale·grad);  weight += mom
///
/// The scalar loop this replaces ran at 9–14 ns per value inside `Optimizer.update` (the
/// optimizer's configuration re-read through a closure every iteration); this one is limited by
/// memory bandwidth (five streams of four bytes per value).
public enum SGDMomentumKernel {
    /// The scalars of one update.
    public struct Coefficients: Sendable {
        public var momentum: Float
        /// lr · wd.
        public var lrWd: Float
        public var lr: Float
        public var rescale: Float
        /// Clip bound for the rescaled gradient; negative: no clipping.
        public var clip: Float

        public init(momentum: Float, lrWd: Float, lr: Float, rescale: Float, clip: Float) {
            self.momentum = momentum; self.lrWd = lrWd; self.lr = lr; self.rescale = rescale; self.clip = clip
        }
    }

    /// Updates `momentum` in place and writes the new weights to `output` (which may be
    /// `weights` itself, for an in-place update). Every buffer holds `count` values; `momentum`
    /// and `output` must not overlap `gradient`.
    public static func update(weights: UnsafePointer<Float>, gradient: UnsafePointer<Float>, momentum: UnsafeMutablePointer<Float>,
                              output: UnsafeMutablePointer<Float>, count: Int, _ k: Coefficients) {
        if k.clip >= 0 {
            run(weights, gradient, momentum, output, count, k) { g in g.clamped(lowerBound: SIMD16(repeating: -k.clip), upperBound: SIMD16(repeating: k.clip)) }
                scalar: { g in min(max(g, -k.clip), k.clip) }
        } else {
            run(weights, gradient, momentum, output, count, k) { $0 } scalar: { $0 }
        }
    }

    @inline(__always)
    private static func run(_ w: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                            _ out: UnsafeMutablePointer<Float>, _ n: Int, _ k: Coefficients,
                            _ clip: (SIMD16<Float>) -> SIMD16<Float>, scalar clipScalar: (Float) -> Float) {
        let wRaw = UnsafeRawPointer(w), gRaw = UnsafeRawPointer(g), mRaw = UnsafeMutableRawPointer(m), oRaw = UnsafeMutableRawPointer(out)
        let mu = SIMD16<Float>(repeating: k.momentum), lrWd = SIMD16<Float>(repeating: k.lrWd)
        let lr = SIMD16<Float>(repeating: k.lr), rescale = SIMD16<Float>(repeating: k.rescale)
        let stride = MemoryLayout<SIMD16<Float>>.size
        var i = 0
        while i + 16 <= n {
            let offset = i * MemoryLayout<Float>.stride
            let wv = wRaw.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let gv = gRaw.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let mv = mRaw.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let next = mu * mv - lrWd * wv - lr * clip(rescale * gv)
            mRaw.storeBytes(of: next, toByteOffset: offset, as: SIMD16<Float>.self)
            oRaw.storeBytes(of: wv + next, toByteOffset: offset, as: SIMD16<Float>.self)
            i += stride / MemoryLayout<Float>.stride
        }
        while i < n {
            let next = k.momentum * m[i] - k.lrWd * w[i] - k.lr * clipScalar(k.rescale * g[i])
            m[i] = next
            out[i] = w[i] + next
            i += 1
        }
    }
}
