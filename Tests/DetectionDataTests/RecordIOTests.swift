import Foundation
import Tensor
import Testing
@testable import DetectionData

struct FixtureRecord: Decodable {
    var id: UInt64
    var id2: UInt64
    var flag: UInt32
    var scalar_label: Float
    var labels: [Float]
    var image_hex: String
    var imageBytes: [UInt8] {
        var out: [UInt8] = []
        var it = image_hex.makeIterator()
        while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16) ?? 0) }
        return out
    }
}

struct FixtureMeta: Decodable {
    struct PNG: Decodable { var width: Int; var height: Int; var pixels: [UInt8] }
    var version: Int
    var records: [FixtureRecord]
    var png: PNG

    static func load() throws -> FixtureMeta {
        let data = try Data(contentsOf: URL(fileURLWithPath: try TestFiles.fixture("mxnet_det.json")))
        let meta = try JSONDecoder().decode(FixtureMeta.self, from: data)
        guard meta.version == 1 else {
            throw DetectionDataError.badAnnotation(file: "mxnet_det.json", reason: "fixture version \(meta.version), expected 1 — rerun scripts/fixtures/make_recordio.py")
        }
        return meta
    }
}

@Suite("RecordIO")
struct RecordIOTests {
    @Test("records written by MXNet read back with identical headers, labels and image bytes")
    func readsMXNetFixture() throws {
        let meta = try FixtureMeta.load()
        let reader = try RecordIOReader(path: try TestFiles.fixture("mxnet_det.rec"))
        let payloads = try reader.readAll()
        #expect(payloads.count == meta.records.count)
        for (i, (payload, want)) in zip(payloads, meta.records).enumerated() {
            let r = try ImageRecord(payload: payload, source: "mxnet_det.rec", record: i)
            #expect(r.id == want.id)
            #expect(r.id2 == want.id2)
            #expect(r.flag == want.flag)
            #expect(r.labels == want.labels)
            #expect(r.scalarLabel == want.scalar_label)
            #expect(r.imageBytes == want.imageBytes)
        }
        // The magic word inside record 1's image survives the continuation chunks.
        let magic: [UInt8] = [0x0a, 0x23, 0xd7, 0xce]
        let img = try ImageRecord(payload: payloads[1], source: "", record: 1).imageBytes
        #expect(Array(img[4..<8]) == magic && Array(img[12..<16]) == magic)
    }

    @Test("the .idx offsets give random access to the same records")
    func indexRandomAccess() throws {
        let meta = try FixtureMeta.load()
        let ds = try RecordIODataset(recordPath: try TestFiles.fixture("mxnet_det.rec"), indexPath: try TestFiles.fixture("mxnet_det.idx"))
        let entries = try IndexFile.read(path: try TestFiles.fixture("mxnet_det.idx"))
        #expect(entries.map(\.key) == meta.records.map { Int($0.id) })
        for i in [3, 0, 2, 1] {
            let r = try ds.record(at: i)
            #expect(r.id == meta.records[i].id && r.imageBytes == meta.records[i].imageBytes)
        }
        let scanned = try RecordIODataset(recordPath: try TestFiles.fixture("mxnet_det.rec"))
        #expect(scanned.offsets == entries.map(\.offset))
    }

    @Test("this project's writer produces MXNet's bytes exactly, .idx included")
    func writerIsByteIdentical() throws {
        let meta = try FixtureMeta.load()
        let dir = try TestFiles.scratch("rio")
        defer { TestFiles.remove(dir) }
        let w = try RecordIOWriter(path: dir + "/out.rec")
        for r in meta.records {
            try w.write(ImageRecord(id: r.id, id2: r.id2, labels: r.labels, scalarLabel: r.scalar_label, imageBytes: r.imageBytes))
        }
        try w.close(indexPath: dir + "/out.idx")
        let mine = try Data(contentsOf: URL(fileURLWithPath: dir + "/out.rec"))
        let theirs = try Data(contentsOf: URL(fileURLWithPath: try TestFiles.fixture("mxnet_det.rec")))
        #expect(mine == theirs)
        #expect(try String(contentsOfFile: dir + "/out.idx", encoding: .utf8) == String(contentsOfFile: try TestFiles.fixture("mxnet_det.idx"), encoding: .utf8))
    }

    @Test("one small record's bytes, computed by hand")
    func handComputedBytes() throws {
        // payload 5 bytes → magic, lrec = 5 (flag 0), payload, 3 zero bytes of padding.
        #expect(try RecordIOWriter.encode(payload: [1, 2, 3, 4, 5]) == [0x0a, 0x23, 0xd7, 0xce, 5, 0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0])
        // magic at aligned offset 4 → first chunk (flag 1, len 4), last chunk (flag 3, len 1).
        let split = try RecordIOWriter.encode(payload: [9, 9, 9, 9, 0x0a, 0x23, 0xd7, 0xce, 7])
        #expect(split == [0x0a, 0x23, 0xd7, 0xce, 4, 0, 0, 0x20, 9, 9, 9, 9,
                          0x0a, 0x23, 0xd7, 0xce, 1, 0, 0, 0x60, 7, 0, 0, 0])
        // magic at an unaligned offset is left alone.
        #expect(try RecordIOWriter.encode(payload: [1, 0x0a, 0x23, 0xd7, 0xce]).count == 16)
    }

    @Test("truncated record names the file and offset")
    func truncated() throws {
        let dir = try TestFiles.scratch("trunc")
        defer { TestFiles.remove(dir) }
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try TestFiles.fixture("mxnet_det.rec"))))
        try TestFiles.write(Array(full.prefix(full.count - 3)), to: dir + "/t.rec")
        let reader = try RecordIOReader(path: dir + "/t.rec")
        #expect(throws: DetectionDataError.self) { try reader.readAll() }
        do { _ = try reader.record(at: 468); Issue.record("no error") } catch let e as DetectionDataError {
            guard case let .truncatedRecord(file, offset, _, _) = e else { Issue.record("wrong error \(e)"); return }
            #expect(file.hasSuffix("t.rec") && offset == 468)
            #expect(e.description.contains("truncated"))
        }
    }

    @Test("wrong magic names the file and offset")
    func wrongMagic() throws {
        let dir = try TestFiles.scratch("magic")
        defer { TestFiles.remove(dir) }
        try TestFiles.write([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0], to: dir + "/m.rec")
        #expect(throws: DetectionDataError.badMagic(file: dir + "/m.rec", offset: 0, found: 0xefbe_adde)) {
            try RecordIODataset(recordPath: dir + "/m.rec")
        }
    }

    @Test("a last chunk without a first chunk is a continuation error")
    func badContinuation() throws {
        let dir = try TestFiles.scratch("cont")
        defer { TestFiles.remove(dir) }
        try TestFiles.write([0x0a, 0x23, 0xd7, 0xce, 0, 0, 0, 0x60], to: dir + "/c.rec")
        #expect(throws: DetectionDataError.badContinuation(file: dir + "/c.rec", offset: 0, flag: 3)) {
            try RecordIOReader(path: dir + "/c.rec").readAll()
        }
    }

    @Test("record shorter than its header and labels is an error naming the record")
    func shortRecord() throws {
        var payload = ImageRecord(id: 1, labels: [2, 5, 0, 0.1, 0.1, 0.2, 0.2], imageBytes: []).encoded()
        payload.removeLast(4)
        #expect(throws: DetectionDataError.recordTooShort(source: "x.rec", record: 3, bytes: 48, needed: 52)) {
            try ImageRecord(payload: payload, source: "x.rec", record: 3)
        }
    }

    @Test("an empty .rec is an empty-dataset error")
    func emptyRec() throws {
        let dir = try TestFiles.scratch("empty")
        defer { TestFiles.remove(dir) }
        try TestFiles.write([], to: dir + "/e.rec")
        #expect(throws: DetectionDataError.emptyDataset(source: dir + "/e.rec")) { try RecordIODataset(recordPath: dir + "/e.rec") }
    }
}

@Suite("RecordIO robustness")
struct RecordIORobustnessTests {
    /// Reads every record and parses header + detection label; returns how many parsed.
    private func readEverything(_ path: String) throws -> Int {
        let reader = try RecordIOReader(path: path)
        var n = 0
        for (i, payload) in try reader.readAll().enumerated() {
            let r = try ImageRecord(payload: payload, source: path, record: i)
            if !r.labels.isEmpty { _ = try DetectionLabel.parse(r.labels, source: path, record: "\(i)") }
            n += 1
        }
        return n
    }

    @Test("every truncation of a valid file is a clean error or a shorter valid file")
    func everyTruncation() throws {
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try TestFiles.fixture("mxnet_det.rec"))))
        let boundaries = Set(try IndexFile.read(path: try TestFiles.fixture("mxnet_det.idx")).map(\.offset) + [full.count])
        let dir = try TestFiles.scratch("cut")
        defer { TestFiles.remove(dir) }
        for length in 0..<full.count {
            let path = dir + "/cut\(length).rec"
            try TestFiles.write(Array(full.prefix(length)), to: path)
            do {
                let n = try readEverything(path)
                #expect(boundaries.contains(length), "length \(length) read \(n) records without error")
            } catch is DetectionDataError {
                #expect(!boundaries.contains(length))
            }
        }
    }

    @Test("random byte corruption never traps")
    func byteFlips() throws {
        let full = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try TestFiles.fixture("mxnet_det.rec"))))
        let dir = try TestFiles.scratch("flip")
        defer { TestFiles.remove(dir) }
        var rng = SeededGenerator(seed: 77)
        for trial in 0..<300 {
            var bytes = full
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(rng.next() & 0xff)
            }
            let path = dir + "/f\(trial).rec"
            try TestFiles.write(bytes, to: path)
            _ = try? readEverything(path)  // a DetectionDataError or a parse; never a crash
            if let payloads = try? RecordIOReader(path: path).readAll(), let first = payloads.first,
               let r = try? ImageRecord(payload: first, source: path, record: 0) {
                _ = try? ImageCodec.decode(r.imageBytes, source: path)
            }
        }
    }
}
