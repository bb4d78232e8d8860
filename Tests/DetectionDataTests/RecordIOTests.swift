import DetectionData
import Foundation
import Testing

func dataFixture(_ name: String) throws -> String {
    guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
        throw DataError.unreadable(path: "Fixtures/\(name)", reason: "resource folder missing")
    }
    return dir.appendingPathComponent(name).path
}

func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("data-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

struct ExpectedRecord: Decodable {
    var key: Int
    var id: UInt64
    var label: [Float]
    var image: [UInt8]
}

@Suite("RecordIO")
struct RecordIOTests {
    @Test("records written by MXNet's recordio read back with identical headers, labels and image bytes")
    func readsMXNet() throws {
        let expected = try JSONDecoder().decode([ExpectedRecord].self,
                                                from: Data(contentsOf: URL(fileURLWithPath: try dataFixture("mxnet_expected.json"))))
        let reader = try RecordIOReader(path: try dataFixture("mxnet.rec"))
        let index = try IndexFile(path: try dataFixture("mxnet.idx"))
        #expect(index.entries.map(\.key) == expected.map(\.key))
        for (entry, e) in zip(index.entries, expected) {
            let record = try ImageRecord(payload: try reader.record(at: entry.offset).payload)
            #expect(record.id == e.id)
            #expect(record.label == e.label)
            #expect(record.image == e.image, "record \(e.key)")
        }
        // Sequential scan agrees with the index (continuation chunks of record 13 included).
        #expect(try reader.scanOffsets() == index.entries.map(\.offset))
        let label = try DetectionLabel(raw: try ImageRecord(payload: reader.record(at: index.entries[3].offset).payload).label)
        #expect(label.objectWidth == 6 && label.objects.count == 2 && label.objects[0].difficult && !label.objects[1].difficult)
    }

    @Test("this project's writer produces MXNet's exact bytes and reads them back")
    func writesMXNetBytes() throws {
        let expected = try JSONDecoder().decode([ExpectedRecord].self,
                                                from: Data(contentsOf: URL(fileURLWithPath: try dataFixture("mxnet_expected.json"))))
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ours.rec").path
        let writer = try RecordIOWriter(path: path)
        var entries: [(key: Int, offset: Int)] = []
        for e in expected {
            entries.append((e.key, try writer.write(ImageRecord(label: e.label, id: e.id, image: e.image).payload)))
        }
        try writer.close()
        try IndexFile(entries: entries).write(to: dir.appendingPathComponent("ours.idx").path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(contentsOf: URL(fileURLWithPath: try dataFixture("mxnet.rec"))))
        #expect(try String(contentsOfFile: dir.appendingPathComponent("ours.idx").path, encoding: .utf8)
                    == String(contentsOfFile: try dataFixture("mxnet.idx"), encoding: .utf8))
    }

    @Test("payloads with the magic word at every alignment round-trip", arguments: [0, 1, 2, 3, 4, 5, 8, 12])
    func magicInPayload(at offset: Int) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.rec").path
        var payload = [UInt8](repeating: 0x55, count: 30)
        payload.replaceSubrange(offset..<(offset + 4), with: [0x0A, 0x23, 0xD7, 0xCE])
        payload += [0x0A, 0x23, 0xD7, 0xCE]  // and at the end
        let writer = try RecordIOWriter(path: path)
        try writer.write(payload)
        try writer.write([1, 2, 3])
        try writer.close()
        let records = try RecordIOReader(path: path).allRecords()
        #expect(records.map(\.payload) == [payload, [1, 2, 3]])
    }

    @Test("truncated files, wrong magic and broken continuation are specific errors naming the offset")
    func badInput() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = try Data(contentsOf: URL(fileURLWithPath: try dataFixture("mxnet.rec")))
        func reader(_ bytes: Data) throws -> RecordIOReader {
            let p = dir.appendingPathComponent("bad-\(UUID().uuidString).rec").path
            try bytes.write(to: URL(fileURLWithPath: p))
            return try RecordIOReader(path: p)
        }
        for cut in [3, 8, 20, 99, 150, good.count - 1] {
            #expect {
                _ = try reader(good.prefix(cut)).allRecords()
            } throws: { error in
                guard case .truncated = error as? DataError else { return false }
                return "\(error)".contains("truncated at byte")
            }
        }
        var wrong = good
        wrong[100] ^= 0xFF  // the second record's magic
        #expect {
            _ = try reader(wrong).allRecords()
        } throws: { error in
            if case .badMagic(_, 100, 0xCED7_23F5) = error as? DataError { return true }
            return false
        }
        var flag = good
        flag[7] = 0x40  // first record: continuation flag 2 without a first chunk
        #expect {
            _ = try reader(flag).allRecords()
        } throws: { error in
            if case .badContinuation(_, 0, 2) = error as? DataError { return true }
            return false
        }
        #expect(throws: DataError.self) { _ = try RecordIOReader(path: dir.appendingPathComponent("missing.rec").path) }
        try "0\t0\nnot a line\n".write(to: dir.appendingPathComponent("bad.idx"), atomically: true, encoding: .utf8)
        #expect(throws: DataError.badIndexLine(path: dir.appendingPathComponent("bad.idx").path, line: 2, text: "not a line")) {
            _ = try IndexFile(path: dir.appendingPathComponent("bad.idx").path)
        }
        #expect(throws: DataError.self) { _ = try ImageRecord(payload: [1, 2, 3], path: "x.rec", record: 4) }
        #expect(throws: DataError.self) { _ = try ImageRecord(payload: [9, 0, 0, 0] + [UInt8](repeating: 0, count: 24)) }
    }
}
