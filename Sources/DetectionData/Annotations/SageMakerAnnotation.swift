import Foundation

/// SageMaker Object Detection's JSON annotation (one file per image, image + annotation
/// channel layout): `file`, `image_size: [{width, height, depth}]`, `annotations:
/// [{class_id, left, top, width, height}]` in pixels, optional `categories`.
public struct SageMakerAnnotation: Codable, Equatable, Sendable {
    public struct ImageSize: Codable, Equatable, Sendable {
        public var width: Int
        public var height: Int
        public var depth: Int?
    }

    public struct Box: Codable, Equatable, Sendable {
        public var classId: Int
        public var left: Double
        public var top: Double
        public var width: Double
        public var height: Double

        enum CodingKeys: String, CodingKey {
            case classId = "class_id", left, top, width, height
        }

        public init(classId: Int, left: Double, top: Double, width: Double, height: Double) {
            self.classId = classId; self.left = left; self.top = top; self.width = width; self.height = height
        }
    }

    public struct Category: Codable, Equatable, Sendable {
        public var classId: Int
        public var name: String

        enum CodingKeys: String, CodingKey {
            case classId = "class_id", name
        }

        public init(classId: Int, name: String) { self.classId = classId; self.name = name }
    }

    public var file: String
    public var imageSize: [ImageSize]
    public var annotations: [Box]
    public var categories: [Category]?

    enum CodingKeys: String, CodingKey {
        case file, imageSize = "image_size", annotations, categories
    }

    public init(file: String, width: Int, height: Int, annotations: [Box], categories: [Category]? = nil) {
        self.file = file
        self.imageSize = [ImageSize(width: width, height: height, depth: 3)]
        self.annotations = annotations
        self.categories = categories
    }

    /// Reads and validates an annotation file.
    public init(path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw DataError.unreadable(path: path, reason: error.localizedDescription)
        }
        do { self = try JSONDecoder().decode(SageMakerAnnotation.self, from: data) } catch let DecodingError.keyNotFound(key, _) {
            throw DataError.badAnnotation(path: path, reason: "missing field \"\(key.stringValue)\"")
        } catch {
            throw DataError.badAnnotation(path: path, reason: "not a SageMaker annotation: \(error)")
        }
        guard let size = imageSize.first, size.width > 0, size.height > 0 else {
            throw DataError.badAnnotation(path: path, reason: "image_size must hold one {width, height} with positive values")
        }
        if let depth = size.depth, depth != 3 {
            throw DataError.badAnnotation(path: path, reason: "image_size depth \(depth): only 3-channel images are supported")
        }
    }

    /// The label with normalized corners: xmin = left/W, ymin = top/H, xmax = (left+width)/W,
    /// ymax = (top+height)/H. Boxes outside the image or with no area, and classes ≥
    /// `numClasses`, are errors naming this file.
    public func label(numClasses: Int?, path: String) throws -> DetectionLabel {
        guard let size = imageSize.first, size.width > 0, size.height > 0 else {
            throw DataError.badAnnotation(path: path, reason: "image_size must hold one {width, height} with positive values")
        }
        let w = Double(size.width), h = Double(size.height)
        let objects = annotations.map { b in
            DetectionObject(classId: b.classId, xmin: Float(b.left / w), ymin: Float(b.top / h),
                            xmax: Float((b.left + b.width) / w), ymax: Float((b.top + b.height) / h))
        }
        let label = DetectionLabel(objects: objects)
        try label.validate(numClasses: numClasses, path: path, record: file)
        return label
    }
}
