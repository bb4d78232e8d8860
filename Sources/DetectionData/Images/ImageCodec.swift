// The only file that imports CImageCodecs: JPEG through libturbojpeg, PNG through libpng's
// simplified API. Decoding never traps on bad bytes: every failure is a DataError.
import CImageCodecs
import Foundation

/// An 8-bit RGB image, rows top to bottom, 3 bytes per pixel (R, G, B).
public struct RGBImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    /// An image filled with one color.
    public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { pixels[3 * i] = fill.0; pixels[3 * i + 1] = fill.1; pixels[3 * i + 2] = fill.2 }
    }

    /// An image over existing pixel bytes (count must be width × height × 3).
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGB image \(width)x\(height) needs \(width * height * 3) bytes")
        self.width = width; self.height = height; self.pixels = pixels
    }
}

/// Encoded image formats the codec knows.
public enum ImageFormat: String, Sendable {
    case jpeg, png

    /// The format of encoded bytes by their signature, or nil.
    public static func sniff(_ bytes: [UInt8]) -> ImageFormat? {
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        if bytes.count >= 8, bytes[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        return nil
    }
}

/// JPEG and PNG decoding and encoding.
public enum ImageCodec {
    /// Decodes JPEG or PNG bytes to RGB. `source` names the file or record in errors.
    public static func decode(_ bytes: [UInt8], source: String) throws -> RGBImage {
        switch ImageFormat.sniff(bytes) {
        case .jpeg: return try decodeJPEG(bytes, source: source)
        case .png: return try decodePNG(bytes, source: source)
        case nil:
            throw DataError.badImage(path: source, reason: "neither JPEG nor PNG (\(bytes.count) bytes, starts \(bytes.prefix(4).map { String(format: "%02x", $0) }.joined()))")
        }
    }

    static func decodeJPEG(_ bytes: [UInt8], source: String) throws -> RGBImage {
        guard let handle = tjInitDecompress() else { throw DataError.badImage(path: source, reason: "cannot start libturbojpeg") }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let header = bytes.withUnsafeBufferPointer {
            tjDecompressHeader3(handle, $0.baseAddress, UInt($0.count), &width, &height, &subsampling, &colorspace)
        }
        guard header == 0, width > 0, height > 0, Int(width) * Int(height) <= 1 << 28 else {
            throw DataError.badImage(path: source, reason: "JPEG header: \(String(cString: tjGetErrorStr2(handle)))")
        }
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let rc = bytes.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                tjDecompress2(handle, src.baseAddress, UInt(src.count), dst.baseAddress, width, 0, height, Int32(TJPF_RGB.rawValue), 0)
            }
        }
        // Warnings too (a truncated file decodes to a half-grey picture): a damaged image is
        // an error, never silently trained on.
        if rc != 0 {
            throw DataError.badImage(path: source, reason: "JPEG data: \(String(cString: tjGetErrorStr2(handle)))")
        }
        return RGBImage(width: Int(width), height: Int(height), pixels: pixels)
    }

    static func decodePNG(_ bytes: [UInt8], source: String) throws -> RGBImage {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let begin = bytes.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begin != 0, image.width > 0, image.height > 0, Int(image.width) * Int(image.height) <= 1 << 28 else {
            let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            png_image_free(&image)
            throw DataError.badImage(path: source, reason: "PNG header: \(message)")
        }
        image.format = UInt32(PNG_FORMAT_RGB)
        var pixels = [UInt8](repeating: 0, count: Int(image.width) * Int(image.height) * 3)
        let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        let message = withUnsafeBytes(of: image.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        png_image_free(&image)
        guard ok != 0 else { throw DataError.badImage(path: source, reason: "PNG data: \(message)") }
        return RGBImage(width: Int(image.width), height: Int(image.height), pixels: pixels)
    }

    /// Encodes RGB as JPEG with the given quality (1–100).
    public static func encodeJPEG(_ image: RGBImage, quality: Int = 90) throws -> [UInt8] {
        guard let handle = tjInitCompress() else { throw DataError.badImage(path: "<encoder>", reason: "cannot start libturbojpeg") }
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let rc = image.pixels.withUnsafeBufferPointer {
            tjCompress2(handle, $0.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                        &buffer, &size, Int32(TJSAMP_420.rawValue), Int32(quality), 0)
        }
        defer { if let buffer { tjFree(buffer) } }
        guard rc == 0, let buffer else {
            throw DataError.badImage(path: "<encoder>", reason: "JPEG encode: \(String(cString: tjGetErrorStr2(handle)))")
        }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    /// Encodes RGB as PNG.
    public static func encodePNG(_ image: RGBImage) throws -> [UInt8] {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = UInt32(PNG_FORMAT_RGB)
        var size = 0
        let probe = image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, 0, nil) }
        guard probe != 0, size > 0 else { throw DataError.badImage(path: "<encoder>", reason: "PNG encode failed") }
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBytes { dst in
            image.pixels.withUnsafeBytes { png_image_write_to_memory(&png, dst.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
        }
        png_image_free(&png)
        guard ok != 0 else { throw DataError.badImage(path: "<encoder>", reason: "PNG encode failed") }
        return Array(out.prefix(size))
    }
}
