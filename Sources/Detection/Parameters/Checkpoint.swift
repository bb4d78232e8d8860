import Foundation

/// A checkpoint directory as the trainer writes it (SageMaker's model artifact names):
/// `model_algo_1-NNNN.params` (MXNet `arg:` arrays), `model_algo_1-model.json` (the network
/// configuration and parameter list), `hyperparams.json`.
public enum Checkpoint {
    public static let prefix = "model_algo_1"

    /// Writes the model description (configuration + parameter names and shapes).
    public static func writeDescription(_ model: SSDModel, epoch: Int, extra: [String: Any], to dir: String) throws {
        let config = try JSONSerialization.jsonObject(with: JSONEncoder().encode(model.config))
        var description = extra
        description["network"] = "ssd"
        description["config"] = config
        description["anchors"] = model.anchorCount
        description["mean_rgb"] = [123, 117, 104]
        description["epoch"] = epoch
        description["parameters"] = model.parameters.specs.map { ["name": $0.name, "shape": $0.shape] }
        try DurableFile.write(JSONSerialization.data(withJSONObject: description, options: [.prettyPrinted, .sortedKeys]),
                              to: (dir as NSString).appendingPathComponent("\(prefix)-model.json"))
    }

    /// The newest `.params` of a checkpoint directory (or the one of `epoch`).
    public static func paramsPath(in dir: String, epoch: Int? = nil) throws -> String {
        if let epoch { return (dir as NSString).appendingPathComponent(String(format: "\(prefix)-%04d.params", epoch)) }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        guard let newest = files.filter({ $0.hasPrefix("\(prefix)-") && $0.hasSuffix(".params") }).sorted().last else {
            throw ModelError.checkpointMissing(directory: dir)
        }
        return (dir as NSString).appendingPathComponent(newest)
    }

    /// Rebuilds the model a checkpoint directory describes and loads its weights.
    public static func load(from dir: String, epoch: Int? = nil) throws -> SSDModel {
        let path = (dir as NSString).appendingPathComponent("\(prefix)-model.json")
        guard let data = FileManager.default.contents(atPath: path),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let config = object["config"] else {
            throw ModelError.modelDescriptionMissing(path: path)
        }
        let model = try SSDModel(config: JSONDecoder().decode(SSDConfig.self, from: JSONSerialization.data(withJSONObject: config)))
        try model.loadPretrained(path: try paramsPath(in: dir, epoch: epoch))
        return model
    }
}
