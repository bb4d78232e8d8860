/// Greedy non-maximum suppression over rows already sorted by descending score.
public enum NMS {
    /// Marks (id = −1) every row among the first `limit` that overlaps an earlier kept row of
    /// the same class (any class when `forceSuppress`) by IoU ≥ `threshold`. A `limit` ≤ 0
    /// (MXNet's `nms_topk = -1`) or nil means every row.
    public static func suppress(_ rows: inout [(id: Int, score: Float, box: [Float])], threshold: Float,
                                forceSuppress: Bool = false, limit: Int? = nil) {
        let n = min(limit.map { $0 > 0 ? $0 : rows.count } ?? rows.count, rows.count)
        guard n > 0 else { return }
        var ids = rows.prefix(n).map(\.id)
        let boxes = rows.prefix(n).flatMap(\.box)
        boxes.withUnsafeBufferPointer { b in ids.withUnsafeMutableBufferPointer { c in
            suppress(classes: c.baseAddress!, boxes: b.baseAddress!, count: n, threshold: threshold, forceSuppress: forceSuppress)
        } }
        for i in 0..<n { rows[i].id = ids[i] }
    }

    /// The same over `count` rows given as class ids (−1 = none; suppressed rows are set to −1)
    /// and `count` × 4 corner boxes.
    public static func suppress(classes: UnsafeMutablePointer<Int>, boxes: UnsafePointer<Float>, count n: Int,
                                threshold: Float, forceSuppress: Bool = false) {
        for i in 0..<n where classes[i] >= 0 {
            for j in (i + 1)..<max(n, i + 1) where classes[j] >= 0 {
                if (forceSuppress || classes[i] == classes[j]) && BoxCoder.iou(boxes + 4 * i, boxes + 4 * j) >= threshold {
                    classes[j] = -1
                }
            }
        }
    }
}
