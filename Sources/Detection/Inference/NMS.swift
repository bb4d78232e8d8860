/// Greedy non-maximum suppression over rows already sorted by descending score.
public enum NMS {
    /// Marks (id = −1) every row among the first `limit` that overlaps an earlier kept row of
    /// the same class (any class when `forceSuppress`) by IoU ≥ `threshold`. A `limit` ≤ 0
    /// (MXNet's `nms_topk = -1`) or nil means every row.
    public static func suppress(_ rows: inout [(id: Int, score: Float, box: [Float])], threshold: Float,
                                forceSuppress: Bool = false, limit: Int? = nil) {
        let n = min(limit.map { $0 > 0 ? $0 : rows.count } ?? rows.count, rows.count)
        for i in 0..<n where rows[i].id >= 0 {
            for j in (i + 1)..<max(n, i + 1) where rows[j].id >= 0 {
                if (forceSuppress || rows[i].id == rows[j].id) && BoxCoder.iou(rows[i].box, rows[j].box) >= threshold {
                    rows[j].id = -1
                }
            }
        }
    }
}
