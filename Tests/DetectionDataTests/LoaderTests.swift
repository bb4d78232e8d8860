import Foundation
import Tensor
import Testing
@testable import DetectionData

/// A small synthetic RecordIO dataset in a scratch directory.
private func syntheticRec(count: Int = 10, size: Int = 48) throws -> String {
    let dir = try TestFiles.scratch("loader")  // removed by the caller
    try SyntheticDataset(numClasses: 3, imageSize: size, seed: 4).write(to: dir, trainCount: count, validationCount: 0, formats: .recordIO)
    return dir + "/train.rec"
}

@Suite("Loader")
struct LoaderTests {
    @Test("deterministic batch: mean-subtracted NCHW pixels and -1-padded label rows")
    func deterministicBatch() throws {
        let dir = try TestFiles.scratch("det")
        defer { TestFiles.remove(dir) }
        // One PNG: a white box on black, 40×20 → stretched to 16×16.
        let img = TestFiles.imageWithBox(width: 40, height: 20, x0: 10, y0: 5, x1: 30, y1: 15)
        let w = try RecordIOWriter(path: dir + "/one.rec")
        let objs = [DetectionObject(classId: 2, xmin: 0.25, ymin: 0.25, xmax: 0.75, ymax: 0.75)]
        try w.write(ImageRecord(id: 0, labels: DetectionLabel.pack(objs), imageBytes: try ImageCodec.encodePNG(img)))
        try w.close(indexPath: dir + "/one.idx")
        var o = LoaderOptions(batchSize: 2, imageShape: 16)
        o.augment = false; o.shuffle = false; o.threads = 0; o.labelWidth = 17
        let loader = try Loader(dataset: try openDetectionDataset(path: dir + "/one.rec"), options: o)
        #expect(loader.batchesPerEpoch == 1)
        let it = loader.epoch(0)
        let batch = try #require(try it.next())
        #expect(batch.images.count == 2 * 3 * 16 * 16 && batch.labels.count == 2 * 3 * 5)
        #expect(batch.pad == 1 && batch.count == 2)
        #expect(Array(batch.labels[0..<10]) == [2, 0.25, 0.25, 0.75, 0.75, -1, -1, -1, -1, -1])
        // Inside the box: 255 − mean; corner: 0 − mean, per channel plane.
        let plane = 16 * 16
        #expect(batch.images[8 * 16 + 8] == 255 - 123 && batch.images[plane + 8 * 16 + 8] == 255 - 117)
        #expect(batch.images[2 * plane] == -104)
        #expect(try it.next() == nil)
    }

    @Test("two background threads produce exactly the batches of the synchronous path")
    func threadsMatchSync() throws {
        let rec = try syntheticRec()
        defer { TestFiles.remove((rec as NSString).deletingLastPathComponent) }
        var o = LoaderOptions(batchSize: 3, imageShape: 32)
        o.seed = 8; o.labelWidth = 32
        o.threads = 0
        let sync = try Loader(dataset: try openDetectionDataset(path: rec), options: o)
        o.threads = 2; o.prefetch = 2
        let threaded = try Loader(dataset: try openDetectionDataset(path: rec), options: o)
        let a = sync.epoch(1), b = threaded.epoch(1)
        var steps = 0
        while let x = try a.next() {
            let y = try #require(try b.next())
            #expect(x.images == y.images && x.labels == y.labels && x.indices == y.indices)
            steps += 1
        }
        #expect(try b.next() == nil)
        #expect(steps == 4)
    }

    @Test("abandoning an epoch midway and starting the next one neither hangs nor mixes batches")
    func abandonEpoch() throws {
        let rec = try syntheticRec(count: 12, size: 24)
        defer { TestFiles.remove((rec as NSString).deletingLastPathComponent) }
        var o = LoaderOptions(batchSize: 2, imageShape: 8)
        o.threads = 2; o.prefetch = 1; o.labelWidth = 22; o.augment = false
        let loader = try Loader(dataset: try openDetectionDataset(path: rec), options: o)
        for e in 0..<3 {
            let it = loader.epoch(e)
            let first = try #require(try it.next())
            #expect(first.step == 0 && first.indices == loader.plan(epoch: e).indices(step: 0).indices)
            if e == 1 { it.stop(); #expect(try it.next() == nil) }
        }
        var steps = 0
        let it = loader.epoch(9)
        while let b = try it.next() { #expect(b.step == steps); steps += 1 }
        #expect(steps == loader.batchesPerEpoch)
    }

    @Test("label longer than label_width is an error naming the record")
    func labelTooWide() throws {
        let rec = try syntheticRec(count: 4)
        defer { TestFiles.remove((rec as NSString).deletingLastPathComponent) }
        var o = LoaderOptions(batchSize: 2, imageShape: 16)
        o.labelWidth = 6; o.threads = 1; o.augment = false
        let it = try Loader(dataset: try openDetectionDataset(path: rec), options: o).epoch(0)
        do { _ = try it.next(); Issue.record("no error") } catch let e as DetectionDataError {
            guard case let .labelTooWide(_, record, _, labelWidth) = e else { Issue.record("wrong error \(e)"); return }
            #expect(record.contains("record") && labelWidth == 6)
        }
    }

    @Test("bad samples fail the batch, or with skipBadSamples are replaced and counted")
    func skipBad() throws {
        let dir = try TestFiles.scratch("bad")
        defer { TestFiles.remove(dir) }
        let w = try RecordIOWriter(path: dir + "/b.rec")
        let good = try ImageCodec.encodeJPEG(RGBImage(width: 8, height: 8, fill: (200, 10, 10)))
        let label = DetectionLabel.pack([DetectionObject(classId: 0, xmin: 0.1, ymin: 0.1, xmax: 0.9, ymax: 0.9)])
        try w.write(ImageRecord(id: 0, labels: label, imageBytes: good))
        try w.write(ImageRecord(id: 1, labels: label, imageBytes: Array(good.prefix(10)) + [0, 0, 0]))
        try w.write(ImageRecord(id: 2, labels: DetectionLabel.pack([DetectionObject(classId: 5, xmin: 0.1, ymin: 0.1, xmax: 0.9, ymax: 0.9)]), imageBytes: good))
        try w.write(ImageRecord(id: 3, labels: label, imageBytes: good))
        try w.close(indexPath: dir + "/b.idx")
        var o = LoaderOptions(batchSize: 4, imageShape: 8)
        o.shuffle = false; o.augment = false; o.numClasses = 3; o.threads = 1
        let failing = try Loader(dataset: try openDetectionDataset(path: dir + "/b.rec"), options: o).epoch(0)
        #expect(throws: DetectionDataError.self) { try failing.next() }
        o.skipBadSamples = true
        let it = try Loader(dataset: try openDetectionDataset(path: dir + "/b.rec"), options: o).epoch(0)
        let batch = try #require(try it.next())
        #expect(batch.skipped.map(\.index) == [1, 2])
        #expect(it.skipped.count == 2 && it.skippedSummary.contains("skipped 2"))
        let per = 3 * 8 * 8
        #expect(Array(batch.images[per..<(2 * per)]) == Array(batch.images[0..<per]))
    }

    @Test("a garbled JPEG in a .rec fails the epoch naming file and record, or is skipped and counted in the summary")
    func garbledJPEGRecord() throws {
        let dir = try TestFiles.scratch("garbled")
        defer { TestFiles.remove(dir) }
        let good = try ImageCodecTests.noiseJPEG(seed: 1)
        var garbled = good
        let start = ImageCodecTests.scanStart(garbled)
        var rng = SeededGenerator(seed: 7)
        for i in (start + 1000)..<(start + 1200) { garbled[i] = UInt8(rng.next() & 0xff) }
        let label = DetectionLabel.pack([DetectionObject(classId: 0, xmin: 0.1, ymin: 0.1, xmax: 0.9, ymax: 0.9)])
        let w = try RecordIOWriter(path: dir + "/g.rec")
        for id in 0..<4 { try w.write(ImageRecord(id: UInt64(id), labels: label, imageBytes: id == 2 ? garbled : good)) }
        try w.close(indexPath: dir + "/g.idx")
        var o = LoaderOptions(batchSize: 2, imageShape: 16)
        o.shuffle = false; o.augment = false; o.threads = 1
        let failing = try Loader(dataset: try openDetectionDataset(path: dir + "/g.rec"), options: o).epoch(0)
        _ = try failing.next()
        do {
            _ = try failing.next()
            Issue.record("the garbled record was trained on")
        } catch let error as DetectionDataError {
            #expect(error.description.hasPrefix(dir + "/g.rec: record 2 (id 2): cannot decode image: corrupt JPEG data"), "\(error)")
        }
        o.skipBadSamples = true
        let it = try Loader(dataset: try openDetectionDataset(path: dir + "/g.rec"), options: o).epoch(0)
        while try it.next() != nil {}
        #expect(it.skipped.map(\.index) == [2])
        #expect(it.skippedSummary.hasPrefix("epoch 0: skipped 1 bad sample(s); first: index 2: \(dir)/g.rec: record 2 (id 2): cannot decode image: corrupt JPEG data"),
                "\(it.skippedSummary)")
    }

    @Test("augmented loading is reproducible for a seed and differs across epochs")
    func augmentedReproducible() throws {
        let rec = try syntheticRec(count: 4)
        defer { TestFiles.remove((rec as NSString).deletingLastPathComponent) }
        var o = LoaderOptions(batchSize: 4, imageShape: 24)
        o.threads = 0; o.labelWidth = 32
        let l = try Loader(dataset: try openDetectionDataset(path: rec), options: o)
        let a = try #require(try l.epoch(3).next()), b = try #require(try l.epoch(3).next()), c = try #require(try l.epoch(4).next())
        #expect(a.images == b.images && a.labels == b.labels)
        #expect(a.images != c.images)
        // Labels stay valid rows: class ≥ 0 with ordered corners, then −1 rows.
        for i in 0..<(a.labels.count / 5) where a.labels[5 * i] >= 0 {
            #expect(a.labels[5 * i + 1] < a.labels[5 * i + 3] && a.labels[5 * i + 2] < a.labels[5 * i + 4])
        }
    }
}

/// A dataset whose samples take longer than the loader's deadline.
private struct SlowDataset: DetectionDataset {
    let name = "slow"
    let count = 2
    func sample(at index: Int) throws -> EncodedSample {
        Thread.sleep(forTimeInterval: 0.4)
        throw DetectionDataError.io(path: "slow", reason: "never reached in time")
    }
}

@Suite("Loader deadlines")
struct LoaderDeadlineTests {
    @Test("a batch not ready within the deadline is a timeout error, not a hang")
    func timeout() throws {
        var o = LoaderOptions(batchSize: 1, imageShape: 8)
        o.threads = 1; o.deadlineSeconds = 0.05
        let it = try Loader(dataset: SlowDataset(), options: o).epoch(0)
        #expect(throws: DetectionDataError.timeout(what: "loader batch 0 of epoch 0", seconds: 0.05)) { try it.next() }
    }
}
