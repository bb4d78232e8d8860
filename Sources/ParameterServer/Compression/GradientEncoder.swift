/// The worker's side of gradient compression: encodes each pushed slice of a gradient in the
/// cluster's `GradientCompression`, keeping the error-feedback residual of every key.
///
/// Error feedback for every lossy kind, fp16 and bf16 included (MXNet has it for 2bit): the
/// value encoded is gradient + residual and the residual keeps what was not sent, so over
/// steps the servers receive the whole gradient — nothing below fp16's smallest subnormal
/// (2^-24) or lost to bf16's 8-bit mantissa is dropped for good, at the cost of one float32
/// array per key on the worker and one more pass over it per push.
public final class GradientEncoder {
    /// The cluster's setting.
    public let compression: GradientCompression
    /// Error-feedback residuals, by key.
    public let residuals = ResidualStore()
    /// Keys pushed compressed (the optimized ones); every other key goes as float32.
    public var compressedKeys: Set<Int> = []
    private var scratch: [UInt8] = []

    /// An encoder for `compression`.
    public init(compression: GradientCompression) { self.compression = compression }

    /// Encodes `range` of `key`'s `gradient` and calls `send` with the payload's encoding and
    /// bytes (valid during the call only). Uncompressed, the gradient's own memory is passed on.
    /// Throws naming the key when the gradient holds NaN/±Inf or a value fp16 cannot carry;
    /// the residual is then no longer meaningful (the worker stops).
    public func encode(key: Int, range: Range<Int>, of gradient: UnsafeBufferPointer<Float>,
                       _ send: (PayloadEncoding, UnsafeRawBufferPointer) throws -> Void) throws {
        let part = UnsafeBufferPointer(rebasing: gradient[range])
        let encoding = compression.encoding
        guard encoding != .float32, compressedKeys.contains(key) else { return try send(.float32, UnsafeRawBufferPointer(part)) }
        if let (index, value) = NonFiniteGradients.first(in: part) {
            throw GradientCompressionError.unencodable(key: key, index: range.lowerBound + index, value: value, compression: compression)
        }
        let bytes = encoding.byteCount(values: part.count)
        if scratch.count < bytes { scratch = [UInt8](repeating: 0, count: bytes) }
        let compression = self.compression
        try scratch.withUnsafeMutableBytes { buffer in
            let out = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes])
            try residuals.withResidual(key: key, count: gradient.count, range: range) { residual in
                switch encoding {
                case .twoBit:
                    TwoBitCodec.quantize(part, residual: residual, threshold: compression.threshold, into: out)
                case .float16, .bfloat16:
                    if let bad = HalfPrecisionCodec.encode(part, residual: residual, bfloat16: encoding == .bfloat16, into: out) {
                        throw GradientCompressionError.unencodable(key: key, index: range.lowerBound + bad, value: part[bad],
                                                                   compression: compression)
                    }
                case .float32:
                    break  // handled above
                }
            }
            try send(encoding, UnsafeRawBufferPointer(out))
        }
    }
}
