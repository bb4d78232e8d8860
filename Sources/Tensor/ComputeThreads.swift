import Foundation

/// How many threads a process's kernels get and who runs the GEMMs: the one rule for `worker`,
/// the workers `ssd train` starts, `ssd predict`/`ssd serve`, `ssd plan`'s calibration and the
/// benchmarks.
///
/// - Threads: the requested count (`worker --threads`), else `OPENBLAS_NUM_THREADS` (what the
///   launchers give each worker: `perWorker(cores:workers:)` — `ssd train`, `deploy/*.sh`),
///   else every core.
/// - GEMMs: with more than one thread and at least one image per thread in every batch the
///   process runs, OpenBLAS runs single-threaded and independent GEMMs (the images of a batch,
///   Winograd's 16 products) run one per thread (`Threading.gemmsOnOwnThreads`): no barrier
///   inside every GEMM, and the loops around the GEMMs run in parallel too (SSD300-VGG16 batch 8
///   on 2 cores: ×1.6 of one thread against ×1.3 with OpenBLAS's threads,
///   Benchmarks/results/README.md). With fewer images than threads a training step's
///   im2col layers would have only one GEMM at a time, so OpenBLAS threads them instead —
///   except forward-only work (`ssd predict`, `ssd serve`: one image at a time), whose forward
///   pass splits an image's output pixels over the threads, one single-threaded GEMM each.
///
/// Results depend on the thread count (weight gradients are summed per thread, in thread
/// order), never on scheduling: the same count gives the same bits.
public struct ComputeThreads: Equatable, Sendable, CustomStringConvertible {
    /// Who runs a GEMM.
    public enum GEMMs: String, Sendable, CaseIterable {
        /// The rule above.
        case auto
        /// Independent GEMMs one per thread, OpenBLAS single-threaded.
        case own
        /// One GEMM at a time, threaded by OpenBLAS.
        case openblas
    }

    /// Threads the kernels use (≥ 1).
    public var threads: Int
    /// Whether independent GEMMs run one per thread (OpenBLAS then runs single-threaded).
    public var gemmsOnOwnThreads: Bool
    /// Where `threads` came from ("--threads", "OPENBLAS_NUM_THREADS", "all cores"), for logs.
    public var source: String

    /// The kernels' threading policy.
    public var threading: Threading { Threading(threads: threads, gemmsOnOwnThreads: gemmsOnOwnThreads) }
    /// Threads OpenBLAS gets for one call.
    public var blasThreads: Int { gemmsOnOwnThreads ? 1 : threads }

    /// Applies the rule.
    /// - Parameters:
    ///   - requested: the process's thread option (nil: not given).
    ///   - batch: the smallest batch the process runs (a worker's `mini_batch_size`, 1 for
    ///     `ssd predict` and `ssd serve`).
    ///   - forwardOnly: the process runs forward passes only (inference).
    ///   - gemms: `.auto` for the rule, or a forced choice (benchmarks compare the two).
    public static func resolve(
        requested: Int? = nil, batch: Int, forwardOnly: Bool = false, gemms: GEMMs = .auto,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        cores: Int = ProcessInfo.processInfo.activeProcessorCount
    ) -> ComputeThreads {
        let threads: Int, source: String
        if let requested {
            (threads, source) = (max(1, requested), "--threads")
        } else if let fromEnvironment = environment["OPENBLAS_NUM_THREADS"].flatMap(Int.init), fromEnvironment >= 1 {
            (threads, source) = (fromEnvironment, "OPENBLAS_NUM_THREADS")
        } else {
            (threads, source) = (max(1, cores), "all cores")
        }
        let own: Bool
        switch gemms {
        case .auto: own = threads > 1 && (batch >= threads || forwardOnly)
        case .own: own = threads > 1
        case .openblas: own = false
        }
        return ComputeThreads(threads: threads, gemmsOnOwnThreads: own, source: source)
    }

    /// Threads of each of `workers` worker processes sharing a host of `cores` cores (at least 1).
    public static func perWorker(cores: Int = ProcessInfo.processInfo.activeProcessorCount, workers: Int) -> Int {
        max(1, cores / max(1, workers))
    }

    /// Sets OpenBLAS's process-wide thread count to `blasThreads` and returns the kernels'
    /// policy. Call once at start-up, before any GEMM runs.
    public func apply() -> Threading {
        BLAS.setThreads(blasThreads)
        return threading
    }

    public var description: String {
        "\(threads) thread(s) (\(source)), "
            + (gemmsOnOwnThreads ? "GEMMs on the kernels' own threads, OpenBLAS single-threaded" : "GEMMs threaded by OpenBLAS")
    }
}
