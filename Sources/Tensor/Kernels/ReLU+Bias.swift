// The output pass a convolution fuses after its GEMM: bias and ReLU in one sweep.

extension ReLU {
    /// Each of `rows` rows of `length` values (`rowStride` apart) becomes `max(row + bias[r], 0)`,
    /// or `max(row, 0)` without a bias: one read and one write of the output instead of a bias
    /// pass and a ReLU pass. Rows are split over the threads in contiguous chunks.
    public static func addBiasAndRectify(_ y: UnsafeMutablePointer<Float>, rows: Int, length: Int, rowStride: Int,
                                         bias: UnsafePointer<Float>?, threading: Threading) {
        threading.forEachChunk(rows, minimumPerChunk: max(1, 16384 / max(1, length))) { range in
            for r in range {
                let row = y + r * rowStride
                if let bias {
                    let b = bias[r]
                    for i in 0..<length { row[i] = max(row[i] + b, 0) }
                } else {
                    for i in 0..<length { row[i] = max(row[i], 0) }
                }
            }
        }
    }
}

extension ReLU {
    /// `max(v, 0)` lane by lane, bit for bit as the scalar `max(x, 0)` of `forward` (−0 becomes
    /// +0, NaN stays NaN): for output transforms that rectify four outputs as they store them.
    @inline(__always)
    static func rectified(_ v: SIMD4<Float>) -> SIMD4<Float> {
        v.replacing(with: 0, where: v .<= 0)
    }
}
