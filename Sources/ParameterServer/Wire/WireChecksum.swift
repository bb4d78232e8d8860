/// A fast 32-bit checksum of a header prefix and a payload: a multiply-xor fold over the
/// payload's 64-bit words (several GB/s, so a 100 MB gradient push costs milliseconds), then
/// FNV-1a over the header bytes folded with that payload hash. The two halves are separate so a
/// payload sent to several peers under different headers (a sync round's replies, each with its
/// own request id) is hashed once. It detects corruption and truncation in transit; it is not a
/// MAC — authentication is CURVE's job.
public enum WireChecksum {
    /// Checksum of `header` (bytes 0..<36 of the encoded header) followed by `payload`.
    public static func compute(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) -> UInt32 {
        combine(header: header, payloadHash: payloadHash(payload))
    }

    /// The 64-bit hash of a payload, to be combined with each header it is sent under.
    public static func payloadHash(_ payload: UnsafeRawBufferPointer) -> UInt64 {
        hash(payload, copyingTo: nil, scanning: false).hash
    }

    /// The `payloadHash` of Float32 values and whether any of them is NaN or ±Inf, in one pass
    /// (a received gradient is read once for both).
    public static func hashAndScan(floats payload: UnsafeRawBufferPointer) -> (hash: UInt64, hasNonFinite: Bool) {
        hash(payload, copyingTo: nil, scanning: true)
    }

    /// Copies `source` to `destination` (which must hold `source.count` bytes) and returns its
    /// `payloadHash`, in one pass: each word is hashed while it is in a register anyway.
    public static func copyAndHash(_ source: UnsafeRawBufferPointer, to destination: UnsafeMutableRawPointer) -> UInt64 {
        hash(source, copyingTo: destination, scanning: false).hash
    }

    /// Float32 values `source` copied to `destination` (or, with `adding`, `adding[i] + source[i]`
    /// written there), hashed and scanned for NaN/±Inf, in one pass over `source`: a received
    /// push is read once to be checked and summed. `source.count` must be a multiple of 4;
    /// `destination` and `adding` hold as many bytes (they may be the same memory).
    public static func hashScanAndSum(floats source: UnsafeRawBufferPointer, adding: UnsafeRawPointer?,
                                      into destination: UnsafeMutableRawPointer) -> (hash: UInt64, hasNonFinite: Bool) {
        precondition(source.count % 4 == 0, "hashScanAndSum takes whole Float32 values")
        if let adding { return hash(source, copyingTo: destination, adding: adding, scanning: true) }
        return hash(source, copyingTo: destination, scanning: true)
    }

    /// Exponent bits of the two Float32 values in a little-endian 64-bit word.
    private static let exponents: UInt64 = 0x7F80_0000_7F80_0000

    /// Bit 31 or 63 set when the lower or upper Float32 of `word` is NaN or ±Inf (exponent all
    /// ones): `t` has a zero half exactly there, and a zero half minus one sets its top bit
    /// (no other half can: each is at most 0x7F800000 and a borrow takes at most 2 from it).
    @inline(__always)
    private static func nonFiniteBits(_ word: UInt64) -> UInt64 {
        let t = (word & exponents) ^ exponents
        return (t &- 0x0000_0001_0000_0001) & 0x8000_0000_8000_0000
    }

    @inline(__always)
    private static func hash(_ payload: UnsafeRawBufferPointer, copyingTo destination: UnsafeMutableRawPointer?,
                             adding: UnsafeRawPointer? = nil, scanning: Bool) -> (hash: UInt64, hasNonFinite: Bool) {
        var lanes = Lanes()
        let flags = lanes.absorb(payload, copyingTo: destination, adding: adding, scanning: scanning)
        let tail = payload.count - payload.count % 8
        return (lanes.finish(tail: UnsafeRawBufferPointer(rebasing: payload[tail...]), count: payload.count), flags != 0)
    }

    /// The running state of `payloadHash`: four multiply-xor lanes over 32-byte blocks.
    struct Lanes {
        var l0: UInt64 = 0xCBF2_9CE4_8422_2325, l1: UInt64 = 0x9E37_79B9_7F4A_7C15
        var l2: UInt64 = 0xC2B2_AE3D_27D4_EB4F, l3: UInt64 = 0x1656_67B1_9E37_79F9

        /// Hashes `payload`'s 64-bit words (a piece that is not the payload's last must be whole
        /// 32-byte blocks) and copies it to `destination` — or writes `adding + payload` there, as
        /// Float32 values — and returns the NaN/±Inf flags when `scanning` (non-zero: one found).
        /// The trailing bytes after the last whole word are copied (or summed, as a Float32) and
        /// scanned here; `finish` hashes them.
        @inline(__always)
        mutating func absorb(_ payload: UnsafeRawBufferPointer, copyingTo destination: UnsafeMutableRawPointer?,
                             adding: UnsafeRawPointer?, scanning: Bool) -> UInt64 {
            // Four independent multiply-xor lanes over 32-byte blocks keep the multiplier busy
            // (one lane is latency-bound at a quarter of the speed).
            let words = payload.count / 8
            var l0 = self.l0, l1 = self.l1, l2 = self.l2, l3 = self.l3
            defer { self.l0 = l0; self.l1 = l1; self.l2 = l2; self.l3 = l3 }
            var i = 0
            var flags: UInt64 = 0
            guard let base = payload.baseAddress else { return 0 }
            while i + 4 <= words {
                let p = base + i * 8
                let w0 = p.loadUnaligned(as: UInt64.self), w1 = (p + 8).loadUnaligned(as: UInt64.self)
                let w2 = (p + 16).loadUnaligned(as: UInt64.self), w3 = (p + 24).loadUnaligned(as: UInt64.self)
                if let d = destination?.advanced(by: i * 8) {
                    if let a = adding?.advanced(by: i * 8) {
                        // The same 32 bytes as eight floats (re-read from L1), plus the running sum.
                        let sum = a.loadUnaligned(as: SIMD8<Float>.self) + p.loadUnaligned(as: SIMD8<Float>.self)
                        d.storeBytes(of: sum, as: SIMD8<Float>.self)
                    } else {
                        d.storeBytes(of: w0, as: UInt64.self); (d + 8).storeBytes(of: w1, as: UInt64.self)
                        (d + 16).storeBytes(of: w2, as: UInt64.self); (d + 24).storeBytes(of: w3, as: UInt64.self)
                    }
                }
                if scanning {
                    flags |= WireChecksum.nonFiniteBits(w0) | WireChecksum.nonFiniteBits(w1)
                        | WireChecksum.nonFiniteBits(w2) | WireChecksum.nonFiniteBits(w3)
                }
                l0 = (l0 ^ w0) &* 0xFF51_AFD7_ED55_8CCD
                l1 = (l1 ^ w1) &* 0xC4CE_B9FE_1A85_EC53
                l2 = (l2 ^ w2) &* 0xFF51_AFD7_ED55_8CCD
                l3 = (l3 ^ w3) &* 0xC4CE_B9FE_1A85_EC53
                i += 4
            }
            while i < words {
                let w = (base + i * 8).loadUnaligned(as: UInt64.self)
                if let d = destination?.advanced(by: i * 8) {
                    if let a = adding?.advanced(by: i * 8) {
                        d.storeBytes(of: a.loadUnaligned(as: SIMD2<Float>.self) + (base + i * 8).loadUnaligned(as: SIMD2<Float>.self),
                                     as: SIMD2<Float>.self)
                    } else {
                        d.storeBytes(of: w, as: UInt64.self)
                    }
                }
                if scanning { flags |= WireChecksum.nonFiniteBits(w) }
                l0 = (l0 ^ w) &* 0xFF51_AFD7_ED55_8CCD
                i += 1
            }
            if adding == nil, let d = destination {
                for j in (words * 8)..<payload.count { d.storeBytes(of: payload[j], toByteOffset: j, as: UInt8.self) }
            }
            if let sum = adding, let d = destination, payload.count - words * 8 >= 4 {
                // The last Float32 of an odd count (whole floats only here).
                let last = words * 8
                d.storeBytes(of: sum.loadUnaligned(fromByteOffset: last, as: Float.self) + payload.loadUnaligned(fromByteOffset: last, as: Float.self),
                             toByteOffset: last, as: Float.self)
            }
            if scanning, payload.count - words * 8 >= 4 {
                // The last Float32 of an odd count, in the low half of a word.
                flags |= WireChecksum.nonFiniteBits(UInt64(payload.loadUnaligned(fromByteOffset: words * 8, as: UInt32.self)))
            }
            return flags
        }

        /// The hash of a payload of `count` bytes whose words were absorbed, `tail` its last
        /// `count % 8` bytes.
        @inline(__always)
        func finish(tail: UnsafeRawBufferPointer, count: Int) -> UInt64 {
            let a = l0 ^ (l2 &* 0x9E37_79B9_7F4A_7C15)
            var b = l1 ^ (l3 &* 0xC2B2_AE3D_27D4_EB4F)
            for byte in tail { b = (b ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            return a ^ (b &* 31) ^ UInt64(count)
        }
    }

    /// `payloadHash` of a payload hashed piece by piece, in order (every piece but the last a
    /// multiple of `blockBytes` long): a pass that produces a payload in chunks — the server's
    /// optimizer update of the weights its reply sends — hashes each chunk while it is in cache.
    public struct PieceHasher {
        /// Pieces before the last must be whole multiples of this many bytes.
        public static let blockBytes = 32
        private var lanes = Lanes()
        private var count = 0
        /// The last piece's bytes after its last whole word (at most 7).
        private var tail: UInt64 = 0, tailCount = 0

        public init() {}

        /// Hashes the next `piece`.
        public mutating func hash(_ piece: UnsafeRawBufferPointer) {
            precondition(count % Self.blockBytes == 0, "only the last piece may end inside a 32-byte block")
            _ = lanes.absorb(piece, copyingTo: nil, adding: nil, scanning: false)
            count += piece.count
            let n = piece.count % 8
            var last: UInt64 = 0
            withUnsafeMutableBytes(of: &last) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: piece[(piece.count - n)...])) }
            tail = last; tailCount = n
        }

        /// The `payloadHash` of every piece so far, as one payload.
        public func finish() -> UInt64 {
            withUnsafeBytes(of: tail) { lanes.finish(tail: UnsafeRawBufferPointer(rebasing: $0[0..<tailCount]), count: count) }
        }
    }

    /// The checksum of `header` (bytes 0..<36) with a payload whose hash is `payloadHash`.
    public static func combine(header: UnsafeRawBufferPointer, payloadHash: UInt64) -> UInt32 {
        combine(headerHash: headerHash(header), payloadHash: payloadHash)
    }

    /// The header's half of the checksum (FNV-1a over bytes 0..<36), kept by a receiver that
    /// hashes the payload later (`Message.PendingChecksum`).
    public static func headerHash(_ header: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in header { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// The checksum from a `headerHash` and a `payloadHash`.
    public static func combine(headerHash h: UInt64, payloadHash: UInt64) -> UInt32 {
        var x = h ^ (payloadHash &* 0xFF51_AFD7_ED55_8CCD)
        x ^= x >> 33; x = x &* 0xFF51_AFD7_ED55_8CCD; x ^= x >> 33
        return UInt32(truncatingIfNeeded: x ^ (x >> 32))
    }
}
