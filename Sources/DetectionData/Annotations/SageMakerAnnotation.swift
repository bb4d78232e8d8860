import Foundation

/// SageMaker Object Detection's per-image JSON annotation (image + annotation channels):
/// `{"file", "image_size": [{"width","height","depth"}], "annotations": [{"class_id","left",
/// "top","width","height"}], "categories": [{"class_id","name"}]}`, boxes in pixels from the
/// upper-left corner.
public struct SageMakerAnnotation: Codable, Equatable, Sendable {
    /// Image size entry.
    public struct ImageSize: Codable, Equatable, Sendable {
        /// Width in pixels.
        public var width: Int
        /// Height in pixels.
        public var height: Int
        /// Channels (3 supported).
        public var depth: Int
        /// Creates an image size.
        public init(width: Int, height: Int, depth: Int = 3) { self.width = width; self.height = height; self.depth = depth }
    }
    /// One box in pixels.
    public struct Box: Codable, Equatable, Sendable {
        /// 0-based class id.
        public var class_id: Int
        /// Left edge in pixels.
        public var left: Double
        /// Top edge in pixels.
        public var top: Double
        /// Width in pixels.
        public var width: Double
        /// Height in pixels.
        public var height: Double
        /// VOC's `difficult` flag — not in SageMaker's schema: `ssd convert voc` writes it on every
        /// box, so the VOC mAP can ignore difficult ones and every label packs with object width 6
        /// (absent = not difficult).
        public var difficult: Bool?
        /// Creates a box.
        public init(class_id: Int, left: Double, top: Double, width: Double, height: Double, difficult: Bool? = nil) {
            self.class_id = class_id; self.left = left; self.top = top; self.width = width; self.height = height; self.difficult = difficult
        }
    }
    /// A category name.
    public struct Category: Codable, Equatable, Sendable {
        /// 0-based class id.
        public var class_id: Int
        /// Human-readable name.
        public var name: String
        /// Creates a category.
        public init(class_id: Int, name: String) { self.class_id = class_id; self.name = name }
    }

    /// Image path relative to the image channel root; when absent the image is the one with
    /// the annotation's basename (SageMaker pairs `x.jpg` with `x.json`).
    public var file: String?
    /// One-element list with the image size.
    public var image_size: [ImageSize]
    /// The boxes.
    public var annotations: [Box]
    /// Optional category names.
    public var categories: [Category]?

    /// Creates an annotation.
    public init(file: String?, imageSize: ImageSize, annotations: [Box], categories: [Category]? = nil) {
        self.file = file; self.image_size = [imageSize]; self.annotations = annotations; self.categories = categories
    }

    /// Reads and decodes an annotation file.
    public static func read(path: String) throws -> SageMakerAnnotation {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DetectionDataError.io(path: path, reason: "cannot read annotation file")
        }
        do { return try JSONDecoder().decode(SageMakerAnnotation.self, from: data) } catch {
            throw DetectionDataError.badAnnotation(file: path, reason: "\(error)")
        }
    }

    /// Encodes as pretty JSON bytes.
    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try enc.encode(self)
    }

    /// Converts pixel boxes to normalized corners: xmin = left/W, ymin = top/H,
    /// xmax = (left+width)/W, ymax = (top+height)/H. A box outside the image (beyond 0.5 px of
    /// slack) or with non-positive size is an error naming the file and box.
    public func objects(source: String) throws -> [DetectionObject] {
        guard let size = image_size.first, size.width > 0, size.height > 0 else {
            throw DetectionDataError.badAnnotation(file: source, reason: "image_size must hold one {width, height} with positive values")
        }
        let w = Double(size.width), h = Double(size.height)
        var out: [DetectionObject] = []
        for (i, b) in annotations.enumerated() {
            let px: [Float] = [Float(b.left), Float(b.top), Float(b.left + b.width), Float(b.top + b.height)]
            if !(b.width > 0 && b.height > 0) {
                throw DetectionDataError.badBox(source: source, record: "annotation \(i)", box: px, reason: "has non-positive width or height (xmin ≥ xmax)")
            }
            if b.left < -0.5 || b.top < -0.5 || b.left + b.width > w + 0.5 || b.top + b.height > h + 0.5 {
                throw DetectionDataError.badBox(source: source, record: "annotation \(i)", box: px, reason: "lies outside the \(size.width)×\(size.height) image")
            }
            out.append(DetectionObject(
                classId: b.class_id,
                xmin: Float(max(0, b.left / w)), ymin: Float(max(0, b.top / h)),
                xmax: Float(min(1, (b.left + b.width) / w)), ymax: Float(min(1, (b.top + b.height) / h)), difficult: b.difficult ?? false))
        }
        return out
    }
}

/// Class names by 0-based class id, for the model artifacts, `ssd predict` and `ssd serve`.
public enum ClassNames {
    /// A class-names file: a JSON array of strings, or one name per line (blank lines ignored).
    /// It must name exactly `numClasses` classes when that is given.
    public static func read(file: String, numClasses: Int? = nil) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw DetectionDataError.io(path: file, reason: "cannot read the class-names file")
        }
        let names: [String]
        if let array = (try? JSONSerialization.jsonObject(with: data)) as? [Any] {
            names = try array.enumerated().map { i, v in
                guard let s = v as? String else {
                    throw DetectionDataError.badAnnotation(file: file, reason: "entry \(i) of the JSON array is not a string")
                }
                return s
            }
        } else {
            names = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let numClasses, names.count != numClasses {
            throw DetectionDataError.badAnnotation(file: file, reason: "names \(names.count) classes, num_classes is \(numClasses); give one name per class, in class-id order")
        }
        return names
    }

    /// Names from the `categories` of the SageMaker annotation files in `directory` (sorted),
    /// read until every class id in 0..<numClasses has a name (usually the first file names
    /// them all). Nil when the annotations leave some class unnamed. Two different names for
    /// one class id are an error naming both files.
    public static func fromAnnotations(directory: String, numClasses: Int) throws -> [String]? {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        var names = [String?](repeating: nil, count: numClasses), from = [String](repeating: "", count: numClasses)
        for file in files.filter({ $0.hasSuffix(".json") }).sorted() {
            let path = (directory as NSString).appendingPathComponent(file)
            for c in try SageMakerAnnotation.read(path: path).categories ?? [] where (0..<numClasses).contains(c.class_id) {
                if let known = names[c.class_id], known != c.name {
                    throw DetectionDataError.badAnnotation(file: path, reason: "names class \(c.class_id) '\(c.name)', \(from[c.class_id]) named it '\(known)'")
                }
                names[c.class_id] = c.name; from[c.class_id] = path
            }
            if names.allSatisfy({ $0 != nil }) { return names.map { $0! } }
        }
        return nil
    }
}
