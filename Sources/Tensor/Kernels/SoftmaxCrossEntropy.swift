import Foundation

// Softmax cross-entropy over a class axis with an ignore label (MXNet SoftmaxOutput with
// multi_output=True, use_ignore=True, normalization='valid').
// Legend: N batch, K classes (axis 1), P positions (everything after the class axis, e.g. anchors).

/// Softmax over axis 1 of an N×K×P tensor, cross-entropy against integer labels N×P.
public enum SoftmaxCrossEntropy {
    /// Sizes of one call and the label that marks a position as ignored.
    public struct Geometry: Equatable, Sendable {
        public var batch, classes, positions: Int
        /// Positions whose label equals this contribute neither loss nor gradient (MXNet -1).
        public var ignoreLabel: Float

        /// A geometry; labels of -1 are ignored unless told otherwise.
        public init(batch: Int, classes: Int, positions: Int, ignoreLabel: Float = -1) {
            self.batch = batch; self.classes = classes; self.positions = positions; self.ignoreLabel = ignoreLabel
        }

        /// N×K×P.
        public var logitsShape: [Int] { [batch, classes, positions] }
        /// N×P.
        public var labelShape: [Int] { [batch, positions] }
    }

    /// The forward results.
    public struct Saved: Sendable {
        /// Softmax probabilities, N×K×P (what MXNet's SoftmaxOutput returns).
        public var probabilities: [Float]
        /// Σ −log p[label] over the non-ignored positions (not yet normalised).
        public var lossSum: Double
        /// Number of non-ignored positions: MXNet's 'valid' normaliser.
        public var validCount: Int
    }

    /// Computes probabilities, the summed loss and the valid count. A label outside
    /// [0, K) that is not the ignore label is an error naming the position.
    public static func forward(
        _ g: Geometry, logits: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Float>
    ) throws(TensorError) -> Saved {
        try TensorError.check("SoftmaxCrossEntropy", "logits", count: logits.count, expected: g.logitsShape)
        try TensorError.check("SoftmaxCrossEntropy", "labels", count: labels.count, expected: g.labelShape)
        var prob = [Float](repeating: 0, count: logits.count)
        var loss: Double = 0, valid = 0
        for n in 0..<g.batch {
            let base = n * g.classes * g.positions
            for p in 0..<g.positions {
                var m = -Float.infinity
                for k in 0..<g.classes { m = max(m, logits[base + k * g.positions + p]) }
                var sum: Float = 0
                for k in 0..<g.classes {
                    let e = (logits[base + k * g.positions + p] - m).exp()
                    prob[base + k * g.positions + p] = e; sum += e
                }
                for k in 0..<g.classes { prob[base + k * g.positions + p] /= sum }
                let label = labels[n * g.positions + p]
                if label == g.ignoreLabel { continue }
                let k = Int(label)
                guard label >= 0, Float(k) == label, k < g.classes else {
                    throw .invalidGeometry(kernel: "SoftmaxCrossEntropy",
                                           reason: "label \(label) at batch \(n) position \(p) is not in [0, \(g.classes)) nor the ignore label \(g.ignoreLabel)")
                }
                loss -= Double(max(prob[base + k * g.positions + p], Float.leastNormalMagnitude).log())
                valid += 1
            }
        }
        return Saved(probabilities: prob, lossSum: loss, validCount: valid)
    }

    /// `gradLogits += scale · (p − onehot(label))` at non-ignored positions. For MXNet's
    /// 'valid' normalisation pass `scale = 1 / max(validCount, 1)`; a distributed step passes
    /// 1 / (valid count over all workers). Accumulates; zeroing is the caller's job.
    public static func backward(
        _ g: Geometry, saved: Saved, labels: UnsafeBufferPointer<Float>, scale: Float,
        gradLogits: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) {
        try TensorError.check("SoftmaxCrossEntropy.backward", "labels", count: labels.count, expected: g.labelShape)
        try TensorError.check("SoftmaxCrossEntropy.backward", "gradLogits", count: gradLogits.count, expected: g.logitsShape)
        try TensorError.check("SoftmaxCrossEntropy.backward", "saved.probabilities", count: saved.probabilities.count, expected: g.logitsShape)
        for n in 0..<g.batch {
            let base = n * g.classes * g.positions
            for p in 0..<g.positions {
                let label = labels[n * g.positions + p]
                if label == g.ignoreLabel { continue }
                let target = Int(label)
                for k in 0..<g.classes {
                    let i = base + k * g.positions + p
                    gradLogits[i] += scale * (saved.probabilities[i] - (k == target ? 1 : 0))
                }
            }
        }
    }
}

extension Float {
    @inline(__always) func exp() -> Float { Float(Foundation.exp(Double(self))) }
    @inline(__always) func log() -> Float { Float(Foundation.log(Double(self))) }
}
