/// Mean average precision exactly as MXNet 1.9.1's SSD example computes `validation:mAP`
/// (`example/ssd/evaluate/eval_metric.py`, `MApMetric` / `VOC07MApMetric`, `use_difficult=False`).
/// Every branch of its `update`, per image:
///
/// - an image without any ground truth (no row of class ≥ 0) is skipped entirely, its
///   detections too (GluonCV counts them as false positives instead);
/// - the classes detected in the image are taken in order of first appearance; a class's
///   detections are ordered by `argsort(score)[::-1]` — NumPy's unstable introsort, reversed,
///   so equal scores come out in the order `NumPyArgsort` reproduces (for up to 16 detections:
///   the later one first; the class-wide sort below reverses such a pair again);
/// - each detection is compared with *all* ground truths of its class, difficult ones
///   included; the first box of highest IoU wins. IoU **strictly greater** than
///   `overlapThreshold` on a difficult box: the detection counts neither way; on a box not yet
///   matched: true positive; on a matched one: false positive (duplicate). Otherwise, or when
///   the image has no ground truth of that class: false positive;
/// - the class's positives from this image are its non-difficult boxes — but they are added
///   only if at least one of its detections counted (all of them on difficult boxes: the
///   image adds nothing for that class);
/// - every class with ground truth and no detection in the image adds **all** its boxes,
///   difficult ones included, to its positives (and registers the class: AP 0 if nothing is
///   ever detected).
///
/// Over the whole set, a class's records are ordered again by `argsort(score)[::-1]`; recall
/// is TP / positives (0 when there are none), precision TP / (TP + FP). AP is VOC07's
/// 11-point interpolation or the area under the monotone curve; mAP is the mean over every
/// class seen (a ground truth in an image with ground truth, or a detection counted there),
/// NaN when none was — as NumPy's mean of nothing. Boxes are normalized corners; IoU is
/// computed in Float32 the way the example's NumPy code does (no +1 in areas).
///
/// `rules: .gluonCV` follows GluonCV 0.10.5's `VOCMApMetric` / `VOC07MApMetric` instead
/// (`VOCMeanAveragePrecision+GluonCV.swift` lists how it differs).
public struct VOCMeanAveragePrecision: Sendable {
    /// Whose definition of VOC mAP.
    public enum Rules: String, Sendable, CaseIterable {
        /// MXNet's SSD example, what SageMaker's built-in algorithm reports (the default).
        case mxnetExample = "mxnet"
        /// GluonCV's VOC metric.
        case gluonCV = "gluoncv"
    }

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
    public let rules: Rules

    /// Per class, in order of first insertion: (score, flag) with flag 1 = TP, 2 = FP, 0 = a
    /// placeholder for a class seen only through its ground truth (3 = GluonCV's "matched a
    /// difficult box": in the ranking, neither TP nor FP).
    var records: [(classId: Int, rows: [(score: Double, flag: Int)])] = []
    var positives: [Int: Int] = [:]

    public init(classes: Int, overlapThreshold: Float = 0.5, interpolation: Interpolation = .elevenPoint, rules: Rules = .mxnetExample) {
        self.classes = classes; self.overlapThreshold = overlapThreshold; self.interpolation = interpolation; self.rules = rules
    }

    /// A ground-truth box.
    public struct GroundTruth: Sendable {
        public var classId: Int
        public var box: [Float]
        public var difficult: Bool
        public init(classId: Int, box: [Float], difficult: Bool = false) { self.classId = classId; self.box = box; self.difficult = difficult }
    }

    /// Adds one image's detections (in the detector's output order) and ground truth.
    public mutating func update(detections: [MultiBoxDetection.Detection], groundTruth: [GroundTruth]) {
        if rules == .gluonCV { return updateGluonCV(detections: detections, groundTruth: groundTruth) }
        guard groundTruth.contains(where: { $0.classId >= 0 }) else { return }
        var remaining = groundTruth
        var seen = Set<Int>()
        for first in detections where !seen.contains(first.classId) {
            let c = first.classId
            seen.insert(c)
            if c < 0 { continue }
            let dets = detections.filter { $0.classId == c }
            let order = NumPyArgsort.reversedAscending(dets.map { Double($0.score) })
            let gts = remaining.filter { $0.classId == c }
            remaining.removeAll { $0.classId == c }
            var rows: [(score: Double, flag: Int)] = []
            var found = [Bool](repeating: false, count: gts.count)
            for j in order {
                var flag = 2
                if !gts.isEmpty {
                    var best: Float = 0, at = 0
                    for (g, gt) in gts.enumerated() {
                        let iou = Self.iou(dets[j].box, gt.box)
                        if g == 0 || iou > best { best = iou; at = g }
                    }
                    if best > overlapThreshold {
                        if gts[at].difficult { flag = 0 } else if !found[at] { flag = 1; found[at] = true }
                    }
                }
                if flag != 0 { rows.append((Double(dets[j].score), flag)) }
            }
            if !rows.isEmpty { insert(c, rows, positives: gts.filter { !$0.difficult }.count) }
        }
        var left = Set<Int>()
        for gt in remaining where gt.classId >= 0 && !left.contains(gt.classId) {
            left.insert(gt.classId)
            insert(gt.classId, [(0, 0)], positives: remaining.filter { $0.classId == gt.classId }.count)
        }
    }

    mutating func insert(_ c: Int, _ rows: [(score: Double, flag: Int)], positives n: Int) {
        if let k = records.firstIndex(where: { $0.classId == c }) { records[k].rows += rows } else { records.append((c, rows)) }
        positives[c, default: 0] += n
    }

    /// AP of every class seen, by class id (GluonCV: NaN for a class without positives).
    public func averagePrecisions() -> [Int: Double] {
        if rules == .gluonCV { return averagePrecisionsGluonCV() }
        return Dictionary(uniqueKeysWithValues: records.map { ($0.classId, averagePrecision(of: $0.rows, positives: positives[$0.classId] ?? 0)) })
    }

    /// Mean of the per-class APs, NaN when no class was seen (MXNet: `np.mean([])`).
    public func meanAveragePrecision() -> Double {
        if rules == .gluonCV { return meanAveragePrecisionGluonCV() }
        guard !records.isEmpty else { return .nan }
        return records.map { averagePrecision(of: $0.rows, positives: positives[$0.classId] ?? 0) }.reduce(0, +) / Double(records.count)
    }

    private func averagePrecision(of all: [(score: Double, flag: Int)], positives count: Int) -> Double {
        let rows = all.filter { $0.flag != 0 }
        var tp = 0, fp = 0
        var recall: [Double] = [], precision: [Double] = []
        for k in NumPyArgsort.reversedAscending(rows.map(\.score)) {
            if rows[k].flag == 1 { tp += 1 } else { fp += 1 }
            recall.append(count > 0 ? Double(tp) / Double(count) : 0)
            precision.append(Double(tp) / Double(tp + fp))
        }
        return Self.averagePrecision(recall: recall, precision: precision, interpolation: interpolation)
    }

    /// The example's `iou`, in Float32 like its NumPy arrays: 0 when the union is below 1e-12.
    static func iou(_ x: [Float], _ y: [Float]) -> Float {
        let iw = max(min(y[2], x[2]) - max(y[0], x[0]), 0), ih = max(min(y[3], x[3]) - max(y[1], x[1]), 0)
        let inters = iw * ih
        let uni = (x[2] - x[0]) * (x[3] - x[1]) + (y[2] - y[0]) * (y[3] - y[1]) - inters
        return uni < 1e-12 ? 0 : inters / uni
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
            for i in stride(from: mpre.count - 1, to: 0, by: -1) { mpre[i - 1] = max(mpre[i - 1], mpre[i]) }
            var ap = 0.0
            for i in 1..<mrec.count where mrec[i] != mrec[i - 1] { ap += (mrec[i] - mrec[i - 1]) * mpre[i] }
            return ap
        }
    }
}
