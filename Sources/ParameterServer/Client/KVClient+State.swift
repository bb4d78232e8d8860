import Logging
import Optimizers

/// One key's state on the servers, its slices put back together in the key's order.
public struct KeyState: Equatable, Sendable {
    /// The servers' weights of the key.
    public var weights: [Float]
    /// The optimizer's slots and update count of the key.
    public var optimizer: OptimizerState

    public init(weights: [Float], optimizer: OptimizerState) { self.weights = weights; self.optimizer = optimizer }
}

/// Worker 0's side of checkpointing the servers (`fetchState`, `restoreState`): the state is
/// moved per key slice over the wire, so the servers need no disk and no filesystem shared
/// with worker 0, and what worker 0 writes is per key — independent of how many servers held
/// it and how the keys were sliced (a checkpoint resumes with another number of servers, or on
/// one machine).
extension KVClient {
    /// Every slice's weights, optimizer slots (`slots` per element, the optimizer's
    /// `stateSlots`) and update count, put back together per key. The slices of a key share one
    /// update count; should they differ (a push skipped by `PS_NON_FINITE_GRADIENTS=skip` on one
    /// server only), the largest is kept and a warning names the key.
    public func fetchState(keys: [Int], slots: Int) throws -> [Int: KeyState] {
        final class Assembly {
            var weights: [Float], slots: [[Float]], counts: [Int] = []
            init(count: Int, slots: Int) {
                weights = [Float](repeating: 0, count: count)
                self.slots = [[Float]](repeating: weights, count: slots)
            }
        }
        var assemblies: [Int: Assembly] = [:]
        var outstanding = 0
        for key in keys.sorted() {
            guard let parts = layout?.parts[key] else { throw KVClientError.undeclaredKey(key) }
            let assembly = Assembly(count: parts.reduce(0) { $0 + $1.count }, slots: slots)
            assemblies[key] = assembly
            for part in parts {
                if outstanding >= maxInFlight { try wait(); outstanding = 0 }
                let h = MessageHeader(command: .fetchState, key: UInt32(key), slice: part.slice, sliceCount: part.sliceCount, sender: Int32(rank))
                try request(Message(header: h), server: part.server) { [servers] reply in
                    let bytes = part.count * MemoryLayout<Float>.stride
                    guard reply.payload.count == (1 + slots) * bytes else {
                        throw ClusterError.unexpectedReply(server: part.server, endpoint: servers[part.server], reply: """
                            \(reply.description) for key \(key) slice \(part.slice): expected the weights and \(slots) optimizer \
                            slot(s) of \(part.count) values
                            """)
                    }
                    reply.payload.withUnsafeBytes { raw in
                        func copy(_ index: Int, into array: inout [Float]) {
                            array.withUnsafeMutableBytes { out in
                                UnsafeMutableRawBufferPointer(rebasing: out[(part.offset * 4)..<(part.offset * 4 + bytes)])
                                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(index * bytes)..<((index + 1) * bytes)]))
                            }
                        }
                        copy(0, into: &assembly.weights)
                        for k in 0..<slots { copy(1 + k, into: &assembly.slots[k]) }
                    }
                    assembly.counts.append(Int(clamping: reply.header.round))
                }
                outstanding += 1
            }
        }
        try wait()
        for (key, a) in assemblies.sorted(by: { $0.key < $1.key }) where Set(a.counts).count > 1 {
            logger.warning("the slices of key \(key) had different update counts \(a.counts); the checkpoint keeps \(a.counts.max() ?? 0)")
        }
        return assemblies.mapValues { a in
            var state = OptimizerState(slots: 0, count: 0)
            state.slots = a.slots
            state.updateCount = a.counts.max() ?? 0
            return KeyState(weights: a.weights, optimizer: state)
        }
    }

    /// Gives every server its slices' optimizer slots and update counts from `states` (per
    /// key, as `fetchState` returned them), before any push of a resumed job. Throws when a
    /// state does not fit the declared keys (an undeclared key, another element count); a server
    /// refuses one of another optimizer (another slot count), and the error names the slice.
    public func restoreState(_ states: [Int: OptimizerState]) throws {
        var outstanding = 0
        for (key, state) in states.sorted(by: { $0.key < $1.key }) {
            guard let parts = layout?.parts[key] else { throw KVClientError.undeclaredKey(key) }
            let total = parts.reduce(0) { $0 + $1.count }
            if let wrong = state.slots.first(where: { $0.count != total }) {
                throw KVClientError.bufferSize(key: key, count: wrong.count, expected: total)
            }
            for part in parts {
                if outstanding >= maxInFlight { try wait(); outstanding = 0 }
                var payload: [UInt8] = []
                payload.reserveCapacity(state.slots.count * part.count * MemoryLayout<Float>.stride)
                for slot in state.slots {
                    slot[part.offset..<(part.offset + part.count)].withUnsafeBytes { payload.append(contentsOf: $0) }
                }
                let h = MessageHeader(command: .restoreState, key: UInt32(key), slice: part.slice, sliceCount: part.sliceCount,
                                      sender: Int32(rank), round: UInt64(max(0, state.updateCount)))
                try request(Message(header: h, payload: payload), server: part.server)
                outstanding += 1
            }
        }
        try wait()
    }
}
