/// Samples from a RecordIO `.rec` file with detection labels, random access through its `.idx`
/// (or through offsets found by one scan when no index is given).
public final class RecordIODataset: DetectionDataset, @unchecked Sendable {
    /// The `.rec` path.
    public let name: String
    /// Byte offset of each record.
    public let offsets: [Int]
    private let reader: RecordIOReader

    /// Opens `recordPath`; uses `indexPath` for offsets when given.
    public init(recordPath: String, indexPath: String? = nil) throws {
        name = recordPath
        reader = try RecordIOReader(path: recordPath)
        if let indexPath {
            offsets = try IndexFile.read(path: indexPath).map(\.offset)
            if let bad = offsets.first(where: { $0 >= reader.fileSize }) {
                throw DetectionDataError.truncatedRecord(file: recordPath, offset: bad, needed: 8, available: 0)
            }
        } else {
            offsets = try reader.scanOffsets()
        }
        guard !offsets.isEmpty else { throw DetectionDataError.emptyDataset(source: recordPath) }
    }

    /// Number of records.
    public var count: Int { offsets.count }

    /// Reads and parses record `index`.
    public func record(at index: Int) throws -> ImageRecord {
        guard index >= 0, index < offsets.count else {
            throw DetectionDataError.indexOutOfRange(source: name, index: index, count: offsets.count)
        }
        let payload = try reader.record(at: offsets[index]).payload
        return try ImageRecord(payload: payload, source: name, record: index)
    }

    /// Reads sample `index`.
    public func sample(at index: Int) throws -> EncodedSample {
        let r = try record(at: index)
        let source = "\(name): record \(index) (id \(r.id))"
        let objects = try DetectionLabel.parse(r.labels, source: name, record: "\(index) (id \(r.id))")
        return EncodedSample(imageBytes: r.imageBytes, objects: objects, rawLabel: r.labels, id: r.id, id2: r.id2, source: source)
    }
}
