// Bilinear resampling of a window of an image onto an S×S float CHW canvas. One pass does
// crop (window inside the image), expansion (window larger than the image; outside pixels get
// the fill value), horizontal mirror and the 'force' resize (aspect not kept) of MXNet's
// ImageDetRecordIter. C channels (3), S output side, W×H source size.

/// A rectangle in source-image normalized coordinates (may extend beyond [0, 1]).
public struct SampleWindow: Equatable, Sendable {
    /// Left edge.
    public var x0: Float
    /// Top edge.
    public var y0: Float
    /// Right edge.
    public var x1: Float
    /// Bottom edge.
    public var y1: Float
    /// Creates a window.
    public init(x0: Float, y0: Float, x1: Float, y1: Float) { self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1 }
    /// The whole image.
    public static let full = SampleWindow(x0: 0, y0: 0, x1: 1, y1: 1)

    /// The sub-rectangle `r`, given in this window's own normalized coordinates.
    public func sub(_ r: SampleWindow) -> SampleWindow {
        let w = x1 - x0, h = y1 - y0
        return SampleWindow(x0: x0 + r.x0 * w, y0: y0 + r.y0 * h, x1: x0 + r.x1 * w, y1: y0 + r.y1 * h)
    }
}

/// Resampling of images to network input.
public enum Resize {
    struct Tap { var i0: Int32; var i1: Int32; var w1: Float; var inside: Bool }

    static func taps(count: Int, from a: Float, to b: Float, sourceSize: Int) -> [Tap] {
        var t = [Tap](repeating: Tap(i0: 0, i1: 0, w1: 0, inside: false), count: count)
        let scale = (b - a) * Float(sourceSize) / Float(count)
        for o in 0..<count {
            let s = a * Float(sourceSize) + (Float(o) + 0.5) * scale - 0.5
            guard s >= -0.5, s <= Float(sourceSize) - 0.5 else { continue }
            let f = s.rounded(.down)
            let i0 = max(0, min(sourceSize - 1, Int(f)))
            let i1 = max(0, min(sourceSize - 1, Int(f) + 1))
            t[o] = Tap(i0: Int32(i0), i1: Int32(i1), w1: s - f, inside: true)
        }
        return t
    }

    /// Renders `window` of `image` to `size`×`size` planar RGB floats (0...255) in `output`
    /// (3·size·size values, CHW), mirrored horizontally when `mirror`, `fill` outside the image.
    public static func render(
        _ image: RGBImage, window: SampleWindow, mirror: Bool, size: Int, fill: Float = 127,
        into output: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(output.count >= 3 * size * size, "Resize.render: output holds \(output.count), needs \(3 * size * size)")
        var xs = taps(count: size, from: window.x0, to: window.x1, sourceSize: image.width)
        if mirror { xs.reverse() }
        let ys = taps(count: size, from: window.y0, to: window.y1, sourceSize: image.height)
        let plane = size * size
        let rowBytes = image.width * 3
        // Separable: each needed source row is interpolated horizontally once (cached, since
        // consecutive output rows share source rows), then pairs of rows are blended vertically.
        var rowA = [Float](repeating: 0, count: 3 * size), rowB = rowA
        var rowAIndex = -1, rowBIndex = -1
        image.pixels.withUnsafeBufferPointer { src in
            func horizontal(_ r: Int, into row: UnsafeMutableBufferPointer<Float>) {
                let base = r * rowBytes
                for ox in 0..<size where xs[ox].inside {
                    let tx = xs[ox]
                    let c0 = base + Int(tx.i0) * 3, c1 = base + Int(tx.i1) * 3, w1 = tx.w1, w0 = 1 - tx.w1
                    row[3 * ox] = w0 * Float(src[c0]) + w1 * Float(src[c1])
                    row[3 * ox + 1] = w0 * Float(src[c0 + 1]) + w1 * Float(src[c1 + 1])
                    row[3 * ox + 2] = w0 * Float(src[c0 + 2]) + w1 * Float(src[c1 + 2])
                }
            }
            for oy in 0..<size {
                let ty = ys[oy]
                let base = oy * size
                guard ty.inside else {
                    for ox in 0..<size { output[base + ox] = fill; output[plane + base + ox] = fill; output[2 * plane + base + ox] = fill }
                    continue
                }
                let r0 = Int(ty.i0), r1 = Int(ty.i1)
                if rowAIndex != r0 {
                    if rowBIndex == r0 { swap(&rowA, &rowB); swap(&rowAIndex, &rowBIndex) } else {
                        rowA.withUnsafeMutableBufferPointer { horizontal(r0, into: $0) }; rowAIndex = r0
                    }
                }
                if rowBIndex != r1 {
                    rowB.withUnsafeMutableBufferPointer { horizontal(r1, into: $0) }; rowBIndex = r1
                }
                let wy1 = ty.w1, wy0 = 1 - ty.w1
                rowA.withUnsafeBufferPointer { a in
                    rowB.withUnsafeBufferPointer { b in
                        for ox in 0..<size {
                            let o = base + ox
                            guard xs[ox].inside else {
                                output[o] = fill; output[plane + o] = fill; output[2 * plane + o] = fill
                                continue
                            }
                            output[o] = wy0 * a[3 * ox] + wy1 * b[3 * ox]
                            output[plane + o] = wy0 * a[3 * ox + 1] + wy1 * b[3 * ox + 1]
                            output[2 * plane + o] = wy0 * a[3 * ox + 2] + wy1 * b[3 * ox + 2]
                        }
                    }
                }
            }
        }
    }

    /// Resizes an 8-bit image to `width`×`height` (bilinear, whole image).
    public static func resized(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        var out = RGBImage(width: width, height: height)
        let xs = taps(count: width, from: 0, to: 1, sourceSize: image.width)
        let ys = taps(count: height, from: 0, to: 1, sourceSize: image.height)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 {
                    let a = Float(image.pixels[(Int(ys[y].i0) * image.width + Int(xs[x].i0)) * 3 + c])
                    let b = Float(image.pixels[(Int(ys[y].i0) * image.width + Int(xs[x].i1)) * 3 + c])
                    let d = Float(image.pixels[(Int(ys[y].i1) * image.width + Int(xs[x].i0)) * 3 + c])
                    let e = Float(image.pixels[(Int(ys[y].i1) * image.width + Int(xs[x].i1)) * 3 + c])
                    let top = a + (b - a) * xs[x].w1, bottom = d + (e - d) * xs[x].w1
                    out.pixels[(y * width + x) * 3 + c] = UInt8(max(0, min(255, (top + (bottom - top) * ys[y].w1).rounded())))
                }
            }
        }
        return out
    }
}
