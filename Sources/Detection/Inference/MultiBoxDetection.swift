import Tensor

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
    ///   - threading: images are split over the threads (each writes only its own rows).
    /// - Returns: B × A × 6 values in MXNet's layout.
    public func compute(probabilities: [Float], offsets: [Float], anchors: [Float], batch: Int, classes: Int,
                        threading: Threading = .serial) -> [Float] {
        let a = anchors.count / 4
        precondition(probabilities.count == batch * (classes + 1) * a && offsets.count == batch * a * 4,
                     "MultiBoxDetection: \(probabilities.count) probabilities and \(offsets.count) offsets for \(batch) images of \(a) anchors")
        var out = [Float](repeating: -1, count: batch * a * 6)
        probabilities.withUnsafeBufferPointer { p in offsets.withUnsafeBufferPointer { t in anchors.withUnsafeBufferPointer { an in
            out.withUnsafeMutableBufferPointer { o in
                let (p, t, an, o) = (p.baseAddress!, t.baseAddress!, an.baseAddress!, o.baseAddress!)
                threading.forEachChunk(batch) { images in
                    for n in images {
                        image(probabilities: p + n * (classes + 1) * a, offsets: t + n * a * 4, anchors: an, count: a,
                              classes: classes, output: o + n * a * 6)
                    }
                }
            }
        } } }
        return out
    }

    /// One image of `compute`: (C+1) × A probabilities and A × 4 offsets → A rows of 6.
    private func image(probabilities p: UnsafePointer<Float>, offsets t: UnsafePointer<Float>, anchors an: UnsafePointer<Float>,
                       count a: Int, classes: Int, output o: UnsafeMutablePointer<Float>) {
        // The best foreground class of every anchor (the first of equals), one class row at a time.
        var best = [Float](repeating: -1, count: a), bestClass = [Int](repeating: 0, count: a)
        for k in 1..<(classes + 1) {
            let row = p + k * a
            for i in 0..<a where row[i] > best[i] { best[i] = row[i]; bestClass[i] = k }
        }
        // Valid rows in anchor order: anchor, then its decoded box (into one buffer sized once).
        var valid: [Int] = []
        valid.reserveCapacity(a)
        for i in 0..<a where !(best[i] < threshold) { valid.append(i) }
        let count = valid.count
        var boxes = [Float](repeating: 0, count: 4 * count)
        boxes.withUnsafeMutableBufferPointer { b in
            for (r, i) in valid.enumerated() { BoxCoder.decode(offsets: t + 4 * i, anchor: an + 4 * i, clip: clip, into: b.baseAddress! + 4 * r) }
        }
        // Output position k holds valid row order[k] with class rowClass[k] (0-based).
        var order = Array(0..<count), rowClass = valid.map { bestClass[$0] - 1 }
        if count > 0 && nmsThreshold > 0 && nmsThreshold <= 1 {  // MXNet skips sort and NMS otherwise
            // Stable sort by descending score; only the first `keep` rows are reordered: past
            // top K, MXNet leaves the unsorted row in place with its class set to −1.
            let sorted = Self.descendingStableOrder(scores: valid.map { best[$0] })
            let keep = topK > 0 && topK < count ? topK : count  // topK ≤ 0 (MXNet's −1): keep all
            var kept = [Float](repeating: 0, count: 4 * keep)
            let ids = rowClass
            for k in 0..<count {
                if k < keep {
                    order[k] = sorted[k]; rowClass[k] = ids[sorted[k]]
                    for j in 0..<4 { kept[4 * k + j] = boxes[4 * sorted[k] + j] }
                } else {
                    rowClass[k] = -1
                }
            }
            kept.withUnsafeBufferPointer { b in
                rowClass.withUnsafeMutableBufferPointer { c in
                    NMS.suppress(classes: c.baseAddress!, boxes: b.baseAddress!, count: keep, threshold: nmsThreshold, forceSuppress: forceSuppress)
                }
            }
        }
        for k in 0..<count {
            let r = order[k], row = o + k * 6
            row[0] = Float(rowClass[k]); row[1] = best[valid[r]]
            for j in 0..<4 { row[2 + j] = boxes[4 * r + j] }
        }
    }

    /// Indices of `scores` by descending score, equal scores in index order (a stable sort), as
    /// one sort of 64-bit keys: the score's bits mapped so that integer order is descending float
    /// order (−0 taken as +0, so the two tie as they compare equal), then the index.
    static func descendingStableOrder(scores: [Float]) -> [Int] {
        precondition(scores.count <= Int(UInt32.max), "at most 2³² scores")
        var keys = scores.enumerated().map { i, score -> UInt64 in
            let bits = (score + 0).bitPattern  // −0 + 0 = +0
            let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
            return UInt64(~ascending) << 32 | UInt64(i)
        }
        keys.sort()
        return keys.map { Int($0 & 0xFFFF_FFFF) }
    }

    /// The valid detections of image `n` from `compute`'s output.
    public static func detections(_ output: [Float], image n: Int, anchors a: Int) -> [Detection] {
        (0..<a).compactMap { k in
            let o = (n * a + k) * 6
            return output[o] < 0 ? nil : Detection(classId: Int(output[o]), score: output[o + 1], box: Array(output[(o + 2)..<(o + 6)]))
        }
    }
}
