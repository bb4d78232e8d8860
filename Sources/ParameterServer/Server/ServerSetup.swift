import Optimizers

/// How a server applies pushes (MXNet `kv_store`).
public enum SyncMode: String, Codable, Sendable {
    /// One update per round from the sum of every worker's push.
    case sync = "dist_sync"
    /// Every push is applied as it arrives.
    case async = "dist_async"
}

/// One slice of a key that a server holds.
public struct SliceSpec: Codable, Equatable, Sendable {
    public var key: UInt32
    public var slice: UInt16
    public var sliceCount: UInt16
    /// Number of Float32 values in this slice.
    public var count: Int
    /// Per-parameter learning-rate and weight-decay multipliers.
    public var multipliers: ParameterMultipliers
    /// False for a key that is only summed and returned (no optimizer), e.g. the per-step
    /// loss-normalisation counts that workers exchange.
    public var optimized: Bool

    /// A slice description.
    public init(key: UInt32, slice: UInt16, sliceCount: UInt16, count: Int,
                multipliers: ParameterMultipliers = .one, optimized: Bool = true) {
        self.key = key; self.slice = slice; self.sliceCount = sliceCount; self.count = count
        self.multipliers = multipliers; self.optimized = optimized
    }
}

/// What worker 0 sends every server before training (MXNet's `kv.set_optimizer` plus the
/// key layout the server validates pushes against).
public struct ServerSetup: Codable, Equatable, Sendable {
    public var mode: SyncMode
    public var numWorkers: Int
    public var optimizer: OptimizerConfig
    public var slices: [SliceSpec]
    /// The gradient compression every worker registered with (`GradientCompression`): the
    /// encoding of the pushes of optimized slices.
    public var compression: GradientCompression

    /// The largest payload a worker may send after this setup: the largest slice's floats (times
    /// the optimizer's state slots, which a resumed job's `restoreState` carries), or 64 KiB for
    /// control messages (heartbeats, a repeated configure is refused by then).
    public var largestPayloadBytes: Int {
        max(1 << 16, (slices.map(\.count).max() ?? 0) * max(1, optimizer.stateSlots) * MemoryLayout<Float>.stride)
    }

    /// A setup.
    public init(mode: SyncMode, numWorkers: Int, optimizer: OptimizerConfig, slices: [SliceSpec], compression: GradientCompression = .none) {
        self.mode = mode; self.numWorkers = numWorkers; self.optimizer = optimizer; self.slices = slices; self.compression = compression
    }
}

/// A (key, slice) pair identifying what a server stores.
public struct SliceID: Hashable, Sendable, CustomStringConvertible {
    public var key: UInt32
    public var slice: UInt16

    /// The slice `slice` of `key`.
    public init(key: UInt32, slice: UInt16) { self.key = key; self.slice = slice }

    public var description: String { "key \(key) slice \(slice)" }
}
