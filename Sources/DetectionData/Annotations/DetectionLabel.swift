// The detection label of MXNet's SSD / SageMaker RecordIO: [header_width, object_width,
// cls, xmin, ymin, xmax, ymax, (extra...), cls, ...], corners normalized to [0, 1],
// class ids 0-based over foreground classes. Batches carry rows of 5 padded with -1 rows.
// Object width 6 is MXNet's VOC layout (`example/ssd/dataset/pascal_voc.py` appends
// `difficult`); the SSD example's MApMetric reads column 5 as the flag whenever the width is
// ≥ 6 (`gts[:, 5] > 0`), so it is parsed here and travels beside the rows to validation.

/// One ground-truth object: a class id, a box in normalized corners and VOC's `difficult` flag.
public struct DetectionObject: Equatable, Sendable {
    /// 0-based foreground class id.
    public var classId: Int
    /// Left edge, 0...1.
    public var xmin: Float
    /// Top edge, 0...1.
    public var ymin: Float
    /// Right edge, 0...1.
    public var xmax: Float
    /// Bottom edge, 0...1.
    public var ymax: Float
    /// VOC's `difficult`: trained on like any box, neither counted nor penalised by the VOC mAP.
    public var difficult: Bool

    /// Creates an object.
    public init(classId: Int, xmin: Float, ymin: Float, xmax: Float, ymax: Float, difficult: Bool = false) {
        self.classId = classId; self.xmin = xmin; self.ymin = ymin; self.xmax = xmax; self.ymax = ymax; self.difficult = difficult
    }

    /// The box as [xmin, ymin, xmax, ymax].
    public var box: [Float] { [xmin, ymin, xmax, ymax] }
}

/// Parsing, validation and packing of detection labels.
public enum DetectionLabel {
    /// Slack allowed on normalized corners (rounding of "%.4f" list files).
    public static let tolerance: Float = 1e-3

    /// Parses a raw label [header_width, object_width, objects...]; the first 5 values of each
    /// object are the class and box, a 6th (object_width ≥ 6) is VOC's `difficult` (> 0 = set,
    /// as MXNet's MApMetric reads it); further values are ignored.
    public static func parse(_ raw: [Float], source: String, record: String) throws -> [DetectionObject] {
        guard raw.count >= 2 else {
            throw DetectionDataError.badLabel(source: source, record: record, reason: "\(raw.count) values, need at least 2")
        }
        // Range checks come before any Float → Int conversion (NaN or huge values would trap).
        guard raw[0] >= 2, raw[0] <= Float(raw.count), raw[0].rounded() == raw[0] else {
            throw DetectionDataError.badLabel(source: source, record: record, reason: "header_width \(raw[0]) must be an integer in 2...\(raw.count)")
        }
        guard raw[1] >= 5, raw[1] <= Float(raw.count), raw[1].rounded() == raw[1] else {
            throw DetectionDataError.badLabel(source: source, record: record, reason: "object_width \(raw[1]) must be an integer ≥ 5")
        }
        let hw = Int(raw[0]), ow = Int(raw[1])
        guard (raw.count - hw) % ow == 0 else {
            throw DetectionDataError.badLabel(
                source: source, record: record,
                reason: "\(raw.count - hw) object values do not divide by object_width \(ow)")
        }
        var objects: [DetectionObject] = []
        var i = hw
        while i < raw.count {
            if raw[i] < 0 { break }  // -1 padding ends the objects
            guard raw[i] < 1e6, raw[i].rounded() == raw[i] else {
                throw DetectionDataError.badLabel(source: source, record: record, reason: "class id \(raw[i]) at position \(i) is not a non-negative integer")
            }
            objects.append(DetectionObject(classId: Int(raw[i]), xmin: raw[i + 1], ymin: raw[i + 2], xmax: raw[i + 3], ymax: raw[i + 4],
                                           difficult: ow >= 6 && raw[i + 5] > 0))
            i += ow
        }
        return objects
    }

    /// Packs objects as [2, 5, cls, xmin, ymin, xmax, ymax, ...], or with object width 6 and
    /// the `difficult` flag last (MXNet's VOC layout) when `withDifficult` or any object is difficult.
    public static func pack(_ objects: [DetectionObject], withDifficult: Bool = false) -> [Float] {
        let six = withDifficult || objects.contains { $0.difficult }
        var out: [Float] = [2, six ? 6 : 5]
        for o in objects {
            out += [Float(o.classId), o.xmin, o.ymin, o.xmax, o.ymax]
            if six { out.append(o.difficult ? 1 : 0) }
        }
        return out
    }

    /// Checks corners (0 ≤ xmin < xmax ≤ 1, same for y) and, if given, the class range.
    public static func validate(_ objects: [DetectionObject], numClasses: Int?, source: String, record: String) throws {
        for o in objects {
            if let numClasses, o.classId < 0 || o.classId >= numClasses {
                throw DetectionDataError.classOutOfRange(source: source, record: record, classId: o.classId, numClasses: numClasses)
            }
            if !(o.xmin < o.xmax) || !(o.ymin < o.ymax) {
                throw DetectionDataError.badBox(source: source, record: record, box: o.box, reason: "has xmin ≥ xmax or ymin ≥ ymax")
            }
            if o.xmin < -tolerance || o.ymin < -tolerance || o.xmax > 1 + tolerance || o.ymax > 1 + tolerance {
                throw DetectionDataError.badBox(source: source, record: record, box: o.box, reason: "lies outside the image")
            }
        }
    }

    /// Largest number of objects a batch row holds for `labelWidth` (2 header values + 5 per object).
    public static func maxObjects(labelWidth: Int) -> Int { max(0, (labelWidth - 2) / 5) }

    /// Writes `objects` as `maxObjects` rows of [cls, xmin, ymin, xmax, ymax], -1 rows after them,
    /// and their `difficult` flags into `difficult` (one per row).
    static func fillRows(_ objects: [DetectionObject], maxObjects: Int, into out: UnsafeMutableBufferPointer<Float>,
                         difficult: UnsafeMutableBufferPointer<Bool>) {
        for i in 0..<(maxObjects * 5) { out[i] = -1 }
        for i in 0..<maxObjects { difficult[i] = false }
        for (k, o) in objects.prefix(maxObjects).enumerated() {
            difficult[k] = o.difficult
            out[5 * k] = Float(o.classId)
            // Validated corners may exceed [0, 1] by `tolerance` (rounded list files): clip.
            out[5 * k + 1] = min(1, max(0, o.xmin)); out[5 * k + 2] = min(1, max(0, o.ymin))
            out[5 * k + 3] = min(1, max(0, o.xmax)); out[5 * k + 4] = min(1, max(0, o.ymax))
        }
    }
}
