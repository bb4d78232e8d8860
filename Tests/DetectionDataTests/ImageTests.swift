import DetectionData
import Foundation
import Tensor
import Testing

/// A gray image with one solid red rectangle at pixel box (x0, y0, x1, y1) inclusive.
func redBoxImage(width: Int, height: Int, box: (Int, Int, Int, Int)) -> (RGBImage, DetectionLabel) {
    var img = RGBImage(width: width, height: height, fill: (90, 90, 90))
    for y in box.1...box.3 { for x in box.0...box.2 { let i = (y * width + x) * 3; img.pixels[i] = 255; img.pixels[i + 1] = 0; img.pixels[i + 2] = 0 } }
    let label = DetectionLabel(objects: [DetectionObject(classId: 0, xmin: Float(box.0) / Float(width), ymin: Float(box.1) / Float(height),
                                                         xmax: Float(box.2 + 1) / Float(width), ymax: Float(box.3 + 1) / Float(height))])
    return (img, label)
}

/// Bounding box (normalized, half-open) of the clearly red pixels, or nil.
func redExtent(_ img: RGBImage) -> (Float, Float, Float, Float)? {
    var minX = Int.max, minY = Int.max, maxX = -1, maxY = -1
    for y in 0..<img.height { for x in 0..<img.width {
        let i = (y * img.width + x) * 3
        if img.pixels[i] > 150 && img.pixels[i + 1] < 100 && img.pixels[i + 2] < 100 {
            minX = min(minX, x); minY = min(minY, y); maxX = max(maxX, x); maxY = max(maxY, y)
        }
    } }
    guard maxX >= 0 else { return nil }
    return (Float(minX) / Float(img.width), Float(minY) / Float(img.height), Float(maxX + 1) / Float(img.width), Float(maxY + 1) / Float(img.height))
}

@Suite("Images: codec, resize, augmentation")
struct ImageTests {
    @Test("PNG round-trips exactly; JPEG closely; both detected by signature")
    func codecRoundTrip() throws {
        let (img, _) = redBoxImage(width: 37, height: 21, box: (3, 4, 20, 15))
        let png = try ImageCodec.encodePNG(img)
        #expect(ImageFormat.sniff(png) == .png)
        #expect(try ImageCodec.decode(png, source: "t.png") == img)
        let jpeg = try ImageCodec.encodeJPEG(img, quality: 95)
        #expect(ImageFormat.sniff(jpeg) == .jpeg)
        let back = try ImageCodec.decode(jpeg, source: "t.jpg")
        #expect(back.width == 37 && back.height == 21)
        let meanError = zip(back.pixels, img.pixels).map { abs(Int($0) - Int($1)) }.reduce(0, +) / img.pixels.count
        #expect(meanError < 10)  // 4:2:0 chroma subsampling smears the saturated red edges
    }

    @Test("corrupt or truncated JPEG/PNG bytes are errors naming the source, never a crash")
    func corruptImages() throws {
        let (img, _) = redBoxImage(width: 40, height: 30, box: (5, 5, 20, 20))
        let jpeg = try ImageCodec.encodeJPEG(img), png = try ImageCodec.encodePNG(img)
        var garbled = jpeg
        for i in stride(from: 200, to: min(garbled.count, 400), by: 3) { garbled[i] = 0xFF }
        let cases: [[UInt8]] = [Array(jpeg.prefix(jpeg.count / 2)), Array(jpeg.prefix(10)), Array(png.prefix(png.count / 2)),
                                Array(png.prefix(12)), [1, 2, 3, 4, 5], [], garbled]
        for (n, bytes) in cases.enumerated() {
            #expect {
                _ = try ImageCodec.decode(bytes, source: "case-\(n).img")
            } throws: { error in
                guard case .badImage(let path, _) = error as? DataError else { return false }
                return path == "case-\(n).img"
            }
        }
    }

    @Test("resize: constant stays constant, sizes change, mean subtraction is planar RGB")
    func resizeAndInput() {
        let img = RGBImage(width: 7, height: 5, fill: (200, 100, 50))
        let r = ImageTransform.resize(img, width: 13, height: 3)
        #expect(r.width == 13 && r.height == 3 && r == RGBImage(width: 13, height: 3, fill: (200, 100, 50)))
        var out = [Float](repeating: 0, count: 3 * 13 * 3)
        out.withUnsafeMutableBufferPointer { ImageTransform.toNetworkInput(r, output: $0) }
        #expect(out[0] == 77 && out[39] == -17 && out[78] == -54)
    }

    @Test("mirror, expand and crop keep every box on its object's pixels", arguments: Array(0..<12))
    func boxesFollowPixels(seed: Int) throws {
        let (img, label) = redBoxImage(width: 120, height: 90, box: (30 + seed, 20, 70, 60 - seed))
        var rng = SeededGenerator(seed: UInt64(seed) * 7919)
        var aug = Augmentation()
        aug.brightness = 0; aug.contrast = 0; aug.saturation = 0; aug.hue = 0  // keep red detectable
        let transforms: [(String, (RGBImage, DetectionLabel)) ] = [
            ("mirror", Augmentation.mirror(img, label)),
            ("expand", aug.expand(img, label, using: &rng)),
            ("crop", aug.crop(img, label, using: &rng)),
            ("all", aug.apply(img, label, using: &rng)),
        ]
        for (name, (out, lab)) in transforms {
            let extent = try #require(redExtent(out), "\(name): the object vanished")
            let box = try #require(lab.objects.first, "\(name): the label lost the object")
            let tol = 1.5 / Float(min(out.width, out.height))
            // The label box covers the visible object (crops may clip both the same way).
            #expect(box.xmin <= extent.0 + tol && box.ymin <= extent.1 + tol && box.xmax >= extent.2 - tol && box.ymax >= extent.3 - tol,
                    "\(name) seed \(seed): box \(box) vs pixels \(extent)")
            #expect(abs(box.xmin - extent.0) <= tol && abs(box.xmax - extent.2) <= tol && abs(box.ymin - extent.1) <= tol && abs(box.ymax - extent.3) <= tol,
                    "\(name) seed \(seed): box \(box) vs pixels \(extent)")
        }
    }
}
