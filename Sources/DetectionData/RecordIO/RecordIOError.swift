/// Problems with RecordIO, index, list and annotation files. Each names the file and the
/// record, byte offset or line, and what to do.
public enum DataError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case badMagic(path: String, offset: Int, found: UInt32)
    case truncated(path: String, offset: Int, needed: Int, available: Int)
    case badContinuation(path: String, offset: Int, flag: UInt32)
    case recordTooLarge(bytes: Int)
    case badImageHeader(path: String, record: Int, reason: String)
    case badLabel(path: String, record: String, reason: String)
    case tooManyObjects(path: String, record: String, objects: Int, labelWidth: Int, fits: Int)
    case badIndexLine(path: String, line: Int, text: String)
    case unknownKey(path: String, key: Int)
    case badListLine(path: String, line: Int, reason: String)
    case badAnnotation(path: String, reason: String)
    case badBox(path: String, record: String, box: [Float], reason: String)
    case classOutOfRange(path: String, record: String, classId: Int, numClasses: Int)
    case emptyDataset(path: String)
    case badImage(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(p, r): return "\(p): cannot be read (\(r))"
        case let .badMagic(p, o, f):
            return "\(p): byte \(o): expected the RecordIO magic 0xced7230a, found 0x\(String(f, radix: 16)); the file is not RecordIO or is corrupt there"
        case let .truncated(p, o, n, a): return "\(p): truncated at byte \(o): needs \(n) more bytes, \(a) left; the file was cut short"
        case let .badContinuation(p, o, f): return "\(p): byte \(o): continuation flag \(f) out of order; the record is corrupt"
        case let .recordTooLarge(b): return "a RecordIO record must be smaller than 2^29 bytes, got \(b)"
        case let .badImageHeader(p, r, why): return "\(p): record \(r): bad image record header: \(why)"
        case let .badLabel(p, r, why): return "\(p): record \(r): bad detection label: \(why)"
        case let .tooManyObjects(p, r, n, w, fits):
            return "\(p): record \(r) has \(n) objects but label_width=\(w) fits \(fits); raise label_width to at least \(2 + 5 * n)"
        case let .badIndexLine(p, l, t): return "\(p): line \(l): expected 'key<TAB>offset', got \"\(t)\""
        case let .unknownKey(p, k): return "\(p): no record with key \(k)"
        case let .badListLine(p, l, why): return "\(p): line \(l): \(why)"
        case let .badAnnotation(p, why): return "\(p): \(why)"
        case let .badBox(p, r, b, why): return "\(p): \(r): box \(b) \(why)"
        case let .classOutOfRange(p, r, c, n): return "\(p): \(r): class_id \(c) is not in 0..<\(n) (num_classes=\(n))"
        case let .emptyDataset(p): return "\(p): the data set has no samples"
        case let .badImage(p, why): return "\(p): cannot decode the image: \(why)"
        }
    }
}
