/// One ground-truth object: 0-based foreground class and normalized corners in [0, 1].
public struct DetectionObject: Equatable, Sendable {
    public var classId: Int
    public var xmin, ymin, xmax, ymax: Float
    /// VOC's difficult flag (object width 6); difficult objects are ignored by mAP.
    public var difficult: Bool

    public init(classId: Int, xmin: Float, ymin: Float, xmax: Float, ymax: Float, difficult: Bool = false) {
        self.classId = classId; self.xmin = xmin; self.ymin = ymin; self.xmax = xmax; self.ymax = ymax
        self.difficult = difficult
    }
}

extension DetectionObject {
    /// Intersection over union with a box given as normalized (xmin, ymin, xmax, ymax).
    public func iou(with b: (Float, Float, Float, Float)) -> Float {
        let iw = max(0, min(xmax, b.2) - max(xmin, b.0)), ih = max(0, min(ymax, b.3) - max(ymin, b.1))
        let union = (xmax - xmin) * (ymax - ymin) + (b.2 - b.0) * (b.3 - b.1) - iw * ih
        return union > 0 ? iw * ih / union : 0
    }
}

/// A detection label in MXNet's layout: `[header width A, object width B, (A−2 more header
/// values), objects of B values: class, xmin, ymin, xmax, ymax, (difficult, …)]`.
public struct DetectionLabel: Equatable, Sendable {
    public var objects: [DetectionObject]
    /// Values per object written by `flattened` (5, or 6 with the difficult flag).
    public var objectWidth: Int

    /// A label with the given objects.
    public init(objects: [DetectionObject], objectWidth: Int = 5) {
        self.objects = objects
        self.objectWidth = objectWidth
    }

    /// Parses MXNet's raw label (as stored in `.rec` and `.lst`). `record` names it in errors.
    public init(raw: [Float], path: String = "", record: String = "") throws {
        guard raw.count >= 2 else { throw DataError.badLabel(path: path, record: record, reason: "\(raw.count) values, needs at least the 2 header values") }
        let a = Int(raw[0]), b = Int(raw[1])
        guard Float(a) == raw[0], Float(b) == raw[1], a >= 2, b >= 5, a <= raw.count else {
            throw DataError.badLabel(path: path, record: record, reason: "header width \(raw[0]) must be an integer >= 2 and object width \(raw[1]) an integer >= 5")
        }
        guard (raw.count - a) % b == 0 else {
            throw DataError.badLabel(path: path, record: record, reason: "\(raw.count - a) object values are not a multiple of the object width \(b)")
        }
        var objects: [DetectionObject] = []
        var i = a
        while i < raw.count {
            let o = Array(raw[i..<(i + b)])
            i += b
            if o[0] < 0 { break }  // −1 padding ends the objects (MultiBoxTarget convention)
            guard Float(Int(o[0])) == o[0] else {
                throw DataError.badLabel(path: path, record: record, reason: "class \(o[0]) is not an integer")
            }
            objects.append(DetectionObject(classId: Int(o[0]), xmin: o[1], ymin: o[2], xmax: o[3], ymax: o[4],
                                           difficult: b >= 6 && o[5] > 0))
        }
        self.objects = objects
        self.objectWidth = b
    }

    /// MXNet's raw label: `[2, objectWidth, objects…]`.
    public var flattened: [Float] {
        var out: [Float] = [2, Float(objectWidth)]
        for o in objects {
            out += [Float(o.classId), o.xmin, o.ymin, o.xmax, o.ymax]
            if objectWidth >= 6 { out.append(o.difficult ? 1 : 0) }
            if objectWidth > 6 { out += [Float](repeating: 0, count: objectWidth - 6) }
        }
        return out
    }

    /// Objects that fit in a label padded to `labelWidth` values (header 2 + 5 per object).
    public static func capacity(labelWidth: Int) -> Int { max(0, (labelWidth - 2) / 5) }

    /// The rows the training step consumes: `capacity(labelWidth)` rows of
    /// `[class, xmin, ymin, xmax, ymax]`, objects first, then rows of −1. Too many objects for
    /// `labelWidth` is an error naming the record and the width needed.
    public func paddedRows(labelWidth: Int, path: String = "", record: String = "") throws -> [Float] {
        let fits = Self.capacity(labelWidth: labelWidth)
        guard objects.count <= fits else {
            throw DataError.tooManyObjects(path: path, record: record, objects: objects.count, labelWidth: labelWidth, fits: fits)
        }
        var out = [Float](repeating: -1, count: fits * 5)
        for (i, o) in objects.enumerated() {
            out.replaceSubrange((i * 5)..<(i * 5 + 5), with: [Float(o.classId), o.xmin, o.ymin, o.xmax, o.ymax])
        }
        return out
    }

    /// Checks every box (0 ≤ xmin < xmax ≤ 1, same for y) and class (< numClasses).
    public func validate(numClasses: Int?, path: String, record: String) throws {
        for o in objects {
            let box = [o.xmin, o.ymin, o.xmax, o.ymax]
            if !(o.xmin < o.xmax && o.ymin < o.ymax) {
                throw DataError.badBox(path: path, record: record, box: box, reason: "has xmin >= xmax or ymin >= ymax")
            }
            let eps: Float = 1e-4
            if box.contains(where: { $0 < -eps || $0 > 1 + eps }) || box.contains(where: { !$0.isFinite }) {
                throw DataError.badBox(path: path, record: record, box: box, reason: "lies outside the image (coordinates must be in [0, 1])")
            }
            if let numClasses, o.classId < 0 || o.classId >= numClasses {
                throw DataError.classOutOfRange(path: path, record: record, classId: o.classId, numClasses: numClasses)
            }
        }
    }
}
