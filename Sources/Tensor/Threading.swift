import Dispatch
import Foundation

/// Threading policy for the kernels: their own loops (im2col, col2im, pooling, normalisations)
/// and independent GEMMs (the images of a batch, Winograd's 16 products).
///
/// Loops split their outermost independent axis over `threads` workers with
/// `DispatchQueue.concurrentPerform`, in contiguous, fixed chunks so results do not depend on
/// scheduling. Independent GEMMs run as `forEachJob`/`forEachShare`: each thread calls its own
/// single-threaded sgemm, which on a few cores beats one GEMM split by OpenBLAS (no barrier per
/// call, each thread's panels stay in its own cache) — OpenBLAS's threads serve the rest.
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

    /// Runs `body(job, thread)` for every job in `0..<count`, `threads` threads taking the next
    /// job as they finish one, with OpenBLAS single-threaded meanwhile (each thread runs its own
    /// GEMMs). `thread` (0..<threads) names per-thread scratch. Jobs must write disjoint memory:
    /// which thread runs which job varies, the results do not.
    public func forEachJob(_ count: Int, _ body: (_ job: Int, _ thread: Int) -> Void) {
        let workers = min(threads, count)
        if workers <= 1 {
            for job in 0..<count { body(job, 0) }
            return
        }
        let next = JobCounter()
        BLAS.withThreads(1) {
            DispatchQueue.concurrentPerform(iterations: workers) { thread in
                while let job = next.take(below: count) { body(job, thread) }
            }
        }
    }

    /// Runs `body(range, thread)` over `0..<count` split into `threads` fixed contiguous shares
    /// (share t to thread t), with OpenBLAS single-threaded meanwhile. For work that sums into
    /// per-thread partials: the split, and so the summation order, depends only on `threads`.
    public func forEachShare(_ count: Int, _ body: (_ range: Range<Int>, _ thread: Int) -> Void) {
        let workers = min(threads, count)
        if workers <= 1 {
            body(0..<count, 0)
            return
        }
        BLAS.withThreads(1) {
            DispatchQueue.concurrentPerform(iterations: workers) { t in
                body((count * t / workers)..<(count * (t + 1) / workers), t)
            }
        }
    }
}

/// The next job index, handed out once each.
final class JobCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0

    func take(below count: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        next += 1
        return next - 1
    }
}
