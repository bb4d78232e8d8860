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

    /// Draws a box with a label (e.g. "dog 0.87") on a filled tab of the box's color at its
    /// top-left corner (inside the image), the text in black or white, whichever reads better.
    public static func drawLabelledBox(
        on image: inout RGBImage, box: [Float], label: String, color: (UInt8, UInt8, UInt8), font: LabelFont
    ) {
        guard box.count == 4, image.width > 0, image.height > 0 else { return }
        let thickness = max(2, min(image.width, image.height) / 150)
        drawBox(on: &image, xmin: box[0], ymin: box[1], xmax: box[2], ymax: box[3], color: color, thickness: thickness)
        let pixelSize = max(10, min(image.width, image.height) / 28), margin = max(2, pixelSize / 5)
        let size = font.measure(label, pixelSize: pixelSize)
        let tabWidth = size.width + 2 * margin, tabHeight = size.height + margin
        var x0 = max(0, min(image.width - 1, Int((box[0] * Float(image.width)).rounded(.down))))
        var y0 = Int((box[1] * Float(image.height)).rounded(.down)) - tabHeight
        if y0 < 0 { y0 = max(0, min(image.height - 1, y0 + tabHeight)) }   // no room above: inside the box
        x0 = max(0, min(x0, image.width - tabWidth))
        for y in y0..<min(image.height, y0 + tabHeight) { for x in x0..<min(image.width, x0 + tabWidth) { image[x, y] = color } }
        let luminance = 0.299 * Double(color.0) + 0.587 * Double(color.1) + 0.114 * Double(color.2)
        font.draw(label, on: &image, x: x0 + margin, y: y0 + margin / 2, pixelSize: pixelSize,
                  color: luminance > 140 ? (0, 0, 0) : (255, 255, 255))
    }

    /// Draws every object's box in its class color.
    public static func drawObjects(_ objects: [DetectionObject], on image: inout RGBImage, thickness: Int = 2) {
        for o in objects {
            drawBox(on: &image, xmin: o.xmin, ymin: o.ymin, xmax: o.xmax, ymax: o.ymax,
                    color: color(forClass: o.classId), thickness: thickness)
        }
    }
}
