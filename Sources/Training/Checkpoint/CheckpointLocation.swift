import Foundation

/// Where checkpoints go: `--checkpoint-dir` when given, else SageMaker's `/opt/ml/checkpoints`
/// when that directory exists (SageMaker creates it when a job sets `CheckpointConfig`, syncs it
/// to S3 and restores it on a managed-spot restart), else the model directory. Auto-resume
/// reads the same directory.
public enum CheckpointLocation {
    /// SageMaker's local checkpoint directory.
    public static let sageMakerDirectory = "/opt/ml/checkpoints"

    /// The checkpoint directory for `option` (the command line's), `modelDir`, and whether
    /// `sageMaker` (default `/opt/ml/checkpoints`) exists.
    public static func resolve(option: String?, modelDir: String, sageMaker: String = sageMakerDirectory) -> String {
        if let option { return option }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: sageMaker, isDirectory: &isDirectory), isDirectory.boolValue { return sageMaker }
        return modelDir
    }
}
