import Tensor
// Detection augmentation with the MXNet SSD example's train settings: random expansion
// (zoom-out), then random crop with IoU constraints on the expanded canvas (the SSD paper's
// order; a crop never reveals pixels outside the canvas), then horizontal mirror (p = 0.5),
// then color jitter. Every geometric step
// only moves a `SampleWindow` and the boxes; the pixels are resampled once by `Resize.render`.
// MXNet also picks a random interpolation method; here it is always bilinear.

/// What augmentation does to one sample: the source window, the mirror flag, the color
/// distortion and the transformed objects.
public struct AugmentationPlan: Equatable, Sendable {
    /// The region of the source image (normalized, may exceed [0, 1]) that becomes the input.
    public var window: SampleWindow
    /// Whether the result is mirrored left-right.
    public var mirror: Bool
    /// The color distortion.
    public var color: ColorJitter.Draw
    /// The objects in the output's normalized coordinates.
    public var objects: [DetectionObject]

    /// The identity plan (deterministic mode).
    public static func identity(_ objects: [DetectionObject]) -> AugmentationPlan {
        AugmentationPlan(window: .full, mirror: false, color: ColorJitter.Draw(), objects: objects)
    }
}

/// The training augmentation pipeline.
public struct Augmenter: Sendable {
    /// Crop step.
    public var crop = RandomCrop()
    /// Expansion step.
    public var expand = Expand()
    /// Mirror probability (MXNet example: 0.5).
    public var mirrorProbability: Float = 0.5
    /// Color step.
    public var color = ColorJitter()

    /// Creates the MXNet SSD example configuration.
    public init() {}

    /// Mirrors objects left-right.
    public static func mirror(_ objects: [DetectionObject]) -> [DetectionObject] {
        objects.map { DetectionObject(classId: $0.classId, xmin: 1 - $0.xmax, ymin: $0.ymin, xmax: 1 - $0.xmin, ymax: $0.ymax, difficult: $0.difficult) }
    }

    /// Draws a plan for a sample with `objects`.
    public func plan(objects: [DetectionObject], rng: inout SeededGenerator) -> AugmentationPlan {
        var window = SampleWindow.full
        var objs = objects
        if let e = expand.sample(rng: &rng) {
            window = window.sub(e); objs = Expand.apply(e, to: objs)
        }
        if let c = crop.sample(objects: objs, rng: &rng) {
            window = window.sub(c); objs = RandomCrop.apply(c, to: objs)
        }
        let mirror = rng.chance(mirrorProbability)
        if mirror { objs = Self.mirror(objs) }
        return AugmentationPlan(window: window, mirror: mirror, color: color.sample(rng: &rng), objects: objs)
    }
}
