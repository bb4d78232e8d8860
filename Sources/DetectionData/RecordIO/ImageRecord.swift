/// One image record of MXNet's `recordio.pack`: the 24-byte `IRHeader` ('IfQQ': uint32 flag,
/// float32 label, uint64 id, uint64 id2), then `flag` float32 labels when flag > 0, then the
/// encoded image bytes.
public struct ImageRecord: Equatable, Sendable {
    /// Number of float32 labels after the header (0 means a scalar label in `scalarLabel`).
    public var flag: UInt32 { UInt32(labels.count) }
    /// The scalar label (used only when `labels` is empty).
    public var scalarLabel: Float
    /// The record id (`IRHeader.id`).
    public var id: UInt64
    /// The second id (`IRHeader.id2`).
    public var id2: UInt64
    /// The label array (detection: [header_width, object_width, objects...]).
    public var labels: [Float]
    /// The encoded image (JPEG or PNG bytes).
    public var imageBytes: [UInt8]

    /// Size of the IRHeader in bytes.
    public static let headerByteCount = 24

    /// Creates a record.
    public init(id: UInt64, id2: UInt64 = 0, labels: [Float], scalarLabel: Float = 0, imageBytes: [UInt8]) {
        self.id = id; self.id2 = id2; self.labels = labels
        self.scalarLabel = labels.isEmpty ? scalarLabel : 0
        self.imageBytes = imageBytes
    }

    /// Decodes a record payload; `source`/`record` name it in errors.
    public init(payload: [UInt8], source: String, record: Int) throws {
        guard payload.count >= Self.headerByteCount else {
            throw DetectionDataError.recordTooShort(
                source: source, record: record, bytes: payload.count, needed: Self.headerByteCount)
        }
        let (flag, scalar, id, id2): (UInt32, Float, UInt64, UInt64) = payload.withUnsafeBytes { p in
            (readLE32(p, 0), Float(bitPattern: readLE32(p, 4)),
             UInt64(readLE32(p, 8)) | UInt64(readLE32(p, 12)) << 32,
             UInt64(readLE32(p, 16)) | UInt64(readLE32(p, 20)) << 32)
        }
        let needed = Self.headerByteCount + 4 * Int(flag)
        guard payload.count >= needed else {
            throw DetectionDataError.recordTooShort(source: source, record: record, bytes: payload.count, needed: needed)
        }
        var labels = [Float](repeating: 0, count: Int(flag))
        payload.withUnsafeBytes { p in
            for i in 0..<Int(flag) { labels[i] = Float(bitPattern: readLE32(p, Self.headerByteCount + 4 * i)) }
        }
        self.id = id; self.id2 = id2; self.labels = labels; self.scalarLabel = scalar
        self.imageBytes = Array(payload[needed...])
    }

    /// Encodes the record as a RecordIO payload, like `mx.recordio.pack`.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerByteCount + 4 * labels.count + imageBytes.count)
        out.appendLE(flag)
        out.appendLE(labels.isEmpty ? scalarLabel.bitPattern : 0)
        out.appendLE(id)
        out.appendLE(id2)
        for l in labels { out.appendLE(l.bitPattern) }
        out.append(contentsOf: imageBytes)
        return out
    }
}
