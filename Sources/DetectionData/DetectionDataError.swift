// Errors of the data pipeline. Every case names the file and the record or line it came from,
// the offending value and, where there is one, the valid range; `description` says what to do.

/// An error reading, decoding or validating detection data.
public enum DetectionDataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A file could not be opened, read or written.
    case io(path: String, reason: String)
    /// A RecordIO chunk did not start with the magic word 0xced7230a.
    case badMagic(file: String, offset: Int, found: UInt32)
    /// A RecordIO record ended before its declared length.
    case truncatedRecord(file: String, offset: Int, needed: Int, available: Int)
    /// A RecordIO continuation flag out of order (e.g. a middle chunk without a first chunk).
    case badContinuation(file: String, offset: Int, flag: UInt32)
    /// A record payload too short for the 24-byte image record header and its label.
    case recordTooShort(source: String, record: Int, bytes: Int, needed: Int)
    /// A detection label that does not follow [header_width, object_width, objects...].
    case badLabel(source: String, record: String, reason: String)
    /// A record's label is longer than `label_width` allows.
    case labelTooWide(source: String, record: String, width: Int, labelWidth: Int)
    /// A box with inverted or out-of-image corners.
    case badBox(source: String, record: String, box: [Float], reason: String)
    /// A class id outside 0..<numClasses.
    case classOutOfRange(source: String, record: String, classId: Int, numClasses: Int)
    /// Image bytes that libturbojpeg/libpng could not decode.
    case imageDecode(source: String, reason: String)
    /// Image encoding failed.
    case imageEncode(reason: String)
    /// An image file named by an annotation or list line does not exist.
    case imageMissing(path: String, referencedBy: String)
    /// A malformed line of a `.idx` or `.lst` file.
    case badLine(file: String, line: Int, text: String, reason: String)
    /// A malformed SageMaker JSON annotation.
    case badAnnotation(file: String, reason: String)
    /// A dataset with no samples.
    case emptyDataset(source: String)
    /// A record index outside the dataset.
    case indexOutOfRange(source: String, index: Int, count: Int)
    /// The loader did not produce a batch within the deadline.
    case timeout(what: String, seconds: Double)
    /// Every sample of a batch was bad, so even skipping cannot fill it.
    case batchAllBad(step: Int, firstReason: String)

    public var description: String {
        switch self {
        case let .io(path, reason):
            return "\(path): \(reason). Check that the path exists and is readable/writable."
        case let .badMagic(file, offset, found):
            return "\(file): byte offset \(offset): RecordIO magic 0x\(String(found, radix: 16)) found, expected 0xced7230a. The file is not RecordIO or the .idx offset is wrong; regenerate it with `ssd im2rec`."
        case let .truncatedRecord(file, offset, needed, available):
            return "\(file): record at byte offset \(offset) needs \(needed) bytes but only \(available) remain. The file is truncated; re-copy or regenerate it."
        case let .badContinuation(file, offset, flag):
            return "\(file): byte offset \(offset): continuation flag \(flag) out of order (valid: 0 whole, 1 first, 2 middle, 3 last). The file is corrupt; regenerate it."
        case let .recordTooShort(source, record, bytes, needed):
            return "\(source): record \(record) has \(bytes) payload bytes, needs at least \(needed) for the image record header and label. Repack it with `ssd im2rec`."
        case let .badLabel(source, record, reason):
            return "\(source): record \(record): bad detection label: \(reason). Labels are [2, 5, cls, xmin, ymin, xmax, ymax, ...] (header_width ≥ 2, object_width ≥ 5)."
        case let .labelTooWide(source, record, width, labelWidth):
            return "\(source): record \(record): label has \(width) values but label_width is \(labelWidth). Raise label_width to at least \(width) (2 + 5 × objects) or drop objects."
        case let .badBox(source, record, box, reason):
            return "\(source): record \(record): box \(box) \(reason). Corners must satisfy 0 ≤ xmin < xmax ≤ 1 and 0 ≤ ymin < ymax ≤ 1 (normalized) / lie inside the image (pixels); fix the annotation."
        case let .classOutOfRange(source, record, classId, numClasses):
            return "\(source): record \(record): class_id \(classId) is outside 0..<\(numClasses). Fix the annotation or raise num_classes."
        case let .imageDecode(source, reason):
            return "\(source): cannot decode image: \(reason). Only JPEG and PNG with 1, 3 or 4 channels are supported; re-encode the image."
        case let .imageEncode(reason):
            return "image encoding failed: \(reason)."
        case let .imageMissing(path, referencedBy):
            return "\(referencedBy): image file \(path) does not exist. Upload it to the image channel or remove the annotation."
        case let .badLine(file, line, text, reason):
            return "\(file): line \(line) \"\(text.prefix(80))\": \(reason)."
        case let .badAnnotation(file, reason):
            return "\(file): bad SageMaker annotation: \(reason). Expected {\"file\", \"image_size\": [{width, height, depth}], \"annotations\": [{class_id, left, top, width, height}]}."
        case let .emptyDataset(source):
            return "\(source): the dataset has no samples. Check the channel path and file extensions."
        case let .indexOutOfRange(source, index, count):
            return "\(source): sample index \(index) is outside 0..<\(count)."
        case let .timeout(what, seconds):
            return "\(what) did not finish within \(seconds) s. Raise the loader deadline or the number of loader threads."
        case let .batchAllBad(step, firstReason):
            return "step \(step): every sample of the batch is bad (first: \(firstReason)); skipping cannot fill it. Fix the dataset."
        }
    }
}
