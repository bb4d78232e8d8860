/// Drawing of detection boxes on an image (for `ssd predict` and debugging).
public enum Drawing {
    /// A distinct color per class id.
    public static func color(forClass c: Int) -> (UInt8, UInt8, UInt8) {
        let palette: [(UInt8, UInt8, UInt8)] = [
            (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
            (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 190),
        ]
        return palette[((c % palette.count) + palette.count) % palette.count]
    }

    /// Draws the outline of a normalized box [xmin, ymin, xmax, ymax] `thickness` pixels wide.
    public static func drawBox(
        on image: inout RGBImage, xmin: Float, ymin: Float, xmax: Float, ymax: Float,
        color: (UInt8, UInt8, UInt8), thickness: Int = 2
    ) {
        guard image.width > 0, image.height > 0 else { return }
        func px(_ v: Float, _ n: Int) -> Int { max(0, min(n - 1, Int((v * Float(n)).rounded(.down)))) }
        let x0 = px(xmin, image.width), x1 = px(xmax, image.width)
        let y0 = px(ymin, image.height), y1 = px(ymax, image.height)
        guard x0 <= x1, y0 <= y1 else { return }
        for t in 0..<max(1, thickness) {
            for x in x0...x1 {
                if y0 + t <= y1 { image[x, y0 + t] = color }
                if y1 - t >= y0 { image[x, y1 - t] = color }
            }
            for y in y0...y1 {
                if x0 + t <= x1 { image[x0 + t, y] = color }
                if x1 - t >= x0 { image[x1 - t, y] = color }
            }
        }
    }

    /// Draws every object's box in its class color.
    public static func drawObjects(_ objects: [DetectionObject], on image: inout RGBImage, thickness: Int = 2) {
        for o in objects {
            drawBox(on: &image, xmin: o.xmin, ymin: o.ymin, xmax: o.xmax, ymax: o.ymax,
                    color: color(forClass: o.classId), thickness: thickness)
        }
    }
}
