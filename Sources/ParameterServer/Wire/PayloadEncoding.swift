/// How the values of a payload are encoded: header flags bits 2–4. Values are part of the wire
/// format: never renumber. Gradient pushes use the encoding the cluster agreed on at start-up
/// (`GradientCompression`); everything else — initial values, pulled weights, summed-only keys
/// — is `float32`.
public enum PayloadEncoding: UInt8, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// Little-endian IEEE 754 binary32, 4 bytes per value.
    case float32 = 0
    /// Little-endian IEEE 754 binary16, 2 bytes per value (rounded to nearest, ties to even).
    case float16 = 1
    /// Little-endian bfloat16 (the upper half of a binary32), 2 bytes per value (nearest, ties to even).
    case bfloat16 = 2
    /// MXNet's 2bit: 16 values per little-endian 32-bit word, value i in byte (i mod 16) / 4 of
    /// word i / 16, the first of a byte's four values in its two highest bits; 11 = +threshold,
    /// 10 = −threshold, 00 = 0. The last word is padded with 00.
    case twoBit = 3

    /// Bytes that `count` values take in this encoding.
    public func byteCount(values count: Int) -> Int {
        switch self {
        case .float32: return count * 4
        case .float16, .bfloat16: return count * 2
        case .twoBit: return (count + 15) / 16 * 4
        }
    }

    /// A payload in this encoding is a whole number of these units (bytes).
    public var unitBytes: Int {
        switch self {
        case .float32, .twoBit: return 4
        case .float16, .bfloat16: return 2
        }
    }

    public var description: String {
        switch self {
        case .float32: return "float32"
        case .float16: return "fp16"
        case .bfloat16: return "bf16"
        case .twoBit: return "2bit"
        }
    }
}
