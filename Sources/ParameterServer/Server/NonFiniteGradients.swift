/// What a server does with a pushed gradient holding NaN or ±Inf (`PS_NON_FINITE_GRADIENTS`).
/// Either way the weights are never poisoned and every case is logged naming the sender.
public enum NonFiniteGradients: String, Codable, Sendable, CaseIterable {
    /// Refuse the push with an error reply (the worker fails and says why). The default.
    case reject
    /// Count the push as made but add nothing (sync) or apply nothing (async); counted in
    /// `KVServer.skippedNonFinite` and logged.
    case skip

    /// The index and value of the first NaN or ±Inf in `values`, if any.
    static func first(in values: UnsafeBufferPointer<Float>) -> (index: Int, value: Float)? {
        // Exponent bits all ones ⇔ NaN or Inf. A branch-free OR over chunks keeps the common,
        // all-finite case a fast linear scan; only a chunk with a hit is searched again.
        let hit: Int? = values.withMemoryRebound(to: UInt32.self) { bits in
            var start = 0
            while start < bits.count {
                let end = min(start + 4096, bits.count)
                var any: UInt32 = 0
                for j in start..<end { any |= (bits[j] & 0x7F80_0000) == 0x7F80_0000 ? 1 : 0 }
                if any != 0 { return (start..<end).first { (bits[$0] & 0x7F80_0000) == 0x7F80_0000 } }
                start = end
            }
            return nil
        }
        return hit.map { ($0, values[$0]) }
    }
}
