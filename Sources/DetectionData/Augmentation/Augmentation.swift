import Foundation
import Tensor

/// Training-time augmentation as MXNet's SSD example configures it (facts A.8): photometric
/// distortion, random expansion onto a mean-colored canvas, random crop with minimum-IoU
/// constraints, horizontal mirror. Each draws from a generator seeded per sample, so results
/// do not depend on thread scheduling. Boxes are transformed with the pixels.
public struct Augmentation: Sendable {
    public var mirrorProbability: Float = 0.5
    public var expandProbability: Float = 0.5
    public var maxExpandScale: Float = 4
    /// Canvas fill for expansion (MXNet fill_value 127).
    public var fillValue: UInt8 = 127
    public var cropProbability: Float = 5.0 / 6.0
    /// Minimum IoU of the crop with every kept object, one sampler each.
    public var cropMinOverlaps: [Float] = [0.1, 0.3, 0.5, 0.7, 0.9]
    public var cropScale: ClosedRange<Float> = 0.3...1
    public var cropAspect: ClosedRange<Float> = 0.5...2
    public var cropTrials = 25
    /// Each photometric change is applied with probability 0.5.
    public var brightness: Float = 32
    public var contrast: Float = 0.5
    public var saturation: Float = 32
    public var hue: Float = 18

    /// The reference's training configuration.
    public init() {}

    /// Augments one sample.
    public func apply(_ image: RGBImage, _ label: DetectionLabel, using rng: inout SeededGenerator) -> (RGBImage, DetectionLabel) {
        var img = Photometric.distort(image, using: &rng, brightness: brightness, contrast: contrast, saturation: saturation, hue: hue)
        var lab = label
        if rng.uniform(0, 1) < expandProbability { (img, lab) = expand(img, lab, using: &rng) }
        if rng.uniform(0, 1) < cropProbability { (img, lab) = crop(img, lab, using: &rng) }
        if rng.uniform(0, 1) < mirrorProbability { (img, lab) = Self.mirror(img, lab) }
        return (img, lab)
    }

    /// Flips left-right: x ↦ 1 − x for the boxes.
    public static func mirror(_ image: RGBImage, _ label: DetectionLabel) -> (RGBImage, DetectionLabel) {
        var out = image
        for y in 0..<image.height {
            for x in 0..<image.width {
                let s = (y * image.width + x) * 3, d = (y * image.width + image.width - 1 - x) * 3
                out.pixels[d] = image.pixels[s]; out.pixels[d + 1] = image.pixels[s + 1]; out.pixels[d + 2] = image.pixels[s + 2]
            }
        }
        var lab = label
        lab.objects = label.objects.map { o in
            var m = o
            m.xmin = 1 - o.xmax; m.xmax = 1 - o.xmin
            return m
        }
        return (out, lab)
    }

    /// Places the image at a random spot of a canvas `r` times larger (r uniform in [1, max]).
    public func expand(_ image: RGBImage, _ label: DetectionLabel, using rng: inout SeededGenerator) -> (RGBImage, DetectionLabel) {
        let r = rng.uniform(1, maxExpandScale)
        let w = Int(Float(image.width) * r), h = Int(Float(image.height) * r)
        guard w > image.width || h > image.height else { return (image, label) }
        let ox = Int(rng.next() % UInt64(w - image.width + 1)), oy = Int(rng.next() % UInt64(h - image.height + 1))
        return Self.place(image, label, canvasWidth: w, canvasHeight: h, x: ox, y: oy, fill: fillValue)
    }

    /// The image pasted at (x, y) of a `fill`-colored canvas, boxes moved with it.
    public static func place(_ image: RGBImage, _ label: DetectionLabel, canvasWidth w: Int, canvasHeight h: Int,
                             x ox: Int, y oy: Int, fill: UInt8) -> (RGBImage, DetectionLabel) {
        var canvas = RGBImage(width: w, height: h, fill: (fill, fill, fill))
        for y in 0..<image.height {
            let src = y * image.width * 3, dst = ((y + oy) * w + ox) * 3
            canvas.pixels.replaceSubrange(dst..<(dst + image.width * 3), with: image.pixels[src..<(src + image.width * 3)])
        }
        var lab = label
        let fw = Float(image.width) / Float(w), fh = Float(image.height) / Float(h)
        let dx = Float(ox) / Float(w), dy = Float(oy) / Float(h)
        lab.objects = label.objects.map { o in
            var m = o
            m.xmin = o.xmin * fw + dx; m.xmax = o.xmax * fw + dx; m.ymin = o.ymin * fh + dy; m.ymax = o.ymax * fh + dy
            return m
        }
        return (canvas, lab)
    }

    /// A random crop whose IoU with every kept object is at least one sampler's minimum;
    /// objects whose centre falls outside the crop are dropped (crop_emit_mode 'center'), the
    /// others clipped. Returns the input unchanged when no trial succeeds.
    public func crop(_ image: RGBImage, _ label: DetectionLabel, using rng: inout SeededGenerator) -> (RGBImage, DetectionLabel) {
        guard !label.objects.isEmpty, !cropMinOverlaps.isEmpty else { return (image, label) }
        let minOverlap = cropMinOverlaps[Int(rng.next() % UInt64(cropMinOverlaps.count))]
        for _ in 0..<cropTrials {
            let scale = rng.uniform(cropScale.lowerBound, cropScale.upperBound)
            let aspect = rng.uniform(max(cropAspect.lowerBound, scale * scale), min(cropAspect.upperBound, 1 / (scale * scale)))
            let cw = min(1, scale * aspect.squareRoot()), ch = min(1, scale / aspect.squareRoot())
            let cx = rng.uniform(0, 1 - cw), cy = rng.uniform(0, 1 - ch)
            let cropBox = (cx, cy, cx + cw, cy + ch)
            let kept = label.objects.filter { o in
                let mx = (o.xmin + o.xmax) / 2, my = (o.ymin + o.ymax) / 2
                return mx > cropBox.0 && mx < cropBox.2 && my > cropBox.1 && my < cropBox.3
            }
            guard !kept.isEmpty, kept.allSatisfy({ $0.iou(with: cropBox) >= minOverlap }) else { continue }
            let px = Int(cx * Float(image.width)), py = Int(cy * Float(image.height))
            let pw = max(1, Int(cw * Float(image.width))), ph = max(1, Int(ch * Float(image.height)))
            var out = RGBImage(width: pw, height: ph)
            for y in 0..<ph {
                let src = ((py + y) * image.width + px) * 3
                out.pixels.replaceSubrange((y * pw * 3)..<((y + 1) * pw * 3), with: image.pixels[src..<(src + pw * 3)])
            }
            // Boxes in the pixel crop's coordinates, clipped to it.
            let x0 = Float(px) / Float(image.width), y0 = Float(py) / Float(image.height)
            let sw = Float(pw) / Float(image.width), sh = Float(ph) / Float(image.height)
            var lab = label
            lab.objects = kept.compactMap { o in
                var m = o
                m.xmin = max(0, (o.xmin - x0) / sw); m.xmax = min(1, (o.xmax - x0) / sw)
                m.ymin = max(0, (o.ymin - y0) / sh); m.ymax = min(1, (o.ymax - y0) / sh)
                return m.xmax > m.xmin && m.ymax > m.ymin ? m : nil
            }
            if lab.objects.isEmpty { continue }
            return (out, lab)
        }
        return (image, label)
    }
}

/// Photometric distortion: brightness, contrast, saturation and hue, each with probability 0.5.
enum Photometric {
    static func distort(_ image: RGBImage, using rng: inout SeededGenerator, brightness: Float, contrast: Float,
                        saturation: Float, hue: Float) -> RGBImage {
        let db = rng.uniform(0, 1) < 0.5 ? rng.uniform(-brightness, brightness) : 0
        let dc = rng.uniform(0, 1) < 0.5 ? 1 + rng.uniform(-contrast, contrast) : 1
        let ds = rng.uniform(0, 1) < 0.5 ? 1 + rng.uniform(-saturation, saturation) / 100 : 1
        let dh = rng.uniform(0, 1) < 0.5 ? rng.uniform(-hue, hue) * .pi / 180 : 0
        if db == 0 && dc == 1 && ds == 1 && dh == 0 { return image }
        var out = image
        let (ch, sh) = (cos(dh), sin(dh))
        for i in 0..<(image.width * image.height) {
            var r = Float(image.pixels[3 * i]), g = Float(image.pixels[3 * i + 1]), b = Float(image.pixels[3 * i + 2])
            r = (r + db - 128) * dc + 128; g = (g + db - 128) * dc + 128; b = (b + db - 128) * dc + 128
            // Saturation and hue in YIQ: scale and rotate the chroma plane.
            let y = 0.299 * r + 0.587 * g + 0.114 * b
            var ii = 0.596 * r - 0.274 * g - 0.322 * b, q = 0.211 * r - 0.523 * g + 0.312 * b
            ii *= ds; q *= ds
            let i2 = ii * ch - q * sh, q2 = ii * sh + q * ch
            r = y + 0.956 * i2 + 0.621 * q2; g = y - 0.272 * i2 - 0.647 * q2; b = y - 1.106 * i2 + 1.703 * q2
            out.pixels[3 * i] = UInt8(max(0, min(255, r))); out.pixels[3 * i + 1] = UInt8(max(0, min(255, g)))
            out.pixels[3 * i + 2] = UInt8(max(0, min(255, b)))
        }
        return out
    }
}
