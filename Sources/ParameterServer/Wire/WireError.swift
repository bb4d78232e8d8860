/// Why a received frame was rejected. Every case carries the offending value so the error
/// reply and the log say exactly what was wrong.
public enum WireError: Error, Equatable, CustomStringConvertible, Sendable {
    case truncatedHeader(bytes: Int, needed: Int)
    case badMagic(found: UInt32)
    case unsupportedVersion(found: UInt16, supported: UInt16)
    case unknownCommand(UInt8)
    case payloadLengthMismatch(declared: Int, actual: Int)
    case payloadNotFloats(bytes: Int)
    case checksumMismatch(expected: UInt32, computed: UInt32)
    case wrongFrameCount(Int)
    case payloadTooLarge(bytes: Int, limit: Int)
    /// Flags naming no known payload encoding, or reserved bits set.
    case unknownFlags(UInt8)
    /// A payload that is not a whole number of its encoding's units.
    case payloadNotWholeUnits(bytes: Int, encoding: PayloadEncoding)
    /// A payload said to be in the sender's shared memory that is not there (no segment mapped
    /// for that peer, or bytes outside it).
    case badSharedMemoryReference(String)

    public var description: String {
        switch self {
        case let .truncatedHeader(b, n): return "header has \(b) bytes, needs \(n): not a message of this protocol"
        case let .badMagic(m): return "bad magic 0x\(String(m, radix: 16)); the peer does not speak this protocol"
        case let .unsupportedVersion(v, s): return "protocol version \(v) is not supported (this build speaks \(s)); run the same release on every node"
        case let .unknownCommand(c): return "unknown command \(c)"
        case let .payloadLengthMismatch(d, a): return "header declares \(d) payload bytes but \(a) arrived"
        case let .payloadNotFloats(b): return "payload of \(b) bytes is not a whole number of Float32 values"
        case let .checksumMismatch(e, c): return "checksum mismatch (header 0x\(String(e, radix: 16)), computed 0x\(String(c, radix: 16))): corrupted in transit"
        case let .wrongFrameCount(n): return "a message has 2 frames (header, payload); got \(n)"
        case let .payloadTooLarge(b, l): return "payload of \(b) bytes exceeds the limit of \(l)"
        case let .unknownFlags(f): return "flags 0x\(String(f, radix: 16)) name no payload encoding of this protocol; run the same release on every node"
        case let .payloadNotWholeUnits(b, e): return "payload of \(b) bytes is not a whole number of \(e) units (\(e.unitBytes) bytes)"
        case let .badSharedMemoryReference(why): return "bad shared-memory payload reference: \(why)"
        }
    }
}
