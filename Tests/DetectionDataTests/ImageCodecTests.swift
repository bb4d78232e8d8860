import Tensor
import Testing
@testable import DetectionData

@Suite("Image codecs")
struct ImageCodecTests {
    @Test("the fixture PNG decodes to the pixels MXNet decodes")
    func pngFixture() throws {
        let meta = try FixtureMeta.load()
        let img = try ImageCodec.decode(meta.records[0].imageBytes, source: "fixture png")
        #expect(img.width == meta.png.width && img.height == meta.png.height)
        #expect(img.pixels == meta.png.pixels)
    }

    @Test("PNG encode → decode is lossless")
    func pngRoundTrip() throws {
        var img = RGBImage(width: 13, height: 7)
        var rng = SeededGenerator(seed: 3)
        for i in 0..<img.pixels.count { img.pixels[i] = UInt8(rng.next() & 0xff) }
        let bytes = try ImageCodec.encodePNG(img)
        #expect(ImageCodec.format(of: bytes) == .png)
        #expect(try ImageCodec.decode(bytes, source: "roundtrip") == img)
    }

    @Test("JPEG encode → decode stays close on a smooth image")
    func jpegRoundTrip() throws {
        var img = RGBImage(width: 32, height: 24)
        for y in 0..<24 { for x in 0..<32 { img[x, y] = (UInt8(x * 8), UInt8(y * 10), 128) } }
        let bytes = try ImageCodec.encodeJPEG(img, quality: 95)
        #expect(ImageCodec.format(of: bytes) == .jpeg)
        let back = try ImageCodec.decode(bytes, source: "roundtrip")
        #expect(back.width == 32 && back.height == 24)
        let maxDiff = zip(back.pixels, img.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(maxDiff <= 12)
    }

    @Test("corrupt image bytes are a decode error naming the source", arguments: ["jpeg", "png", "other"])
    func corrupt(kind: String) throws {
        let good = try kind == "png" ? ImageCodec.encodePNG(RGBImage(width: 8, height: 8)) : ImageCodec.encodeJPEG(RGBImage(width: 8, height: 8))
        var bad: [UInt8]
        switch kind {
        case "jpeg": bad = Array(good.prefix(20)) + [UInt8](repeating: 0x55, count: 40)
        case "png": bad = Array(good.prefix(30)) + [UInt8](repeating: 0x55, count: 40)
        default: bad = [1, 2, 3, 4, 5]
        }
        do {
            _ = try ImageCodec.decode(bad, source: "img-\(kind)")
            Issue.record("corrupt \(kind) decoded without error")
        } catch let e as DetectionDataError {
            guard case let .imageDecode(source, _) = e else { Issue.record("wrong error \(e)"); return }
            #expect(source == "img-\(kind)")
        }
    }

    @Test("a JPEG cut inside its scan data still decodes (a libjpeg warning, as OpenCV/MXNet accept)")
    func truncatedScanIsWarning() throws {
        var img = RGBImage(width: 64, height: 64)
        for y in 0..<64 { for x in 0..<64 { img[x, y] = (UInt8(x * 4), UInt8(y * 4), UInt8((x + y) * 2)) } }
        let bytes = try ImageCodec.encodeJPEG(img)
        let cut = try ImageCodec.decode(Array(bytes.prefix(bytes.count * 3 / 4)), source: "cut")
        #expect(cut.width == 64 && cut.height == 64)
    }

    @Test("drawn box outline sits on the box edges")
    func drawing() {
        var img = RGBImage(width: 20, height: 10)
        Drawing.drawBox(on: &img, xmin: 0.25, ymin: 0.2, xmax: 0.75, ymax: 0.8, color: (255, 0, 0), thickness: 1)
        #expect(img[5, 2] == (255, 0, 0) && img[15, 8] == (255, 0, 0) && img[10, 2] == (255, 0, 0))
        #expect(img[10, 5] == (0, 0, 0))
    }
}
