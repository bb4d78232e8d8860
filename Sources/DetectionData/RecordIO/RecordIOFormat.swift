// The RecordIO container of dmlc-core / MXNet (`recordio.h`):
//   uint32 magic 0xced7230a | uint32 lrec | payload | zero padding to a 4-byte boundary
// lrec: low 29 bits = chunk length, top 3 bits = continuation flag (0 whole, 1 first,
// 2 middle, 3 last). A writer splits a payload at every 4-byte-aligned occurrence of the magic
// word and drops those 4 bytes; a reader puts them back between chunks. All little-endian.

/// Constants and helpers of the RecordIO container format.
public enum RecordIOFormat {
    /// The magic word that starts every chunk.
    public static let magic: UInt32 = 0xced7_230a
    /// The largest chunk length that fits the 29-bit length field.
    public static let maxChunkLength = (1 << 29) - 1

    /// Encodes a continuation flag and a length as the `lrec` word.
    static func lrec(flag: UInt32, length: Int) -> UInt32 { (flag << 29) | UInt32(length) }

    /// Bytes of zero padding after a chunk of `length` bytes.
    static func padding(_ length: Int) -> Int { (4 - length % 4) % 4 }
}

extension Array where Element == UInt8 {
    mutating func appendLE(_ v: UInt32) {
        append(UInt8(v & 0xff)); append(UInt8((v >> 8) & 0xff))
        append(UInt8((v >> 16) & 0xff)); append(UInt8(v >> 24))
    }
    mutating func appendLE(_ v: UInt64) {
        appendLE(UInt32(truncatingIfNeeded: v)); appendLE(UInt32(truncatingIfNeeded: v >> 32))
    }
}

@inline(__always) func readLE32(_ p: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
    UInt32(p[at]) | UInt32(p[at + 1]) << 8 | UInt32(p[at + 2]) << 16 | UInt32(p[at + 3]) << 24
}
