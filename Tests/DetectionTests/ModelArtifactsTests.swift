import Detection
import Foundation
import Testing

@Suite("Model artifacts: MXNet deploy symbol, .params, hyperparams.json")
struct ModelArtifactsTests {
    func fixture(_ name: String) throws -> [String: Any] {
        let url = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(name)
        return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    func temporaryDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("artifacts-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The symbol this project writes for `config`, as a JSON object.
    func symbol(_ config: SSDConfig, classNames: [String]? = nil) throws -> [String: Any] {
        let artifacts = ModelArtifacts(model: try SSDModel(config: config), detection: MultiBoxDetection(nmsThreshold: 0.45),
                                       classNames: classNames, hyperparameters: [:])
        return try #require(try JSONSerialization.jsonObject(with: artifacts.symbolData()) as? [String: Any])
    }

    /// The symbol matches what MXNet 1.9.1 wrote back after loading, binding and running it
    /// (scripts/fixtures/check_mxnet_symbol.py on a `worker --tiny-network` model): every
    /// node's op, name, attributes and inputs, the argument nodes, row pointers and heads.
    @Test("the deploy symbol is exactly the graph MXNet loaded and ran", arguments: [
        ("mxnet_symbol_tiny_vgg.json", SSDConfig.tiny(numClasses: 3)),
        ("mxnet_symbol_tiny_resnet.json", SSDConfig.tinyResNet(numClasses: 3)),
    ])
    func matchesMXNet(file: String, config: SSDConfig) throws {
        let expected = try fixture(file), ours = try symbol(config)
        let expectedNodes = try #require(expected["nodes"] as? [[String: Any]]), nodes = try #require(ours["nodes"] as? [[String: Any]])
        #expect(nodes.count == expectedNodes.count)
        for (k, (a, b)) in zip(nodes, expectedNodes).enumerated() {
            #expect(a["op"] as? String == b["op"] as? String, "node \(k)")
            #expect(a["name"] as? String == b["name"] as? String, "node \(k)")
            #expect((a["attrs"] as? [String: String] ?? [:]) == (b["attrs"] as? [String: String] ?? [:]), "node \(k) \(a["name"] ?? "")")
            #expect((a["inputs"] as? [[Int]]) == (b["inputs"] as? [[Int]]), "node \(k) \(a["name"] ?? "")")
        }
        for key in ["arg_nodes", "node_row_ptr"] { #expect(ours[key] as? [Int] == expected[key] as? [Int], "\(key)") }
        #expect(ours["heads"] as? [[Int]] == expected["heads"] as? [[Int]])
        let version = (ours["attrs"] as? [String: Any])?["mxnet_version"] as? [Any]
        #expect(version?.last as? Int == 10901)
    }

    @Test("VGG16-reduced 300 names every one of its 71 parameter arrays once, and MXNet's layers")
    func fullSizeVGG() throws {
        let model = try SSDModel(config: .vgg16Reduced(imageShape: 300, numClasses: 20))
        let s = try symbol(model.config)
        let nodes = try #require(s["nodes"] as? [[String: Any]])
        let variables = nodes.filter { $0["op"] as? String == "null" }.compactMap { $0["name"] as? String }
        #expect(variables.count == 72)  // data + 71 arrays (facts A.3: the test symbol has 72 arguments)
        #expect(Set(variables) == Set(["data"] + model.parameters.specs.map(\.name)))
        let byName = Dictionary(nodes.map { ($0["name"] as! String, $0) }, uniquingKeysWith: { a, _ in a })
        #expect((byName["fc6"]?["attrs"] as? [String: String])?["dilate"] == "(6, 6)")
        #expect((byName["pool3"]?["attrs"] as? [String: String])?["pooling_convention"] == "full")
        #expect(byName["relu4_3_norm"]?["op"] as? String == "L2Normalization")
        #expect((byName["relu7_anchors"]?["attrs"] as? [String: String])?["sizes"] == "(0.2, 0.272)")
        #expect(byName["relu7"]?["op"] as? String == "Activation")
        #expect(byName["detection"]?["op"] as? String == "_contrib_MultiBoxDetection")
    }

    @Test("write → load gives the same weights, detection settings, class names and detections")
    func roundTrip() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try SSDModel(config: .tinyResNet(numClasses: 2), seed: 7)
        var detection = MultiBoxDetection(nmsThreshold: 0.3, threshold: 0.02, topK: 50)
        detection.forceSuppress = true
        let written = ModelArtifacts(model: model, detection: detection, classNames: ["cat", "dog"],
                                     hyperparameters: ["num_classes": "2", "base_network": "resnet-50"])
        let paths = try written.write(to: dir)
        #expect(paths.map { ($0 as NSString).lastPathComponent } == ["model_algo_1-symbol.json", "model_algo_1-0000.params", "hyperparams.json"])
        let loaded = try ModelArtifacts.load(from: dir)
        #expect(loaded.model.config == model.config)
        #expect(loaded.model.parameters.values == model.parameters.values)
        #expect(loaded.classNames == ["cat", "dog"])
        #expect(loaded.hyperparameters["base_network"] == "resnet-50")
        #expect(loaded.detection.nmsThreshold == 0.3 && loaded.detection.threshold == 0.02 && loaded.detection.topK == 50
                && loaded.detection.forceSuppress)
        let s = model.config.imageShape
        let images = (0..<(2 * 3 * s * s)).map { Float(($0 * 37) % 255) - 120 }
        #expect(try loaded.model.deployForward(images: images, batch: 2, detection: loaded.detection)
                == model.deployForward(images: images, batch: 2, detection: detection))
        // Every array is in the .params under its arg:/aux: name.
        let names = Set(try MXNetParams.read(path: paths[1]).map(\.name))
        #expect(names.contains("arg:conv0_weight") && names.contains("aux:bn0_moving_var"))
    }

    @Test("a model directory that is missing a file or holds another network's weights is a clear error")
    func loadErrors() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: ModelArtifacts.Error.missing(path: "\(dir)/model_algo_1-symbol.json")) { try ModelArtifacts.load(from: dir) }
        let vgg = ModelArtifacts(model: try SSDModel(config: .tiny(numClasses: 2)), detection: MultiBoxDetection(),
                                 classNames: nil, hyperparameters: [:])
        try vgg.write(to: dir)
        // One array short: named in the error.
        let arrays = try MXNetParams.read(path: "\(dir)/model_algo_1-0000.params")
        try MXNetParams.write(arrays.filter { $0.name != "arg:conv1_1_weight" }, to: "\(dir)/model_algo_1-0000.params")
        #expect { try ModelArtifacts.load(from: dir) } throws: { error in
            guard case let .incomplete(_, missing) = error as? ModelArtifacts.Error else { return false }
            return missing == ["conv1_1_weight"]
        }
        // Another network's weights: the first array whose shape differs is named.
        let resnet = try SSDModel(config: .tinyResNet(numClasses: 2))
        try MXNetParams.write(resnet.parameters.exportMXNet(), to: "\(dir)/model_algo_1-0000.params")
        #expect(throws: ModelError.self) { try ModelArtifacts.load(from: dir) }
        #expect(throws: ModelArtifacts.Error.classNamesMismatch(count: 1, numClasses: 2)) {
            try ModelArtifacts(model: try SSDModel(config: .tiny(numClasses: 2)), detection: MultiBoxDetection(),
                               classNames: ["one"], hyperparameters: [:]).write(to: dir)
        }
    }
}
