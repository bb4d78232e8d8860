import Foundation
import Testing
@testable import DetectionData

@Suite("Annotations and labels")
struct AnnotationTests {
    @Test("pixel boxes become normalized corners for images of different sizes",
          arguments: [(640, 480), (300, 300), (100, 250)])
    func jsonToCorners(w: Int, h: Int) throws {
        let ann = SageMakerAnnotation(
            file: "a.jpg", imageSize: .init(width: w, height: h),
            annotations: [.init(class_id: 2, left: Double(w) / 4, top: Double(h) / 5, width: Double(w) / 2, height: Double(h) / 2)])
        let objs = try ann.objects(source: "a.json")
        #expect(objs.count == 1)
        let o = objs[0]
        #expect(o.classId == 2)
        #expect(abs(o.xmin - 0.25) < 1e-6 && abs(o.ymin - 0.2) < 1e-6 && abs(o.xmax - 0.75) < 1e-6 && abs(o.ymax - 0.7) < 1e-6)
    }

    @Test("SageMaker JSON as written in the docs decodes")
    func decodesDocExample() throws {
        let dir = try TestFiles.scratch("ann")
        defer { TestFiles.remove(dir) }
        try TestFiles.write("""
        {"file": "your_image_directory/sample_image1.jpg", "image_size": [{"width": 500, "height": 400, "depth": 3}],
         "annotations": [{"class_id": 0, "left": 111, "top": 134, "width": 61, "height": 128},
                         {"class_id": 0, "left": 161, "top": 250, "width": 79, "height": 143}],
         "categories": [{"class_id": 0, "name": "dog"}]}
        """, to: dir + "/a.json")
        let objs = try SageMakerAnnotation.read(path: dir + "/a.json").objects(source: "a.json")
        #expect(objs.count == 2)
        #expect(abs(objs[1].xmax - 240.0 / 500) < 1e-6 && abs(objs[1].ymax - 393.0 / 400) < 1e-6)
    }

    @Test("box outside the image or with non-positive size is an error naming the file")
    func badBoxes() throws {
        for box in [SageMakerAnnotation.Box(class_id: 0, left: 90, top: 10, width: 20, height: 10),
                    SageMakerAnnotation.Box(class_id: 0, left: 10, top: 10, width: -5, height: 10)] {
            let ann = SageMakerAnnotation(file: "x.jpg", imageSize: .init(width: 100, height: 100), annotations: [box])
            do { _ = try ann.objects(source: "x.json"); Issue.record("accepted \(box)") } catch let e as DetectionDataError {
                guard case let .badBox(source, _, _, _) = e else { Issue.record("wrong error \(e)"); continue }
                #expect(source == "x.json")
            }
        }
    }

    @Test("normalized labels: xmin > xmax, outside, class ≥ num_classes are specific errors")
    func validate() {
        let inverted = DetectionObject(classId: 0, xmin: 0.6, ymin: 0.1, xmax: 0.4, ymax: 0.5)
        let outside = DetectionObject(classId: 0, xmin: 0.1, ymin: 0.1, xmax: 1.2, ymax: 0.5)
        let cls = DetectionObject(classId: 4, xmin: 0.1, ymin: 0.1, xmax: 0.2, ymax: 0.5)
        #expect(throws: DetectionDataError.badBox(source: "s", record: "r", box: inverted.box, reason: "has xmin ≥ xmax or ymin ≥ ymax")) {
            try DetectionLabel.validate([inverted], numClasses: 4, source: "s", record: "r")
        }
        #expect(throws: DetectionDataError.badBox(source: "s", record: "r", box: outside.box, reason: "lies outside the image")) {
            try DetectionLabel.validate([outside], numClasses: 4, source: "s", record: "r")
        }
        #expect(throws: DetectionDataError.classOutOfRange(source: "s", record: "r", classId: 4, numClasses: 4)) {
            try DetectionLabel.validate([cls], numClasses: 4, source: "s", record: "r")
        }
    }

    @Test("raw labels parse with object width 5 and 6, and malformed ones are rejected")
    func parseLabels() throws {
        let voc = try DetectionLabel.parse([2, 6, 4, 0.2, 0.1, 0.6, 0.9, 1], source: "s", record: "r")
        #expect(voc == [DetectionObject(classId: 4, xmin: 0.2, ymin: 0.1, xmax: 0.6, ymax: 0.9, difficult: true)])  // VOC's 6th column
        let padded = try DetectionLabel.parse([2, 5, 1, 0.1, 0.1, 0.2, 0.2, -1, -1, -1, -1, -1], source: "s", record: "r")
        #expect(padded.count == 1)
        #expect(throws: DetectionDataError.self) { try DetectionLabel.parse([2, 5, 1, 0.1, 0.1], source: "s", record: "r") }
        #expect(throws: DetectionDataError.self) { try DetectionLabel.parse([2, 3, 1, 0.1, 0.1], source: "s", record: "r") }
        #expect(DetectionLabel.pack(voc) == [2, 6, 4, 0.2, 0.1, 0.6, 0.9, 1])  // the difficult flag round-trips
        for raw: [Float] in [[.nan, 5, 1, 0, 0, 1, 1], [2, .infinity, 1, 0, 0, 1, 1], [2, 5, .nan, 0, 0, 1, 1], [2, 5, 1e20, 0, 0, 1, 1], [2, 5, 1.5, 0, 0, 1, 1]] {
            #expect(throws: DetectionDataError.self) { try DetectionLabel.parse(raw, source: "s", record: "r") }
        }
    }

    @Test(".lst lines parse; a bad line names file and line")
    func listFile() throws {
        let dir = try TestFiles.scratch("lst")
        defer { TestFiles.remove(dir) }
        try TestFiles.write("0\t2\t5\t1.0000\t0.1000\t0.2000\t0.5000\t0.6000\timg/a.jpg\n\n7\t2\t5\t0\t0\t0\t1\t1\tb.png\n", to: dir + "/ok.lst")
        let entries = try ListFile.read(path: dir + "/ok.lst")
        #expect(entries.count == 2)
        #expect(entries[0] == ListFile.Entry(index: 0, label: [2, 5, 1, 0.1, 0.2, 0.5, 0.6], path: "img/a.jpg"))
        #expect(ListFile.line(entries[0]) == "0\t2.0000\t5.0000\t1.0000\t0.1000\t0.2000\t0.5000\t0.6000\timg/a.jpg")
        try TestFiles.write("0\t2\t5\t1\t0.1\t0.2\t0.5\t0.6\ta.jpg\n1\t2\t5\tx\t0.1\t0.2\t0.5\t0.6\tb.jpg\n", to: dir + "/bad.lst")
        do { _ = try ListFile.read(path: dir + "/bad.lst"); Issue.record("accepted bad line") } catch let e as DetectionDataError {
            guard case let .badLine(file, line, _, _) = e else { Issue.record("wrong error \(e)"); return }
            #expect(file.hasSuffix("bad.lst") && line == 2)
        }
    }

    @Test("missing image file is an error naming the image and the annotation")
    func missingImage() throws {
        let dir = try TestFiles.scratch("missing")
        defer { TestFiles.remove(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/train", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/train_annotation", withIntermediateDirectories: true)
        let ann = SageMakerAnnotation(file: "gone.jpg", imageSize: .init(width: 10, height: 10), annotations: [])
        try TestFiles.write(Array(try ann.encoded()), to: dir + "/train_annotation/gone.json")
        let ds = try AnnotatedImageDataset(imageRoot: dir + "/train", annotationDirectory: dir + "/train_annotation")
        do { _ = try ds.sample(at: 0); Issue.record("no error") } catch let e as DetectionDataError {
            guard case let .imageMissing(path, referencedBy) = e else { Issue.record("wrong error \(e)"); return }
            #expect(path.hasSuffix("gone.jpg") && referencedBy.hasSuffix("gone.json"))
        }
    }

    @Test("empty annotation folder and empty .lst are empty-dataset errors")
    func emptyDatasets() throws {
        let dir = try TestFiles.scratch("emptyds")
        defer { TestFiles.remove(dir) }
        #expect(throws: DetectionDataError.emptyDataset(source: dir)) { try AnnotatedImageDataset(imageRoot: dir, annotationDirectory: dir) }
        try TestFiles.write("", to: dir + "/e.lst")
        #expect(throws: DetectionDataError.emptyDataset(source: dir + "/e.lst")) { try ListFileDataset(listPath: dir + "/e.lst", imageRoot: dir) }
    }

    @Test("an annotation without `file` pairs with the image of the same basename")
    func basenamePairing() throws {
        let dir = try TestFiles.scratch("pair")
        defer { TestFiles.remove(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/img", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/ann", withIntermediateDirectories: true)
        let png = try ImageCodec.encodePNG(RGBImage(width: 10, height: 10, fill: (1, 2, 3)))
        try TestFiles.write(png, to: dir + "/img/cat.png")
        try TestFiles.write(#"{"image_size": [{"width": 10, "height": 10, "depth": 3}], "annotations": [{"class_id": 1, "left": 1, "top": 2, "width": 5, "height": 5}]}"#, to: dir + "/ann/cat.json")
        let s = try AnnotatedImageDataset(imageRoot: dir + "/img", annotationDirectory: dir + "/ann").sample(at: 0)
        #expect(s.imageBytes == png && s.objects == [DetectionObject(classId: 1, xmin: 0.1, ymin: 0.2, xmax: 0.6, ymax: 0.7)])
    }
}
