/// What stops a run from starting from earlier weights (a checkpoint or the `model` channel),
/// and the orderly stop on SIGTERM; each case says what to do. `worker` exits with status 2
/// for `networkMismatch` and `modelChannelUnusable` (configuration), 130 for `interrupted`.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// A checkpoint that is not complete (no manifest, a file cut short or damaged): resuming
    /// skips it for the next older one.
    case incomplete(path: String, reason: String)
    /// Weights of another network: `source` is the model channel or the checkpoint directory.
    case networkMismatch(source: String, differences: [NetworkIdentity.Difference], remedy: String)
    /// The model channel exists but does not hold a model this trainer can read.
    case modelChannelUnusable(path: String, reason: String)
    /// A stop request (SIGTERM/SIGINT): the step in hand finished — `batch` batches of epoch
    /// `epoch` are done — and `checkpoint` (its manifest) is complete; nil on a worker that
    /// writes no checkpoints (rank > 0).
    case interrupted(checkpoint: String?, epoch: Int, batch: Int)

    public var description: String {
        switch self {
        case let .incomplete(path, reason):
            return "\(path): \(reason)"
        case let .networkMismatch(source, differences, remedy):
            return "\(source) holds weights of another network: " + differences.map(\.description).joined(separator: "; ") + ". " + remedy
        case let .modelChannelUnusable(path, reason):
            return "the model channel \(path) cannot be used for incremental training: \(reason). It must hold "
                + "model_algo_1-symbol.json, model_algo_1-0000.params and hyperparams.json as an earlier run wrote them "
                + "(the contents of its model.tar.gz); remove the channel to train without it"
        case let .interrupted(checkpoint, epoch, batch):
            let position = "\(batch) batch(es) of epoch \(epoch)"
            guard let checkpoint else { return "interrupted after \(position); worker 0 writes the checkpoints" }
            return "interrupted after \(position); checkpoint \(checkpoint) is complete — run the same command again to resume from it"
        }
    }
}
