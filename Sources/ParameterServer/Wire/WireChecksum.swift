/// A fast 32-bit checksum of a header prefix and a payload: FNV-1a over the header bytes, then
/// a multiply-xor fold over the payload's 64-bit words (several GB/s, so a 100 MB gradient push
/// costs milliseconds). It detects corruption and truncation in transit; it is not a MAC —
/// authentication is CURVE's job.
public enum WireChecksum {
    /// Checksum of `header` (bytes 0..<32 of the encoded header) followed by `payload`.
    public static func compute(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in header { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        let words = payload.count / 8
        var a = h, b: UInt64 = 0x9E37_79B9_7F4A_7C15
        var i = 0
        while i + 1 < words {
            a = (a ^ payload.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
            b = (b ^ payload.loadUnaligned(fromByteOffset: (i + 1) * 8, as: UInt64.self)) &* 0xC4CE_B9FE_1A85_EC53
            i += 2
        }
        if i < words { a = (a ^ payload.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD }
        for j in (words * 8)..<payload.count { b = (b ^ UInt64(payload[j])) &* 0x0000_0100_0000_01B3 }
        var x = a ^ (b &* 31) ^ UInt64(payload.count)
        x ^= x >> 33; x = x &* 0xFF51_AFD7_ED55_8CCD; x ^= x >> 33
        return UInt32(truncatingIfNeeded: x ^ (x >> 32))
    }
}
