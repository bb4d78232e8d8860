import Optimizers

/// The weights, optimizer state and sync round of one slice on one server. A class, so the
/// server updates its arrays in place (no take-out and put-back of dictionary values).
final class StoredSlice {
    let spec: SliceSpec
    /// Current weights (meaningful once `isInitialized`).
    var weights: [Float]
    /// False until worker 0's (or, lacking it, the first) initial value arrives.
    var isInitialized = false
    var state: OptimizerState
    /// Updates applied so far: the round a sync push must carry next.
    var round: UInt64 = 0
    /// This round's pushes (dist_sync).
    var sync: SyncRound
    /// Pulls waiting for a round not yet applied (dist_sync).
    var pullWaiters: [Waiter] = []
    /// The weights the last reply payload shares (`StoredSlice+Reply.swift`).
    var sharedWeights: SharedWeights?

    init(spec: SliceSpec, optimizer: Optimizer) {
        self.spec = spec
        weights = [Float](repeating: 0, count: spec.count)
        state = optimizer.makeState(count: spec.optimized ? spec.count : 0)
        sync = SyncRound(count: spec.count)
    }

    var id: SliceID { SliceID(key: spec.key, slice: spec.slice) }

    /// Applies one round's gradient: an optimizer update for an optimized slice, or the sum
    /// itself for a summed-only key. Advances the round only when it succeeded; on an error
    /// the weights are unchanged (the optimizer checks sizes before writing).
    func apply(gradient: UnsafeBufferPointer<Float>, optimizer: Optimizer) throws(OptimizerError) {
        sharedWeights = nil  // in place (no copy-on-write) unless a reply still holds the weights
        if spec.optimized {
            try weights.withUnsafeMutableBufferPointer { (w) throws(OptimizerError) in
                try optimizer.update(weights: w, gradient: gradient, state: &state, multipliers: spec.multipliers)
            }
        } else {
            weights = Array(gradient)  // a summed-only key returns the round's sum
        }
        round += 1
    }

    /// The weights as a payload (hashed), shared by every reply of a round without a copy: the
    /// weights of the next round are written elsewhere while replies still hold these.
    var weightBytes: Payload { shareWeights() }
}

/// A request answered later: a sync push waiting for its round, or a pull for a future round.
struct Waiter {
    var peer: PeerID
    /// The request's header; the reply echoes its command and request id.
    var request: MessageHeader
    /// The round whose result the waiter needs (answered when `round > needsRound`).
    var needsRound: UInt64
}

extension StoredSlice {
    /// The reply to a waiter once its round is applied: an empty reply to a push, the weights
    /// for a pull or pushPull. Pass `weights` (from `weightBytes`) to share one payload between
    /// the replies of a round.
    func answer(_ waiter: Waiter, sender: Int32, weights: Payload? = nil) -> Outgoing {
        var h = waiter.request.reply(sender: sender)
        h.round = round
        let payload = waiter.request.command == .push ? [] : (weights ?? weightBytes)
        return Outgoing(peer: waiter.peer, message: Message(header: h, payload: payload))
    }
}
