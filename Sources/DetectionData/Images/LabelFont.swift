import CFreeType
import Foundation

/// Text for box labels, rendered by FreeType from a TrueType font (the only file that
/// imports `CFreeType`). By default DejaVu Sans from Debian's `fonts-dejavu-core`; the
/// `SSD_LABEL_FONT` environment variable or `init(path:)` names another font file.
///
/// One FreeType face is not safe to use from two threads at once, so drawing holds a lock.
public final class LabelFont: @unchecked Sendable {
    /// Where Debian's `fonts-dejavu-core` (and its usual relatives) put DejaVu Sans.
    public static let standardPaths = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ]

    /// A font that cannot be used, and how to get one.
    public struct Unavailable: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String {
            "label font \(path): \(reason); install Debian's fonts-dejavu-core (scripts/install-deps.sh) or set SSD_LABEL_FONT to a .ttf file"
        }
    }

    private var library: FT_Library?
    private var face: FT_Face?
    private let lock = NSLock()
    /// The font file in use.
    public let path: String

    /// Opens the font at `path` (default: `SSD_LABEL_FONT`, else the first standard path that exists).
    public init(path: String? = nil) throws {
        let chosen = path ?? ProcessInfo.processInfo.environment["SSD_LABEL_FONT"]
            ?? Self.standardPaths.first { FileManager.default.fileExists(atPath: $0) } ?? Self.standardPaths[0]
        self.path = chosen
        guard FT_Init_FreeType(&library) == 0 else { throw Unavailable(path: chosen, reason: "FreeType failed to start") }
        let error = FT_New_Face(library, chosen, 0, &face)
        guard error == 0, face != nil else {
            // deinit runs for a class whose init throws once every property is set: it frees the library.
            throw Unavailable(path: chosen, reason: FileManager.default.fileExists(atPath: chosen)
                              ? "FreeType cannot read it (error \(error))" : "no such file")
        }
    }

    deinit {
        FT_Done_Face(face)
        FT_Done_FreeType(library)
    }

    /// Width and height in pixels of `text` at `pixelSize` (height = ascender + descender).
    public func measure(_ text: String, pixelSize: Int) -> (width: Int, height: Int) {
        lock.lock(); defer { lock.unlock() }
        guard let face, FT_Set_Pixel_Sizes(face, 0, FT_UInt(pixelSize)) == 0 else { return (0, 0) }
        var width = 0
        for scalar in text.unicodeScalars where FT_Load_Char(face, FT_ULong(scalar.value), FT_Int32(FT_LOAD_DEFAULT)) == 0 {
            width += Int(face.pointee.glyph.pointee.advance.x >> 6)
        }
        let metrics = face.pointee.size.pointee.metrics
        return (width, Int(metrics.ascender >> 6) - Int(metrics.descender >> 6))
    }

    /// Draws `text` with its top-left corner at (x, y), blending each glyph's coverage over
    /// the image in `color`; pixels outside the image are skipped.
    public func draw(_ text: String, on image: inout RGBImage, x: Int, y: Int, pixelSize: Int, color: (UInt8, UInt8, UInt8)) {
        lock.lock(); defer { lock.unlock() }
        guard let face, FT_Set_Pixel_Sizes(face, 0, FT_UInt(pixelSize)) == 0 else { return }
        let baseline = y + Int(face.pointee.size.pointee.metrics.ascender >> 6)
        var penX = x
        for scalar in text.unicodeScalars {
            guard FT_Load_Char(face, FT_ULong(scalar.value), FT_Int32(FT_LOAD_RENDER)) == 0 else { continue }
            let glyph = face.pointee.glyph.pointee, bitmap = glyph.bitmap
            let left = penX + Int(glyph.bitmap_left), top = baseline - Int(glyph.bitmap_top)
            if let buffer = bitmap.buffer {
                for row in 0..<Int(bitmap.rows) {
                    let py = top + row
                    guard py >= 0, py < image.height else { continue }
                    for column in 0..<Int(bitmap.width) {
                        let px = left + column
                        guard px >= 0, px < image.width else { continue }
                        let coverage = Int(buffer[row * Int(bitmap.pitch) + column])
                        guard coverage > 0 else { continue }
                        let old = image[px, py]
                        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8((Int(a) * (255 - coverage) + Int(b) * coverage + 127) / 255) }
                        image[px, py] = (mix(old.0, color.0), mix(old.1, color.1), mix(old.2, color.2))
                    }
                }
            }
            penX += Int(glyph.advance.x >> 6)
        }
    }
}
