/// Checkpoint and resume of the servers' side of training: worker 0 fetches each slice's
/// weights, optimizer slots and update count for its checkpoint (`fetchState`), and gives the
/// slots and count back before the first push of a resumed job (`restoreState`); the weights
/// come back through `initialize`, as at any start. Worker 0 writes the file, so servers need
/// no disk and no filesystem shared with it.
///
/// A slice's weights, slots and count leave in one reply, produced by one `handle` call: in
/// dist_async, where other workers may push while worker 0 checkpoints, each slice is still
/// a consistent snapshot.
extension KVServer {
    /// Reply payload: the weights, then each optimizer slot (floats); reply `round`: the slice's
    /// optimizer update count (the learning-rate schedule and Adam's bias correction read it).
    func fetchState(_ m: Message, _ peer: PeerID) -> [Outgoing] {
        guard m.header.sender == 0 else { return [error(m, peer, "only worker 0 fetches the servers' state (for its checkpoint)")] }
        let slice: StoredSlice
        switch lookup(m, peer) {
        case .failure(let e): return [e]
        case .success(let found): slice = found
        }
        guard slice.isInitialized else { return [error(m, peer, "state of \(slice.id) asked for before its initial value")] }
        guard slice.spec.optimized else { return [error(m, peer, "\(slice.id) is summed only: it has no optimizer state")] }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(slice.spec.count * MemoryLayout<Float>.stride * (1 + slice.state.slots.count))
        slice.weights.withUnsafeBytes { bytes.append(contentsOf: $0) }
        for slot in slice.state.slots { slot.withUnsafeBytes { bytes.append(contentsOf: $0) } }
        let payload = Payload(bytes)
        var h = m.header.reply(sender: senderID)
        h.round = UInt64(slice.state.updateCount)
        return [Outgoing(peer: peer, message: Message(header: h, payload: payload))]
    }

    /// Request payload: each optimizer slot (floats) of the slice; request `round`: its update
    /// count. Accepted only from worker 0 and only before the first push, so no update ever
    /// runs on a half-restored state; a state of another optimizer or key layout (a slot count
    /// or slice size that differs) is refused, naming both.
    func restoreState(_ m: Message, _ peer: PeerID) -> [Outgoing] {
        guard m.header.sender == 0 else { return [error(m, peer, "only worker 0 restores the servers' state (from its checkpoint)")] }
        guard !trainingStarted else { return [error(m, peer, "restoreState after training started: the optimizer state is not replaced")] }
        let slice: StoredSlice
        switch lookup(m, peer) {
        case .failure(let e): return [e]
        case .success(let found): slice = found
        }
        guard slice.spec.optimized else { return [error(m, peer, "\(slice.id) is summed only: it has no optimizer state to restore")] }
        let slots = slice.state.slots.count, count = slice.spec.count
        guard m.payload.count == slots * count * MemoryLayout<Float>.stride else {
            return [error(m, peer, """
                state of \(slice.id) has \(m.payload.count / MemoryLayout<Float>.stride) values, but this server holds \(slots) \
                optimizer slot(s) of \(count) values for it: the state was saved for another optimizer or key layout
                """)]
        }
        guard let restoredCount = Int(exactly: m.header.round), restoredCount <= Int(Int32.max) else {
            return [error(m, peer, "state of \(slice.id) claims \(m.header.round) updates: not a count this server can hold")]
        }
        m.payload.withUnsafeBytes { raw in
            for k in 0..<slots {
                slice.state.slots[k].withUnsafeMutableBytes {
                    $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(k * count * 4)..<((k + 1) * count * 4)]))
                }
            }
        }
        updateCount += restoredCount - slice.state.updateCount
        slice.state.updateCount = restoredCount
        return [reply(to: m, peer)]
    }
}
