import Foundation

extension SSDModel {
    /// Detections for `images`: B × A × 6 rows `[class, score, xmin, ymin, xmax, ymax]` (MXNet
    /// layout), with MultiBoxDetection's defaults at `nmsThreshold` (validation mAP).
    public func detect(images: [Float], batch: Int, nmsThreshold: Float = 0.45) throws -> [Float] {
        try deployForward(images: images, batch: batch, detection: MultiBoxDetection(nmsThreshold: nmsThreshold))
    }

    /// What the deploy symbol computes (`cls_prob` = softmax over classes, then
    /// `detection`): B × A × 6 rows `[class, score, xmin, ymin, xmax, ymax]` in MXNet's layout,
    /// with `detection`'s settings (threshold, NMS, top k) — what serving and `ssd predict` run.
    public func deployForward(images: [Float], batch: Int, detection: MultiBoxDetection) throws -> [Float] {
        var state = try forward(images: images, batch: batch)
        let k = config.numClasses + 1, a = anchorCount
        // Softmax over each anchor's C+1 logits where they are contiguous (B × A × (C+1)), in
        // place (the state lets go of them: no copy), then B × (C+1) × A (multibox_cls_pred's
        // layout, what MultiBoxDetection reads).
        var logits = state.output.cls
        state.output.cls = []
        let prob = timed("cls_prob", .forward) { () -> [Float] in
            logits.withUnsafeMutableBufferPointer { p in
                threading.forEachChunk(batch * a, minimumPerChunk: 1024) { anchors in
                    for i in anchors { Self.softmax(p.baseAddress! + i * k, count: k) }
                }
            }
            return MultiBoxLoss.transpose(logits, batch: batch, rows: a, cols: k)
        }
        return timed("detection", .forward) {
            detection.compute(probabilities: prob, offsets: state.loc, anchors: anchors, batch: batch, classes: config.numClasses,
                              threading: threading)
        }
    }

    /// `x ← exp(x − max x) / Σ exp(x − max x)` over `count` contiguous values.
    static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var m = -Float.infinity
        for c in 0..<count { m = max(m, x[c]) }
        var sum: Float = 0
        for c in 0..<count { let e = exp(x[c] - m); x[c] = e; sum += e }
        for c in 0..<count { x[c] /= sum }
    }
}
