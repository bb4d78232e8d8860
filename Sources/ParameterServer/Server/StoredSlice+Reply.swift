import Optimizers

/// The weights a slice's replies send, without copying them: a reply adopts the slice's weights
/// array itself (`SharedWeights` keeps that array alive and unchanged while ZeroMQ sends it), and
/// with SGD momentum the update hashes the new weights in its own pass — one pass over the
/// weights per round instead of an update pass and a copy-and-hash pass.
///
/// Nothing a reply holds ever changes: the weights array is copy-on-write, so an update while a
/// reply still holds it writes a new array — out of place, in the same pass (the update reads
/// the held weights and writes the new ones elsewhere) — and in place once every reply of the
/// array has left (a worker pushes a key again only after its reply arrived).
final class SharedWeights {
    let values: [Float]
    init(_ values: [Float]) { self.values = values }
}

extension StoredSlice {
    /// Values per chunk of the fused pass: 8 KiB of each of the five streams the update touches,
    /// so a chunk's new weights are still in L1 when they are hashed. A multiple of
    /// `PieceHasher.blockBytes` / 4.
    static let fusedChunkValues = 2048

    /// Applies one round's gradient, like `apply`, and returns the new weights as a reply payload
    /// with its hash — the same weights, state and payload bits as `apply` followed by a copy of
    /// the weights. On an error the weights are unchanged and nothing is returned.
    func applyAndShareWeights(gradient: UnsafeBufferPointer<Float>, optimizer: Optimizer) throws(OptimizerError) -> Payload {
        let n = weights.count
        guard spec.optimized, gradient.count == n, n > 0, state.slots.count == 1, state.slots[0].count == n,
              let k = optimizer.sgdMomentumCoefficients(atUpdate: state.updateCount + 1, multipliers: spec.multipliers),
              let g = gradient.baseAddress else {
            try apply(gradient: gradient, optimizer: optimizer)
            return weightBytes
        }
        state.updateCount += 1
        var hasher = WireChecksum.PieceHasher()
        /// Updates `weights` into `output` (the same memory, or another array) chunk by chunk,
        /// hashing each chunk of new weights while it is in L1.
        func update(_ weights: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) {
            state.slots[0].withUnsafeMutableBufferPointer { m in
                var offset = 0
                while offset < n {
                    let count = min(Self.fusedChunkValues, n - offset)
                    SGDMomentumKernel.update(weights: weights + offset, gradient: g + offset, momentum: m.baseAddress! + offset,
                                             output: output + offset, count: count, k)
                    hasher.hash(UnsafeRawBufferPointer(start: output + offset, count: count * MemoryLayout<Float>.stride))
                    offset += count
                }
            }
        }
        if releaseSharedWeights() {
            weights.withUnsafeMutableBufferPointer { w in update(w.baseAddress!, into: w.baseAddress!) }
        } else {
            let held = weights
            weights = [Float](unsafeUninitializedCapacity: n) { out, initialized in
                held.withUnsafeBufferPointer { update($0.baseAddress!, into: out.baseAddress!) }
                initialized = n
            }
        }
        round += 1
        return shareWeights(hash: hasher.finish())
    }

    /// The current weights as a payload that shares them (see `SharedWeights`), hashed with
    /// `hash` — their `WireChecksum.payloadHash`, computed now when not given.
    func shareWeights(hash: UInt64? = nil) -> Payload {
        let shared = SharedWeights(weights)
        sharedWeights = shared
        let h = hash ?? shared.values.withUnsafeBytes { WireChecksum.payloadHash($0) }
        return shared.values.withUnsafeBytes { Payload(adopting: $0, owner: shared, hash: h) }
    }

    /// Forgets the last shared weights; true when no reply holds them any more, so the weights
    /// can be updated in place without a copy.
    private func releaseSharedWeights() -> Bool {
        guard var shared = sharedWeights else { return true }
        sharedWeights = nil
        return isKnownUniquelyReferenced(&shared)
    }
}
