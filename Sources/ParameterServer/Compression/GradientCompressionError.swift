/// Why a gradient could not be compressed, or a compressed push not accepted. Each case names
/// the key and the setting, and says what to do.
public enum GradientCompressionError: Error, Equatable, CustomStringConvertible, Sendable {
    /// `--gradient-compression` / `PS_GRADIENT_COMPRESSION` names no known kind.
    case unknownKind(String, source: String)
    /// `--compression-threshold` / `PS_COMPRESSION_THRESHOLD` is not a positive number.
    case invalidThreshold(String)
    /// A gradient value that the encoding cannot carry: NaN or ±Inf (never compressed — 2bit
    /// would hide it in the residual forever), or a finite value beyond fp16's range.
    case unencodable(key: Int, index: Int, value: Float, compression: GradientCompression)
    /// A push encoded otherwise than the cluster agreed at start-up.
    case encodingMismatch(slice: String, pushed: PayloadEncoding, agreed: PayloadEncoding, compression: GradientCompression)
    /// A compressed push whose size does not match the slice's value count.
    case payloadSize(slice: String, bytes: Int, values: Int, encoding: PayloadEncoding)

    public var description: String {
        switch self {
        case let .unknownKind(text, source):
            return "\(source) \(text) is not a gradient compression: give none, fp16, bf16 or 2bit"
        case let .invalidThreshold(text):
            return "compression threshold \(text) is invalid: give a positive number (MXNet's default is 0.5)"
        case let .unencodable(key, index, value, compression):
            if value.isFinite {
                return "gradient of key \(key) holds \(value) at index \(index), beyond fp16's range (±65504): "
                    + "use --gradient-compression bf16 (float32's range) or lower the learning rate"
            }
            return "gradient of key \(key) holds a non-finite value (\(value) at index \(index)); gradient compression "
                + "\(compression) cannot send it: training diverged (lower learning_rate), or run without compression to let "
                + "the servers' PS_NON_FINITE_GRADIENTS policy decide"
        case let .encodingMismatch(slice, pushed, agreed, compression):
            return "push to \(slice) is encoded \(pushed) but the cluster agreed on \(agreed) (gradient compression \(compression), "
                + "set by worker 0 at start-up): run every worker with the same --gradient-compression / PS_GRADIENT_COMPRESSION"
        case let .payloadSize(slice, bytes, values, encoding):
            if encoding == .float32 { return "push to \(slice) has \(bytes / 4) values, expected \(values)" }
            return "push to \(slice) has \(bytes) bytes of \(encoding), expected \(encoding.byteCount(values: values)) for \(values) values"
        }
    }
}

extension GradientCompressionError {
    /// True for an invalid threshold (rather than an unknown kind).
    var isThreshold: Bool { if case .invalidThreshold = self { return true } else { return false } }
}
