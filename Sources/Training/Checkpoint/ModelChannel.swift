import Detection
import Foundation

/// Incremental training, as SageMaker's built-in Object Detection does it: when the `model`
/// channel (`/opt/ml/input/data/model`, or `--data-root`'s `model/`) holds the model artifacts
/// of an earlier run (`model_algo_1-symbol.json`, `model_algo_1-0000.params`,
/// `hyperparams.json`, as `ModelArtifacts` writes them), training starts from all of its
/// weights — base network, extra layers and heads — instead of pretrained or random ones.
/// The earlier network must be this run's: another `base_network`, `num_classes` or
/// `image_shape` is an error naming both values.
public enum ModelChannel {
    /// The channel's directory under `dataRoot`.
    public static func path(dataRoot: String) -> String { (dataRoot as NSString).appendingPathComponent("model") }

    /// Whether `dataRoot` has a model channel (a directory).
    public static func exists(dataRoot: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path(dataRoot: dataRoot), isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Loads every array of the artifacts in `directory` into `model` after checking that they
    /// are of the same network; returns how many arrays were loaded.
    @discardableResult
    public static func load(from directory: String, into model: SSDModel) throws -> Int {
        let artifacts: ModelArtifacts
        do { artifacts = try ModelArtifacts.load(from: directory) } catch let error as ModelArtifacts.Error {
            throw CheckpointError.modelChannelUnusable(path: directory, reason: "\(error)")
        } catch let error as ModelError {
            throw CheckpointError.modelChannelUnusable(path: directory, reason: "\(error)")
        }
        let differences = NetworkIdentity(model.config).differences(from: NetworkIdentity(artifacts.model.config))
        guard differences.isEmpty else {
            throw CheckpointError.networkMismatch(
                source: "the model channel \(directory)", differences: differences,
                remedy: "Incremental training continues the same network: set these hyperparameters as the earlier run had them, "
                    + "or remove the model channel to train a new model")
        }
        let paramsPath = (directory as NSString).appendingPathComponent(ModelArtifacts.paramsFile)
        return try model.parameters.load(artifacts.model.parameters.exportMXNet(), path: paramsPath).count
    }
}
