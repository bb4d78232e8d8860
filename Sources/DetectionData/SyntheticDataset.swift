import Foundation
import Tensor

// A synthetic detection dataset that a detector can learn: class identity is the shape
// (rectangle, ellipse, triangle, diamond, cross, ring, inverted triangle, frame), colors are
// random and independent of class, sizes 20–55 % of the image side, 1–4 objects per image with
// limited overlap (≤ 35 % of the smaller box), on textured backgrounds (gradient + stripes + noise).
// Deterministic by (seed, split, index).

/// Generator of synthetic detection images and their annotations.
public struct SyntheticDataset: Sendable {
    /// Shape names; class id k draws shape k.
    public static let shapeNames = ["rectangle", "ellipse", "triangle", "diamond", "cross", "ring", "inverted_triangle", "frame"]
    /// Number of classes (1...8).
    public var numClasses: Int
    /// Image side in pixels.
    public var imageSize: Int
    /// Base seed.
    public var seed: UInt64
    /// Most objects per image.
    public var maxObjects = 4

    /// Creates a generator.
    public init(numClasses: Int, imageSize: Int, seed: UInt64) {
        precondition((1...Self.shapeNames.count).contains(numClasses), "SyntheticDataset: numClasses must be 1...\(Self.shapeNames.count)")
        precondition(imageSize >= 16, "SyntheticDataset: imageSize must be at least 16")
        self.numClasses = numClasses; self.imageSize = imageSize; self.seed = seed
    }

    /// Whether local coordinates (u, v) ∈ [-1, 1]² lie inside shape `k`.
    static func inside(_ k: Int, _ u: Float, _ v: Float) -> Bool {
        switch k {
        case 0: return true
        case 1: return u * u + v * v <= 1
        case 2: return abs(u) <= (v + 1) / 2
        case 3: return abs(u) + abs(v) <= 1
        case 4: return abs(u) <= 0.34 || abs(v) <= 0.34
        case 5: let r = u * u + v * v; return r <= 1 && r >= 0.3
        case 6: return abs(u) <= (1 - v) / 2
        default: return max(abs(u), abs(v)) >= 0.6
        }
    }

    /// Image `index` of `split` (0 train, 1 validation) with its objects in pixels.
    public func sample(index: Int, split: Int) -> (image: RGBImage, boxes: [SageMakerAnnotation.Box]) {
        var rng = SeededGenerator(mixing: seed, UInt64(split), UInt64(index))
        let n = imageSize
        var img = RGBImage(width: n, height: n)
        // Background: two-color gradient, stripes at a random angle, noise.
        let c0 = (rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255))
        let c1 = (rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255))
        let angle = rng.uniform(0, .pi), period = rng.uniform(6, 24), stripe = rng.uniform(0, 30)
        let (ca, sa) = (Float(cos(Double(angle))), Float(sin(Double(angle))))
        for y in 0..<n {
            for x in 0..<n {
                let t = Float(x + y) / Float(2 * n)
                let s = stripe * (Float(sin(Double((Float(x) * ca + Float(y) * sa) * 2 * .pi / period))))
                let noise = rng.uniform(-12, 12)
                img[x, y] = (clamp8(c0.0 + (c1.0 - c0.0) * t + s + noise), clamp8(c0.1 + (c1.1 - c0.1) * t + s + noise),
                             clamp8(c0.2 + (c1.2 - c0.2) * t + s + noise))
            }
        }
        let bg = ((c0.0 + c1.0) / 2, (c0.1 + c1.1) / 2, (c0.2 + c1.2) / 2)
        var boxes: [SageMakerAnnotation.Box] = []
        var placed: [SampleWindow] = []
        let want = 1 + Int(rng.next() % UInt64(maxObjects))
        var attempts = 0
        while boxes.count < want && attempts < 50 {
            attempts += 1
            let k = Int(rng.next() % UInt64(numClasses))
            let side = rng.uniform(0.2, 0.55), ar = rng.uniform(0.7, 1.4)
            let w = min(0.9, side * ar.squareRoot()), h = min(0.9, side / ar.squareRoot())
            let x0 = rng.uniform(0, 1 - w), y0 = rng.uniform(0, 1 - h)
            let px0 = Int(x0 * Float(n)), py0 = Int(y0 * Float(n))
            let pw = max(4, Int(w * Float(n))), ph = max(4, Int(h * Float(n)))
            let win = SampleWindow(x0: Float(px0), y0: Float(py0), x1: Float(px0 + pw), y1: Float(py0 + ph))
            // Some overlap, but every object stays mostly visible: the intersection is at most
            // 35 % of the smaller box.
            if placed.contains(where: { overlapOfSmaller($0, win) > 0.35 }) { continue }
            // A color far from the background mean so the shape is clearly visible.
            var color = (rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255))
            for _ in 0..<20 {
                let d = abs(color.0 - bg.0) + abs(color.1 - bg.1) + abs(color.2 - bg.2)
                if d > 200 { break }
                color = (rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255))
            }
            let c = (clamp8(color.0), clamp8(color.1), clamp8(color.2))
            for y in py0..<min(n, py0 + ph) {
                for x in px0..<min(n, px0 + pw) {
                    let u = (Float(x - px0) + 0.5) / Float(pw) * 2 - 1, v = (Float(y - py0) + 0.5) / Float(ph) * 2 - 1
                    if Self.inside(k, u, v) { img[x, y] = c }
                }
            }
            placed.append(win)
            boxes.append(SageMakerAnnotation.Box(class_id: k, left: Double(px0), top: Double(py0),
                                                 width: Double(min(pw, n - px0)), height: Double(min(ph, n - py0))))
        }
        return (img, boxes)
    }

    /// The SageMaker annotation of a generated image named `file`.
    public func annotation(file: String, boxes: [SageMakerAnnotation.Box]) -> SageMakerAnnotation {
        SageMakerAnnotation(
            file: file, imageSize: .init(width: imageSize, height: imageSize, depth: 3), annotations: boxes,
            categories: (0..<numClasses).map { .init(class_id: $0, name: Self.shapeNames[$0]) })
    }

    /// Output formats of `write`.
    public struct Formats: OptionSet, Sendable {
        /// Raw option bits.
        public let rawValue: Int
        /// Creates formats from bits.
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// JPEG images + SageMaker JSON (`train/`, `train_annotation/`, `validation/`, `validation_annotation/`).
        public static let json = Formats(rawValue: 1)
        /// `train.rec`/`train.idx`, `validation.rec`/`validation.idx`.
        public static let recordIO = Formats(rawValue: 2)
    }

    /// Writes `trainCount` + `validationCount` images under `directory`.
    public func write(to directory: String, trainCount: Int, validationCount: Int, formats: Formats, quality: Int = 92) throws {
        let fm = FileManager.default
        for (split, name, count) in [(0, "train", trainCount), (1, "validation", validationCount)] where count > 0 {
            let imgDir = (directory as NSString).appendingPathComponent(name)
            let annDir = (directory as NSString).appendingPathComponent(name + "_annotation")
            if formats.contains(.json) {
                do {
                    try fm.createDirectory(atPath: imgDir, withIntermediateDirectories: true)
                    try fm.createDirectory(atPath: annDir, withIntermediateDirectories: true)
                } catch { throw DetectionDataError.io(path: imgDir, reason: "cannot create directory: \(error)") }
            } else {
                do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
                    throw DetectionDataError.io(path: directory, reason: "cannot create directory: \(error)")
                }
            }
            let rec = formats.contains(.recordIO) ? try RecordIOWriter(path: (directory as NSString).appendingPathComponent(name + ".rec")) : nil
            for i in 0..<count {
                let (image, boxes) = sample(index: i, split: split)
                let jpeg = try ImageCodec.encodeJPEG(image, quality: quality)
                let base = String(format: "%@_%06d", name, i)
                let ann = annotation(file: base + ".jpg", boxes: boxes)
                if formats.contains(.json) {
                    let ip = (imgDir as NSString).appendingPathComponent(base + ".jpg")
                    let ap = (annDir as NSString).appendingPathComponent(base + ".json")
                    guard fm.createFile(atPath: ip, contents: Data(jpeg)), fm.createFile(atPath: ap, contents: try ann.encoded()) else {
                        throw DetectionDataError.io(path: ip, reason: "cannot write image or annotation")
                    }
                }
                if let rec {
                    let objects = try ann.objects(source: base)
                    try rec.write(ImageRecord(id: UInt64(i), labels: DetectionLabel.pack(objects), imageBytes: jpeg))
                }
            }
            try rec?.close(indexPath: (directory as NSString).appendingPathComponent(name + ".idx"))
        }
    }
}

func overlapOfSmaller(_ a: SampleWindow, _ b: SampleWindow) -> Float {
    let iw = max(0, min(a.x1, b.x1) - max(a.x0, b.x0)), ih = max(0, min(a.y1, b.y1) - max(a.y0, b.y0))
    let smaller = min((a.x1 - a.x0) * (a.y1 - a.y0), (b.x1 - b.x0) * (b.y1 - b.y0))
    return smaller > 0 ? iw * ih / smaller : 1
}

@inline(__always) func clamp8(_ v: Float) -> UInt8 { UInt8(max(0, min(255, v.rounded()))) }
