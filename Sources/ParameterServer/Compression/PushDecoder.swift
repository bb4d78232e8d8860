/// The server's side of gradient compression: checks that a push is encoded as the cluster
/// agreed (`ServerSetup.compression` for optimized slices, float32 for summed-only ones) and
/// has the size of the slice, and hands its values on as float32 — the payload itself when it
/// is float32, else decoded into a buffer the decoder reuses.
struct PushDecoder {
    private var scratch: [Float] = []

    /// Calls `body` with the float32 gradient of push `m` to `spec` (valid during the call only).
    mutating func withGradient<R>(_ m: Message, of spec: SliceSpec, compression: GradientCompression,
                                  _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        let slice = SliceID(key: spec.key, slice: spec.slice).description
        let agreed = spec.optimized ? compression.encoding : .float32
        let encoding = m.header.encoding
        guard encoding == agreed else {
            throw GradientCompressionError.encodingMismatch(slice: slice, pushed: encoding, agreed: agreed, compression: compression)
        }
        guard m.payload.count == encoding.byteCount(values: spec.count) else {
            throw GradientCompressionError.payloadSize(slice: slice, bytes: m.payload.count, values: spec.count, encoding: encoding)
        }
        if encoding == .float32 { return try m.withFloats(body) }
        if scratch.count < spec.count { scratch = [Float](repeating: 0, count: spec.count) }
        return try scratch.withUnsafeMutableBufferPointer { all in
            let values = UnsafeMutableBufferPointer(rebasing: all[0..<spec.count])
            m.payload.withUnsafeBytes { input in
                switch encoding {
                case .twoBit: TwoBitCodec.dequantize(input, threshold: compression.threshold, into: values)
                case .float16, .bfloat16: HalfPrecisionCodec.decode(input, bfloat16: encoding == .bfloat16, into: values)
                case .float32: break  // handled above
                }
            }
            return try body(UnsafeBufferPointer(values))
        }
    }
}
