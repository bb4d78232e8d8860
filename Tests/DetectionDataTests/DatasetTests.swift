import DetectionData
import Foundation
import Testing

@Suite("Data sets, synthetic data and the loader")
struct DatasetTests {
    func makeSynthetic(_ dir: URL, train: Int = 10, formats: DatasetExport.Formats = [.json, .recordIO]) throws -> SyntheticDataset {
        let synth = SyntheticDataset(classes: 3, imageSize: 64, maxObjects: 3, seed: 4)
        try DatasetExport.write(split: "train", count: train, to: dir.path, formats: formats, categories: synth.classNames) {
            synth.sample($0, split: "train")
        }
        return synth
    }

    @Test("synthetic data is deterministic by seed and its boxes lie on the shapes")
    func synthetic() {
        let a = SyntheticDataset(classes: 8, imageSize: 96, seed: 3)
        #expect(a.sample(5, split: "train").image == a.sample(5, split: "train").image)
        #expect(a.sample(5, split: "train").image != a.sample(5, split: "validation").image)
        #expect(a.sample(5, split: "train").image != SyntheticDataset(classes: 8, imageSize: 96, seed: 4).sample(5, split: "train").image)
        for i in 0..<20 {
            let (img, label) = a.sample(i, split: "train")
            #expect(!label.objects.isEmpty)
            for o in label.objects {
                #expect(o.xmin >= 0 && o.xmax <= 1 && o.xmin < o.xmax && o.ymin < o.ymax && o.classId < 8)
                #expect(img.width == 96)
            }
        }
    }

    @Test("RecordIO and JSON channels of the same data give the same labels and pixels")
    func layoutsAgree() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try makeSynthetic(dir)
        let rec = try DetectionDataset(.recordIO(rec: dir.appendingPathComponent("train.rec").path, idx: dir.appendingPathComponent("train.idx").path), numClasses: 3)
        let json = try DetectionDataset(.imagesWithAnnotations(images: dir.appendingPathComponent("train").path,
                                                               annotations: dir.appendingPathComponent("train_annotation").path), numClasses: 3)
        #expect(rec.count == 10 && json.count == 10)
        for i in 0..<10 {
            let a = try rec.sample(i), b = try json.sample(i)
            #expect(a.image == b.image)
            #expect(a.label.objects.map(\.classId) == b.label.objects.map(\.classId))
            for (x, y) in zip(a.label.objects, b.label.objects) { #expect(abs(x.xmin - y.xmin) < 1e-6 && abs(x.ymax - y.ymax) < 1e-6) }
        }
        // With num_classes 1, some sample has a class ≥ 1: an error naming the record.
        #expect {
            for i in 0..<10 { _ = try rec.sample(i, numClasses: 1) }
        } throws: { error in
            guard case .classOutOfRange(_, let record, _, 1) = error as? DataError else { return false }
            return record.hasPrefix("record ")
        }
    }

    @Test("a missing image, a corrupt image and an empty data set are errors naming them; skip mode counts")
    func badSamples() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try makeSynthetic(dir, train: 6, formats: .json)
        let images = dir.appendingPathComponent("train")
        try FileManager.default.removeItem(at: images.appendingPathComponent("train_000002.jpg"))
        try Data([0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3]).write(to: images.appendingPathComponent("train_000004.jpg"))
        let ds = try DetectionDataset(.imagesWithAnnotations(images: images.path, annotations: dir.appendingPathComponent("train_annotation").path))
        #expect { _ = try ds.sample(2) } throws: { "\($0)".contains("train_000002.jpg") && "\($0)".contains("missing") }
        #expect { _ = try ds.sample(4) } throws: { "\($0)".contains("train_000004.jpg") }
        let strict = Loader(dataset: ds, sharding: Sharding(samples: 6, rank: 0, count: 1, batchSize: 6, shuffle: false, seed: 1),
                            options: .init(batchSize: 6, imageShape: 32))
        #expect(throws: DataError.self) { _ = try strict.makeBatch(epoch: 0, step: 0) }
        let lenient = Loader(dataset: ds, sharding: Sharding(samples: 6, rank: 0, count: 1, batchSize: 6, shuffle: false, seed: 1),
                             options: .init(batchSize: 6, imageShape: 32, skipBadSamples: true))
        let batch = try lenient.makeBatch(epoch: 0, step: 0)
        #expect(batch.count == 6)
        #expect(lenient.skipped.count == 2)
        #expect(lenient.skipped.contains { $0.contains("train_000002") } && lenient.skipped.contains { $0.contains("train_000004") })
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        #expect(throws: DataError.emptyDataset(path: empty.path)) {
            _ = try DetectionDataset(.imagesWithAnnotations(images: empty.path, annotations: empty.path))
        }
    }

    @Test("the prefetching loader yields the epoch's batches in order, equal to building them directly")
    func loader() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try makeSynthetic(dir, train: 10, formats: .recordIO)
        let ds = try DetectionDataset(.recordIO(rec: dir.appendingPathComponent("train.rec").path, idx: nil))
        let sharding = Sharding(samples: 10, rank: 1, count: 2, batchSize: 2, shuffle: true, seed: 5)
        let options = Loader.Options(batchSize: 2, imageShape: 48, labelWidth: 22, augmentation: Augmentation(), threads: 2, prefetch: 2)
        let loader = Loader(dataset: ds, sharding: sharding, options: options)
        let reference = Loader(dataset: ds, sharding: sharding, options: options)
        #expect(loader.stepsPerEpoch == 3)
        for epoch in 0..<2 {
            loader.start(epoch: epoch)
            for step in 0..<loader.stepsPerEpoch {
                let b = try loader.next(timeout: 30)
                #expect(b.step == step && b.epoch == epoch && b.count == 2 && b.maxObjects == 4)
                #expect(b.images.count == 2 * 3 * 48 * 48 && b.labels.count == 2 * 4 * 5)
                let direct = try reference.makeBatch(epoch: epoch, step: step)
                #expect(b.images == direct.images && b.labels == direct.labels && b.indices == direct.indices)
                // Real rows first, −1 padding after.
                #expect(b.labels[0] >= 0 && b.labels.last == -1)
            }
        }
        loader.stop()
    }
}
