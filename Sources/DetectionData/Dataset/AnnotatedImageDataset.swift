import Foundation

/// Samples from SageMaker's image + annotation channels: one JSON per image (same basename),
/// `file` relative to the image channel root.
public final class AnnotatedImageDataset: DetectionDataset, @unchecked Sendable {
    /// The image channel folder.
    public let name: String
    /// Annotation file paths, sorted.
    public let annotationPaths: [String]
    private let imageRoot: String

    /// Lists `*.json` in `annotationDirectory` (sorted) for images under `imageRoot`.
    public init(imageRoot: String, annotationDirectory: String) throws {
        name = imageRoot
        self.imageRoot = imageRoot
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: annotationDirectory) else {
            throw DetectionDataError.io(path: annotationDirectory, reason: "cannot list annotation directory")
        }
        annotationPaths = files.filter { $0.hasSuffix(".json") }.sorted().map { (annotationDirectory as NSString).appendingPathComponent($0) }
        guard !annotationPaths.isEmpty else { throw DetectionDataError.emptyDataset(source: annotationDirectory) }
    }

    /// Number of annotated images.
    public var count: Int { annotationPaths.count }

    /// The image an annotation names: `file` under the channel root, else its basename in the
    /// root (channels are often uploaded flat), else `<json basename>.jpg|.jpeg|.png`.
    static func imagePath(for ann: SageMakerAnnotation, annotationPath: String, imageRoot: String) -> String {
        let fm = FileManager.default
        var candidates: [String] = []
        if let file = ann.file {
            candidates.append((imageRoot as NSString).appendingPathComponent(file))
            candidates.append((imageRoot as NSString).appendingPathComponent((file as NSString).lastPathComponent))
        }
        let stem = ((annotationPath as NSString).lastPathComponent as NSString).deletingPathExtension
        for ext in ["jpg", "jpeg", "png", "JPG", "JPEG", "PNG"] {
            candidates.append((imageRoot as NSString).appendingPathComponent(stem + "." + ext))
        }
        return candidates.first { fm.fileExists(atPath: $0) } ?? candidates[0]
    }

    /// Reads annotation `index` and its image.
    public func sample(at index: Int) throws -> EncodedSample {
        guard index >= 0, index < annotationPaths.count else {
            throw DetectionDataError.indexOutOfRange(source: name, index: index, count: annotationPaths.count)
        }
        let jsonPath = annotationPaths[index]
        let ann = try SageMakerAnnotation.read(path: jsonPath)
        let objects = try ann.objects(source: jsonPath)
        let imagePath = Self.imagePath(for: ann, annotationPath: jsonPath, imageRoot: imageRoot)
        let bytes = try readFileBytes(imagePath, referencedBy: jsonPath)
        // Annotations with a `difficult` key pack as MXNet's VOC labels (object width 6) on every image, not only where one is set.
        let label = DetectionLabel.pack(objects, withDifficult: ann.annotations.contains { $0.difficult != nil })
        return EncodedSample(imageBytes: bytes, objects: objects, rawLabel: label, id: UInt64(index), source: "\(jsonPath) (image \(imagePath))")
    }
}
