import Foundation

/// Seconds spent in each phase of parameter-server rounds, summed over every thread that
/// reports to it (`ParameterServerBenchmarks --profile`). Off unless a profile is passed in;
/// thread-safe (one lock per measured call, a few hundred per round).
public final class RoundProfile: @unchecked Sendable {
    /// The phases a round's time is split into. Each is a leaf (they never nest).
    public enum Phase: String, CaseIterable, Sendable {
        /// A worker hashing its push in place (large float32 pushes are then sent from its gradient
        /// buffer; small or compressed ones are copied in the same pass) and handing its frames to
        /// ZeroMQ.
        case send
        /// Taking received frames from ZeroMQ (no copy: payloads are read in place).
        case receive
        /// A worker copying replied weights into its buffers, hashed in the same pass.
        case receiveCopy = "receive copy"
        /// Hashing received payloads that no other pass reads first (dist_async pushes, control
        /// messages) and headers.
        case checksum
        /// A server scanning a push for NaN/Inf.
        case finiteCheck = "non-finite check"
        /// A server's one pass over a dist_sync push: hash, NaN/±Inf scan and sum (the round's
        /// first push only hashed and scanned; it is kept, not copied).
        case sum
        /// A server's optimizer update of a slice, and the hash of its new weights for the
        /// replies, which send them without a copy — with SGD momentum in the same pass
        /// (`applyAndShareWeights`).
        case update = "update + reply hash"
        /// A server handing its replies to ZeroMQ (no copy).
        case reply
    }

    private let lock = NSLock()
    private var seconds = [Phase: Double]()
    private var calls = [Phase: Int]()

    public init() {}

    /// Runs `body`, adding its duration to `phase`.
    public func measure<R, E: Error>(_ phase: Phase, _ body: () throws(E) -> R) throws(E) -> R {
        let start = MonotonicClock.now()
        defer {
            let elapsed = MonotonicClock.now() - start
            lock.lock(); seconds[phase, default: 0] += elapsed; calls[phase, default: 0] += 1; lock.unlock()
        }
        return try body()
    }

    /// Forgets what was measured (e.g. after warm-up rounds).
    public func reset() { lock.lock(); seconds = [:]; calls = [:]; lock.unlock() }

    /// Seconds and calls per phase so far.
    public var totals: [Phase: (seconds: Double, calls: Int)] {
        lock.lock(); defer { lock.unlock() }
        return Dictionary(uniqueKeysWithValues: Phase.allCases.map { ($0, (seconds[$0] ?? 0, calls[$0] ?? 0)) })
    }
}

extension Optional where Wrapped == RoundProfile {
    /// Runs `body`, measured when a profile is present.
    func measure<R, E: Error>(_ phase: RoundProfile.Phase, _ body: () throws(E) -> R) throws(E) -> R {
        guard let profile = self else { return try body() }
        return try profile.measure(phase, body)
    }
}
