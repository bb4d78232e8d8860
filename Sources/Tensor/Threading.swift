import Dispatch
import Foundation

/// Threading policy for the kernels: their own loops (im2col, col2im, pooling, normalisations)
/// and independent GEMMs (the images of a batch, Winograd's 16 products).
///
/// Loops split their outermost independent axis over `threads` workers with
/// `DispatchQueue.concurrentPerform`, in contiguous, fixed chunks so results do not depend on
/// scheduling. Independent GEMMs (`forEachJob`/`forEachShare`) run one per thread only when
/// `gemmsOnOwnThreads` says the caller has made OpenBLAS single-threaded
/// (`BLAS.setThreads(1)`); otherwise one at a time, each threaded by OpenBLAS. Nothing here
/// changes OpenBLAS's process-wide thread count: with some kernels (Prescott) sgemm's result
/// depends on it, so a kernel that changed it would change other threads' results.
public struct Threading: Sendable {
    /// Number of parallel chunks a loop may use (1 = run inline).
    public var threads: Int
    /// Whether independent GEMMs run one per thread. Set it only where OpenBLAS runs
    /// single-threaded (`BLAS.setThreads(1)`): two threads each driving a multi-threaded
    /// OpenBLAS GEMM would oversubscribe the cores.
    public var gemmsOnOwnThreads: Bool

    /// A policy with the given thread count (at least 1).
    public init(threads: Int, gemmsOnOwnThreads: Bool = false) {
        self.threads = max(1, threads)
        self.gemmsOnOwnThreads = gemmsOnOwnThreads
    }

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

    /// Sets every element of `buffer` to +0, in contiguous shares over the threads (a buffer
    /// below 256 Ki floats inline).
    public func zero(_ buffer: UnsafeMutableBufferPointer<Float>) {
        guard let base = buffer.baseAddress else { return }
        forEachChunk(buffer.count, minimumPerChunk: 1 << 18) { (base + $0.lowerBound).update(repeating: 0, count: $0.count) }
    }

    /// Threads that independent GEMMs run on: `threads` when `gemmsOnOwnThreads`, else 1.
    public var gemmThreads: Int { gemmsOnOwnThreads ? threads : 1 }

    /// Runs `body(job, thread)` for every job in `0..<count` on `gemmThreads` threads, each
    /// taking the next job as it finishes one (each thread runs its own GEMMs). `thread`
    /// (0..<gemmThreads) names per-thread scratch. Jobs must write disjoint memory: which
    /// thread runs which job varies, the results do not.
    public func forEachJob(_ count: Int, _ body: (_ job: Int, _ thread: Int) -> Void) {
        let workers = min(gemmThreads, count)
        if workers <= 1 {
            for job in 0..<count { body(job, 0) }
            return
        }
        let next = JobCounter()
        DispatchQueue.concurrentPerform(iterations: workers) { thread in
            while let job = next.take(below: count) { body(job, thread) }
        }
    }

    /// Runs `body(range, thread)` over `0..<count` split into `gemmThreads` fixed contiguous
    /// shares (share t to thread t). For work that sums into per-thread partials: the split, and
    /// so the summation order, depends only on the thread count.
    public func forEachShare(_ count: Int, _ body: (_ range: Range<Int>, _ thread: Int) -> Void) {
        let workers = min(gemmThreads, count)
        if workers <= 1 {
            body(0..<count, 0)
            return
        }
        DispatchQueue.concurrentPerform(iterations: workers) { t in
            body((count * t / workers)..<(count * (t + 1) / workers), t)
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
