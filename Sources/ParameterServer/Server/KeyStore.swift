import Optimizers

/// The weights, optimizer state and sync-round bookkeeping of one slice on one server.
struct StoredSlice {
    let spec: SliceSpec
    /// Current weights (nil until worker 0's initial value arrives).
    var weights: [Float]?
    var state: OptimizerState
    /// Updates applied so far: the round a sync push must carry next.
    var round: UInt64 = 0
    /// Sum of this round's pushes and which worker ranks contributed (sync mode).
    var accumulator: [Float]
    var pushedRanks: Set<Int32> = []
    /// When the first push of the current round arrived (for the round timeout).
    var roundStarted: Double?
    /// Requests answered once the current round is applied: push/pushPull/pull waiters.
    var waiters: [Waiter] = []

    init(spec: SliceSpec, optimizer: Optimizer) {
        self.spec = spec
        self.state = optimizer.makeState(count: spec.optimized ? spec.count : 0)
        self.accumulator = [Float](repeating: 0, count: spec.count)
    }
}

/// A request waiting for a round to complete.
struct Waiter {
    var peer: PeerID
    var command: Command
    var sender: Int32
    /// The round whose result the waiter needs (answered when `round > needsRound`).
    var needsRound: UInt64
}

/// A transport-level identity of a connected peer (ZeroMQ ROUTER identity bytes).
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    /// A peer identity from raw bytes.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// A peer identity from a string (tests and in-process transports).
    public init(_ name: String) { self.bytes = Array(name.utf8) }

    public var description: String {
        if let s = String(bytes: bytes, encoding: .utf8), s.allSatisfy({ $0.isASCII && !$0.isNewline }) { return s }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }
}

import Foundation
