import Foundation

extension SSDModel {
    /// Detections for `images`: B × A × 6 rows `[class, score, xmin, ymin, xmax, ymax]` (MXNet layout).
    public func detect(images: [Float], batch: Int, nmsThreshold: Float = 0.45) throws -> [Float] {
        let state = try forward(images: images, batch: batch)
        let k = config.numClasses + 1, a = anchorCount
        // Softmax over the classes of every anchor, in MultiBoxDetection's B × (C+1) × A layout.
        var prob = MultiBoxLoss.transpose(state.cls, batch: batch, rows: a, cols: k)
        for n in 0..<batch {
            for i in 0..<a {
                var m = -Float.infinity
                for c in 0..<k { m = max(m, prob[(n * k + c) * a + i]) }
                var s: Float = 0
                for c in 0..<k { let e = exp(prob[(n * k + c) * a + i] - m); prob[(n * k + c) * a + i] = e; s += e }
                for c in 0..<k { prob[(n * k + c) * a + i] /= s }
            }
        }
        return MultiBoxDetection(nmsThreshold: nmsThreshold).compute(probabilities: prob, offsets: state.loc, anchors: anchors,
                                                                      batch: batch, classes: config.numClasses)
    }
}
