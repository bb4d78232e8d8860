/// A small, fast, seedable generator (SplitMix64): initialisation, shuffling, augmentation and
/// tests are reproducible for a given seed on any machine and with any number of threads.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator whose sequence is fully determined by `seed`.
    public init(seed: UInt64) { state = seed }

    /// Creates a generator from several values mixed together (e.g. seed, epoch, sample index).
    public init(mixing values: UInt64...) {
        var s: UInt64 = 0x9E37_79B9_7F4A_7C15
        for v in values { var g = SeededGenerator(seed: s ^ v); s = g.next() }
        state = s
    }

    /// True with probability `p`.
    public mutating func chance(_ p: Float) -> Bool { uniform(0, 1) < p }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Float in [low, high).
    public mutating func uniform(_ low: Float, _ high: Float) -> Float {
        let u = Float(next() >> 40) / Float(1 << 24)
        return low + (high - low) * u
    }
}

extension Tensor {
    /// A tensor with elements uniform in [low, high), reproducible from `generator`.
    public static func uniform(
        _ shape: [Int], low: Float = -1, high: Float = 1, using generator: inout SeededGenerator
    ) -> Tensor {
        var t = Tensor(zeros: shape)
        for i in t.storage.indices { t.storage[i] = generator.uniform(low, high) }
        return t
    }
}
