import Foundation

/// Pascal VOC (`VOCdevkit/VOC2007`: `Annotations/*.xml`, `ImageSets/Main/<set>.txt`,
/// `JPEGImages/<id>.jpg`) to SageMaker image channels, the way MXNet's
/// `example/ssd/tools/prepare_dataset.py` + `dataset/pascal_voc.py` read it: one channel per
/// image set, boxes normalized by the `<size>` of the XML without shifting VOC's 1-based
/// corners, `difficult` kept (6th label column in the `.lst`, `"difficult"` on every box of
/// the JSON, as every VOC `<object>` has it, so each image's label has object width 6).
///
/// Several year folders (VOC2007 + VOC2012, the SSD recipe's "07+12") are read as one: a split
/// takes its image set from every folder that has it (VOC2012 has no `test`), and only a set
/// that no folder has is an error.
public struct VOCConverter: Sendable {
    /// The year folders (each holds `Annotations`, `ImageSets/Main`, `JPEGImages`).
    public var roots: [String]
    /// (channel, image set) pairs, e.g. `[("train", "trainval"), ("validation", "test")]`.
    public var splits: [(channel: String, imageSet: String)]
    /// Class names by id; nil: the sorted distinct names of every split (VOC's 20 classes sort
    /// into the order MXNet's `pascal_voc.py` lists them).
    public var classes: [String]?
    /// Drop objects whose class is not in `classes` (MXNet's behaviour) instead of failing.
    public var skipUnknownClasses = false

    /// Creates a converter.
    public init(roots: [String], splits: [(channel: String, imageSet: String)], classes: [String]? = nil, skipUnknownClasses: Bool = false) {
        self.roots = roots; self.splits = splits; self.classes = classes; self.skipUnknownClasses = skipUnknownClasses
    }

    /// One year folder.
    public init(root: String, splits: [(channel: String, imageSet: String)], classes: [String]? = nil, skipUnknownClasses: Bool = false) {
        self.init(roots: [root], splits: splits, classes: classes, skipUnknownClasses: skipUnknownClasses)
    }

    /// What `convert` wrote.
    public struct Result: Sendable {
        /// The class names by id.
        public var classes: [String]
        /// One summary per channel, in `splits` order.
        public var channels: [ChannelSummary]
        /// Objects dropped for an unknown class (only with `skipUnknownClasses`).
        public var skippedObjects: Int
        /// Per channel, the year folders its image set came from and how many images each gave.
        public var sources: [String: [(root: String, images: Int)]]
    }

    /// Reads every split's annotations (all are checked before anything is written) and writes
    /// the channels, their `.lst` files and `classes.txt` under `output`.
    public func convert(to output: String) throws -> Result {
        try ChannelWriter.checkFree(channels: splits.map(\.channel), root: output)
        var sources: [String: [(root: String, images: Int)]] = [:]
        let read = try splits.map { split in
            let found = try annotations(imageSet: split.imageSet)
            sources[split.channel] = found.map { ($0.root, $0.entries.count) }
            return (split, found.flatMap { part in part.entries.map { (root: part.root, id: $0.id, xml: $0.xml, annotation: $0.annotation) } })
        }
        let names = classes ?? Array(Set(read.flatMap { $0.1.flatMap { $0.annotation.objects.map(\.name) } })).sorted()
        let index = Dictionary(names.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { first, _ in first })
        var skipped = 0
        var converted: [(String, [ConvertedImage])] = []
        for (split, entries) in read {
            var images: [ConvertedImage] = []
            for (root, id, xml, a) in entries {
                var boxes: [SageMakerAnnotation.Box] = []
                for (i, o) in a.objects.enumerated() {
                    let field = "annotation/object[\(i)]"
                    guard let classId = index[o.name] else {
                        if skipUnknownClasses { skipped += 1; continue }
                        throw ConversionError.unknownClass(file: xml, field: field + "/name", name: o.name, known: names)
                    }
                    boxes.append(try .checked(classId: classId, left: o.xmin, top: o.ymin, width: o.xmax - o.xmin, height: o.ymax - o.ymin,
                                              difficult: o.difficult, imageWidth: a.width, imageHeight: a.height, file: xml, field: field + "/bndbox"))
                }
                let jpeg = (root as NSString).appendingPathComponent("JPEGImages/\(id).jpg")
                images.append(ConvertedImage(source: xml, imagePath: jpeg, name: id + ".jpg", width: a.width, height: a.height, boxes: boxes))
            }
            converted.append((split.channel, images))
        }
        let summaries = try converted.map { try ChannelWriter.write($0.1, channel: $0.0, categories: names, to: output) }
        try ChannelWriter.writeClasses(names, to: (output as NSString).appendingPathComponent("classes.txt"))
        return Result(classes: names, channels: summaries, skippedObjects: skipped, sources: sources)
    }

    /// Per year folder that has `ImageSets/Main/<imageSet>.txt`: its ids with their parsed
    /// annotations. No folder with the set is an error listing the first folder's sets.
    func annotations(imageSet: String) throws -> [(root: String, entries: [(id: String, xml: String, annotation: VOCAnnotation)])] {
        var found: [(root: String, entries: [(id: String, xml: String, annotation: VOCAnnotation)])] = []
        for root in roots {
            let list = (root as NSString).appendingPathComponent("ImageSets/Main/\(imageSet).txt")
            guard let data = FileManager.default.contents(atPath: list) else { continue }
            // Lines are "<id>" (ImageSets/Main/<set>.txt); per-class lists add " ±1", not used here.
            let ids = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                .compactMap { $0.split(separator: " ").first.map(String.init) }
            found.append((root, try ids.map { id in
                let xml = (root as NSString).appendingPathComponent("Annotations/\(id).xml")
                return (id, xml, try VOCAnnotation.read(path: xml))
            }))
        }
        guard found.isEmpty, let root = roots.first else { return found }
        let main = (root as NSString).appendingPathComponent("ImageSets/Main")
        let available = ((try? FileManager.default.contentsOfDirectory(atPath: main)) ?? [])
            .filter { $0.hasSuffix(".txt") && !$0.contains("_") }.map { String($0.dropLast(4)) }.sorted()
        throw ConversionError.missingFile(
            path: (main as NSString).appendingPathComponent(imageSet + ".txt"), reason: available.isEmpty
                ? "no image set list; is \(root) a VOC year folder (Annotations/, ImageSets/Main/, JPEGImages/)?"
                : "no such image set\(roots.count > 1 ? " in any of the \(roots.count) folders" : ""); available: \(available.joined(separator: ", "))")
    }
}
