import Foundation

/// Corner boxes, IoU, and MXNet's center-size encoding with variances.
public enum BoxCoder {
    /// SSD's variances (x, y, w, h).
    public static let variances: (Float, Float, Float, Float) = (0.1, 0.1, 0.2, 0.2)

    /// Intersection over union of two corner boxes (xmin, ymin, xmax, ymax); 0 for empty union.
    @inlinable
    public static func iou(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>) -> Float {
        let iw = max(0, min(a[2], b[2]) - max(a[0], b[0])), ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
        let inter = iw * ih
        let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return union > 0 ? inter / union : 0
    }

    /// IoU of two boxes given as arrays of 4.
    public static func iou(_ a: [Float], _ b: [Float]) -> Float {
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in iou(ap.baseAddress!, bp.baseAddress!) } }
    }

    /// Offsets of `box` relative to `anchor`: ((gx − ax)/aw/vx, (gy − ay)/ah/vy, ln(gw/aw)/vw, ln(gh/ah)/vh).
    @inlinable
    public static func encode(box g: UnsafePointer<Float>, anchor a: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let aw = a[2] - a[0], ah = a[3] - a[1], ax = (a[0] + a[2]) / 2, ay = (a[1] + a[3]) / 2
        let gw = g[2] - g[0], gh = g[3] - g[1], gx = (g[0] + g[2]) / 2, gy = (g[1] + g[3]) / 2
        out[0] = (gx - ax) / aw / variances.0
        out[1] = (gy - ay) / ah / variances.1
        out[2] = Foundation.log(gw / aw) / variances.2
        out[3] = Foundation.log(gh / ah) / variances.3
    }

    /// The inverse of `encode`: corners of the box the offsets describe, clipped to [0, 1] when asked.
    @inlinable
    public static func decode(offsets t: UnsafePointer<Float>, anchor a: UnsafePointer<Float>, clip: Bool,
                              into out: UnsafeMutablePointer<Float>) {
        let aw = a[2] - a[0], ah = a[3] - a[1], ax = (a[0] + a[2]) / 2, ay = (a[1] + a[3]) / 2
        let ox = t[0] * variances.0 * aw + ax, oy = t[1] * variances.1 * ah + ay
        let hw = Foundation.exp(t[2] * variances.2) * aw / 2, hh = Foundation.exp(t[3] * variances.3) * ah / 2
        out[0] = ox - hw; out[1] = oy - hh; out[2] = ox + hw; out[3] = oy + hh
        if clip { for i in 0..<4 { out[i] = min(max(out[i], 0), 1) } }
    }
}
