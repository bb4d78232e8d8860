import Dispatch

/// Threading policy for the kernels' own loops (im2col, col2im, pooling, normalisations).
///
/// GEMMs are threaded by OpenBLAS (see `BLAS`); the loops here split their outermost
/// independent axis over `threads` workers with `DispatchQueue.concurrentPerform`. Work is
/// divided into contiguous, fixed chunks so results do not depend on scheduling.
public struct Threading: Sendable {
    /// Number of parallel chunks a loop may use (1 = run inline).
    public var threads: Int

    /// A policy with the given thread count (at least 1).
    public init(threads: Int) { self.threads = max(1, threads) }

    /// Runs inline: no threads.
    public static let serial = Threading(threads: 1)

    /// Runs `body(range)` over `0..<count` split into at most `threads` contiguous ranges.
    /// Loops whose total work is below `minimumPerChunk` elements run inline.
    @inlinable
    public func forEachChunk(_ count: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(threads, max(1, count / max(1, minimumPerChunk)))
        if chunks <= 1 || count <= 1 {
            body(0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks
            let hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}
