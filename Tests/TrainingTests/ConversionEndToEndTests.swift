import Detection
import DetectionData
import Foundation
import TestSupport
import Testing
import Training

/// `ssd convert` as a user runs it, then the converted channel through the loader into the VOC
/// mAP that validation reports: a difficult VOC box must arrive there as difficult.
@Suite("ssd convert end to end")
struct ConversionEndToEndTests {
    static var products: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir
    }

    /// A VOC year folder with one validation image (64×48): a dog and a difficult dog.
    static func vocTree(in dir: String) throws -> String {
        let root = dir + "/VOC2007"
        for sub in ["Annotations", "ImageSets/Main", "JPEGImages"] {
            try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
        func object(_ box: (Int, Int, Int, Int), difficult: Int) -> String {
            "<object><name>dog</name><difficult>\(difficult)</difficult><bndbox><xmin>\(box.0)</xmin><ymin>\(box.1)</ymin>"
                + "<xmax>\(box.2)</xmax><ymax>\(box.3)</ymax></bndbox></object>"
        }
        let xml = "<annotation><filename>000001.jpg</filename><size><width>64</width><height>48</height><depth>3</depth></size>"
            + object((4, 4, 28, 40), difficult: 0) + object((36, 8, 60, 44), difficult: 1) + "</annotation>"
        try Data(xml.utf8).write(to: URL(fileURLWithPath: root + "/Annotations/000001.xml"))
        let image = RGBImage(width: 64, height: 48, pixels: [UInt8](repeating: 90, count: 64 * 48 * 3))
        try Data(try ImageCodec.encodeJPEG(image)).write(to: URL(fileURLWithPath: root + "/JPEGImages/000001.jpg"))
        for set in ["trainval", "test"] { try Data("000001\n".utf8).write(to: URL(fileURLWithPath: "\(root)/ImageSets/Main/\(set).txt")) }
        return root
    }

    @Test("ssd convert voc: the difficult box reaches the validation metric as difficult (mAP 1, not 6/11)")
    func difficultReachesTheMetric() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("convert-e2e-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = try Self.vocTree(in: dir)
        let run = try await runProcess(Self.products.appendingPathComponent("ssd"), ["convert", "voc", root, "--output", dir + "/data"], timeout: 60)
        #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
        #expect(run.stdout.contains("validation: 1 images (0 without boxes), 2 boxes, 1 difficult"))
        #expect(run.stdout.contains("ssd im2rec --list \(dir)/data/validation.lst"))
        // --classes FILE fixes the ids (here: one name per line, as classes.txt is written), a missing file is a usage error.
        try Data("person\ndog\n".utf8).write(to: URL(fileURLWithPath: dir + "/names.txt"))
        let named = try await runProcess(Self.products.appendingPathComponent("ssd"),
                                   ["convert", "voc", root, "--output", dir + "/named", "--classes", dir + "/names.txt"], timeout: 60)
        #expect(named.status == 0 && (try? String(contentsOfFile: dir + "/named/classes.txt", encoding: .utf8)) == "person\ndog\n", "\(named.stderr)")
        let missing = try await runProcess(Self.products.appendingPathComponent("ssd"),
                                     ["convert", "voc", root, "--output", dir + "/none", "--classes", dir + "/nofile.txt"], timeout: 60)
        #expect(missing.status != 0 && missing.stderr.contains("nofile.txt: no such file"), "\(missing.stderr)")

        // Both forms of the channel: SageMaker's JSON, and the .lst packed by `ssd im2rec` into RecordIO.
        try FileManager.default.createDirectory(atPath: dir + "/rec/validation", withIntermediateDirectories: true)
        let pack = try await runProcess(Self.products.appendingPathComponent("ssd"),
                                  ["im2rec", "--list", dir + "/data/validation.lst", "--output", dir + "/rec/validation/validation"], timeout: 60)
        #expect(pack.status == 0, "\(pack.stdout) \(pack.stderr)")
        for dataRoot in [dir + "/data", dir + "/rec"] {
            let channel = try openSageMakerChannel(dataRoot: dataRoot, channel: "validation")
            let loader = try Loader(dataset: channel, batchSize: 1, imageShape: 32, augment: false, threads: 0)
            let batch = try #require(try loader.epoch(0).next())
            let truth = Evaluation.groundTruth(of: batch, image: 0)
            #expect(truth.map(\.difficult) == [false, true], "\(dataRoot)")
            // One detection on the ordinary dog: the difficult one is no positive, so recall is 1.
            var metric = VOCMeanAveragePrecision(classes: 1)
            metric.update(detections: [.init(classId: 0, score: 0.9, box: truth[0].box)], groundTruth: truth)
            #expect(abs(metric.meanAveragePrecision() - 1) < 1e-12, "\(dataRoot)")
            // Had the flag been lost, 2 positives: recall 0.5, VOC07 11-point AP 6/11.
            var lost = VOCMeanAveragePrecision(classes: 1)
            lost.update(detections: [.init(classId: 0, score: 0.9, box: truth[0].box)], groundTruth: truth.map { .init(classId: $0.classId, box: $0.box) })
            #expect(abs(lost.meanAveragePrecision() - 6.0 / 11) < 1e-12)
        }
    }

    @Test("ssd convert coco: a malformed file exits non-zero with the file and field in the message")
    func cocoErrorsAreReported() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("convert-coco-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let json = #"{"images": [{"id": 1, "file_name": "a.jpg", "width": 64}], "annotations": [], "categories": [{"id": 1, "name": "a"}]}"#
        try Data(json.utf8).write(to: URL(fileURLWithPath: dir + "/instances.json"))
        let run = try await runProcess(Self.products.appendingPathComponent("ssd"),
                                 ["convert", "coco", dir + "/instances.json", "--images", dir, "--output", dir + "/out"], timeout: 60)
        #expect(run.status != 0)
        #expect(run.stderr.contains("\(dir)/instances.json: images[0].height is missing"), "\(run.stderr)")
    }
}
