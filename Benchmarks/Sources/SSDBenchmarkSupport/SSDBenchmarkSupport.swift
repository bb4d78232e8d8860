// What the SSD training and inference benchmarks share: their common options, the model set
// up as the worker runs it (OpenBLAS kernels and threads, heap policy, kernel threading) with
// the machine line printed, the synthetic input images, peak resident memory, and the JSON
// results file.
import ArgumentParser
import Detection
import Foundation
import Tensor

/// The options TrainingBenchmarks and InferenceBenchmarks both take.
public struct SSDBenchmarkOptions: ParsableArguments {
    @Option(help: "Image shape (300 or 512).") public var imageShape = 300
    @Option(help: "Base network: vgg-16 or resnet-50.") public var network = "vgg-16"
    @Option(help: "Threads (OpenBLAS and the kernels' own loops); default: OPENBLAS_NUM_THREADS, else all cores.") public var threads: Int?
    @Flag(help: "Run OpenBLAS single-threaded and independent GEMMs (images of a batch, Winograd's 16 products) one per thread.")
    public var gemmsOnOwnThreads = false
    @Option(help: "Write the results as JSON to this path.") public var json: String?

    public init() {}
}

/// Set-up and reporting shared by TrainingBenchmarks and InferenceBenchmarks.
public enum SSDBenchmark {
    /// An SSD (20 classes) for the options' network and image shape, after choosing the OpenBLAS
    /// kernels and threads; prints the kernel choice and the machine line every benchmark starts with.
    public static func model(_ options: SSDBenchmarkOptions, keepFreedMemory: Bool) throws -> SSDModel {
        let kernels = BLASKernelChoice.adoptAtStartup()
        BLAS.configureThreads(requested: options.threads)
        if keepFreedMemory { HeapPolicy.keepFreedMemoryForReuse() }
        let model = try SSDModel(config: try .forBaseNetwork(options.network, imageShape: options.imageShape, numClasses: 20))
        let threadCount = BLAS.threads
        if options.gemmsOnOwnThreads { BLAS.setThreads(1) }
        model.threading = Threading(threads: threadCount, gemmsOnOwnThreads: options.gemmsOnOwnThreads)
        print(kernels)
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(BLAS.summary()); kernel threads \(model.threading.threads), GEMMs on own threads: \(options.gemmsOnOwnThreads)")
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
}
