/// A small seeded random generator (SplitMix64) so augmentation and shuffling are reproducible
/// for a given seed on any machine and with any number of threads.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator from a seed.
    public init(seed: UInt64) { state = seed }

    /// Creates a generator from several values mixed together (e.g. seed, epoch, sample index).
    public init(mixing values: UInt64...) {
        var s: UInt64 = 0x9e37_79b9_7f4a_7c15
        for v in values { var g = SeededGenerator(seed: s ^ v); s = g.next() }
        state = s
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A uniform Float in [a, b].
    public mutating func uniform(_ a: Float, _ b: Float) -> Float {
        a + (b - a) * Float(next() >> 40) / Float(1 << 24)
    }

    /// True with probability `p`.
    public mutating func chance(_ p: Float) -> Bool { uniform(0, 1) < p }
}
