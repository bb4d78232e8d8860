import Optimizers

/// dist_async: every push is applied to the slice the moment it arrives — no rounds, no waiting
/// for other workers — and answered at once (a pushPull with the weights after this update).
struct AsyncApplier {
    let optimizer: Optimizer
    /// Where update and reply-copy times go (nil: not measured).
    var profile: RoundProfile?

    /// Applies `gradient` to `slice` and returns the answer to `request`; throws (leaving the
    /// weights unchanged) when the optimizer refuses the update.
    func push(_ gradient: UnsafeBufferPointer<Float>, request: MessageHeader, from peer: PeerID, to slice: StoredSlice,
              sender: Int32) throws(OptimizerError) -> Outgoing {
        try profile.measure(.update) { () throws(OptimizerError) in try slice.apply(gradient: gradient, optimizer: optimizer) }
        return profile.measure(.replyCopy) { slice.answer(Waiter(peer: peer, request: request, needsRound: slice.round - 1), sender: sender) }
    }
}
