/// MXNet's `contrib.MultiBoxDetection`: class probabilities and box offsets → detections.
///
/// Per anchor the best foreground class (1…C) is taken; anchors scoring below `threshold` are
/// dropped; boxes are decoded with the variances and clipped to [0, 1]. Valid rows are sorted
/// by score (stable), rows past `topK` lose their class (`topK` ≤ 0, MXNet's default −1: none
/// is dropped), then greedy per-class NMS marks every row overlapping a higher-scored one of
/// the same class by IoU ≥ `nmsThreshold` as −1.
/// Output per image: A rows `[class (0-based, −1 = none), score, xmin, ymin, xmax, ymax]`,
/// the valid ones first, the rest all −1 — MXNet's layout exactly.
public struct MultiBoxDetection: Sendable {
    public var threshold: Float = 0.01
    public var nmsThreshold: Float = 0.45
    /// Rows kept after the score sort (MXNet `nms_topk`; ≤ 0 keeps all).
    public var topK: Int = 400
    /// Suppress across classes too (MXNet force_suppress; off in SSD).
    public var forceSuppress = false
    public var clip = true

    public init(nmsThreshold: Float = 0.45, threshold: Float = 0.01, topK: Int = 400) {
        self.nmsThreshold = nmsThreshold; self.threshold = threshold; self.topK = topK
    }

    /// One detection.
    public struct Detection: Equatable, Sendable {
        public var classId: Int
        public var score: Float
        public var box: [Float]

        public init(classId: Int, score: Float, box: [Float]) { self.classId = classId; self.score = score; self.box = box }
    }

    /// - Parameters:
    ///   - probabilities: B × (C+1) × A softmax probabilities (class 0 = background).
    ///   - offsets: B × A·4 predicted offsets.
    ///   - anchors: A × 4.
    /// - Returns: B × A × 6 values in MXNet's layout.
    public func compute(probabilities: [Float], offsets: [Float], anchors: [Float], batch: Int, classes: Int) -> [Float] {
        let a = anchors.count / 4
        var out = [Float](repeating: -1, count: batch * a * 6)
        for n in 0..<batch {
            var rows: [(id: Int, score: Float, box: [Float])] = []
            let base = n * (classes + 1) * a
            for i in 0..<a {
                var score: Float = -1, id = 0
                for k in 1...classes where probabilities[base + k * a + i] > score { score = probabilities[base + k * a + i]; id = k }
                if score < threshold { continue }
                var box = [Float](repeating: 0, count: 4)
                offsets.withUnsafeBufferPointer { t in anchors.withUnsafeBufferPointer { an in box.withUnsafeMutableBufferPointer { b in
                    BoxCoder.decode(offsets: t.baseAddress! + (n * a + i) * 4, anchor: an.baseAddress! + 4 * i, clip: clip, into: b.baseAddress!)
                } } }
                rows.append((id - 1, score, box))
            }
            if !rows.isEmpty && nmsThreshold > 0 && nmsThreshold <= 1 {  // MXNet skips sort and NMS otherwise
                // Stable sort by descending score; only the first `keep` rows are reordered: past
                // top K, MXNet leaves the unsorted row in place with its class set to −1.
                let sorted = rows.enumerated().sorted { ($0.element.score, -$0.offset) > ($1.element.score, -$1.offset) }.map(\.element)
                let keep = topK > 0 && topK < rows.count ? topK : rows.count  // topK ≤ 0 (MXNet's −1): keep all
                for k in rows.indices { if k < keep { rows[k] = sorted[k] } else { rows[k].id = -1 } }
                NMS.suppress(&rows, threshold: nmsThreshold, forceSuppress: forceSuppress, limit: keep)
            }
            for (k, r) in rows.enumerated() {
                let o = (n * a + k) * 6
                out[o] = Float(r.id); out[o + 1] = r.score
                out[o + 2] = r.box[0]; out[o + 3] = r.box[1]; out[o + 4] = r.box[2]; out[o + 5] = r.box[3]
            }
        }
        return out
    }

    /// The valid detections of image `n` from `compute`'s output.
    public static func detections(_ output: [Float], image n: Int, anchors a: Int) -> [Detection] {
        (0..<a).compactMap { k in
            let o = (n * a + k) * 6
            return output[o] < 0 ? nil : Detection(classId: Int(output[o]), score: output[o + 1], box: Array(output[(o + 2)..<(o + 6)]))
        }
    }
}
