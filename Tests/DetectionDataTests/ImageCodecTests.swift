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

    /// A 96×96 JPEG of seeded noise (so the scan holds thousands of bytes of entropy-coded data).
    static func noiseJPEG(seed: UInt64) throws -> [UInt8] {
        var img = RGBImage(width: 96, height: 96)
        var rng = SeededGenerator(seed: seed)
        for i in 0..<img.pixels.count { img.pixels[i] = UInt8(rng.next() & 0xff) }
        return try ImageCodec.encodeJPEG(img, quality: 90)
    }

    /// Start of the entropy-coded scan: just after the SOS segment (FF DA + its length).
    static func scanStart(_ jpeg: [UInt8]) -> Int {
        var i = 2
        while i + 3 < jpeg.count {
            let marker = jpeg[i + 1], length = Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3])
            if marker == 0xda { return i + 2 + length }
            i += 2 + length
        }
        return jpeg.count
    }

    @Test("a JPEG with 200 garbled bytes mid-scan is an error naming the image (libjpeg's warning stops the decode)",
          arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func garbledJPEG(seed: UInt64) throws {
        var bytes = try Self.noiseJPEG(seed: seed)
        let start = Self.scanStart(bytes), end = bytes.count - 2  // FF D9 ends the image
        #expect(end - start > 2000)
        var rng = SeededGenerator(seed: 100 + seed)
        let at = start + (end - start) / 2
        for i in at..<(at + 200) { bytes[i] = UInt8(rng.next() & 0xff) }
        do {
            let img = try ImageCodec.decode(bytes, source: "train/img_\(seed).jpg")
            Issue.record("garbled JPEG decoded to \(img.width)×\(img.height)")
        } catch let DetectionDataError.imageDecode(source, reason) {
            #expect(source == "train/img_\(seed).jpg")
            #expect(reason.hasPrefix("corrupt JPEG data: Corrupt JPEG data"), "\(reason)")
        }
    }

    @Test("a JPEG or PNG cut short is an error naming the image", arguments: ["jpeg", "png"])
    func truncated(kind: String) throws {
        var img = RGBImage(width: 64, height: 64)
        for y in 0..<64 { for x in 0..<64 { img[x, y] = (UInt8(x * 4), UInt8(y * 4), UInt8((x + y) * 2)) } }
        let bytes = kind == "jpeg" ? try ImageCodec.encodeJPEG(img) : try ImageCodec.encodePNG(img)
        for keep in [bytes.count * 3 / 4, bytes.count - 20, bytes.count - 1] where kind == "png" || keep < bytes.count - 2 {
            do {
                _ = try ImageCodec.decode(Array(bytes.prefix(keep)), source: "cut.\(kind)")
                Issue.record("\(kind) cut to \(keep) of \(bytes.count) bytes decoded without error")
            } catch let DetectionDataError.imageDecode(source, _) {
                #expect(source == "cut.\(kind)")
            }
        }
        #expect(try ImageCodec.decode(bytes, source: "whole") == ImageCodec.decode(bytes, source: "again"))
    }

    @Test("drawn box outline sits on the box edges")
    func drawing() {
        var img = RGBImage(width: 20, height: 10)
        Drawing.drawBox(on: &img, xmin: 0.25, ymin: 0.2, xmax: 0.75, ymax: 0.8, color: (255, 0, 0), thickness: 1)
        #expect(img[5, 2] == (255, 0, 0) && img[15, 8] == (255, 0, 0) && img[10, 2] == (255, 0, 0))
        #expect(img[10, 5] == (0, 0, 0))
    }
}
