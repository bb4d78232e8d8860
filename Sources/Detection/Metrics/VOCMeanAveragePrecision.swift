/// Mean average precision as MXNet's SSD example computes `validation:mAP`
/// (`example/ssd/evaluate/eval_metric.py`, MApMetric / VOC07MApMetric):
///
/// - per image and class, detections in descending score order are matched greedily to the
///   ground truths of that class: best IoU **strictly greater** than `overlapThreshold` with a
///   not-yet-matched box is a true positive, a second match is a false positive, lower IoU is
///   a false positive;
/// - a detection whose best match is a *difficult* box counts as neither (and difficult boxes
///   are not counted as positives);
/// - images without any ground truth are skipped entirely (GluonCV counts their detections as
///   false positives instead);
/// - classes with ground truth but no detection contribute AP 0; boxes are normalized corners
///   (no +1 pixel in areas); ties in score keep the detections' input order (stable sort).
///
/// AP per class is VOC07's 11-point interpolation or the area under the monotone
/// precision/recall curve; mAP is their mean.
public struct VOCMeanAveragePrecision: Sendable {
    /// How AP integrates the precision/recall curve.
    public enum Interpolation: Sendable {
        /// VOC2007: mean of the best precision at recall ≥ 0, 0.1, …, 1 (the SSD example's default).
        case elevenPoint
        /// VOC2010+: area under the monotone curve.
        case area
    }

    public var overlapThreshold: Float
    public var interpolation: Interpolation
    public var classes: Int

    /// (score, flag) per detection per class: 1 true positive, 2 false positive.
    private var records: [Int: [(score: Float, flag: Int, order: Int)]] = [:]
    private var positives: [Int: Int] = [:]
    private var order = 0

    public init(classes: Int, overlapThreshold: Float = 0.5, interpolation: Interpolation = .elevenPoint) {
        self.classes = classes; self.overlapThreshold = overlapThreshold; self.interpolation = interpolation
    }

    /// A ground-truth box.
    public struct GroundTruth: Sendable {
        public var classId: Int
        public var box: [Float]
        public var difficult: Bool
        public init(classId: Int, box: [Float], difficult: Bool = false) { self.classId = classId; self.box = box; self.difficult = difficult }
    }

    /// Adds one image's detections and ground truth.
    public mutating func update(detections: [MultiBoxDetection.Detection], groundTruth: [GroundTruth]) {
        guard !groundTruth.isEmpty else { return }
        for c in Set(groundTruth.map(\.classId)) {
            positives[c, default: 0] += groundTruth.filter { $0.classId == c && !$0.difficult }.count
            if records[c] == nil { records[c] = [] }
        }
        for c in Set(detections.map(\.classId)) {
            let dets = detections.enumerated().filter { $0.element.classId == c }
                .sorted { ($0.element.score, -$0.offset) > ($1.element.score, -$1.offset) }.map(\.element)
            let gts = groundTruth.filter { $0.classId == c }
            var found = [Bool](repeating: false, count: gts.count)
            for d in dets {
                var best: Float = -1, at = -1
                for (j, g) in gts.enumerated() {
                    let iou = BoxCoder.iou(d.box, g.box)
                    if iou > best { best = iou; at = j }
                }
                var flag = 2
                if at >= 0, best > overlapThreshold {
                    if gts[at].difficult { flag = 0 } else if !found[at] { flag = 1; found[at] = true }
                }
                if flag != 0 { records[c, default: []].append((d.score, flag, order)) }
                order += 1
            }
        }
    }

    /// AP of every class that has ground truth or detections, by class id.
    public func averagePrecisions() -> [Int: Double] {
        var out: [Int: Double] = [:]
        for (c, recs) in records {
            let sorted = recs.sorted { ($0.score, -$0.order) > ($1.score, -$1.order) }
            var tp = 0, fp = 0
            var recall: [Double] = [], precision: [Double] = []
            let count = positives[c] ?? 0
            for r in sorted {
                if r.flag == 1 { tp += 1 } else { fp += 1 }
                recall.append(count > 0 ? Double(tp) / Double(count) : 0)
                precision.append(Double(tp) / Double(tp + fp))
            }
            out[c] = Self.averagePrecision(recall: recall, precision: precision, interpolation: interpolation)
        }
        return out
    }

    /// Mean of the per-class APs (0 when nothing was seen).
    public func meanAveragePrecision() -> Double {
        let aps = averagePrecisions()
        return aps.isEmpty ? 0 : aps.values.reduce(0, +) / Double(aps.count)
    }

    static func averagePrecision(recall: [Double], precision: [Double], interpolation: Interpolation) -> Double {
        switch interpolation {
        case .elevenPoint:
            var ap = 0.0
            for i in 0...10 {
                let t = Double(i) * 0.1  // numpy.arange(0., 1.1, 0.1)'s values exactly (0.30000000000000004, …)
                let p = zip(recall, precision).filter { $0.0 >= t }.map(\.1).max() ?? 0
                ap += p / 11
            }
            return ap
        case .area:
            let mrec = [0.0] + recall + [1.0]
            var mpre = [0.0] + precision + [0.0]
            if mpre.count > 1 { for i in stride(from: mpre.count - 1, to: 0, by: -1) { mpre[i - 1] = max(mpre[i - 1], mpre[i]) } }
            var ap = 0.0
            for i in 1..<mrec.count where mrec[i] != mrec[i - 1] { ap += (mrec[i] - mrec[i - 1]) * mpre[i] }
            return ap
        }
    }
}
