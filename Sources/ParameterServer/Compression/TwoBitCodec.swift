/// MXNet 1.9.1's 2bit gradient compression (`quantize_2bit` / `dequantize_2bit` in
/// src/kvstore/gradient_compression-inl.h), bit for bit: with error feedback, each value is
/// added to its residual; a sum ≥ threshold is sent as +threshold (bits 11) and threshold is
/// taken from the residual, a sum ≤ −threshold as −threshold (bits 10) and threshold is added
/// back, anything between as 0 (bits 00) and stays in the residual. So a value below the
/// threshold is sent once the residual has accumulated past it, and a large one is sent as
/// ±threshold per push, its excess following in later pushes.
///
/// Layout: 16 values per 32-bit word, stored little-endian; value i is in byte (i mod 16) / 4
/// of word i / 16, the first value of a byte in its two highest bits (MXNet's masks 0xc0,
/// 0x30, 0x0c, 0x03). Padding after the last value is 00. Bits 01, which are never written,
/// decode to 0 as in MXNet.
public enum TwoBitCodec {
    /// Bytes for `count` values.
    public static func byteCount(values count: Int) -> Int { PayloadEncoding.twoBit.byteCount(values: count) }

    /// Quantizes `values` + `residual` into `output` (`byteCount(values:)` bytes) and updates
    /// `residual` (residual += value, then −= the quantized value) — MXNet's order of operations.
    public static func quantize(_ values: UnsafeBufferPointer<Float>, residual: UnsafeMutableBufferPointer<Float>, threshold: Float,
                                into output: UnsafeMutableRawBufferPointer) {
        precondition(residual.count == values.count, "one residual per value")
        precondition(output.count >= byteCount(values: values.count), "output too small for the 2bit words")
        let n = values.count
        guard n > 0, let out = output.baseAddress else { return }
        let negative = -threshold
        for w in 0..<(n + 15) / 16 {
            var word: UInt32 = 0
            let start = w * 16
            for i in start..<min(start + 16, n) {
                let shift = UInt32(8 * ((i & 15) >> 2) + 6 - 2 * (i & 3))
                let r = residual[i] + values[i]
                if r >= threshold {
                    word |= 3 << shift
                    residual[i] = r - threshold
                } else if r <= negative {
                    word |= 2 << shift
                    residual[i] = r - negative
                } else {
                    residual[i] = r
                }
            }
            out.storeBytes(of: word.littleEndian, toByteOffset: 4 * w, as: UInt32.self)
        }
    }

    /// Dequantizes `values.count` values from `input` (+threshold, −threshold or 0 each).
    public static func dequantize(_ input: UnsafeRawBufferPointer, threshold: Float, into values: UnsafeMutableBufferPointer<Float>) {
        precondition(input.count == byteCount(values: values.count), "input is not the 2bit words of these values")
        let n = values.count
        for w in 0..<(n + 15) / 16 {
            let word = UInt32(littleEndian: input.loadUnaligned(fromByteOffset: 4 * w, as: UInt32.self))
            let start = w * 16
            for i in start..<min(start + 16, n) {
                let code = (word >> UInt32(8 * ((i & 15) >> 2) + 6 - 2 * (i & 3))) & 3
                values[i] = code == 3 ? threshold : code == 2 ? -threshold : 0
            }
        }
    }
}
