import Foundation
import Testing
@testable import DetectionData

@Suite("RecordIO packing (ssd im2rec)")
struct RecordIOPackerTests {
    private func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    @Test("id2 is kept, and a header holding the magic word is split inside the header, as MXNet's pack does")
    func id2Magic() throws {
        // IRHeader: flag @0, label @4, id @8, id2 @16 — id2's low word is 4-byte aligned, so
        // the writer must end the first chunk (flag 1) after 16 bytes and drop the magic word.
        let record = ImageRecord(id: 3, id2: UInt64(RecordIOFormat.magic), labels: [], scalarLabel: 1, imageBytes: [7, 7, 7])
        let encoded = try RecordIOWriter.encode(payload: record.encoded())
        #expect(Array(encoded[0..<8]) == [0x0a, 0x23, 0xd7, 0xce, 16, 0, 0, 0x20])
        #expect(Array(encoded[24..<32]) == [0x0a, 0x23, 0xd7, 0xce, 7, 0, 0, 0x60])  // id2's high word + 3 image bytes
        let back = try ImageRecord(payload: RecordIOReader(bytes: encoded, name: "mem").record(at: 0).payload, source: "mem", record: 0)
        #expect(back == record)
    }

    @Test("repacking MXNet's records with magic-word ids reproduces MXNet's .rec and .idx byte for byte")
    func repackMXNetFixture() throws {
        let dir = try TestFiles.scratch("id2")
        defer { TestFiles.remove(dir) }
        let source = try RecordIODataset(recordPath: try TestFiles.fixture("mxnet_id2.rec"), indexPath: try TestFiles.fixture("mxnet_id2.idx"))
        #expect(try (0..<source.count).map { try source.sample(at: $0).id2 } == [0xced7_230a, 7, 5 << 32 | 0xced7_230a, 1 << 40])
        let summary = try RecordIOPacker.pack(source, to: dir + "/repacked", numClasses: 1)
        #expect(summary.written == 4 && summary.skipped.isEmpty)
        #expect(try bytes(dir + "/repacked.rec") == bytes(try TestFiles.fixture("mxnet_id2.rec")))
        #expect(try bytes(dir + "/repacked.idx") == bytes(try TestFiles.fixture("mxnet_id2.idx")))
    }

    @Test("a failed packing (missing image, or nothing good) leaves no partial .rec/.idx and keeps the previous ones")
    func noPartialFiles() throws {
        let dir = try TestFiles.scratch("atomic")
        defer { TestFiles.remove(dir) }
        try SyntheticDataset(numClasses: 2, imageSize: 24, seed: 3).write(to: dir, trainCount: 3, validationCount: 0, formats: .json)
        var lines: [String] = []
        for (i, path) in ["train/train_000000.jpg", "train/train_000001.jpg", "missing.jpg"].enumerated() {
            lines.append(ListFile.line(ListFile.Entry(index: i, label: [2, 5, 0, 0.1, 0.1, 0.5, 0.5], path: path)))
        }
        try TestFiles.write(lines.joined(separator: "\n") + "\n", to: dir + "/l.lst")
        let list = try ListFileDataset(listPath: dir + "/l.lst", imageRoot: dir)
        #expect(throws: DetectionDataError.imageMissing(path: dir + "/missing.jpg", referencedBy: dir + "/l.lst: line of index 2")) {
            try RecordIOPacker.pack(list, to: dir + "/out")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(left == ["l.lst", "train", "train_annotation"], "\(left)")
        // An earlier good packing survives a later failed one untouched.
        let good = try ListFileDataset(listPath: dir + "/l.lst", imageRoot: dir)
        _ = try RecordIOPacker.pack(good, to: dir + "/out", skipBad: true)
        let before = try bytes(dir + "/out.rec"), beforeIndex = try bytes(dir + "/out.idx")
        #expect(throws: DetectionDataError.self) { try RecordIOPacker.pack(list, to: dir + "/out") }
        #expect(try bytes(dir + "/out.rec") == before && bytes(dir + "/out.idx") == beforeIndex)
        try TestFiles.write("0\t2\t5\t0\t0.1\t0.1\t0.5\t0.5\tmissing.jpg\n", to: dir + "/bad.lst")
        let allBad = try ListFileDataset(listPath: dir + "/bad.lst", imageRoot: dir)
        #expect(throws: DetectionDataError.emptyDataset(source: dir + "/bad.lst")) {
            try RecordIOPacker.pack(allBad, to: dir + "/empty", skipBad: true)
        }
        let after = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(after == ["bad.lst", "l.lst", "out.idx", "out.rec", "train", "train_annotation"], "\(after)")
    }

    @Test("a writer dropped before close leaves nothing behind")
    func droppedWriter() throws {
        let dir = try TestFiles.scratch("drop")
        defer { TestFiles.remove(dir) }
        do {
            let w = try RecordIOWriter(path: dir + "/x.rec")
            try w.write(payload: [1, 2, 3, 4], key: 0)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }
}
