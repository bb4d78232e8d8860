import Optimizers

/// dist_async: every push is applied to the slice the moment it arrives — no rounds, no waiting
/// for other workers — and answered at once (a pushPull with the weights after this update).
struct AsyncApplier {
    let optimizer: Optimizer
    /// Where update times go (nil: not measured).
    var profile: RoundProfile?

    /// Applies `gradient` to `slice` and returns the answer to `request`; throws (leaving the
    /// weights unchanged) when the optimizer refuses the update.
    func push(_ gradient: UnsafeBufferPointer<Float>, request: MessageHeader, from peer: PeerID, to slice: StoredSlice,
              sender: Int32) throws(OptimizerError) -> Outgoing {
        // A pushPull's reply weights are written in the update's pass (a push gets an empty reply).
        let weights = try profile.measure(.update) { () throws(OptimizerError) -> Payload? in
            guard request.command == .push else { return try slice.applyAndShareWeights(gradient: gradient, optimizer: optimizer) }
            try slice.apply(gradient: gradient, optimizer: optimizer)
            return nil
        }
        return slice.answer(Waiter(peer: peer, request: request, needsRound: slice.round - 1), sender: sender, weights: weights)
    }
}
