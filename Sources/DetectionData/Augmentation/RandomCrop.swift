import Tensor
// Random crop with minimum-IoU constraints, as MXNet's ImageDetRecordIter train config of the
// SSD example: 5 samplers with min overlap 0.1/0.3/0.5/0.7/0.9, scale 0.3...1, aspect ratio
// 0.5...2, 25 trials each; objects are kept when their center lies in the crop
// (crop_emit_mode 'center') and clipped to it.

/// The random-crop step of detection augmentation.
public struct RandomCrop: Sendable {
    /// Probability of cropping at all (MXNet example: 5/6).
    public var probability: Float = 5.0 / 6.0
    /// Minimum IoU with some object, one sampler per value.
    public var minOverlaps: [Float] = [0.1, 0.3, 0.5, 0.7, 0.9]
    /// Range of the crop side relative to the image.
    public var scale: ClosedRange<Float> = 0.3...1.0
    /// Range of the crop aspect ratio (width / height).
    public var aspectRatio: ClosedRange<Float> = 0.5...2.0
    /// Trials per sampler.
    public var maxTrials = 25

    /// Creates the MXNet SSD example configuration.
    public init() {}

    /// IoU of two normalized boxes.
    public static func iou(_ a: SampleWindow, _ b: SampleWindow) -> Float {
        let iw = max(0, min(a.x1, b.x1) - max(a.x0, b.x0)), ih = max(0, min(a.y1, b.y1) - max(a.y0, b.y0))
        let inter = iw * ih
        let union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter
        return union > 0 ? inter / union : 0
    }

    /// Objects seen through `crop` (normalized in the crop): kept if their center is inside, clipped.
    public static func apply(_ crop: SampleWindow, to objects: [DetectionObject]) -> [DetectionObject] {
        let w = crop.x1 - crop.x0, h = crop.y1 - crop.y0
        var out: [DetectionObject] = []
        for o in objects {
            let cx = (o.xmin + o.xmax) / 2, cy = (o.ymin + o.ymax) / 2
            guard cx > crop.x0, cx < crop.x1, cy > crop.y0, cy < crop.y1 else { continue }
            let n = DetectionObject(
                classId: o.classId,
                xmin: max(0, (o.xmin - crop.x0) / w), ymin: max(0, (o.ymin - crop.y0) / h),
                xmax: min(1, (o.xmax - crop.x0) / w), ymax: min(1, (o.ymax - crop.y0) / h), difficult: o.difficult)
            if n.xmax > n.xmin && n.ymax > n.ymin { out.append(n) }
        }
        return out
    }

    /// Picks a crop (in the current window's normalized coordinates) or nil for no crop.
    public func sample(objects: [DetectionObject], rng: inout SeededGenerator) -> SampleWindow? {
        guard !objects.isEmpty, rng.chance(probability) else { return nil }
        var candidates: [SampleWindow] = []
        for minOverlap in minOverlaps {
            for _ in 0..<maxTrials {
                let s = rng.uniform(scale.lowerBound, scale.upperBound)
                let ar = rng.uniform(aspectRatio.lowerBound, aspectRatio.upperBound)
                let w = min(1, s * ar.squareRoot()), h = min(1, s / ar.squareRoot())
                let x0 = rng.uniform(0, 1 - w), y0 = rng.uniform(0, 1 - h)
                let crop = SampleWindow(x0: x0, y0: y0, x1: x0 + w, y1: y0 + h)
                let ok = objects.contains { o in
                    Self.iou(crop, SampleWindow(x0: o.xmin, y0: o.ymin, x1: o.xmax, y1: o.ymax)) >= minOverlap
                }
                if ok && !Self.apply(crop, to: objects).isEmpty { candidates.append(crop); break }
            }
        }
        guard !candidates.isEmpty else { return nil }
        return candidates[Int(rng.next() % UInt64(candidates.count))]
    }
}
