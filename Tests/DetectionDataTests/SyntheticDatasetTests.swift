import Foundation
import Testing
@testable import DetectionData

@Suite("Synthetic dataset")
struct SyntheticDatasetTests {
    @Test("the same seed gives the same images; boxes are inside the image and sizeable")
    func deterministic() {
        let g = SyntheticDataset(numClasses: 5, imageSize: 64, seed: 3)
        for i in 0..<8 {
            let a = g.sample(index: i, split: 0), b = g.sample(index: i, split: 0)
            #expect(a.image == b.image && a.boxes == b.boxes)
            #expect(!a.boxes.isEmpty && a.boxes.count <= 4)
            for box in a.boxes {
                #expect(box.left >= 0 && box.top >= 0 && box.left + box.width <= 64 && box.top + box.height <= 64)
                #expect(box.width >= 0.15 * 64 && box.height >= 0.15 * 64)
                #expect((0..<5).contains(box.class_id))
            }
            let wins = a.boxes.map { SampleWindow(x0: Float($0.left), y0: Float($0.top), x1: Float($0.left + $0.width), y1: Float($0.top + $0.height)) }
            for i in wins.indices { for j in wins.indices where j > i { #expect(overlapOfSmaller(wins[i], wins[j]) <= 0.35) } }
        }
        #expect(g.sample(index: 0, split: 0).image != g.sample(index: 0, split: 1).image)
    }

    @Test("JSON channels and RecordIO hold the same labels, and im2rec-style reading agrees")
    func writesBothFormats() throws {
        let dir = try TestFiles.scratch("synth")
        defer { TestFiles.remove(dir) }
        try SyntheticDataset(numClasses: 3, imageSize: 40, seed: 2).write(to: dir, trainCount: 5, validationCount: 2, formats: [.json, .recordIO])
        let json = try AnnotatedImageDataset(imageRoot: dir + "/train", annotationDirectory: dir + "/train_annotation")
        let rec = try RecordIODataset(recordPath: dir + "/train.rec", indexPath: dir + "/train.idx")
        #expect(json.count == 5 && rec.count == 5)
        for i in 0..<5 {
            let a = try json.sample(at: i), b = try rec.sample(at: i)
            #expect(a.objects == b.objects && a.imageBytes == b.imageBytes)
        }
        #expect(try RecordIODataset(recordPath: dir + "/validation.rec").count == 2)
    }

    @Test("SageMaker channels open in RecordIO mode and in image + annotation mode")
    func channels() throws {
        let dir = try TestFiles.scratch("chan")
        defer { TestFiles.remove(dir) }
        try SyntheticDataset(numClasses: 2, imageSize: 32, seed: 6).write(to: dir + "/img", trainCount: 3, validationCount: 2, formats: .json)
        try SyntheticDataset(numClasses: 2, imageSize: 32, seed: 6).write(to: dir + "/rec/train", trainCount: 3, validationCount: 0, formats: .recordIO)
        let image = try openSageMakerChannel(dataRoot: dir + "/img", channel: "validation")
        #expect(image is AnnotatedImageDataset && image.count == 2)
        let rec = try openSageMakerChannel(dataRoot: dir + "/rec", channel: "train")
        #expect(rec is RecordIODataset && rec.count == 3)
        let both = try ConcatenatedDataset([image, rec])
        #expect(both.count == 5)
        #expect(try both.sample(at: 3).imageBytes == rec.sample(at: 1).imageBytes)
        #expect(throws: DetectionDataError.self) { try openSageMakerChannel(dataRoot: dir + "/rec", channel: "validation") }
    }

    @Test("im2rec packing: JSON channel and .lst both round-trip through RecordIO; bad samples skip or fail")
    func packing() throws {
        let dir = try TestFiles.scratch("pack")
        defer { TestFiles.remove(dir) }
        try SyntheticDataset(numClasses: 3, imageSize: 32, seed: 9).write(to: dir, trainCount: 4, validationCount: 0, formats: .json)
        let json = try AnnotatedImageDataset(imageRoot: dir + "/train", annotationDirectory: dir + "/train_annotation")
        let summary = try RecordIOPacker.pack(json, to: dir + "/packed", numClasses: 3)
        #expect(summary.written == 4 && summary.skipped.isEmpty)
        let rec = try RecordIODataset(recordPath: dir + "/packed.rec", indexPath: dir + "/packed.idx")
        for i in 0..<4 { #expect(try rec.sample(at: i).objects == json.sample(at: i).objects) }
        // A .lst with VOC-style object width 6, one line pointing at a missing image.
        var lines: [String] = []
        for i in 0..<3 {
            let o = try json.sample(at: i).objects[0]
            let label: [Float] = [2, 6, Float(o.classId), o.xmin, o.ymin, o.xmax, o.ymax, 0]
            lines.append(ListFile.line(ListFile.Entry(index: 10 + i, label: label, path: i == 2 ? "nope.jpg" : "train/train_00000\(i).jpg")))
        }
        try TestFiles.write(lines.joined(separator: "\n") + "\n", to: dir + "/voc.lst")
        let lst = try ListFileDataset(listPath: dir + "/voc.lst", imageRoot: dir)
        #expect(throws: DetectionDataError.self) { try RecordIOPacker.pack(lst, to: dir + "/voc") }
        let skipped = try RecordIOPacker.pack(lst, to: dir + "/voc", skipBad: true)
        #expect(skipped.written == 2 && skipped.skipped.map(\.index) == [2])
        let back = try RecordIODataset(recordPath: dir + "/voc.rec", indexPath: dir + "/voc.idx")
        let r = try back.record(at: 1)
        #expect(r.id == 11 && r.labels.count == 8 && r.labels[1] == 6)
    }
}
