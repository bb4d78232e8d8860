import Foundation
import DetectionData

/// Fixture folder and scratch-directory helpers for DetectionDataTests.
enum TestFiles {
    static func fixture(_ name: String) throws -> String {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw DetectionDataError.io(path: "Fixtures", reason: "test resource folder missing")
        }
        return dir.appendingPathComponent(name).path
    }

    /// A fresh empty directory under the system temporary directory.
    static func scratch(_ tag: String) throws -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("ddt-\(tag)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    /// Removes a scratch directory (best effort).
    static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    static func write(_ bytes: [UInt8], to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw DetectionDataError.io(path: path, reason: "cannot write")
        }
    }

    static func write(_ text: String, to path: String) throws { try write(Array(text.utf8), to: path) }

    /// A solid image with a filled rectangle [x0, x1) × [y0, y1) of `color`.
    static func imageWithBox(width: Int, height: Int, x0: Int, y0: Int, x1: Int, y1: Int,
                             color: (UInt8, UInt8, UInt8) = (255, 255, 255)) -> RGBImage {
        var img = RGBImage(width: width, height: height, fill: (0, 0, 0))
        for y in y0..<y1 { for x in x0..<x1 { img[x, y] = color } }
        return img
    }
}
