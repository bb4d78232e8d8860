import Tensor
// Random expansion (MXNet rand_pad): the image is placed at a random offset on a canvas up to
// `maxScale` times larger, filled with 127 (fill_value); probability 0.5, max_pad_scale 4.

/// The random-expansion (zoom-out) step of detection augmentation.
public struct Expand: Sendable {
    /// Probability of expanding (MXNet example: 0.5).
    public var probability: Float = 0.5
    /// Largest canvas side relative to the image (MXNet example: 4).
    public var maxScale: Float = 4

    /// Creates the MXNet SSD example configuration.
    public init() {}

    /// The canvas in the current window's normalized coordinates, or nil for no expansion.
    public func sample(rng: inout SeededGenerator) -> SampleWindow? {
        guard maxScale > 1, rng.chance(probability) else { return nil }
        let s = rng.uniform(1, maxScale)
        let ox = rng.uniform(0, s - 1), oy = rng.uniform(0, s - 1)
        return SampleWindow(x0: -ox, y0: -oy, x1: s - ox, y1: s - oy)
    }

    /// Objects seen through the canvas (normalized in the canvas).
    public static func apply(_ canvas: SampleWindow, to objects: [DetectionObject]) -> [DetectionObject] {
        let w = canvas.x1 - canvas.x0, h = canvas.y1 - canvas.y0
        return objects.map { o in
            DetectionObject(classId: o.classId, xmin: (o.xmin - canvas.x0) / w, ymin: (o.ymin - canvas.y0) / h,
                            xmax: (o.xmax - canvas.x0) / w, ymax: (o.ymax - canvas.y0) / h, difficult: o.difficult)
        }
    }
}
