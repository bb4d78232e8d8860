/// float32 ↔ IEEE binary16 (fp16) and ↔ bfloat16, rounding to nearest with ties to even, by
/// integer arithmetic on the bit patterns (no per-value library call, so the loops stay fast
/// without F16C). Buffer kernels take an optional residual for error feedback: with one, the
/// value encoded is gradient + residual and the residual keeps what rounding lost.
///
/// Legend: `a` the magnitude bits of a binary32 (sign cleared), `h` a 16-bit pattern.
public enum HalfPrecisionCodec {
    // MARK: - Scalars

    /// The fp16 bits nearest to `x` (ties to even); ±Inf beyond 65520, NaN stays NaN (quiet).
    @inline(__always)
    public static func float16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let a = bits & 0x7FFF_FFFF
        let h: UInt32
        if a >= 0x4780_0000 {  // |x| ≥ 65536, Inf or NaN
            h = a > 0x7F80_0000 ? 0x7E00 : 0x7C00
        } else if a < 0x3880_0000 {  // |x| < 2^-14: an fp16 subnormal or zero
            // Adding 0.5 (whose ulp is 2^-24, fp16's subnormal step) makes the float adder round
            // at exactly the right bit; what remains above 0.5 counts 2^-24 steps.
            h = (Float(bitPattern: a) + 0.5).bitPattern &- 0x3F00_0000
        } else {
            // Rebias the exponent (127 → 15) and round the 13 dropped bits to nearest even; a
            // carry out of the mantissa bumps the exponent (65520 … 65535 become Inf).
            let odd = (a >> 13) & 1
            h = (a &+ 0xC800_0FFF &+ odd) >> 13
        }
        return UInt16(truncatingIfNeeded: h) | sign
    }

    /// The value of fp16 bits `h` (exact).
    @inline(__always)
    public static func float(float16Bits h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let a = UInt32(h & 0x7FFF) << 13
        let exponent = a & 0x0F80_0000
        var out: UInt32
        if exponent == 0x0F80_0000 {  // Inf or NaN
            out = a &+ 0x7000_0000
        } else if exponent == 0 {  // zero or subnormal: m · 2^-24, computed as (2^-14 + m · 2^-24) − 2^-14
            out = (Float(bitPattern: a &+ 0x3880_0000) - Float(bitPattern: 0x3880_0000)).bitPattern
        } else {
            out = a &+ 0x3800_0000
        }
        out |= sign
        return Float(bitPattern: out)
    }

    /// The bfloat16 bits nearest to `x` (ties to even); NaN stays NaN (quiet), a finite value
    /// above bfloat16's largest rounds to Inf.
    @inline(__always)
    public static func bfloat16Bits(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if bits & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// The value of bfloat16 bits `h` (exact).
    @inline(__always)
    public static func float(bfloat16Bits h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    // MARK: - Buffers

    /// Encodes `values` as fp16 (`bfloat16: false`) or bfloat16 into `output` (2 bytes per
    /// value, little-endian). With `residual` (same count): encodes values + residual and leaves
    /// in it what rounding lost. Returns the index of the first value that became ±Inf or NaN
    /// (out of range), or nil.
    public static func encode(_ values: UnsafeBufferPointer<Float>, residual: UnsafeMutableBufferPointer<Float>?,
                              bfloat16: Bool, into output: UnsafeMutableRawBufferPointer) -> Int? {
        precondition(output.count >= values.count * 2, "output holds 2 bytes per value")
        precondition(residual == nil || residual!.count == values.count, "one residual per value")
        let n = values.count
        guard n > 0, let out = output.baseAddress else { return nil }
        var firstBad = -1
        // Exponent bits all ones: ±Inf or NaN in either format.
        let allOnes: UInt16 = bfloat16 ? 0x7F80 : 0x7C00
        func code(_ x: Float) -> UInt16 { bfloat16 ? bfloat16Bits(x) : float16Bits(x) }
        func value(_ h: UInt16) -> Float { bfloat16 ? float(bfloat16Bits: h) : float(float16Bits: h) }
        if let r = residual {
            for i in 0..<n {
                let x = r[i] + values[i]
                let h = code(x)
                r[i] = x - value(h)
                if h & allOnes == allOnes, firstBad < 0 { firstBad = i }
                out.storeBytes(of: h.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
        } else {
            for i in 0..<n {
                let h = code(values[i])
                if h & allOnes == allOnes, firstBad < 0 { firstBad = i }
                out.storeBytes(of: h.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
        }
        return firstBad < 0 ? nil : firstBad
    }

    /// Decodes 2-byte fp16 or bfloat16 values from `input` into `values` (exact).
    public static func decode(_ input: UnsafeRawBufferPointer, bfloat16: Bool, into values: UnsafeMutableBufferPointer<Float>) {
        precondition(input.count == values.count * 2, "input holds 2 bytes per value")
        for i in 0..<values.count {
            let h = UInt16(littleEndian: input.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            values[i] = bfloat16 ? float(bfloat16Bits: h) : float(float16Bits: h)
        }
    }
}
