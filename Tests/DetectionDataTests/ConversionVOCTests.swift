import Foundation
import Testing
@testable import DetectionData

/// A tiny Pascal VOC year folder: three 64×48 JPEGs, trainval = 000001 + 000002, test = 000003.
/// 000001 holds a dog and a difficult cat, 000002 a person without a <difficult> tag (VOC2012
/// test style), 000003 a difficult cat and a dog.
enum VOCFixture {
    static let width = 64, height = 48

    static func object(_ name: String, _ box: (Int, Int, Int, Int), difficult: Int?) -> String {
        """
          <object><name>\(name)</name><pose>Unspecified</pose><truncated>0</truncated>\(difficult.map { "<difficult>\($0)</difficult>" } ?? "")
            <bndbox><xmin>\(box.0)</xmin><ymin>\(box.1)</ymin><xmax>\(box.2)</xmax><ymax>\(box.3)</ymax></bndbox></object>
        """
    }

    static func xml(_ id: String, _ objects: [String], size: String? = nil) -> String {
        """
        <annotation>
          <folder>VOC2007</folder><filename>\(id).jpg</filename>
          \(size ?? "<size><width>\(width)</width><height>\(height)</height><depth>3</depth></size>")
          <segmented>0</segmented>
        \(objects.joined(separator: "\n"))
        </annotation>
        """
    }

    /// Writes the tree under `dir`; returns the year folder.
    @discardableResult
    static func make(in dir: String) throws -> String {
        let root = dir + "/VOC2007"
        for sub in ["Annotations", "ImageSets/Main", "JPEGImages"] {
            try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
        let annotations = [
            "000001": xml("000001", [object("dog", (10, 8, 40, 30), difficult: 0), object("cat", (30, 20, 60, 44), difficult: 1)]),
            "000002": xml("000002", [object("person", (1, 1, 64, 48), difficult: nil)]),
            "000003": xml("000003", [object("cat", (2, 2, 30, 40), difficult: 1), object("dog", (32, 4, 62, 46), difficult: 0)]),
        ]
        for (id, text) in annotations {
            try TestFiles.write(text, to: "\(root)/Annotations/\(id).xml")
            let image = TestFiles.imageWithBox(width: width, height: height, x0: 8, y0: 8, x1: 40, y1: 30, color: (200, 120, 40))
            try TestFiles.write(try ImageCodec.encodeJPEG(image, quality: 90), to: "\(root)/JPEGImages/\(id).jpg")
        }
        try TestFiles.write("000001\n000002\n", to: root + "/ImageSets/Main/trainval.txt")
        try TestFiles.write("000003\n", to: root + "/ImageSets/Main/test.txt")
        try TestFiles.write("000001 1\n000002 -1\n", to: root + "/ImageSets/Main/dog_trainval.txt")  // a per-class list, not a set
        return root
    }
}

@Suite("ssd convert voc")
struct ConversionVOCTests {
    static func deterministicBatch(_ dataset: any DetectionDataset) throws -> Batch {
        var o = LoaderOptions(batchSize: dataset.count, imageShape: 16)
        o.augment = false; o.shuffle = false; o.threads = 0
        return try #require(try Loader(dataset: dataset, options: o).epoch(0).next())
    }

    @Test("VOC → JSON channels + .lst: classes sorted, boxes as MXNet normalizes them, difficult flags reach the loader's batch")
    func convertsAndLoads() throws {
        let dir = try TestFiles.scratch("voc")
        defer { TestFiles.remove(dir) }
        let root = try VOCFixture.make(in: dir)
        let out = dir + "/channels"
        let result = try VOCConverter(root: root, splits: [("train", "trainval"), ("validation", "test")]).convert(to: out)
        #expect(result.classes == ["cat", "dog", "person"])
        #expect(result.channels == [
            ChannelSummary(channel: "train", images: 2, objects: 3, difficult: 1, emptyImages: 0, longestLabel: 14),
            ChannelSummary(channel: "validation", images: 1, objects: 2, difficult: 1, emptyImages: 0, longestLabel: 14),
        ])
        #expect(try String(contentsOfFile: out + "/classes.txt", encoding: .utf8) == "cat\ndog\nperson\n")

        // SageMaker's JSON: pixels, left/top + width/height, categories; VOC's difficult on every box.
        let ann = try SageMakerAnnotation.read(path: out + "/train_annotation/000001.json")
        #expect(ann.file == "000001.jpg" && ann.image_size == [.init(width: 64, height: 48, depth: 3)])
        #expect(ann.annotations == [
            .init(class_id: 1, left: 10, top: 8, width: 30, height: 22, difficult: false),
            .init(class_id: 0, left: 30, top: 20, width: 30, height: 24, difficult: true),
        ])
        #expect(ann.categories == [.init(class_id: 0, name: "cat"), .init(class_id: 1, name: "dog"), .init(class_id: 2, name: "person")])
        // Every image's label has object width 6, with or without a difficult box (MXNet reshapes a batch by one width).
        let train = try openSageMakerChannel(dataRoot: out, channel: "train")
        #expect(try (0..<2).map { try train.sample(at: $0).rawLabel.count } == [14, 8])
        #expect(FileManager.default.contentsEqual(atPath: out + "/train/000001.jpg", andPath: root + "/JPEGImages/000001.jpg"))

        // The validation channel through the project's loader: rows normalized by the XML's size
        // (MXNet's pascal_voc.py: xmin / width, no 1-based shift), the difficult cat flagged.
        let validation = try openSageMakerChannel(dataRoot: out, channel: "validation")
        let batch = try Self.deterministicBatch(validation)
        let expected: [Double] = [0, 2.0 / 64, 2.0 / 48, 30.0 / 64, 40.0 / 48, 1, 32.0 / 64, 4.0 / 48, 62.0 / 64, 46.0 / 48]
        for (x, y) in zip(batch.labels[0..<10], expected) { #expect(abs(Double(x) - y) <= 1e-6) }
        #expect(Array(batch.difficult[0..<3]) == [true, false, false])

        // The .lst: MXNet's VOC layout [2, 6, cls, xmin, ymin, xmax, ymax, difficult] ("%.4f"), paths under the data root.
        let lst = try ListFile.read(path: out + "/validation.lst")
        #expect(lst.count == 1 && lst[0].path == "validation/000003.jpg" && Array(lst[0].label[0..<2]) == [2, 6])
        #expect(lst[0].label[7] == 1 && lst[0].label[13] == 0)
        let listed = try DetectionLabel.parse(lst[0].label, source: "lst", record: "0")
        let fromJSON = try validation.sample(at: 0).objects
        #expect(listed.map(\.difficult) == [true, false] && listed.map(\.classId) == fromJSON.map(\.classId))
        for (a, b) in zip(listed, fromJSON) { for (x, y) in zip(a.box, b.box) { #expect(abs(x - y) <= 6e-5) } }  // "%.4f"

        // …and packed into RecordIO by im2rec's packer, the flag survives in the 6th column.
        let packed = try RecordIOPacker.pack(ListFileDataset(listPath: out + "/train.lst", imageRoot: out), to: dir + "/train")
        #expect(packed.written == 2)
        let rec = try RecordIODataset(recordPath: dir + "/train.rec", indexPath: dir + "/train.idx")
        #expect(try rec.sample(at: 0).objects.map(\.difficult) == [false, true])
        #expect(try rec.sample(at: 0).rawLabel.count == 14)
        #expect(try Self.deterministicBatch(rec).difficult[0..<2] == [false, true])
    }

    @Test("VOC2007 + VOC2012 as one: each set from every folder that has it; the same image id twice is an error")
    func severalYears() throws {
        let dir = try TestFiles.scratch("voc-0712")
        defer { TestFiles.remove(dir) }
        let voc07 = try VOCFixture.make(in: dir + "/a")
        // A "VOC2012": the same tree with other ids (2012_00000N) and no test set, as the real one.
        let voc12 = try VOCFixture.make(in: dir + "/b")
        let fm = FileManager.default
        for id in ["000001", "000002", "000003"] {
            try fm.moveItem(atPath: "\(voc12)/Annotations/\(id).xml", toPath: "\(voc12)/Annotations/2012_\(id).xml")
            try fm.moveItem(atPath: "\(voc12)/JPEGImages/\(id).jpg", toPath: "\(voc12)/JPEGImages/2012_\(id).jpg")
        }
        try TestFiles.write("2012_000001\n2012_000002\n2012_000003\n", to: voc12 + "/ImageSets/Main/trainval.txt")
        try fm.removeItem(atPath: voc12 + "/ImageSets/Main/test.txt")
        let r = try VOCConverter(roots: [voc07, voc12], splits: [("train", "trainval"), ("validation", "test")]).convert(to: dir + "/out")
        #expect(r.channels.map(\.images) == [5, 1])
        #expect(r.sources["train"]?.map(\.images) == [2, 3] && r.sources["validation"]?.map(\.root) == [voc07])
        #expect(try ListFile.read(path: dir + "/out/train.lst").map(\.path).suffix(1) == ["train/2012_000003.jpg"])
        // The same folder twice: 000001 would be written twice into one channel.
        #expect(throws: ConversionError.duplicateImage(name: "000001", first: voc07 + "/Annotations/000001.xml", second: voc07 + "/Annotations/000001.xml")) {
            try VOCConverter(roots: [voc07, voc07], splits: [("train", "trainval")]).convert(to: dir + "/twice")
        }
        #expect(performing: {
            try VOCConverter(roots: [voc07, voc12], splits: [("validation", "val")]).convert(to: dir + "/none")
        }, throws: { error in
            guard case let .missingFile(_, reason) = error as? ConversionError else { return false }
            return reason == "no such image set in any of the 2 folders; available: test, trainval"
        })
    }

    @Test("mirror, expand and crop keep an object's difficult flag")
    func augmentationKeepsDifficult() {
        let objects = [DetectionObject(classId: 1, xmin: 0.2, ymin: 0.2, xmax: 0.6, ymax: 0.6, difficult: true),
                       DetectionObject(classId: 0, xmin: 0.3, ymin: 0.1, xmax: 0.5, ymax: 0.4)]
        #expect(Augmenter.mirror(objects).map(\.difficult) == [true, false])
        #expect(Expand.apply(SampleWindow(x0: -0.5, y0: -0.5, x1: 1, y1: 1), to: objects).map(\.difficult) == [true, false])
        #expect(RandomCrop.apply(SampleWindow(x0: 0, y0: 0, x1: 0.8, y1: 0.8), to: objects).map(\.difficult) == [true, false])
    }

    @Test("--classes fixes the ids; unknown classes fail naming file and field, or are dropped on request")
    func explicitClasses() throws {
        let dir = try TestFiles.scratch("voc-classes")
        defer { TestFiles.remove(dir) }
        let root = try VOCFixture.make(in: dir)
        let r = try VOCConverter(root: root, splits: [("train", "trainval")], classes: ["person", "dog", "cat"]).convert(to: dir + "/a")
        #expect(try SageMakerAnnotation.read(path: dir + "/a/train_annotation/000002.json").annotations.map(\.class_id) == [0])
        #expect(r.channels[0].objects == 3)
        #expect(throws: ConversionError.unknownClass(file: root + "/Annotations/000001.xml", field: "annotation/object[0]/name", name: "dog",
                                                     known: ["person", "cat"])) {
            try VOCConverter(root: root, splits: [("train", "trainval")], classes: ["person", "cat"]).convert(to: dir + "/b")
        }
        let skipped = try VOCConverter(root: root, splits: [("train", "trainval")], classes: ["person", "cat"], skipUnknownClasses: true).convert(to: dir + "/c")
        #expect(skipped.skippedObjects == 1 && skipped.channels[0].objects == 2)
    }

    @Test("malformed VOC input is a typed error naming the file and the field, never a crash")
    func malformedInput() throws {
        let dir = try TestFiles.scratch("voc-bad")
        defer { TestFiles.remove(dir) }
        let root = try VOCFixture.make(in: dir)
        let xml = root + "/Annotations/000002.xml"
        let convert = { try VOCConverter(root: root, splits: [("train", "trainval")]).convert(to: dir + "/out") }
        let cases: [(String, String, ConversionError)] = [
            ("no size", VOCFixture.xml("000002", [VOCFixture.object("person", (1, 1, 20, 20), difficult: 0)], size: ""),
             .missingField(file: xml, field: "annotation/size/width")),
            ("height not a number", VOCFixture.xml("000002", [], size: "<size><width>64</width><height>4x8</height></size>"),
             .badValue(file: xml, field: "annotation/size/height", value: "4x8", reason: "is not a positive whole number of pixels")),
            ("box outside", VOCFixture.xml("000002", [VOCFixture.object("person", (1, 1, 70, 20), difficult: 0)]),
             .badBox(file: xml, field: "annotation/object[0]/bndbox", box: [1, 1, 70, 20], width: 64, height: 48, reason: "lies outside the image")),
            ("inverted box", VOCFixture.xml("000002", [VOCFixture.object("person", (30, 1, 20, 20), difficult: 0)]),
             .badBox(file: xml, field: "annotation/object[0]/bndbox", box: [30, 1, 20, 20], width: 64, height: 48,
                     reason: "has no area (xmin ≥ xmax or ymin ≥ ymax)")),
            ("difficult 2", VOCFixture.xml("000002", [VOCFixture.object("person", (1, 1, 20, 20), difficult: 2)]),
             .badValue(file: xml, field: "annotation/object[0]/difficult", value: "2", reason: "is not 0 or 1")),
            ("no bndbox", VOCFixture.xml("000002", ["<object><name>person</name></object>"]),
             .missingField(file: xml, field: "annotation/object[0]/bndbox")),
        ]
        for (name, text, expected) in cases {
            try TestFiles.write(text, to: xml)
            #expect(throws: expected, "\(name)") { try convert() }
        }
        try TestFiles.write("<annotation><size><width>64</width>", to: xml)
        #expect(performing: { try convert() }, throws: { error in
            guard case let .malformed(file, reason) = error as? ConversionError else { return false }
            return file == xml && reason.hasPrefix("XML error at line")
        })
        #expect(performing: {
            try VOCConverter(root: root, splits: [("validation", "val")]).convert(to: dir + "/out")
        }, throws: { error in
            guard case let .missingFile(path, reason) = error as? ConversionError else { return false }
            return path == root + "/ImageSets/Main/val.txt" && reason == "no such image set; available: test, trainval"
        })
        // A second conversion into the same channels is refused before anything is read.
        _ = try VOCConverter(root: root, splits: [("train", "test")]).convert(to: dir + "/once")
        #expect(throws: ConversionError.channelExists(path: dir + "/once/train")) {
            try VOCConverter(root: root, splits: [("validation", "trainval"), ("train", "test")]).convert(to: dir + "/once")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/once/validation"))
        try TestFiles.write(VOCFixture.xml("000002", []), to: xml)
        try FileManager.default.removeItem(atPath: root + "/JPEGImages/000002.jpg")
        #expect(throws: ConversionError.missingFile(path: root + "/JPEGImages/000002.jpg", reason: "image of \(xml) does not exist")) { try convert() }
    }
}
