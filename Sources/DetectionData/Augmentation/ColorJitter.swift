import Foundation
import Tensor

// Photometric distortion as the MXNet SSD example's train config: each with probability 0.5,
// brightness (illumination) ±32, contrast ±0.5, saturation ±32 (of 255), hue ±18 (OpenCV's
// 0...180 hue scale, i.e. ±36°). Saturation and hue act as one 3×3 matrix in YIQ space.

/// The color-jitter step of detection augmentation.
public struct ColorJitter: Sendable {
    /// Largest brightness offset.
    public var brightness: Float = 32
    /// Largest relative contrast change.
    public var contrast: Float = 0.5
    /// Largest saturation change (of 255).
    public var saturation: Float = 32
    /// Largest hue rotation on OpenCV's 0...180 scale.
    public var hue: Float = 18
    /// Probability of each distortion.
    public var probability: Float = 0.5

    /// Creates the MXNet SSD example configuration.
    public init() {}

    /// One drawn distortion: `out = M·(α·(x − mean) + mean) + β` per pixel.
    public struct Draw: Equatable, Sendable {
        /// Brightness offset β.
        public var offset: Float = 0
        /// Contrast factor α.
        public var contrast: Float = 1
        /// Row-major 3×3 color matrix M (identity: no saturation/hue change).
        public var matrix: [Float] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        /// Whether this draw changes nothing.
        public var isIdentity: Bool { offset == 0 && contrast == 1 && matrix == [1, 0, 0, 0, 1, 0, 0, 0, 1] }
    }

    /// Draws a distortion.
    public func sample(rng: inout SeededGenerator) -> Draw {
        var d = Draw()
        if rng.chance(probability) { d.offset = rng.uniform(-brightness, brightness) }
        if rng.chance(probability) { d.contrast = rng.uniform(1 - contrast, 1 + contrast) }
        var sat: Float = 1, theta: Float = 0
        if rng.chance(probability) { sat = 1 + rng.uniform(-saturation, saturation) / 128 }
        if rng.chance(probability) { theta = rng.uniform(-hue, hue) * 2 * Float.pi / 180 }
        if sat != 1 || theta != 0 {
            // RGB→YIQ, scale+rotate IQ, YIQ→RGB.
            let toYIQ: [Float] = [0.299, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312]
            let toRGB: [Float] = [1, 0.956, 0.621, 1, -0.272, -0.647, 1, -1.106, 1.703]
            let c = sat * cos(theta), s = sat * sin(theta)
            let mid: [Float] = [1, 0, 0, 0, c, -s, 0, s, c]
            d.matrix = mul(toRGB, mul(mid, toYIQ))
        }
        return d
    }

    private func mul(_ a: [Float], _ b: [Float]) -> [Float] {
        var r = [Float](repeating: 0, count: 9)
        for i in 0..<3 { for j in 0..<3 { for k in 0..<3 { r[3 * i + j] += a[3 * i + k] * b[3 * k + j] } } }
        return r
    }

    /// Applies `draw` to planar RGB (CHW) values in 0...255, clamping to 0...255.
    public static func apply(_ draw: Draw, to planes: UnsafeMutableBufferPointer<Float>, pixels: Int) {
        if draw.isIdentity { return }
        let m = draw.matrix, a = draw.contrast, b = draw.offset
        var sum: Float = 0
        if a != 1 { for i in 0..<pixels { sum += 0.299 * planes[i] + 0.587 * planes[pixels + i] + 0.114 * planes[2 * pixels + i] } }
        let mean = sum / Float(max(1, pixels))
        for i in 0..<pixels {
            let r = a * (planes[i] - mean) + mean, g = a * (planes[pixels + i] - mean) + mean
            let bl = a * (planes[2 * pixels + i] - mean) + mean
            planes[i] = max(0, min(255, m[0] * r + m[1] * g + m[2] * bl + b))
            planes[pixels + i] = max(0, min(255, m[3] * r + m[4] * g + m[5] * bl + b))
            planes[2 * pixels + i] = max(0, min(255, m[6] * r + m[7] * g + m[8] * bl + b))
        }
    }
}
