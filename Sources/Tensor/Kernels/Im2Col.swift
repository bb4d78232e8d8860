// im2col / col2im for 2-D convolution, over a tile of output pixels.
// Legend: C input channels, H×W input, R×S kernel, OH×OW output, T tile length (output pixels).
// A column matrix has C·R·S rows and T columns: row (c, r, s), column p holds the input pixel
// that kernel tap (r, s) of channel c sees for output pixel p0 + p (0 where it falls in padding).

/// The unfolding of convolution windows into a matrix, and its adjoint.
public enum Im2Col {
    /// Fills `col` (C·R·S × T, row stride T) for output pixels `p0 ..< p0 + T` of one image.
    /// - Parameters:
    ///   - image: one image, C×H×W.
    ///   - threading: rows of `col` (one per channel) are split across threads.
    public static func unfold(
        _ g: Conv2D.Geometry, image: UnsafePointer<Float>, firstPixel p0: Int, tile t: Int,
        col: UnsafeMutablePointer<Float>, threading: Threading
    ) {
        let taps = g.kernelHeight * g.kernelWidth
        threading.forEachChunk(g.inChannels, minimumPerChunk: max(1, 16384 / max(1, taps * t))) { channels in
            for c in channels {
                let plane = image + c * g.height * g.width
                for kr in 0..<g.kernelHeight {
                    for ks in 0..<g.kernelWidth {
                        let row = col + ((c * g.kernelHeight + kr) * g.kernelWidth + ks) * t
                        forEachSegment(g, firstPixel: p0, tile: t, kr: kr, ks: ks) { dst, ih, owLo, owHi, iwLo, iwValidLo, iwValidHi in
                            // dst: column index of owLo; [iwValidLo, iwValidHi) is the part inside the image.
                            let out = row + dst
                            guard let ih else {
                                out.update(repeating: 0, count: owHi - owLo)
                                return
                            }
                            let src = plane + ih * g.width
                            let lo = min(max(owLo, iwValidLo), owHi)
                            let hi = max(min(owHi, iwValidHi), lo)
                            if lo > owLo { out.update(repeating: 0, count: lo - owLo) }
                            if hi > lo {
                                let dstIn = out + (lo - owLo)
                                if g.strideWidth == 1 {
                                    dstIn.update(from: src + iwLo + lo, count: hi - lo)
                                } else {
                                    var s = src + iwLo + lo * g.strideWidth
                                    for j in 0..<(hi - lo) {
                                        dstIn[j] = s.pointee
                                        s += g.strideWidth
                                    }
                                }
                            }
                            if owHi > hi { (out + (hi - owLo)).update(repeating: 0, count: owHi - hi) }
                        }
                    }
                }
            }
        }
    }

    /// Adds the columns of `col` back onto the image gradient (the adjoint of `unfold`).
    /// Accumulates into `gradImage`; channels are split across threads (disjoint planes).
    public static func fold(
        _ g: Conv2D.Geometry, col: UnsafePointer<Float>, firstPixel p0: Int, tile t: Int,
        gradImage: UnsafeMutablePointer<Float>, threading: Threading
    ) {
        let taps = g.kernelHeight * g.kernelWidth
        threading.forEachChunk(g.inChannels, minimumPerChunk: max(1, 16384 / max(1, taps * t))) { channels in
            for c in channels {
                let plane = gradImage + c * g.height * g.width
                for kr in 0..<g.kernelHeight {
                    for ks in 0..<g.kernelWidth {
                        let row = col + ((c * g.kernelHeight + kr) * g.kernelWidth + ks) * t
                        forEachSegment(g, firstPixel: p0, tile: t, kr: kr, ks: ks) { dst, ih, owLo, owHi, iwLo, iwValidLo, iwValidHi in
                            guard let ih else { return }
                            let src = row + dst
                            let line = plane + ih * g.width
                            let lo = max(owLo, iwValidLo), hi = min(owHi, iwValidHi)
                            if lo >= hi { return }
                            for ow in lo..<hi {
                                line[iwLo + ow * g.strideWidth] += src[ow - owLo]
                            }
                        }
                    }
                }
            }
        }
    }

    /// Walks the tile one output row segment at a time and reports, for kernel tap (kr, ks):
    /// the column offset of the segment, the input row (nil when it is in the padding), the
    /// segment's output columns [owLo, owHi), the input column of output column 0 (`iwLo`, may be
    /// negative), and the output columns whose input column is inside the image.
    @inline(__always)
    static func forEachSegment(
        _ g: Conv2D.Geometry, firstPixel p0: Int, tile t: Int, kr: Int, ks: Int,
        _ body: (_ dst: Int, _ ih: Int?, _ owLo: Int, _ owHi: Int, _ iwLo: Int, _ validLo: Int, _ validHi: Int) -> Void
    ) {
        let ow = g.outWidth
        let iwLo = ks * g.dilationWidth - g.padWidth  // input column of output column 0
        // Output columns with 0 <= iwLo + ow*stride < W.
        let validLo = iwLo >= 0 ? 0 : (-iwLo + g.strideWidth - 1) / g.strideWidth
        let validHi = g.width - 1 - iwLo < 0 ? 0 : min(ow, (g.width - 1 - iwLo) / g.strideWidth + 1)
        var p = p0
        let end = p0 + t
        while p < end {
            let oh = p / ow
            let owStart = p - oh * ow
            let owEnd = min(ow, owStart + (end - p))
            let ih = oh * g.strideHeight - g.padHeight + kr * g.dilationHeight
            body(p - p0, (ih >= 0 && ih < g.height) ? ih : nil, owStart, owEnd, iwLo, validLo, validHi)
            p += owEnd - owStart
        }
    }
}
