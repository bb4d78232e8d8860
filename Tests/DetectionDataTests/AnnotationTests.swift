import DetectionData
import Foundation
import Testing

@Suite("Annotations: SageMaker JSON, .lst, labels")
struct AnnotationTests {
    func write(_ text: String, _ name: String, in dir: URL) throws -> String {
        let p = dir.appendingPathComponent(name).path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    @Test("pixel boxes become normalized corners, for images of different sizes")
    func pixelsToCorners() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try write("""
            {"file": "img/a.jpg", "image_size": [{"width": 400, "height": 200, "depth": 3}],
             "annotations": [{"class_id": 1, "left": 100, "top": 50, "width": 200, "height": 100},
                             {"class_id": 0, "left": 0, "top": 0, "width": 400, "height": 200}],
             "categories": [{"class_id": 0, "name": "square"}, {"class_id": 1, "name": "circle"}]}
            """, "a.json", in: dir)
        let label = try SageMakerAnnotation(path: a).label(numClasses: 2, path: a)
        #expect(label.objects == [DetectionObject(classId: 1, xmin: 0.25, ymin: 0.25, xmax: 0.75, ymax: 0.75),
                                  DetectionObject(classId: 0, xmin: 0, ymin: 0, xmax: 1, ymax: 1)])
        let b = try write("""
            {"file": "b.png", "image_size": [{"width": 50, "height": 500, "depth": 3}],
             "annotations": [{"class_id": 0, "left": 10, "top": 100, "width": 20, "height": 50}]}
            """, "b.json", in: dir)
        let lb = try SageMakerAnnotation(path: b).label(numClasses: 1, path: b)
        #expect(lb.objects == [DetectionObject(classId: 0, xmin: 0.2, ymin: 0.2, xmax: 0.6, ymax: 0.3)])
        #expect(lb.flattened == [2, 5, 0, 0.2, 0.2, 0.6, 0.3])
    }

    @Test("bad annotations are specific errors naming the file", arguments: [
        ("{\"file\": \"x.jpg\", \"image_size\": [{\"width\": 10, \"height\": 10}], \"annotations\": [{\"class_id\": 0, \"left\": 8, \"top\": 0, \"width\": 5, \"height\": 5}]}", "outside the image"),
        ("{\"file\": \"x.jpg\", \"image_size\": [{\"width\": 10, \"height\": 10}], \"annotations\": [{\"class_id\": 0, \"left\": 5, \"top\": 0, \"width\": -2, \"height\": 5}]}", "xmin >= xmax"),
        ("{\"file\": \"x.jpg\", \"image_size\": [{\"width\": 10, \"height\": 10}], \"annotations\": [{\"class_id\": 3, \"left\": 0, \"top\": 0, \"width\": 5, \"height\": 5}]}", "class_id 3 is not in 0..<3"),
        ("{\"file\": \"x.jpg\", \"annotations\": []}", "missing field \"image_size\""),
        ("{\"file\": \"x.jpg\", \"image_size\": [{\"width\": 10, \"height\": 10, \"depth\": 1}], \"annotations\": []}", "only 3-channel"),
        ("not json", "not a SageMaker annotation"),
    ])
    func badAnnotations(_ json: String, _ message: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = try write(json, "bad.json", in: dir)
        #expect {
            _ = try SageMakerAnnotation(path: p).label(numClasses: 3, path: p)
        } throws: { error in
            "\(error)".contains(message) && "\(error)".contains("bad.json")
        }
    }

    @Test(".lst files parse and print back; bad lines name the line")
    func listFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = "0\t2\t5\t1\t0.1000\t0.2000\t0.3000\t0.4000\timages/a.jpg\n7\t2\t6\t0\t0.5000\t0.5000\t0.9000\t0.9000\t1\tb.png\n"
        let p = try write(text, "data.lst", in: dir)
        let list = try ListFile(path: p)
        #expect(list.entries.count == 2)
        #expect(list.entries[1].index == 7 && list.entries[1].path == "b.png")
        #expect(try DetectionLabel(raw: list.entries[1].label).objects.first?.difficult == true)
        #expect(list.text == text)
        let bad = try write("0\t2\t5\t1\t0.1\tx\t0.3\t0.4\ta.jpg\n", "bad.lst", in: dir)
        #expect(throws: DataError.badListLine(path: bad, line: 1, reason: "label value \"x\" is not a number")) { _ = try ListFile(path: bad) }
    }

    @Test("labels pad to label_width with −1 rows; too many objects names the record and the width needed")
    func padding() throws {
        let label = DetectionLabel(objects: [DetectionObject(classId: 2, xmin: 0.1, ymin: 0.1, xmax: 0.2, ymax: 0.2)])
        #expect(try label.paddedRows(labelWidth: 17) == [2, 0.1, 0.1, 0.2, 0.2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1])
        #expect(DetectionLabel.capacity(labelWidth: 350) == 69)
        let many = DetectionLabel(objects: Array(repeating: label.objects[0], count: 4))
        #expect(throws: DataError.tooManyObjects(path: "t.rec", record: "9", objects: 4, labelWidth: 17, fits: 3)) {
            _ = try many.paddedRows(labelWidth: 17, path: "t.rec", record: "9")
        }
        #expect("\(DataError.tooManyObjects(path: "t.rec", record: "9", objects: 4, labelWidth: 17, fits: 3))".contains("at least 22"))
        #expect(throws: DataError.self) { _ = try DetectionLabel(raw: [2, 5, 1, 0.1, 0.1]) }
        #expect(throws: DataError.self) { _ = try DetectionLabel(raw: [2, 4, 1, 0.1, 0.1, 0.2]) }
        // −1 rows end the objects, as MultiBoxTarget reads them.
        #expect(try DetectionLabel(raw: [2, 5, 1, 0.1, 0.1, 0.2, 0.2, -1, -1, -1, -1, -1]).objects.count == 1)
    }
}

@Suite("Sharding")
struct ShardingTests {
    @Test("workers together cover every sample each epoch, with equal step counts", arguments: [1, 2, 3, 5])
    func coverage(workers: Int) {
        for samples in [1, 7, 30, 31, 64, 101] {
            for batch in [1, 2, 4] {
                let shards = (0..<workers).map { Sharding(samples: samples, rank: $0, count: workers, batchSize: batch, shuffle: true, seed: 9) }
                let steps = shards[0].stepsPerEpoch
                #expect(shards.allSatisfy { $0.stepsPerEpoch == steps })
                var seen = [Int](repeating: 0, count: samples)
                for shard in shards { for t in 0..<steps { for i in shard.batch(epoch: 3, step: t) { seen[i] += 1 } } }
                #expect(seen.allSatisfy { $0 >= 1 }, "\(samples) samples, \(workers) workers, batch \(batch)")
                let total = steps * workers * batch
                #expect(seen.reduce(0, +) == total)
                if samples % (workers * batch) == 0 { #expect(seen.allSatisfy { $0 == 1 }) }
                // Wrap-around fills at most one global batch.
                #expect(total - samples < workers * batch)
            }
        }
    }

    @Test("the union of N workers' step-t batches is one machine's step-t batch of N·b")
    func equalsSingleMachine() {
        let n = 3, b = 4, samples = 50
        let single = Sharding(samples: samples, rank: 0, count: 1, batchSize: n * b, shuffle: true, seed: 77)
        for epoch in 0..<3 {
            for t in 0..<single.stepsPerEpoch {
                let union = (0..<n).flatMap { Sharding(samples: samples, rank: $0, count: n, batchSize: b, shuffle: true, seed: 77).batch(epoch: epoch, step: t) }
                #expect(union == single.batch(epoch: epoch, step: t))
            }
        }
    }

    @Test("shuffling is per epoch and reproducible from the seed")
    func shuffling() {
        let s = Sharding(samples: 40, rank: 0, count: 1, batchSize: 8, shuffle: true, seed: 1)
        #expect(s.order(epoch: 0) == s.order(epoch: 0))
        #expect(s.order(epoch: 0) != s.order(epoch: 1))
        #expect(Set(s.order(epoch: 5)) == Set(0..<40))
        #expect(Sharding(samples: 40, rank: 0, count: 1, batchSize: 8, shuffle: true, seed: 2).order(epoch: 0) != s.order(epoch: 0))
        #expect(Sharding(samples: 5, rank: 0, count: 1, batchSize: 2, shuffle: false, seed: 1).order(epoch: 3) == [0, 1, 2, 3, 4])
    }
}
