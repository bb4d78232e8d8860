import Foundation
import Tensor

/// A synthetic detection data set a detector can learn: each class is a distinct shape
/// (rectangle, ellipse, triangle, cross, diamond, ring, …) drawn in varied colors, sizes and
/// positions on textured backgrounds, several objects per image, some overlapping.
/// Everything is determined by the seed.
public struct SyntheticDataset: Sendable {
    /// The shapes, in class order; classes beyond the list reuse a shape with a hollow style.
    public static let shapeNames = ["rectangle", "ellipse", "triangle", "cross", "diamond", "ring", "hexagon", "star"]

    public var classes: Int
    public var imageSize: Int
    public var maxObjects: Int
    public var seed: UInt64

    public init(classes: Int, imageSize: Int = 300, maxObjects: Int = 4, seed: UInt64 = 1) {
        precondition(classes >= 1 && imageSize >= 32 && maxObjects >= 1)
        self.classes = classes; self.imageSize = imageSize; self.maxObjects = maxObjects; self.seed = seed
    }

    /// Class names (shape, plus "hollow" for the second round of shapes).
    public var classNames: [String] {
        (0..<classes).map { c in
            let base = Self.shapeNames[c % Self.shapeNames.count]
            return c < Self.shapeNames.count ? base : "\(base)-\(c / Self.shapeNames.count + 1)"
        }
    }

    /// Image `index` of the split ("train" or "validation") and its label.
    public func sample(_ index: Int, split: String) -> (image: RGBImage, label: DetectionLabel) {
        var rng = SeededGenerator(seed: seed ^ UInt64(index) &* 0x9E37_79B9_7F4A_7C15 ^ (split == "train" ? 0 : 0xABCD_EF01_2345))
        let s = imageSize
        var image = background(&rng)
        var objects: [DetectionObject] = []
        let count = 1 + Int(rng.next() % UInt64(maxObjects))
        for _ in 0..<count {
            let cls = Int(rng.next() % UInt64(classes))
            let color = vividColor(&rng)
            // Some overlap is welcome, hiding an earlier object is not: retry a placement whose
            // box overlaps an existing one by more than 0.35 IoU.
            for _ in 0..<8 {
                let w = Int(Float(s) * rng.uniform(0.18, 0.5)), h = Int(Float(s) * rng.uniform(0.18, 0.5))
                let x0 = Int(rng.next() % UInt64(max(1, s - w))), y0 = Int(rng.next() % UInt64(max(1, s - h)))
                let candidate = (Float(x0) / Float(s), Float(y0) / Float(s), Float(x0 + w) / Float(s), Float(y0 + h) / Float(s))
                if objects.contains(where: { $0.iou(with: candidate) > 0.35 }) { continue }
                if let box = draw(shape: cls, in: &image, x0: x0, y0: y0, w: w, h: h, color: color) {
                    objects.append(DetectionObject(classId: cls, xmin: Float(box.0) / Float(s), ymin: Float(box.1) / Float(s),
                                                   xmax: Float(box.2 + 1) / Float(s), ymax: Float(box.3 + 1) / Float(s)))
                }
                break
            }
        }
        return (image, DetectionLabel(objects: objects))
    }

    // MARK: - Drawing

    private func background(_ rng: inout SeededGenerator) -> RGBImage {
        let s = imageSize
        var img = RGBImage(width: s, height: s)
        let base = (Float(rng.next() % 120) + 40, Float(rng.next() % 120) + 40, Float(rng.next() % 120) + 40)
        let stripe = Float(rng.next() % 20 + 6), angle = rng.uniform(0, .pi)
        let (ca, sa) = (cos(angle), sin(angle))
        for y in 0..<s {
            for x in 0..<s {
                let t = (Float(x) * ca + Float(y) * sa) / stripe
                let wave = 18 * sin(t)
                let noise = Float(rng.next() % 25) - 12
                let g = Float(x + y) / Float(2 * s) * 30
                let i = (y * s + x) * 3
                img.pixels[i] = clamp(base.0 + wave + noise + g)
                img.pixels[i + 1] = clamp(base.1 + wave + noise - g)
                img.pixels[i + 2] = clamp(base.2 - wave + noise)
            }
        }
        return img
    }

    private func vividColor(_ rng: inout SeededGenerator) -> (UInt8, UInt8, UInt8) {
        let palette: [(UInt8, UInt8, UInt8)] = [(230, 40, 40), (40, 200, 60), (40, 80, 230), (240, 220, 30),
                                                (230, 60, 220), (30, 220, 220), (250, 140, 20), (245, 245, 245), (20, 20, 20)]
        return palette[Int(rng.next() % UInt64(palette.count))]
    }

    /// Draws a filled shape in the box; returns the tight bounding box of the painted pixels.
    private func draw(shape cls: Int, in image: inout RGBImage, x0: Int, y0: Int, w: Int, h: Int,
                      color: (UInt8, UInt8, UInt8)) -> (Int, Int, Int, Int)? {
        let kind = cls % Self.shapeNames.count, hollow = cls >= Self.shapeNames.count
        var minX = Int.max, minY = Int.max, maxX = -1, maxY = -1
        for y in y0..<min(y0 + h, image.height) {
            for x in x0..<min(x0 + w, image.width) {
                // u, v in [-1, 1] across the box.
                let u = (Float(x - x0) + 0.5) / Float(w) * 2 - 1, v = (Float(y - y0) + 0.5) / Float(h) * 2 - 1
                var inside: Bool
                switch kind {
                case 0: inside = abs(u) <= 0.95 && abs(v) <= 0.95
                case 1: inside = u * u + v * v <= 1
                case 2: inside = v >= -0.95 && abs(u) <= (v + 0.95) / 1.9 * 0.95
                case 3: inside = (abs(u) <= 0.3 && abs(v) <= 0.95) || (abs(v) <= 0.3 && abs(u) <= 0.95)
                case 4: inside = abs(u) + abs(v) <= 1
                case 5: let r = u * u + v * v; inside = r <= 1 && r >= 0.35
                case 6: inside = abs(v) <= 0.87 && abs(u) * 0.87 + abs(v) * 0.5 <= 0.87
                default:
                    let a = atan2(v, u), r = (u * u + v * v).squareRoot()
                    inside = r <= 0.45 + 0.5 * pow(abs(cos(2.5 * a)), 3)
                }
                if hollow && inside {
                    let uu = u * 1.35, vv = v * 1.35
                    let inner: Bool
                    switch kind {
                    case 1, 5: inner = uu * uu + vv * vv <= 1
                    default: inner = abs(uu) <= 0.95 && abs(vv) <= 0.95
                    }
                    if inner { inside = false }
                }
                guard inside else { continue }
                let i = (y * image.width + x) * 3
                image.pixels[i] = color.0; image.pixels[i + 1] = color.1; image.pixels[i + 2] = color.2
                minX = min(minX, x); minY = min(minY, y); maxX = max(maxX, x); maxY = max(maxY, y)
            }
        }
        return maxX < 0 ? nil : (minX, minY, maxX, maxY)
    }

    private func clamp(_ v: Float) -> UInt8 { UInt8(max(0, min(255, v))) }
}
