import ParameterServer

/// What training reports while it runs, for monitoring (the Prometheus metrics of
/// `ClusterMetrics`, served on `worker --metrics-port`): the figures of `ProgressLog`'s lines as
/// they are logged, the time spent waiting on the servers, and — in a cluster — the KV client's
/// exchanges (`KVClientObserver`). Hooks only: called on the training thread; must return quickly.
public protocol TrainingObserver: KVClientObserver, Sendable {
    /// Batch (step) done: `images` trained on at `imagesPerSecond` (the step's), with this
    /// batch's training metric (`MultiBoxMetric`: SageMaker's `train:cross_entropy`, `train:smooth_l1`).
    func batchFinished(epoch: Int, images: Int, imagesPerSecond: Double, crossEntropy: Double, smoothL1: Double)
    /// The step waited `seconds` on the parameter servers (exchanging counts or weights).
    func waited(seconds: Double)
    /// Validation after `epoch` measured `mAP` (rank 0 only).
    func validated(epoch: Int, mAP: Double)
}
