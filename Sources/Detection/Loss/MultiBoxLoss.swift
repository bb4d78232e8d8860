import Tensor

/// SSD's training loss as MXNet's symbol computes it (facts A.6): softmax cross-entropy over
/// C+1 classes with ignore label −1, its gradient divided by the number of non-ignored anchors
/// ('valid' normalization), plus smooth L1 (σ = 1) on `mask · (loc − target)`, its gradient
/// divided by the number of non-zero loss elements. Both normalizers may be given instead —
/// a distributed step passes the counts summed over all workers, so that N workers' gradients
/// add up to exactly one machine's gradient at the effective batch.
public enum MultiBoxLoss {
    /// Loss values, the counts behind the normalization, and the gradients.
    public struct Result: Sendable {
        /// MXNet MultiBoxMetric's CrossEntropy: Σ −log(p(target) + 1e-8) / valid anchors (0 when none).
        public var crossEntropy: Double
        /// MultiBoxMetric's SmoothL1: Σ smooth-L1 / valid anchors.
        public var smoothL1: Double
        /// This batch's MultiBoxMetric sums and count, for logs that accumulate over batches as MXNet's do.
        public var metric: MultiBoxMetric
        public var classLossSum: Double
        public var boxLossSum: Double
        /// Non-ignored anchors (the class normalizer) and non-zero box-loss elements (the box one).
        public var validCount: Int
        public var boxNonZero: Int
        /// Gradients of the loss w.r.t. the box offsets (B × A·4) and the logits (B × A × (C+1)).
        public var gradLoc: [Float]
        public var gradCls: [Float]
    }

    /// - Parameters:
    ///   - loc: B × A·4 predicted offsets. clsNHWC: B × A × (C+1) logits.
    ///   - normalizers: (class, box) divisors; nil = this batch's own counts (MXNet's behaviour).
    public static func compute(loc: [Float], clsNHWC: [Float], targets: MultiBoxTarget.Output, batch: Int, anchors a: Int,
                               classes: Int, normalizers: (cls: Float, box: Float)? = nil) throws -> Result {
        let k = classes + 1, n = loc.count, labels = targets.clsTarget
        // The logits stay in the heads' layout, B·A rows of C+1 classes: softmax over axis 1 of a
        // (B·A) × (C+1) × 1 tensor is the same arithmetic, in the same order, as over B × (C+1) × A,
        // without transposing the logits in and the gradient out.
        let g = SoftmaxCrossEntropy.Geometry(batch: batch * a, classes: k, positions: 1)
        // The box intermediates live in one zeroed allocation, freed on return, with a typed view each.
        let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: 4 * n)
        scratch.initialize(repeating: 0)
        defer { scratch.deallocate() }
        var used = 0
        func view(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
            defer { used += count }
            return UnsafeMutableBufferPointer(rebasing: scratch[used..<used + count])
        }
        let diff = view(n), smooth = view(n), head = view(n), gradDiff = view(n)  // B × A·4

        for i in 0..<n { diff[i] = targets.locMask[i] * (loc[i] - targets.locTarget[i]) }
        let saved = try clsNHWC.withUnsafeBufferPointer { logits in
            try labels.withUnsafeBufferPointer { try SoftmaxCrossEntropy.forward(g, logits: logits, labels: $0) }
        }
        let (boxSum, nonZero) = try SmoothL1.forward(input: UnsafeBufferPointer(diff), sigma: 1, output: smooth)

        let clsNorm = normalizers?.cls ?? Float(max(saved.validCount, 1))
        let boxNorm = normalizers?.box ?? Float(max(nonZero, 1))
        var gradCls = [Float](repeating: 0, count: clsNHWC.count)   // B × A × (C+1), as the logits
        try labels.withUnsafeBufferPointer { l in
            try gradCls.withUnsafeMutableBufferPointer { try SoftmaxCrossEntropy.backward(g, saved: saved, labels: l, scale: 1 / clsNorm, gradLogits: $0) }
        }
        head.update(repeating: 1 / boxNorm)
        try SmoothL1.backward(input: UnsafeBufferPointer(diff), sigma: 1, gradOutput: UnsafeBufferPointer(head), gradInput: gradDiff)
        for i in 0..<n { gradDiff[i] *= targets.locMask[i] }

        let valid = Double(max(saved.validCount, 1))
        let metric = MultiBoxMetric(probabilities: saved.probabilities, labels: labels, batch: batch * a, classes: k, positions: 1, smoothL1Sum: boxSum)
        return Result(crossEntropy: metric.crossEntropySum / valid, smoothL1: boxSum / valid, metric: metric, classLossSum: saved.lossSum, boxLossSum: boxSum,
                      validCount: saved.validCount, boxNonZero: nonZero, gradLoc: Array(gradDiff), gradCls: gradCls)
    }

    /// The two normalizers of a batch without computing the loss: non-ignored anchors, and box
    /// terms whose smooth-L1 is non-zero (masked coordinates where prediction ≠ target). A
    /// distributed step sums these over the workers before backward.
    public static func counts(loc: [Float], targets: MultiBoxTarget.Output) -> (valid: Int, boxNonZero: Int) {
        let valid = targets.clsTarget.reduce(0) { $0 + ($1 != -1 ? 1 : 0) }
        var box = 0
        for i in loc.indices where targets.locMask[i] != 0 && loc[i] != targets.locTarget[i] { box += 1 }
        return (valid, box)
    }

    /// Per batch item, a rows × cols matrix → cols × rows.
    static func transpose(_ x: [Float], batch: Int, rows: Int, cols: Int) -> [Float] {
        x.withUnsafeBufferPointer { transpose($0, batch: batch, rows: rows, cols: cols) }
    }

    /// Per batch item, a rows × cols matrix → cols × rows, as a new array.
    static func transpose(_ x: UnsafeBufferPointer<Float>, batch: Int, rows: Int, cols: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: x.count) { out, initialized in
            transpose(x, into: out, batch: batch, rows: rows, cols: cols)
            initialized = x.count
        }
    }

    /// Per batch item, a rows × cols matrix → cols × rows, written into `out` (same count as `x`).
    static func transpose(_ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>, batch: Int, rows: Int, cols: Int) {
        precondition(out.count == x.count && x.count == batch * rows * cols, "transpose: \(x.count) values into \(out.count), expected \(batch)×\(rows)×\(cols)")
        for n in 0..<batch {
            let base = n * rows * cols
            for r in 0..<rows { for c in 0..<cols { out[base + c * rows + r] = x[base + r * cols + c] } }
        }
    }
}
