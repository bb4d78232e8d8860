/// Why training stopped, each case saying what to do. `worker` exits with status 3 for a
/// diverged run (`isDivergence`), 1 for the others (README "Exit status").
public enum TrainingError: Error, CustomStringConvertible {
    /// A step's loss is NaN or infinite; nothing of that step was applied or saved.
    case diverged(epoch: Int, batch: Int, crossEntropy: Double, smoothL1: Double)
    /// A weight is NaN or infinite at the end of an epoch; no checkpoint was written.
    case nonFiniteWeights(epoch: Int, parameter: String)
    /// A checkpoint lacks some of the network's arrays.
    case checkpointIncomplete(path: String, missing: [String])
    /// A single-machine checkpoint whose optimizer state (`.states`) is missing: resuming from it
    /// would restart the optimizer silently.
    case optimizerStateMissing(params: String, states: String)
    /// A `.states` that does not fit the network, the optimizer or its `.params`.
    case optimizerStateUnusable(path: String, reason: String)
    /// `--resume` found checkpoints but none that loads; `tried` has each one's reason, newest first.
    case noUsableCheckpoint(directory: String, tried: [String])
    /// The validation channel exists but cannot be opened.
    case validationChannelUnreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .diverged(epoch, batch, ce, l1):
            return "training diverged at epoch \(epoch), batch \(batch): the loss is not finite (cross_entropy \(ce), "
                + "smooth_l1 \(l1)); nothing of this step was applied or saved. Lower learning_rate, or resume from the last "
                + "checkpoint (--resume MODEL_DIR) with a lower one"
        case let .nonFiniteWeights(epoch, name):
            return "after epoch \(epoch) the weights of \(name) are not finite: training diverged and no checkpoint of this epoch "
                + "was written. Lower learning_rate, or resume from the last checkpoint with a lower one"
        case let .checkpointIncomplete(path, missing):
            return "\(path) lacks \(missing.count) of the network's arrays (\(missing.prefix(3).joined(separator: ", "))"
                + "\(missing.count > 3 ? ", …" : "")): it was written for another network or is damaged"
        case let .optimizerStateMissing(params, states):
            return "\(params) has no optimizer state beside it (\(states)); resuming from it would restart the optimizer at "
                + "update 0"
        case let .optimizerStateUnusable(path, reason):
            return "\(path): \(reason)"
        case let .noUsableCheckpoint(dir, tried):
            return "no checkpoint in \(dir) can be resumed from:\n" + tried.map { "  - \($0)" }.joined(separator: "\n")
                + "\nstart without --resume (into another --model-dir), or restore the files"
        case let .validationChannelUnreadable(path, reason):
            return "the validation channel \(path) cannot be opened (\(reason)); validation and early stopping need it: "
                + "fix or remove it"
        }
    }

    /// Whether the run diverged (a non-finite loss or weight): exit status 3.
    public var isDivergence: Bool {
        switch self {
        case .diverged, .nonFiniteWeights: return true
        default: return false
        }
    }
}
