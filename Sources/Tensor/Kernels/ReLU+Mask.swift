// What ReLU's backward reads of its output, kept in 1/32 of the output's memory.

extension ReLU {
    /// One bit per element of a ReLU's output: set where the output was positive. It is all
    /// `backwardInPlace` reads of the output, so a layer whose output nothing else reads in
    /// backward (a convolution followed only by max pooling) keeps this instead of the output.
    public struct Mask: Sendable {
        /// Bit `i % 64` of word `i / 64` is element `i`'s.
        fileprivate var words: [UInt64]
        /// Number of elements.
        public let count: Int

        /// The mask of `output` (a ReLU's output).
        public init(output: UnsafeBufferPointer<Float>, threading: Threading = .serial) {
            count = output.count
            let wordCount = (output.count + 63) / 64
            words = [UInt64](unsafeUninitializedCapacity: wordCount) { buffer, initialized in
                let x = output.baseAddress, n = output.count, w = buffer.baseAddress!
                threading.forEachChunk(wordCount, minimumPerChunk: 1 << 12) { range in
                    let lanes = Mask.laneBits
                    for k in range {
                        guard 64 * k + 64 <= n else {
                            var bits: UInt64 = 0
                            for b in 0..<(n - 64 * k) where x![64 * k + b] > 0 { bits |= 1 << UInt64(b) }
                            w[k] = bits
                            continue
                        }
                        // Eight lanes at a time: each positive lane sets its bit of the byte.
                        let raw = UnsafeRawPointer(x! + 64 * k)
                        var bits: UInt64 = 0
                        for byte in 0..<8 {
                            let v = raw.loadUnaligned(fromByteOffset: 32 * byte, as: SIMD8<Float>.self)
                            let set = SIMD8<UInt32>().replacing(with: lanes, where: v .> 0)
                            bits |= UInt64(set.wrappedSum()) << UInt64(8 * byte)
                        }
                        w[k] = bits
                    }
                }
                initialized = wordCount
            }
        }

        /// Lane i's bit of a byte: 1 << i.
        fileprivate static let laneBits = SIMD8<UInt32>(1, 2, 4, 8, 16, 32, 64, 128)

        /// Entry b: lane i all ones where bit i of the nibble b is set, else zero.
        fileprivate static let nibbleMasks: [SIMD4<UInt32>] = (0..<16).map { b in
            SIMD4<UInt32>((0..<4).map { b >> $0 & 1 == 1 ? UInt32.max : 0 })
        }

        /// Bytes the mask holds.
        public var byteCount: Int { words.count * 8 }

        /// Whether element `i` of the output was positive.
        public subscript(i: Int) -> Bool { words[i / 64] & (1 << UInt64(i % 64)) != 0 }
    }

    /// `backwardInPlace` from the output's mask: `gradient = 0` where the forward output was not
    /// positive (bit for bit what the output itself gives).
    public static func backwardInPlace(mask: Mask, gradient: UnsafeMutableBufferPointer<Float>,
                                       threading: Threading = .serial) throws(TensorError) {
        guard mask.count == gradient.count else {
            throw .shapeMismatch(kernel: "ReLU.backwardInPlace", argument: "gradient", expected: [mask.count], actual: [gradient.count])
        }
        let g = gradient.baseAddress, n = gradient.count
        Mask.nibbleMasks.withUnsafeBufferPointer { table in mask.words.withUnsafeBufferPointer { words in
            threading.forEachChunk(words.count, minimumPerChunk: 1 << 12) { range in
                for k in range {
                    let bits = words[k]
                    guard 64 * k + 64 <= n else {
                        for b in 0..<(n - 64 * k) where bits & (1 << UInt64(b)) == 0 { g![64 * k + b] = 0 }
                        continue
                    }
                    if bits == .max { continue }
                    // Four lanes per nibble, without a branch: each value's bits AND all-ones where
                    // its bit is set, else zero (+0, as the scalar path writes).
                    let raw = UnsafeMutableRawPointer(g! + 64 * k)
                    for q in 0..<16 {
                        let keep = table[Int(truncatingIfNeeded: bits >> UInt64(4 * q)) & 15]
                        let v = raw.loadUnaligned(fromByteOffset: 16 * q, as: SIMD4<UInt32>.self)
                        raw.storeBytes(of: v & keep, toByteOffset: 16 * q, as: SIMD4<UInt32>.self)
                    }
                }
            }
        } }
    }
}
