import Foundation

/// A COCO `instances_*.json` (the fields detection needs).
public struct COCOInstances: Decodable, Sendable {
    /// `images[]`.
    public struct Image: Decodable, Sendable {
        public var id: Int
        public var file_name: String
        public var width: Int
        public var height: Int
    }
    /// `annotations[]`; `bbox` is [x, y, width, height] in pixels from the upper-left corner.
    public struct Annotation: Decodable, Sendable {
        public var image_id: Int
        public var category_id: Int
        public var bbox: [Double]
        public var iscrowd: Int?
    }
    /// `categories[]`; ids need not be contiguous (COCO's 80 classes use 1…90).
    public struct Category: Decodable, Sendable {
        public var id: Int
        public var name: String
    }
    public var images: [Image]
    public var annotations: [Annotation]
    public var categories: [Category]

    /// Reads `path`; a missing or mistyped field is an error naming it (`images[3].width`).
    public static func read(path: String) throws -> COCOInstances {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConversionError.missingFile(path: path, reason: "cannot read the COCO annotation file")
        }
        func field(_ path: [any CodingKey], _ key: (any CodingKey)? = nil) -> String {
            var s = ""
            for k in path + (key.map { [$0] } ?? []) {
                if let i = k.intValue { s += "[\(i)]" } else { s += (s.isEmpty ? "" : ".") + k.stringValue }
            }
            return s.isEmpty ? "(top level)" : s
        }
        do { return try JSONDecoder().decode(COCOInstances.self, from: data) } catch let error as DecodingError {
            switch error {
            case let .keyNotFound(key, context): throw ConversionError.missingField(file: path, field: field(context.codingPath, key))
            case let .valueNotFound(_, context): throw ConversionError.missingField(file: path, field: field(context.codingPath))
            case let .typeMismatch(type, context):
                throw ConversionError.badValue(file: path, field: field(context.codingPath), value: "\(context.debugDescription)", reason: "is not of type \(type)")
            case let .dataCorrupted(context): throw ConversionError.malformed(file: path, reason: "\(field(context.codingPath)): \(context.debugDescription)")
            @unknown default: throw ConversionError.malformed(file: path, reason: "\(error)")
            }
        } catch {
            throw ConversionError.malformed(file: path, reason: "\(error)")
        }
    }
}

/// COCO instances to SageMaker image channels. Category ids are mapped to 0-based class ids in
/// ascending id order (or by name through `classes`); `bbox` [x, y, w, h] becomes
/// left/top/width/height unchanged (MXNet's `dataset/mscoco.py` normalizes the same values).
public struct COCOConverter: Sendable {
    /// What happens to `iscrowd: 1` annotations (regions of many objects, ignored by COCO's own
    /// evaluation).
    public enum CrowdPolicy: String, Sendable, CaseIterable {
        /// Dropped (what Detectron-style trainers do; the default).
        case skip
        /// Kept as `difficult`: trained on, and ignored by the VOC mAP like COCO's evaluation ignores crowd regions.
        case difficult
        /// Kept as ordinary boxes (what MXNet's `mscoco.py` does: it never reads `iscrowd`).
        case keep
    }

    /// The instances file.
    public var annotationFile: String
    /// The folder the `file_name`s are relative to.
    public var imageRoot: String
    /// The channel of the images (e.g. `train`).
    public var channel: String
    /// When > 0, this fraction of the images (the last ones in `id` order) goes to `validation`.
    public var validationFraction: Double
    /// Class names by id; nil: the file's categories in ascending id order.
    public var classes: [String]?
    /// Drop annotations whose category name is not in `classes` instead of failing.
    public var skipUnknownClasses = false
    /// Crowd annotations.
    public var crowd: CrowdPolicy = .skip

    /// Creates a converter.
    public init(annotationFile: String, imageRoot: String, channel: String = "train", validationFraction: Double = 0,
                classes: [String]? = nil, skipUnknownClasses: Bool = false, crowd: CrowdPolicy = .skip) {
        self.annotationFile = annotationFile; self.imageRoot = imageRoot; self.channel = channel
        self.validationFraction = validationFraction; self.classes = classes; self.skipUnknownClasses = skipUnknownClasses; self.crowd = crowd
    }

    /// What `convert` wrote.
    public struct Result: Sendable {
        /// The class names by id.
        public var classes: [String]
        /// `category_id` → class id.
        public var classIds: [Int: Int]
        /// One summary per channel written.
        public var channels: [ChannelSummary]
        /// Crowd annotations dropped (`.skip`).
        public var skippedCrowd: Int
        /// Annotations dropped for a category outside `classes`.
        public var skippedObjects: Int
    }

    /// Checks every image and annotation, then writes the channel(s), `.lst` and `classes.txt`.
    public func convert(to output: String) throws -> Result {
        let file = annotationFile
        try ChannelWriter.checkFree(channels: validationFraction > 0 ? [channel, "validation"] : [channel], root: output)
        let coco = try COCOInstances.read(path: file)
        let categories = coco.categories.sorted { $0.id < $1.id }
        let names = classes ?? categories.map(\.name)
        let nameIndex = Dictionary(names.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { first, _ in first })
        var classIds: [Int: Int] = [:]
        for (i, c) in coco.categories.enumerated() {
            if let id = nameIndex[c.name] { classIds[c.id] = id } else if !skipUnknownClasses {
                throw ConversionError.unknownClass(file: file, field: "categories[\(i)].name", name: c.name, known: names)
            }
        }
        let knownCategories = Set(coco.categories.map(\.id))
        var imageIndex: [Int: Int] = [:]
        for (i, image) in coco.images.enumerated() {
            guard image.width > 0 else { throw ConversionError.badValue(file: file, field: "images[\(i)].width", value: "\(image.width)", reason: "is not positive") }
            guard image.height > 0 else { throw ConversionError.badValue(file: file, field: "images[\(i)].height", value: "\(image.height)", reason: "is not positive") }
            imageIndex[image.id] = i
        }
        var boxes = [[SageMakerAnnotation.Box]](repeating: [], count: coco.images.count)
        var skippedCrowd = 0, skippedObjects = 0
        for (i, a) in coco.annotations.enumerated() {
            let at = "annotations[\(i)]"
            guard let k = imageIndex[a.image_id] else {
                throw ConversionError.badValue(file: file, field: at + ".image_id", value: "\(a.image_id)", reason: "is not the id of any image")
            }
            guard knownCategories.contains(a.category_id) else {
                throw ConversionError.unknownCategory(file: file, field: at + ".category_id", categoryId: a.category_id, known: categories.map(\.id))
            }
            guard let classId = classIds[a.category_id] else { skippedObjects += 1; continue }
            let isCrowd = (a.iscrowd ?? 0) != 0
            if isCrowd && crowd == .skip { skippedCrowd += 1; continue }
            guard a.bbox.count == 4 else {
                throw ConversionError.badValue(file: file, field: at + ".bbox", value: "\(a.bbox)", reason: "must hold 4 numbers [x, y, width, height]")
            }
            let image = coco.images[k]
            boxes[k].append(try .checked(classId: classId, left: a.bbox[0], top: a.bbox[1], width: a.bbox[2], height: a.bbox[3],
                                         difficult: crowd == .difficult ? isCrowd : nil, imageWidth: image.width, imageHeight: image.height,
                                         file: file, field: at + ".bbox"))
        }
        let order = coco.images.indices.sorted { coco.images[$0].id < coco.images[$1].id }
        let converted = order.map { k in
            let image = coco.images[k]
            return ConvertedImage(source: "\(file): images[\(k)] (id \(image.id))", imagePath: (imageRoot as NSString).appendingPathComponent(image.file_name),
                                  name: (image.file_name as NSString).lastPathComponent, width: image.width, height: image.height, boxes: boxes[k])
        }
        let held = validationFraction > 0 ? max(1, Int((Double(converted.count) * validationFraction).rounded())) : 0
        var summaries = [try ChannelWriter.write(Array(converted.dropLast(held)), channel: channel, categories: names, to: output)]
        if held > 0 { summaries.append(try ChannelWriter.write(Array(converted.suffix(held)), channel: "validation", categories: names, to: output)) }
        try ChannelWriter.writeClasses(names, to: (output as NSString).appendingPathComponent("classes.txt"))
        return Result(classes: names, classIds: classIds, channels: summaries, skippedCrowd: skippedCrowd, skippedObjects: skippedObjects)
    }
}
