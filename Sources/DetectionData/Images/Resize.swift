/// Resizing and the network's input transform.
public enum ImageTransform {
    /// The reference's per-channel mean (RGB, 0…255 scale): MXNet SSD train.py's 123, 117, 104.
    public static let mean: (Float, Float, Float) = (123, 117, 104)

    /// Bilinear resize of `image` to `width` × `height` (aspect not kept: MXNet's
    /// resize_mode 'force'), sampling at pixel centres.
    public static func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        if image.width == width && image.height == height { return image }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        let sx = Float(image.width) / Float(width), sy = Float(image.height) / Float(height)
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<height {
                let fy = max(0, (Float(y) + 0.5) * sy - 0.5)
                let y0 = min(Int(fy), image.height - 1), y1 = min(y0 + 1, image.height - 1)
                let wy = fy - Float(y0)
                for x in 0..<width {
                    let fx = max(0, (Float(x) + 0.5) * sx - 0.5)
                    let x0 = min(Int(fx), image.width - 1), x1 = min(x0 + 1, image.width - 1)
                    let wx = fx - Float(x0)
                    for c in 0..<3 {
                        let a = Float(src[(y0 * image.width + x0) * 3 + c]), b = Float(src[(y0 * image.width + x1) * 3 + c])
                        let d = Float(src[(y1 * image.width + x0) * 3 + c]), e = Float(src[(y1 * image.width + x1) * 3 + c])
                        let v = (a * (1 - wx) + b * wx) * (1 - wy) + (d * (1 - wx) + e * wx) * wy
                        out[(y * width + x) * 3 + c] = UInt8(max(0, min(255, v.rounded())))
                    }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: out)
    }

    /// Writes the image as the network's input: planar CHW Float32, RGB minus `mean`, no std
    /// division (values roughly −123…151). `output` must hold 3 × height × width values.
    public static func toNetworkInput(_ image: RGBImage, output: UnsafeMutableBufferPointer<Float>) {
        let plane = image.width * image.height
        precondition(output.count == 3 * plane, "network input buffer has \(output.count) values, needs \(3 * plane)")
        let m = [mean.0, mean.1, mean.2]
        image.pixels.withUnsafeBufferPointer { src in
            for c in 0..<3 {
                let mc = m[c]
                for i in 0..<plane { output[c * plane + i] = Float(src[i * 3 + c]) - mc }
            }
        }
    }
}
