// The only file that calls libturbojpeg and libpng (STYLE: one C module, one file).
import CImageCodecs

/// JPEG and PNG decoding to `RGBImage` and encoding from it.
public enum ImageCodec {
    /// Largest decoded image accepted (64 M pixels), so a corrupt header cannot demand gigabytes.
    public static let maxPixels = 1 << 26

    /// The container format of encoded bytes.
    public enum Format: Sendable { case jpeg, png }

    /// Recognizes JPEG (FF D8 FF) and PNG (89 'P' 'N' 'G') by their first bytes.
    public static func format(of bytes: [UInt8]) -> Format? {
        if bytes.count >= 3, bytes[0] == 0xff, bytes[1] == 0xd8, bytes[2] == 0xff { return .jpeg }
        if bytes.count >= 8, bytes[0] == 0x89, bytes[1] == 0x50, bytes[2] == 0x4e, bytes[3] == 0x47 { return .png }
        return nil
    }

    /// Decodes JPEG or PNG bytes to RGB; `source` names the image in errors.
    public static func decode(_ bytes: [UInt8], source: String) throws -> RGBImage {
        switch format(of: bytes) {
        case .jpeg: return try decodeJPEG(bytes, source: source)
        case .png: return try decodePNG(bytes, source: source)
        case nil:
            let head = bytes.prefix(4).map { String($0, radix: 16) }.joined(separator: " ")
            throw DetectionDataError.imageDecode(source: source, reason: "neither JPEG nor PNG (first bytes: \(head), \(bytes.count) bytes)")
        }
    }

    private static func decodeJPEG(_ bytes: [UInt8], source: String) throws -> RGBImage {
        guard let tj = tjInitDecompress() else {
            throw DetectionDataError.imageDecode(source: source, reason: "tjInitDecompress failed")
        }
        defer { tjDestroy(tj) }
        var w: Int32 = 0, h: Int32 = 0, subsamp: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer { p in
            tjDecompressHeader3(tj, p.baseAddress, UInt(p.count), &w, &h, &subsamp, &colorspace)
        }
        guard header == 0, w > 0, h > 0, Int(w) * Int(h) <= maxPixels else {
            throw DetectionDataError.imageDecode(source: source, reason: "JPEG header: \(String(cString: tjGetErrorStr2(tj)))")
        }
        var pixels = [UInt8](repeating: 0, count: Int(w) * Int(h) * 3)
        // Default flags: accurate (ISLOW) DCT, as OpenCV/MXNet decode. TJFLAG_STOPONWARNING
        // makes libjpeg's warnings ("Corrupt JPEG data: bad Huffman code", "premature end of
        // data segment", "N extraneous bytes before marker") stop the decode: a garbled or
        // truncated body would otherwise come back as a half-grey image and be trained on.
        let rc = bytes.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(tj, src.baseAddress, UInt(src.count), dst.baseAddress, w, 0, h, Int32(TJPF_RGB.rawValue),
                              Int32(TJFLAG_STOPONWARNING))
            }
        }
        if rc != 0 {
            let kind = tjGetErrorCode(tj) == Int32(TJERR_WARNING.rawValue) ? "corrupt JPEG data" : "JPEG data"
            throw DetectionDataError.imageDecode(source: source, reason: "\(kind): \(String(cString: tjGetErrorStr2(tj)))")
        }
        return RGBImage(width: Int(w), height: Int(h), pixels: pixels)
    }

    private static func pngMessage(_ img: inout png_image) -> String {
        withUnsafeBytes(of: &img.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func decodePNG(_ bytes: [UInt8], source: String) throws -> RGBImage {
        var img = png_image()
        img.version = UInt32(PNG_IMAGE_VERSION)
        let ok = bytes.withUnsafeBufferPointer { p in
            png_image_begin_read_from_memory(&img, p.baseAddress, p.count)
        }
        guard ok != 0 else {
            let m = pngMessage(&img); png_image_free(&img)
            throw DetectionDataError.imageDecode(source: source, reason: "PNG header: \(m)")
        }
        guard img.width > 0, img.height > 0, Int(img.width) * Int(img.height) <= maxPixels else {
            png_image_free(&img)
            throw DetectionDataError.imageDecode(source: source, reason: "PNG size \(img.width)×\(img.height) out of range")
        }
        img.format = UInt32(PNG_FORMAT_RGB)
        var pixels = [UInt8](repeating: 0, count: Int(img.width) * Int(img.height) * 3)
        let done = pixels.withUnsafeMutableBytes { dst in
            png_image_finish_read(&img, nil, dst.baseAddress, 0, nil)
        }
        guard done != 0 else {
            let m = pngMessage(&img); png_image_free(&img)
            throw DetectionDataError.imageDecode(source: source, reason: "PNG data: \(m)")
        }
        // libpng's simplified reader stops once it has the rows, so a file cut after its pixel
        // data (in the zlib checksum, the last CRC or IEND) would pass: require the chunk chain
        // to reach IEND, as a complete PNG does.
        guard pngReachesEnd(bytes) else {
            throw DetectionDataError.imageDecode(source: source, reason: "truncated PNG: its chunks end before IEND (\(bytes.count) bytes)")
        }
        return RGBImage(width: Int(img.width), height: Int(img.height), pixels: pixels)
    }

    /// Walks the chunks after the 8-byte signature (u32 big-endian length, 4-byte type, data,
    /// u32 CRC) and says whether a whole IEND chunk is among them.
    static func pngReachesEnd(_ bytes: [UInt8]) -> Bool {
        var at = 8
        while at + 12 <= bytes.count {
            let length = Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
            if bytes[at + 4] == 0x49, bytes[at + 5] == 0x45, bytes[at + 6] == 0x4e, bytes[at + 7] == 0x44 { return true }  // "IEND"
            at += 12 + length
        }
        return false
    }

    /// Encodes as baseline JPEG (4:2:0) at `quality` 1...100.
    public static func encodeJPEG(_ image: RGBImage, quality: Int = 92) throws -> [UInt8] {
        guard let tj = tjInitCompress() else { throw DetectionDataError.imageEncode(reason: "tjInitCompress failed") }
        defer { tjDestroy(tj) }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let rc = image.pixels.withUnsafeBufferPointer { p in
            tjCompress2(tj, p.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &out, &size, Int32(TJSAMP_420.rawValue), Int32(max(1, min(100, quality))), 0)
        }
        defer { if let out { tjFree(out) } }
        guard rc == 0, let out else { throw DetectionDataError.imageEncode(reason: String(cString: tjGetErrorStr2(tj))) }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }

    /// Encodes as 8-bit RGB PNG.
    public static func encodePNG(_ image: RGBImage) throws -> [UInt8] {
        var img = png_image()
        img.version = UInt32(PNG_IMAGE_VERSION)
        img.width = UInt32(image.width); img.height = UInt32(image.height)
        img.format = UInt32(PNG_FORMAT_RGB)
        var size = 0
        let sized = image.pixels.withUnsafeBytes { p in
            png_image_write_to_memory(&img, nil, &size, 0, p.baseAddress, 0, nil)
        }
        guard sized != 0, size > 0 else { throw DetectionDataError.imageEncode(reason: "PNG: \(pngMessage(&img))") }
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBytes { dst in
            image.pixels.withUnsafeBytes { p in
                png_image_write_to_memory(&img, dst.baseAddress, &size, 0, p.baseAddress, 0, nil)
            }
        }
        guard ok != 0 else { throw DetectionDataError.imageEncode(reason: "PNG: \(pngMessage(&img))") }
        return Array(out.prefix(size))
    }
}
