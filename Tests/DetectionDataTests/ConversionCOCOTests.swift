import Foundation
import Testing
@testable import DetectionData

/// A tiny COCO instances file: categories with non-contiguous ids listed out of order
/// (7 kite, 1 apple, 3 zebra), three 64×48 images (ids 10, 5, 20; image 20 without boxes), one
/// crowd box.
enum COCOFixture {
    static let categories = #"[{"id": 7, "name": "kite"}, {"id": 1, "name": "apple"}, {"id": 3, "name": "zebra"}]"#
    static let images = #"""
        [{"id": 10, "file_name": "a.jpg", "width": 64, "height": 48},
         {"id": 5, "file_name": "b.jpg", "width": 64, "height": 48},
         {"id": 20, "file_name": "c.jpg", "width": 64, "height": 48}]
        """#
    static let annotations = #"""
        [{"id": 1, "image_id": 10, "category_id": 7, "bbox": [4, 4, 20, 10], "iscrowd": 0, "area": 200},
         {"id": 2, "image_id": 10, "category_id": 3, "bbox": [30.5, 10, 30, 30], "iscrowd": 1, "area": 900},
         {"id": 3, "image_id": 5, "category_id": 1, "bbox": [0, 0, 64, 48], "area": 3072}]
        """#

    static func json(images: String = images, annotations: String = annotations, categories: String = categories) -> String {
        #"{"info": {}, "images": \#(images), "annotations": \#(annotations), "categories": \#(categories)}"#
    }

    /// Writes the images and `instances.json` under `dir`; returns the JSON's path.
    @discardableResult
    static func make(in dir: String, json text: String = json()) throws -> String {
        try FileManager.default.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
        for name in ["a.jpg", "b.jpg", "c.jpg"] {
            try TestFiles.write(try ImageCodec.encodeJPEG(TestFiles.imageWithBox(width: 64, height: 48, x0: 4, y0: 4, x1: 24, y1: 14)),
                                to: dir + "/images/" + name)
        }
        try TestFiles.write(text, to: dir + "/instances.json")
        return dir + "/instances.json"
    }
}

@Suite("ssd convert coco")
struct ConversionCOCOTests {
    @Test("category ids 1, 3, 7 become classes 0, 1, 2 in id order; bbox [x, y, w, h] is SageMaker's left/top/width/height")
    func mapsCategories() throws {
        let dir = try TestFiles.scratch("coco")
        defer { TestFiles.remove(dir) }
        let file = try COCOFixture.make(in: dir)
        let r = try COCOConverter(annotationFile: file, imageRoot: dir + "/images").convert(to: dir + "/out")
        #expect(r.classes == ["apple", "zebra", "kite"] && r.classIds == [1: 0, 3: 1, 7: 2])
        #expect(r.skippedCrowd == 1)
        #expect(r.channels == [ChannelSummary(channel: "train", images: 3, objects: 2, difficult: 0, emptyImages: 1, longestLabel: 8)])
        let a = try SageMakerAnnotation.read(path: dir + "/out/train_annotation/a.json")
        #expect(a.annotations == [.init(class_id: 2, left: 4, top: 4, width: 20, height: 10)])
        #expect(a.categories?.map(\.name) == ["apple", "zebra", "kite"])
        // Through the project's loader (annotation files in name order: a, b, c; c has no boxes).
        let channel = try openSageMakerChannel(dataRoot: dir + "/out", channel: "train")
        #expect(try (0..<3).map { try channel.sample(at: $0).objects.count } == [1, 1, 0])
        #expect(try channel.sample(at: 1).objects == [DetectionObject(classId: 0, xmin: 0, ymin: 0, xmax: 1, ymax: 1)])
        // The .lst lists the images in id order (5 b, 10 a, 20 c).
        #expect(try ListFile.read(path: dir + "/out/train.lst").map(\.path) == ["train/b.jpg", "train/a.jpg", "train/c.jpg"])
    }

    @Test("iscrowd: skip drops, difficult keeps as difficult (so the VOC mAP ignores it), keep keeps as an ordinary box")
    func crowdPolicies() throws {
        let dir = try TestFiles.scratch("coco-crowd")
        defer { TestFiles.remove(dir) }
        let file = try COCOFixture.make(in: dir)
        var flags: [COCOConverter.CrowdPolicy: [Bool]] = [:]
        for policy in COCOConverter.CrowdPolicy.allCases {
            let out = dir + "/" + policy.rawValue
            _ = try COCOConverter(annotationFile: file, imageRoot: dir + "/images", crowd: policy).convert(to: out)
            flags[policy] = try openSageMakerChannel(dataRoot: out, channel: "train").sample(at: 0).objects.map(\.difficult)  // a.jpg
        }
        #expect(flags == [.skip: [false], .difficult: [false, true], .keep: [false, false]])
    }

    @Test("--validation-split holds out the last images in id order as the validation channel")
    func validationSplit() throws {
        let dir = try TestFiles.scratch("coco-split")
        defer { TestFiles.remove(dir) }
        let file = try COCOFixture.make(in: dir)
        let r = try COCOConverter(annotationFile: file, imageRoot: dir + "/images", validationFraction: 0.3).convert(to: dir + "/out")
        #expect(r.channels.map(\.channel) == ["train", "validation"] && r.channels.map(\.images) == [2, 1])
        #expect(try ListFile.read(path: dir + "/out/validation.lst").map(\.path) == ["validation/c.jpg"])
        #expect(try openSageMakerChannel(dataRoot: dir + "/out", channel: "validation").count == 1)
    }

    @Test("malformed COCO input is a typed error naming the file and the JSON field, never a crash")
    func malformedInput() throws {
        let dir = try TestFiles.scratch("coco-bad")
        defer { TestFiles.remove(dir) }
        let file = dir + "/instances.json"
        let noWidth = #"[{"id": 10, "file_name": "a.jpg", "width": 64, "height": 48}, {"id": 5, "file_name": "b.jpg", "height": 48}]"#
        let cases: [(String, String, ConversionError)] = [
            ("missing width", COCOFixture.json(images: noWidth), .missingField(file: file, field: "images[1].width")),
            ("box outside", COCOFixture.json(annotations: #"[{"image_id": 10, "category_id": 7, "bbox": [50, 4, 20, 10]}]"#),
             .badBox(file: file, field: "annotations[0].bbox", box: [50, 4, 70, 14], width: 64, height: 48, reason: "lies outside the image")),
            ("unknown category", COCOFixture.json(annotations: #"[{"image_id": 10, "category_id": 2, "bbox": [4, 4, 20, 10]}]"#),
             .unknownCategory(file: file, field: "annotations[0].category_id", categoryId: 2, known: [1, 3, 7])),
            ("unknown image", COCOFixture.json(annotations: #"[{"image_id": 11, "category_id": 7, "bbox": [4, 4, 20, 10]}]"#),
             .badValue(file: file, field: "annotations[0].image_id", value: "11", reason: "is not the id of any image")),
            ("short bbox", COCOFixture.json(annotations: #"[{"image_id": 10, "category_id": 7, "bbox": [4, 4, 20]}]"#),
             .badValue(file: file, field: "annotations[0].bbox", value: "[4.0, 4.0, 20.0]", reason: "must hold 4 numbers [x, y, width, height]")),
            ("zero height", COCOFixture.json(images: #"[{"id": 10, "file_name": "a.jpg", "width": 64, "height": 0}]"#, annotations: "[]"),
             .badValue(file: file, field: "images[0].height", value: "0", reason: "is not positive")),
        ]
        for (name, text, expected) in cases {
            try COCOFixture.make(in: dir, json: text)
            #expect(throws: expected, "\(name)") { try COCOConverter(annotationFile: file, imageRoot: dir + "/images").convert(to: dir + "/out") }
        }
        try COCOFixture.make(in: dir, json: COCOFixture.json(annotations: #"[{"image_id": "ten", "category_id": 7, "bbox": [4, 4, 20, 10]}]"#))
        #expect(performing: { try COCOConverter(annotationFile: file, imageRoot: dir + "/images").convert(to: dir + "/out") }, throws: { error in
            guard case let .badValue(f, field, _, _) = error as? ConversionError else { return false }
            return f == file && field == "annotations[0].image_id"
        })
        try COCOFixture.make(in: dir, json: "{\"images\": [")
        #expect(performing: { try COCOConverter(annotationFile: file, imageRoot: dir + "/images").convert(to: dir + "/out") }, throws: { error in
            guard case .malformed(file, _) = error as? ConversionError else { return false }
            return true
        })
        try COCOFixture.make(in: dir)
        #expect(throws: ConversionError.unknownClass(file: file, field: "categories[0].name", name: "kite", known: ["apple", "zebra"])) {
            try COCOConverter(annotationFile: file, imageRoot: dir + "/images", classes: ["apple", "zebra"]).convert(to: dir + "/out")
        }
        let kept = try COCOConverter(annotationFile: file, imageRoot: dir + "/images", classes: ["zebra", "apple"], skipUnknownClasses: true,
                                     crowd: .keep).convert(to: dir + "/kept")
        #expect(kept.classIds == [1: 1, 3: 0] && kept.skippedObjects == 1 && kept.channels[0].objects == 2)
    }
}
