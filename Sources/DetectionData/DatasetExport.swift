import Foundation

/// Writes data sets in SageMaker's layouts: JPEG images with JSON annotations
/// (`<split>/` + `<split>_annotation/`), and/or RecordIO (`<split>.rec` + `<split>.idx`).
public enum DatasetExport {
    /// The layouts to write.
    public struct Formats: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let json = Formats(rawValue: 1)
        public static let recordIO = Formats(rawValue: 2)
    }

    /// Writes `count` samples produced by `sample(i)` as split `split` under `directory`.
    public static func write(
        split: String, count: Int, to directory: String, formats: Formats, categories: [String],
        sample: (Int) throws -> (image: RGBImage, label: DetectionLabel)
    ) throws {
        let fm = FileManager.default
        let images = (directory as NSString).appendingPathComponent(split)
        let annotations = (directory as NSString).appendingPathComponent("\(split)_annotation")
        if formats.contains(.json) {
            try fm.createDirectory(atPath: images, withIntermediateDirectories: true)
            try fm.createDirectory(atPath: annotations, withIntermediateDirectories: true)
        } else {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let writer = formats.contains(.recordIO) ? try RecordIOWriter(path: (directory as NSString).appendingPathComponent("\(split).rec")) : nil
        var index: [(key: Int, offset: Int)] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let cats = categories.enumerated().map { SageMakerAnnotation.Category(classId: $0.offset, name: $0.element) }
        for i in 0..<count {
            let (image, label) = try sample(i)
            let jpeg = try ImageCodec.encodeJPEG(image, quality: 92)
            let name = String(format: "%@_%06d", split, i)
            if formats.contains(.json) {
                try Data(jpeg).write(to: URL(fileURLWithPath: (images as NSString).appendingPathComponent("\(name).jpg")))
                let w = Double(image.width), h = Double(image.height)
                let boxes = label.objects.map { o in
                    SageMakerAnnotation.Box(classId: o.classId, left: (Double(o.xmin) * w).rounded(), top: (Double(o.ymin) * h).rounded(),
                                            width: (Double(o.xmax - o.xmin) * w).rounded(), height: (Double(o.ymax - o.ymin) * h).rounded())
                }
                let annotation = SageMakerAnnotation(file: "\(name).jpg", width: image.width, height: image.height,
                                                     annotations: boxes, categories: cats)
                try encoder.encode(annotation).write(to: URL(fileURLWithPath: (annotations as NSString).appendingPathComponent("\(name).json")))
            }
            if let writer {
                let offset = try writer.write(ImageRecord(label: label.flattened, id: UInt64(i), image: jpeg).payload)
                index.append((i, offset))
            }
        }
        if let writer {
            try writer.close()
            try IndexFile(entries: index).write(to: (directory as NSString).appendingPathComponent("\(split).idx"))
        }
    }
}
