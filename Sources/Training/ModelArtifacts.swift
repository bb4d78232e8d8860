import Detection
import DetectionData
import Foundation

extension Trainer {
    /// Writes the final model into the model directory as SageMaker does
    /// (`model_algo_1-symbol.json`, `model_algo_1-0000.params`, `hyperparams.json`; see
    /// `ModelArtifacts`), with the validation's detection settings (`nms_threshold`, top 400)
    /// and class names from `classNamesFile`, else the training annotations' `categories`.
    /// Returns the paths written.
    @discardableResult
    public func writeModelArtifacts(classNamesFile: String? = nil) throws -> [String] {
        let h = options.hyperparameters
        let names = try classNamesFile.map { try ClassNames.read(file: $0, numClasses: h.numClasses) }
            ?? ClassNames.fromAnnotations(directory: (options.dataRoot as NSString).appendingPathComponent("train_annotation"),
                                          numClasses: h.numClasses)
        let artifacts = ModelArtifacts(model: model, detection: MultiBoxDetection(nmsThreshold: h.nmsThreshold),
                                       classNames: names, hyperparameters: h.asStrings)
        return try artifacts.write(to: options.modelDir)
    }
}
