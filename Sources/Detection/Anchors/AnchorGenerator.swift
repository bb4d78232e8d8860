/// MXNet's `contrib.MultiBoxPrior`: anchor boxes for one feature map, as normalized corners.
///
/// For every cell (row r, column c) with centre ((c + offsetX)·stepX, (r + offsetY)·stepY),
/// first one box per size with the first ratio, then one box per further ratio with the first
/// size: half-width = size·(H/W)·√ratio / 2, half-height = size / √ratio / 2. Order: row, column,
/// box — the order the heads' NHWC-flattened predictions use.
public struct AnchorGenerator: Equatable, Sendable {
    public var sizes: [Float]
    public var ratios: [Float]
    /// (y, x) step in normalized units; nil = 1 / feature size (MXNet's steps (−1, −1)).
    public var steps: (y: Float, x: Float)?
    public var offsets: (y: Float, x: Float) = (0.5, 0.5)
    /// Clamp corners to [0, 1] (the SSD example passes clip=False).
    public var clip: Bool

    public static func == (a: Self, b: Self) -> Bool {
        a.sizes == b.sizes && a.ratios == b.ratios && a.steps?.y == b.steps?.y && a.steps?.x == b.steps?.x
            && a.offsets == b.offsets && a.clip == b.clip
    }

    /// A generator for one feature map's sizes and ratios.
    public init(sizes: [Float], ratios: [Float], steps: (y: Float, x: Float)? = nil, clip: Bool = false) {
        precondition(!sizes.isEmpty && !ratios.isEmpty, "MultiBoxPrior needs at least one size and one ratio")
        self.sizes = sizes; self.ratios = ratios; self.steps = steps; self.clip = clip
    }

    /// Anchors per cell: sizes + ratios − 1.
    public var anchorsPerCell: Int { sizes.count + ratios.count - 1 }

    /// The anchors of an H×W feature map, H·W·anchorsPerCell × 4 values.
    public func anchors(height: Int, width: Int) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(height * width * anchorsPerCell * 4)
        let stepY = steps.map { $0.y > 0 ? $0.y : 1 / Float(height) } ?? 1 / Float(height)
        let stepX = steps.map { $0.x > 0 ? $0.x : 1 / Float(width) } ?? 1 / Float(width)
        let aspect = Float(height) / Float(width)
        func box(_ cx: Float, _ cy: Float, _ w: Float, _ h: Float) {
            var b = [cx - w, cy - h, cx + w, cy + h]
            if clip { b = b.map { min(max($0, 0), 1) } }
            out += b
        }
        let r0 = ratios[0].squareRoot()
        for r in 0..<height {
            let cy = (Float(r) + offsets.y) * stepY
            for c in 0..<width {
                let cx = (Float(c) + offsets.x) * stepX
                for size in sizes { box(cx, cy, size * aspect * r0 / 2, size / r0 / 2) }
                for ratio in ratios.dropFirst() {
                    let rr = ratio.squareRoot()
                    box(cx, cy, sizes[0] * aspect * rr / 2, sizes[0] / rr / 2)
                }
            }
        }
        return out
    }
}
