// The only file that imports CBLAS: single-precision GEMM and OpenBLAS's thread/core queries.
import CBLAS
import Foundation

/// Row-major single-precision matrix multiply, `C = alpha * op(A) * op(B) + beta * C`,
/// backed by OpenBLAS's `cblas_sgemm`.
///
/// Legend: op(A) is M×K, op(B) is K×N, C is M×N; `lda`, `ldb`, `ldc` are row strides.
public enum Gemm {
    /// Multiplies with explicit leading dimensions (row strides). Callers own the bounds:
    /// the kernels check every buffer's size before they get here.
    @inlinable
    public static func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C untouched only when beta == 1; keep the mathematical meaning.
            if beta != 1 {
                for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
            }
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// OpenBLAS's process-wide settings: thread count and the CPU core its kernels were built for.
///
/// OpenBLAS reads `OPENBLAS_NUM_THREADS` and `OPENBLAS_CORETYPE` when it loads. This type reports
/// both and sets the thread count; which kernels run is `BLASKernelChoice`'s decision.
public enum BLAS {
    /// The core name OpenBLAS selected ("SkylakeX", "Cooperlake", "Haswell", …).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Threads OpenBLAS uses for one call.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Sets the threads OpenBLAS uses (at least 1). How many a process gives it is
    /// `ComputeThreads`'s rule.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// OpenBLAS's build line: version, build options and the kernel family it runs
    /// (`openblas_get_config`, e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Cooperlake MAX_THREADS=64").
    public static var config: String {
        guard let text = openblas_get_config() else { return "unknown" }
        return String(cString: text)
    }

    /// The library's version ("0.3.21"), from `config`.
    public static var version: String {
        let words = config.split(separator: " ")
        return words.count > 1 && words[0] == "OpenBLAS" ? String(words[1]) : "unknown"
    }

    /// One line for logs and benchmark headers: kernel family, threads, the build line, and a
    /// warning when the kernels are weaker than the CPU (see `BLASKernelChoice`).
    public static func summary(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        var line = "OpenBLAS kernels \(coreName), \(threads) thread(s) [\(config)]"
        if let warning = coreWarning(environment: environment) { line += "; WARNING: \(warning)" }
        return line
    }

    /// A warning when this process runs kernels weaker than the CPU supports and no start-up
    /// check chose better ones (`BLASKernelChoice`'s rule); nil when there is nothing to say.
    public static func coreWarning(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        loadedCore: String = BLAS.coreName,
        cpuFlags: Set<String> = CPUFeatures.flags()
    ) -> String? {
        switch BLASKernelChoice.plan(environment: environment, loadedCore: loadedCore, cpuFlags: cpuFlags) {
        case .keep(let warning): return warning
        case .tryCore(let core):
            return "OpenBLAS runs \(loadedCore) kernels, weaker than this CPU's \(core) (sgemm at a fraction of the "
                + "speed); executables switch at start-up (BLASKernelChoice.adoptAtStartup) after a self-check"
        case .checked(let core):
            return loadedCore.lowercased() == core.lowercased() ? nil : "OpenBLAS loaded \(loadedCore), not the checked \(core)"
        case .runSelfCheck: return nil
        }
    }
}

/// CPU feature flags as the kernel reports them in /proc/cpuinfo (empty where unavailable).
public enum CPUFeatures {
    /// The `flags` of the first processor entry.
    public static func flags(cpuinfo path: String = "/proc/cpuinfo") -> Set<String> {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }
}
