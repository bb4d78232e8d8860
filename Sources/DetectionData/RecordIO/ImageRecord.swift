/// MXNet's image record: a 24-byte `IRHeader` (`uint32 flag, float32 label, uint64 id,
/// uint64 id2`), then `flag` float32 label values when flag > 0, then the encoded image.
public struct ImageRecord: Equatable, Sendable {
    /// The label floats (for detection: header width, object width, objects…).
    public var label: [Float]
    public var id: UInt64
    public var id2: UInt64
    /// JPEG or PNG bytes.
    public var image: [UInt8]

    /// A record with a multi-float label.
    public init(label: [Float], id: UInt64, id2: UInt64 = 0, image: [UInt8]) {
        self.label = label; self.id = id; self.id2 = id2; self.image = image
    }

    /// Size of the fixed header.
    public static let headerSize = 24

    /// Parses a RecordIO payload; `path` and `record` only label errors.
    public init(payload: [UInt8], path: String = "", record: Int = 0) throws {
        guard payload.count >= Self.headerSize else {
            throw DataError.badImageHeader(path: path, record: record, reason: "\(payload.count) bytes, the header alone has 24")
        }
        func u32(_ o: Int) -> UInt32 { payload[o..<(o + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func u64(_ o: Int) -> UInt64 { payload[o..<(o + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        let flag = Int(u32(0))
        let scalar = Float(bitPattern: u32(4))
        id = u64(8); id2 = u64(16)
        if flag == 0 {
            label = [scalar]
            image = Array(payload[Self.headerSize...])
        } else {
            let end = Self.headerSize + 4 * flag
            guard end <= payload.count else {
                throw DataError.badImageHeader(path: path, record: record, reason: "flag says \(flag) label floats but the record has \(payload.count - 24) bytes after the header")
            }
            label = (0..<flag).map { Float(bitPattern: u32(Self.headerSize + 4 * $0)) }
            image = Array(payload[end...])
        }
    }

    /// The RecordIO payload (always with a multi-float label, like `im2rec --pack-label`).
    public var payload: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerSize + 4 * label.count + image.count)
        appendLE(&out, UInt32(label.count))
        appendLE(&out, Float(0).bitPattern)
        appendLE(&out, id)
        appendLE(&out, id2)
        for v in label { appendLE(&out, v.bitPattern) }
        out.append(contentsOf: image)
        return out
    }
}
