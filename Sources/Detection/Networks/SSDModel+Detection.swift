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
        let state = try forward(images: images, batch: batch)
        let k = config.numClasses + 1, a = anchorCount
        // B × A × (C+1) logits → B × (C+1) × A (multibox_cls_pred), softmax over axis 1.
        var prob = MultiBoxLoss.transpose(state.cls, batch: batch, rows: a, cols: k)
        prob.withUnsafeMutableBufferPointer { p in
            for n in 0..<batch {
                for i in 0..<a {
                    var m = -Float.infinity
                    for c in 0..<k { m = max(m, p[(n * k + c) * a + i]) }
                    var sum: Float = 0
                    for c in 0..<k { let e = exp(p[(n * k + c) * a + i] - m); p[(n * k + c) * a + i] = e; sum += e }
                    for c in 0..<k { p[(n * k + c) * a + i] /= sum }
                }
            }
        }
        return detection.compute(probabilities: prob, offsets: state.loc, anchors: anchors, batch: batch, classes: config.numClasses)
    }
}
