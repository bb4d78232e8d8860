/// GluonCV 0.10.5's VOC metric (`gluoncv/utils/metrics/voc_detection.py`, `VOCMApMetric`,
/// `VOC07MApMetric`), the option `ssd eval --map-rules gluoncv`. Where it differs from MXNet's
/// SSD example (the default, which SageMaker reports):
///
/// - images without ground truth count: their detections are false positives;
/// - a class's positives are always its non-difficult boxes (never the difficult ones);
/// - a match needs IoU **≥** the threshold (the example: >), and IoU is computed on boxes with
///   1 added to xmax and ymax — GluonCV's pixel convention, which on normalized [0, 1] boxes
///   makes almost any two boxes overlap by more than half;
/// - a detection matched to a difficult box keeps its place in the ranking (neither TP nor FP,
///   but the points around it repeat), and a difficult box it matched counts as taken;
/// - a class without positives has AP NaN (the example: 0), and mAP is the mean that ignores
///   NaN (`np.nanmean`).
extension VOCMeanAveragePrecision {
    mutating func updateGluonCV(detections: [MultiBoxDetection.Detection], groundTruth: [GroundTruth]) {
        let dets = detections.filter { $0.classId >= 0 }, gts = groundTruth.filter { $0.classId >= 0 }
        for c in Set(dets.map(\.classId) + gts.map(\.classId)).sorted() {
            let mine = dets.filter { $0.classId == c }
            let order = NumPyArgsort.reversedAscending(mine.map { Double($0.score) })
            let ofClass = gts.filter { $0.classId == c }
            let positives = ofClass.filter { !$0.difficult }.count
            var rows: [(score: Double, flag: Int)] = []
            var taken = [Bool](repeating: false, count: ofClass.count)
            for j in order {
                var flag = 2
                if !ofClass.isEmpty {
                    var best: Float = 0, at = 0
                    for (g, gt) in ofClass.enumerated() {
                        let iou = Self.iouPlusOne(mine[j].box, gt.box)
                        if g == 0 || iou > best { best = iou; at = g }
                    }
                    if best >= overlapThreshold {
                        flag = ofClass[at].difficult ? 3 : (taken[at] ? 2 : 1)
                        taken[at] = true
                    }
                }
                rows.append((Double(mine[j].score), flag))
            }
            insert(c, rows, positives: positives)
        }
    }

    func averagePrecisionsGluonCV() -> [Int: Double] {
        Dictionary(uniqueKeysWithValues: records.map { record -> (Int, Double) in
            let count = positives[record.classId] ?? 0
            guard count > 0 else { return (record.classId, .nan) }
            var tp = 0, fp = 0
            var recall: [Double] = [], precision: [Double] = []
            for k in NumPyArgsort.reversedAscending(record.rows.map(\.score)) {
                if record.rows[k].flag == 1 { tp += 1 } else if record.rows[k].flag == 2 { fp += 1 }
                recall.append(Double(tp) / Double(count))
                precision.append(tp + fp > 0 ? Double(tp) / Double(tp + fp) : 0)  // nan_to_num(0/0)
            }
            return (record.classId, Self.averagePrecision(recall: recall, precision: precision, interpolation: interpolation))
        })
    }

    func meanAveragePrecisionGluonCV() -> Double {
        let finite = averagePrecisionsGluonCV().values.filter { !$0.isNaN }
        return finite.isEmpty ? .nan : finite.reduce(0, +) / Double(finite.count)
    }

    /// GluonCV's `bbox_iou` after its `[:, 2:] += 1`, in Float32.
    static func iouPlusOne(_ a: [Float], _ b: [Float]) -> Float {
        let left = max(a[0], b[0]), top = max(a[1], b[1])
        let right = min(a[2] + 1, b[2] + 1), bottom = min(a[3] + 1, b[3] + 1)
        let inter = left < right && top < bottom ? (right - left) * (bottom - top) : 0
        let areaA = (a[2] + 1 - a[0]) * (a[3] + 1 - a[1]), areaB = (b[2] + 1 - b[0]) * (b[3] + 1 - b[1])
        return inter / (areaA + areaB - inter)
    }
}
