import Detection
import Foundation
import Testing

struct ExpectedArray: Decodable { var shape: [Int]; var values: [Float] }

@Suite("MXNet .params files")
struct MXNetParamsTests {
    func fixturePath(_ name: String) throws -> String {
        try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(name).path
    }

    @Test("a file written by MXNet's mx.nd.save loads with its arg:/aux: names, shapes and values")
    func readsMXNet() throws {
        let expected = try JSONDecoder().decode([String: ExpectedArray].self,
                                                from: Data(contentsOf: URL(fileURLWithPath: try fixturePath("mxnet_params.json"))))
        let arrays = try MXNetParams.read(path: try fixturePath("mxnet.params"))
        #expect(Set(arrays.map(\.name)) == Set(expected.keys))
        for a in arrays {
            #expect(a.shape == expected[a.name]?.shape)
            #expect(a.values == expected[a.name]?.values)
        }
    }

    @Test("export → load gives identical weights, and MXNet's own file re-encodes byte for byte")
    func roundTrip() throws {
        let arrays = [MXNetParams.Array(name: "arg:w", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                      MXNetParams.Array(name: "aux:m", shape: [1], values: [.pi])]
        let bytes = MXNetParams.encode(arrays)
        // The fact sheet's 109-byte single-array file, plus a 36-byte 1-D array and its 13-byte name.
        #expect(bytes.count == 109 + 36 + 13)
        #expect(try MXNetParams.decode(bytes) == arrays)
        let original = try Data(contentsOf: URL(fileURLWithPath: try fixturePath("mxnet.params")))
        let decoded = try MXNetParams.decode([UInt8](original))
        #expect(MXNetParams.encode(decoded) == [UInt8](original))
    }

    @Test("truncated or foreign bytes are errors naming the offset")
    func badBytes() throws {
        let good = MXNetParams.encode([MXNetParams.Array(name: "arg:w", shape: [2, 2], values: [1, 2, 3, 4])])
        for cut in [0, 7, 20, 30, 60, good.count - 1] {
            #expect {
                _ = try MXNetParams.decode(Array(good.prefix(cut)), path: "w.params")
            } throws: { error in
                guard case .truncated(let path, _, _) = error as? MXNetParams.Error else { return false }
                return path == "w.params"
            }
        }
        var wrong = good
        wrong[0] = 0x13
        #expect(throws: MXNetParams.Error.badMagic(path: "x", offset: 0, found: 0x113, expected: "0x112 (NDArray list)")) {
            _ = try MXNetParams.decode(wrong, path: "x")
        }
        var dtype = good
        dtype[24 + 4 + 4 + 4 + 16 + 8] = 6  // int64 data
        #expect(throws: MXNetParams.Error.self) { _ = try MXNetParams.decode(dtype, path: "x") }
    }
}

@Suite("Pretrained weights and export")
struct PretrainedTests {
    @Test("export → load gives identical weights; missing pretrained file says how to fix it")
    func exportAndLoad() throws {
        let a = try SSDModel(config: .tiny(numClasses: 2), seed: 1), b = try SSDModel(config: .tiny(numClasses: 2), seed: 2)
        #expect(a.parameters.values != b.parameters.values)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ssd-\(UUID().uuidString).params").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try a.exportMXNet(to: path)
        let loaded = try b.loadPretrained(path: path)
        #expect(loaded.count == a.parameters.specs.count)
        #expect(b.parameters.values == a.parameters.values)
        #expect(throws: ModelError.pretrainedWeightsMissing(expected: "/nonexistent/vgg16_reduced-0001.params")) {
            try b.loadPretrained(path: "/nonexistent/vgg16_reduced-0001.params")
        }
        #expect("\(ModelError.pretrainedWeightsMissing(expected: "x"))".contains("use_pretrained_model=0"))
        // A base network of another width does not load silently.
        let wide = try SSDModel(config: { var c = SSDConfig.tiny(numClasses: 2); c.baseWidths[0] = 5; return c }())
        #expect(throws: ModelError.self) { try wide.loadPretrained(path: path) }
    }
}
