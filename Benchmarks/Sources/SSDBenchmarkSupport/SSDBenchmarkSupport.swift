// What the SSD training and inference benchmarks share: their common options, the model set
// up as the worker runs it (OpenBLAS kernels and threads, heap policy, kernel threading) with
// the machine line printed, the synthetic input images, peak resident memory, and the JSON
// results file.
import ArgumentParser
import Detection
import Foundation
import Tensor

extension ComputeThreads.GEMMs: @retroactive ExpressibleByArgument {}

/// The options TrainingBenchmarks and InferenceBenchmarks both take.
public struct SSDBenchmarkOptions: ParsableArguments {
    @Option(help: "Image shape (300 or 512).") public var imageShape = 300
    @Option(help: "Base network: vgg-16 or resnet-50.") public var network = "vgg-16"
    @Option(help: "Threads; default: OPENBLAS_NUM_THREADS, else all cores (ComputeThreads, as the worker).") public var threads: Int?
    @Option(help: "Who runs the GEMMs: auto (the worker's rule), own (independent GEMMs one per thread, OpenBLAS single-threaded) or openblas (one at a time, OpenBLAS-threaded).")
    public var gemms: ComputeThreads.GEMMs = .auto
    @Option(help: "Write the results as JSON to this path.") public var json: String?

    public init() {}
}

/// Set-up and reporting shared by TrainingBenchmarks and InferenceBenchmarks.
public enum SSDBenchmark {
    /// An SSD (20 classes) for the options' network and image shape, after choosing the OpenBLAS
    /// kernels and the threads as the worker (or, `forwardOnly`, `ssd predict`) does for `smallestBatch` (`ComputeThreads`); prints
    /// the kernel choice and the machine line every benchmark starts with.
    public static func model(_ options: SSDBenchmarkOptions, smallestBatch: Int, forwardOnly: Bool = false, keepFreedMemory: Bool) throws -> SSDModel {
        let kernels = BLASKernelChoice.adoptAtStartup()
        let compute = ComputeThreads.resolve(requested: options.threads, batch: smallestBatch, forwardOnly: forwardOnly, gemms: options.gemms)
        let threading = compute.apply()
        if keepFreedMemory { HeapPolicy.keepFreedMemoryForReuse() }
        let model = try SSDModel(config: try .forBaseNetwork(options.network, imageShape: options.imageShape, numClasses: 20))
        model.threading = threading
        print(kernels)
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(BLAS.summary()); \(compute)")
        return model
    }

    /// `batch` images of 3 × imageShape² uniform values in the mean-subtracted pixel range.
    public static func images(batch: Int, imageShape: Int, rng: inout SeededGenerator) -> [Float] {
        (0..<(batch * 3 * imageShape * imageShape)).map { _ in rng.uniform(-120, 130) }
    }

    /// The process's peak resident memory (VmHWM) in MiB; 0 where /proc is not readable.
    public static func peakRSSMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return 0 }
        return Double(line.split(separator: " ").dropFirst().first.map(String.init) ?? "0").map { $0 / 1024 } ?? 0
    }

    /// Writes `rows` as pretty-printed JSON with sorted keys (the results/ files' format).
    public static func writeJSON<T: Encodable>(_ rows: T, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(rows).write(to: URL(fileURLWithPath: path))
    }

    /// `steps` pairs of steps, the first of each pair with `configure(false)` (`old`), the second
    /// with `configure(true)` (`new`); prints both times per pair and the ratio (old / new, > 1:
    /// new faster), then the median ratio. Old and new come from the same run, for a shared machine.
    public static func alternate(steps: Int, old: String, new: String, configure: (_ new: Bool) -> Void, step: () throws -> Void) throws {
        func timed(_ isNew: Bool) throws -> Double {
            configure(isNew)
            let start = Date()
            try step()
            return Date().timeIntervalSince(start)
        }
        _ = try timed(true)   // the warm-up above ran the old setting; warm up the new one too
        var ratios: [Double] = []
        for pair in 0..<steps {
            let (oldTime, newTime) = (try timed(false), try timed(true))
            ratios.append(oldTime / newTime)
            print(String(format: "pair %d: %@ %.3f s, %@ %.3f s, ratio %.3f", pair + 1, old, oldTime, new, newTime, oldTime / newTime))
        }
        let sorted = ratios.sorted()
        print(String(format: "median ratio (%@) / (%@) over %d pairs: %.3f (min %.3f, max %.3f)", old, new, steps,
                     sorted[sorted.count / 2], sorted.first ?? 0, sorted.last ?? 0))
    }

    /// `alternate` over one workspace setting: `old` and `new` are its two values with their
    /// labels; the setting is restored afterwards.
    public static func alternate<Value>(steps: Int, _ setting: ReferenceWritableKeyPath<Conv2D.Workspace, Value>,
                                        of workspace: Conv2D.Workspace, old: (Value, String), new: (Value, String),
                                        step: () throws -> Void) throws {
        let kept = workspace[keyPath: setting]
        defer { workspace[keyPath: setting] = kept }
        try alternate(steps: steps, old: old.1, new: new.1, configure: { workspace[keyPath: setting] = $0 ? new.0 : old.0 }, step: step)
    }

    /// The label of a `Conv2D.Workspace.winogradBlockFloats` value (0 or less, or nil: never).
    public static func blocksLabel(_ floats: Int?) -> String {
        floats.flatMap { $0 > 0 ? "blocks of \($0) floats" : nil } ?? "no blocks"
    }
}
