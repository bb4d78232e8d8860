// Vectorised sums of Float rows: the reductions of backward (bias gradients), whose loop with
// one scalar accumulator waits for each add in turn (one add per four cycles).

/// Sums in a fixed order that depends only on the length: four 8-lane accumulators over the
/// first multiple of 32 values, then the tail in order. Any caller, any thread count, same bits.
enum RowSum {
    /// Σ x[0..<count].
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        let raw = UnsafeRawPointer(x)
        var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
        var i = 0
        while i + 32 <= count {
            let offset = i * MemoryLayout<Float>.stride
            a0 += raw.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
            a1 += raw.loadUnaligned(fromByteOffset: offset + 32, as: SIMD8<Float>.self)
            a2 += raw.loadUnaligned(fromByteOffset: offset + 64, as: SIMD8<Float>.self)
            a3 += raw.loadUnaligned(fromByteOffset: offset + 96, as: SIMD8<Float>.self)
            i += 32
        }
        let v = (a0 + a1) + (a2 + a3)
        let h = v.lowHalf + v.highHalf
        var s = (h[0] + h[2]) + (h[1] + h[3])
        while i < count {
            s += x[i]
            i += 1
        }
        return s
    }

    /// `gradBias[k] += Σ_n Σ_p gradOutput[n, k, p]` for an N×K×P gradient: one image's sum at a
    /// time, images in order; channels split over `threading` (each channel's sum on one thread).
    static func addBiasGradient(_ gradBias: UnsafeMutablePointer<Float>, gradOutput dy: UnsafePointer<Float>,
                                batch: Int, channels: Int, pixels: Int, threading: Threading) {
        threading.forEachChunk(channels, minimumPerChunk: max(1, 16384 / max(1, batch * pixels))) { range in
            for k in range {
                for n in 0..<batch { gradBias[k] += sum(dy + (n * channels + k) * pixels, count: pixels) }
            }
        }
    }
}
