import Foundation

/// The final model as SageMaker's Object Detection writes it into `/opt/ml/model` (facts
/// E.2): `model_algo_1-symbol.json` (the MXNet deploy symbol), `model_algo_1-0000.params`
/// (`arg:`/`aux:` arrays) and `hyperparams.json` (every value a string), so that
/// `mx.model.load_checkpoint("model_algo_1", 0)` loads and binds it.
///
/// The symbol's graph attributes also carry what MXNet ignores but serving needs:
/// `ssd_config` (this project's network configuration, JSON) and `class_names`. A symbol
/// without them (e.g. SageMaker's own) is rebuilt from `hyperparams.json`'s `base_network`,
/// `num_classes` and `image_shape`.
public struct ModelArtifacts {
    public static let prefix = "model_algo_1"
    public static let symbolFile = "\(prefix)-symbol.json"
    public static let paramsFile = "\(prefix)-0000.params"
    public static let hyperparametersFile = "hyperparams.json"

    /// The network with its weights.
    public var model: SSDModel
    /// The detection settings of the symbol's `detection` node (NMS threshold, top k, …).
    public var detection: MultiBoxDetection
    /// Class names by 0-based class id, when known.
    public var classNames: [String]?
    /// `hyperparams.json`.
    public var hyperparameters: [String: String]

    /// What is wrong with a model directory, and what to do about it.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case missing(path: String)
        case unreadable(path: String, reason: String)
        case incomplete(path: String, missing: [String])
        case classNamesMismatch(count: Int, numClasses: Int)

        public var description: String {
            switch self {
            case let .missing(p):
                return "\(p) does not exist; a model directory holds \(symbolFile), \(paramsFile) and \(hyperparametersFile) "
                    + "as `worker` writes them at the end of training (pass --model-dir, default /opt/ml/model)"
            case let .unreadable(p, r): return "\(p): \(r)"
            case let .incomplete(p, m):
                return "\(p) lacks \(m.count) array(s) the network needs (\(m.prefix(3).joined(separator: ", "))\(m.count > 3 ? ", …" : "")); "
                    + "it was written for another network or number of classes"
            case let .classNamesMismatch(c, n): return "\(c) class names for num_classes=\(n); give exactly one name per class"
            }
        }
    }

    public init(model: SSDModel, detection: MultiBoxDetection, classNames: [String]?, hyperparameters: [String: String]) {
        self.model = model; self.detection = detection; self.classNames = classNames; self.hyperparameters = hyperparameters
    }

    /// Writes the three files into `dir` (each with `DurableFile`: a temporary file, fsynced and renamed into place);
    /// returns their paths.
    @discardableResult
    public func write(to dir: String) throws -> [String] {
        if let classNames, classNames.count != model.config.numClasses {
            throw Error.classNamesMismatch(count: classNames.count, numClasses: model.config.numClasses)
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let paths = [Self.symbolFile, Self.paramsFile, Self.hyperparametersFile].map { (dir as NSString).appendingPathComponent($0) }
        try DurableFile.write(symbolData(), to: paths[0])
        try MXNetParams.write(model.parameters.exportMXNet(), to: paths[1])
        try DurableFile.write(JSONSerialization.data(withJSONObject: hyperparameters, options: [.prettyPrinted, .sortedKeys]), to: paths[2])
        return paths
    }

    /// The symbol file's bytes.
    public func symbolData() throws -> Data {
        var (symbol, head) = model.deploySymbol(detection: detection)
        let config = String(decoding: try JSONEncoder().encode(model.config), as: UTF8.self)
        symbol.graphAttributes["ssd_config"] = ["str", config]
        if let classNames { symbol.graphAttributes["class_names"] = ["list_str", classNames] }
        return try symbol.jsonData(heads: [head])
    }

    /// Loads a model directory: rebuilds the network, loads every array, reads the detection
    /// settings and class names.
    public static func load(from dir: String) throws -> ModelArtifacts {
        let symbolPath = (dir as NSString).appendingPathComponent(symbolFile)
        let paramsPath = (dir as NSString).appendingPathComponent(paramsFile)
        let hyperPath = (dir as NSString).appendingPathComponent(hyperparametersFile)
        for p in [symbolPath, paramsPath] where !FileManager.default.fileExists(atPath: p) { throw Error.missing(path: p) }
        var hyperparameters: [String: String] = [:]
        if let data = FileManager.default.contents(atPath: hyperPath) {
            guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
                throw Error.unreadable(path: hyperPath, reason: "not a JSON object")
            }
            for (k, v) in object { hyperparameters[k] = v as? String ?? "\(v)" }
        }
        guard let data = FileManager.default.contents(atPath: symbolPath),
              let symbol = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let nodes = symbol["nodes"] as? [[String: Any]] else {
            throw Error.unreadable(path: symbolPath, reason: "not an MXNet symbol JSON (no \"nodes\" list)")
        }
        let attrs = symbol["attrs"] as? [String: Any] ?? [:]
        let config: SSDConfig
        if let typed = attrs["ssd_config"] as? [Any], typed.count == 2, let text = typed[1] as? String {
            do { config = try JSONDecoder().decode(SSDConfig.self, from: Data(text.utf8)) } catch {
                throw Error.unreadable(path: symbolPath, reason: "its ssd_config attribute does not decode: \(error)")
            }
        } else {
            guard let base = hyperparameters["base_network"], let classes = hyperparameters["num_classes"].flatMap({ Int($0) }) else {
                throw Error.unreadable(path: hyperPath, reason: "needs base_network and num_classes to rebuild a symbol without ssd_config")
            }
            config = try SSDConfig.forBaseNetwork(base, imageShape: hyperparameters["image_shape"].flatMap { Int($0) } ?? 300,
                                                  numClasses: classes)
        }
        var classNames: [String]?
        if let typed = attrs["class_names"] as? [Any], typed.count == 2, let names = typed[1] as? [String] { classNames = names }
        var detection = MultiBoxDetection()
        if let node = nodes.first(where: { $0["op"] as? String == "_contrib_MultiBoxDetection" }), let a = node["attrs"] as? [String: String] {
            if let v = a["nms_threshold"].flatMap(Float.init) { detection.nmsThreshold = v }
            if let v = a["threshold"].flatMap(Float.init) { detection.threshold = v }
            if let v = a["nms_topk"].flatMap(Int.init) { detection.topK = v }
            if let v = a["force_suppress"] { detection.forceSuppress = v == "True" || v == "1" }
            if let v = a["clip"] { detection.clip = v == "True" || v == "1" }
        }
        let model = try SSDModel(config: config)
        let loaded = Set(try model.parameters.load(try MXNetParams.read(path: paramsPath), path: paramsPath))
        let missing = model.parameters.specs.map(\.name).filter { !loaded.contains($0) }
        guard missing.isEmpty else { throw Error.incomplete(path: paramsPath, missing: missing) }
        if let names = classNames, names.count != config.numClasses {
            throw Error.classNamesMismatch(count: names.count, numClasses: config.numClasses)
        }
        return ModelArtifacts(model: model, detection: detection, classNames: classNames, hyperparameters: hyperparameters)
    }
}
