import Foundation

/// The training metric MXNet's SSD example logs (`example/ssd/train/metric.py`,
/// `MultiBoxMetric`, eps = 1e-8) — what SageMaker users see as `train:cross_entropy` and
/// `train:smooth_l1`:
///
/// - CrossEntropy = Σ −log(p[label] + 1e-8) over the anchors whose class target is ≥ 0,
///   divided by their number (p = SoftmaxOutput's Float32 probability; the sum and the log
///   are Float32 in NumPy, `p + 1e-8` too — so a probability that underflowed contributes
///   −log(1e-8) ≈ 18.42, not −log(FLT_MIN) ≈ 87.3 as the gradient loss's clamp would);
/// - SmoothL1 = Σ smooth-L1(mask · (loc − target)) over every box element of the batch,
///   divided by the **same** count of non-ignored anchors (not by the positives).
///
/// Like the Python class, the metric accumulates sums and counts over batches until reset
/// (MXNet's Speedometer resets it after each log line), and a value over zero anchors is NaN.
/// It only reports: the loss whose gradient trains the network is `MultiBoxLoss`.
public struct MultiBoxMetric: Sendable, Equatable {
    /// MultiBoxMetric's `eps`, added to the probability inside the log.
    public static let epsilon: Float = 1e-8

    /// Σ −log(p + eps) so far.
    public var crossEntropySum: Double = 0
    /// Σ smooth-L1 so far.
    public var smoothL1Sum: Double = 0
    /// Non-ignored anchors so far (`num_inst`, the same for both figures).
    public var validCount: Int = 0

    /// An empty metric.
    public init() {}

    /// One batch's metric: `probabilities` N × K × P (class axis 1, as SoftmaxOutput returns
    /// them), `labels` N × P class targets (−1 ignored), `smoothL1Sum` the sum of the box
    /// loss elements of the batch.
    public init(probabilities: [Float], labels: [Float], batch: Int, classes: Int, positions: Int, smoothL1Sum: Double) {
        precondition(probabilities.count == batch * classes * positions && labels.count == batch * positions, "MultiBoxMetric: sizes")
        for n in 0..<batch {
            for p in 0..<positions {
                let label = labels[n * positions + p]
                guard label >= 0 else { continue }
                let prob = probabilities[(n * classes + Int(label)) * positions + p]
                crossEntropySum += Double(-logf(prob + Self.epsilon))
                validCount += 1
            }
        }
        self.smoothL1Sum = smoothL1Sum
    }

    /// Adds another batch (or another worker's batch) to this one.
    public mutating func merge(_ other: MultiBoxMetric) {
        crossEntropySum += other.crossEntropySum; smoothL1Sum += other.smoothL1Sum; validCount += other.validCount
    }

    /// `CrossEntropy`: NaN before any non-ignored anchor, as MXNet's `get()`.
    public var crossEntropy: Double { validCount > 0 ? crossEntropySum / Double(validCount) : .nan }
    /// `SmoothL1`: NaN before any non-ignored anchor.
    public var smoothL1: Double { validCount > 0 ? smoothL1Sum / Double(validCount) : .nan }
}
