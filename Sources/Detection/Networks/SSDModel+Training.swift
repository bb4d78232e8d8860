extension SSDModel {
    /// The class and box divisors of the loss; nil uses the batch's own counts (MXNet's behaviour).
    public typealias Normalizers = (cls: Float, box: Float)

    /// One training step's forward and backward — the one every caller runs (the trainer on one
    /// machine and in a cluster, tests, benchmarks): targets are matched (with hard negative
    /// mining on the current predictions), the loss computed, and every parameter's gradient
    /// written into `parameters.gradients` (zeroed first). `labels`: B × M × 5 rows
    /// `[class, xmin, ymin, xmax, ymax]`, −1 rows after the objects.
    ///
    /// - Parameters:
    ///   - normalizers: given the batch's counts, the divisors to use (a dist_sync worker returns
    ///     the counts summed over every worker); nil or returning nil = this batch's own counts.
    ///   - gradientReady: called during backward with each trainable parameter as soon as its
    ///     gradient is final (see `backward`).
    /// - Throws: `ModelError.nonFiniteLoss` before backward when the loss is NaN or infinite, so
    ///   no gradient of a diverged step leaves this function.
    public func trainingStep(images: [Float], labels: [Float], batch: Int,
                             normalizers: ((_ counts: (valid: Int, boxNonZero: Int)) throws -> Normalizers?)? = nil,
                             gradientReady: GradientReady? = nil) throws -> MultiBoxLoss.Result {
        let state = try forward(images: images, batch: batch, training: true)
        let targets = timed("multibox_target", .forward) { self.targets(for: state, labels: labels, batch: batch) }
        let divisors = try normalizers?(MultiBoxLoss.counts(loc: state.loc, targets: targets))
        let result = try timed("multibox_loss", .forward) {
            try MultiBoxLoss.compute(loc: state.loc, clsNHWC: state.cls, targets: targets, batch: batch,
                                     anchors: anchorCount, classes: config.numClasses, normalizers: divisors)
        }
        guard result.crossEntropy.isFinite, result.smoothL1.isFinite else {
            throw ModelError.nonFiniteLoss(crossEntropy: result.crossEntropy, smoothL1: result.smoothL1)
        }
        timed("zero_gradients", .backward) { parameters.zeroGradients() }
        try backward(consume state, gradLoc: result.gradLoc, gradCls: result.gradCls, gradientReady: gradientReady)
        return result
    }

    /// MultiBoxTarget for a forward pass's predictions.
    public func targets(for state: ForwardState, labels: [Float], batch: Int) -> MultiBoxTarget.Output {
        let logits = MultiBoxLoss.transpose(state.cls, batch: batch, rows: anchorCount, cols: config.numClasses + 1)
        return MultiBoxTarget().compute(anchors: anchors, labels: labels, labelWidth: 5, batch: batch,
                                        classPredictions: logits, classes: config.numClasses, threading: threading)
    }
}
