import Optimizers
@testable import ParameterServer
import Testing

/// The server's optimizer update fused with the hash of the weights its replies send
/// (`StoredSlice.applyAndShareWeights`) gives the same bits as the update followed by a copy;
/// replies share the weights without a copy and never change; the piece-by-piece hash it uses
/// equals the one-pass `payloadHash`.
@Suite("Update fused with the reply's hash; replies share the weights")
struct FusedUpdateReplyTests {
    @Test("hashing a payload piece by piece (32-byte multiples, then any tail) equals payloadHash")
    func pieceHasher() {
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        for total in [0, 1, 4, 7, 8, 31, 32, 33, 63, 64, 100, 257, 300] {
            for pieceBlocks in [1, 2, 3] {
                var hasher = WireChecksum.PieceHasher()
                bytes.withUnsafeBytes { all in
                    var offset = 0
                    repeat {
                        let n = min(pieceBlocks * WireChecksum.PieceHasher.blockBytes, total - offset)
                        hasher.hash(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)]))
                        offset += n
                    } while offset < total
                }
                let expected = bytes.withUnsafeBytes { WireChecksum.payloadHash(UnsafeRawBufferPointer(rebasing: $0[0..<total])) }
                #expect(hasher.finish() == expected, "\(total) bytes in pieces of \(pieceBlocks) blocks")
            }
        }
    }

    /// Two slices with the same weights; one updated by `apply` then copied, the other fused.
    func compare(count: Int, optimizer config: OptimizerConfig, multipliers: ParameterMultipliers = .one, optimized: Bool = true,
                 updates: Int = 4) throws {
        let optimizer = Optimizer(config)
        let spec = SliceSpec(key: 3, slice: 0, sliceCount: 1, count: count, multipliers: multipliers, optimized: optimized)
        let separate = StoredSlice(spec: spec, optimizer: optimizer), fused = StoredSlice(spec: spec, optimizer: optimizer)
        let start = (0..<count).map { Float($0 % 97) * 0.013 - 0.6 }
        separate.weights = start; fused.weights = start
        var held: Payload?
        for step in 0..<updates {
            let what = "\(count) values, \(config.kind) momentum \(config.momentum), update \(step + 1)"
            // Gradients of both signs, some past the clip bound.
            let gradient = (0..<count).map { i in Float((i * 7 + step * 13) % 211 - 105) * 0.05 }
            let reply = try gradient.withUnsafeBufferPointer { g in
                try separate.apply(gradient: g, optimizer: optimizer)
                return separate.weights.withUnsafeBufferPointer { Payload(floats: $0) }
            }
            // Every other step keeps the previous reply alive (in flight): the update then writes
            // a new array, and that reply still holds the weights it was made with; otherwise no
            // reply holds the weights and they are updated in place.
            let previous = step % 2 == 1 ? held : nil
            held = nil
            let previousBytes = previous.map { Array($0) }
            let fusedReply = try gradient.withUnsafeBufferPointer { try fused.applyAndShareWeights(gradient: $0, optimizer: optimizer) }
            if let previous, let previousBytes { #expect(Array(previous) == previousBytes, "a held reply changed: \(what)") }
            held = fusedReply
            #expect(fused.weights.map(\.bitPattern) == separate.weights.map(\.bitPattern), "weights: \(what)")
            #expect(fused.state.slots.map { $0.map(\.bitPattern) } == separate.state.slots.map { $0.map(\.bitPattern) }, "state: \(what)")
            #expect(fused.state.updateCount == separate.state.updateCount && fused.round == separate.round, "counts: \(what)")
            #expect(fusedReply == reply, "reply bytes: \(what)")
            // The hash remembered from the fused pass is the payload's own.
            #expect(fusedReply.hash == fusedReply.withUnsafeBytes { WireChecksum.payloadHash($0) }, "reply hash: \(what)")
            #expect(fusedReply.hash == reply.hash, "reply hash: \(what)")
        }
    }

    @Test("SGD with momentum: same weights, momentum, counts and reply bits, in place and out of place, for counts around the chunk size",
          arguments: [1, 7, 8, 2047, 2048, 2049, 5003])
    func sgdMomentum(count: Int) throws {
        try compare(count: count, optimizer: OptimizerConfig(kind: .sgd, learningRate: 0.01, momentum: 0.9, weightDecay: 0.0005,
                                                             rescaleGrad: 1.0 / 16))
    }

    @Test("SGD with momentum, clipping, a learning-rate schedule and per-parameter multipliers: the same bits")
    func sgdMomentumWithEverything() throws {
        var config = OptimizerConfig(kind: .sgd, learningRate: 0.05, momentum: 0.8, weightDecay: 0.001, rescaleGrad: 0.5)
        config.clipGradient = 1.5
        config.schedule = LearningRateSchedule(steps: [2], factor: 0.1)
        try compare(count: 4099, optimizer: config, multipliers: ParameterMultipliers(lrMult: 2, wdMult: 0.1), updates: 4)
    }

    @Test("other rules (Adam, SGD without momentum) and summed-only keys: update, then share the weights hashed — the same bits")
    func fallbacks() throws {
        try compare(count: 3001, optimizer: OptimizerConfig(kind: .adam, learningRate: 0.001))
        try compare(count: 3001, optimizer: OptimizerConfig(kind: .sgd, learningRate: 0.1, weightDecay: 0.01))
        try compare(count: 3001, optimizer: OptimizerConfig(kind: .sgd, learningRate: 0.1, momentum: 0.9), optimized: false)
    }

    @Test("a gradient of the wrong size is refused and changes nothing")
    func wrongSize() {
        let optimizer = Optimizer(OptimizerConfig(kind: .sgd, learningRate: 0.1, momentum: 0.9))
        let slice = StoredSlice(spec: SliceSpec(key: 1, slice: 0, sliceCount: 1, count: 10), optimizer: optimizer)
        slice.weights = (0..<10).map(Float.init)
        #expect(throws: OptimizerError.self) {
            try [Float](repeating: 1, count: 9).withUnsafeBufferPointer { try slice.applyAndShareWeights(gradient: $0, optimizer: optimizer) }
        }
        #expect(slice.weights == (0..<10).map(Float.init) && slice.round == 0 && slice.state.updateCount == 0)
    }
}
