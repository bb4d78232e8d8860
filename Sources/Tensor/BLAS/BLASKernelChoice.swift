// Which OpenBLAS kernels a process runs: the one rule, and how it takes effect.
//
// OpenBLAS (DYNAMIC_ARCH builds) picks its kernels once, when the library loads: from
// `OPENBLAS_CORETYPE` when set, else from the CPU it recognises. Two cases leave a process on
// kernels weaker than its CPU: a library older than the CPU (OpenBLAS 0.3.21 does not know
// Sapphire/Emerald Rapids and falls back to Prescott, SSE3) and a weaker core forced in the
// environment (some machines set `OPENBLAS_CORETYPE=Haswell`). Because the choice is made at
// load time, a process cannot change it for itself; it can only start again. So:
//
//   1. `plan`: compare the family OpenBLAS loaded (`openblas_get_corename`) with the best family
//      the CPU's features allow. Equal or better, or a core name we do not know: keep it.
//   2. Weaker: start a check child — this same executable, same arguments, with
//      `OPENBLAS_CORETYPE=<candidate>` and `SSD_BLAS_SELF_CHECK=1`. Its `adoptAtStartup` runs
//      `BLASSelfCheck` (small sgemm shapes against a Double reference loop, within a stated
//      bound) on the candidate kernels, prints one line and exits 0 or 1. A crash, a wrong
//      result, or no answer within the deadline all count as a failure.
//   3. Passed: the process replaces itself (`execve`) with the same arguments and the candidate
//      environment plus `SSD_BLAS_KERNELS=checked:<core>`. Failed: it keeps OpenBLAS's choice,
//      warns, and records `SSD_BLAS_KERNELS=rejected:<core>` so its own children do not retry.
//
// Children inherit the decided environment (`environment(for:)` gives it to launchers); since
// their OpenBLAS then loads the best family, their own `plan` keeps it without a new check.
// Tests never call `adoptAtStartup`: `swift test` runs with the environment exactly as given.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The rule that decides which OpenBLAS kernel family a process runs, and its start-up step.
public enum BLASKernelChoice {
    /// OpenBLAS x86-64 kernel families, weakest first; `coreName` is the `OPENBLAS_CORETYPE`
    /// value that selects each.
    public enum Family: Int, Comparable, Sendable, CaseIterable {
        case sse3, avx, avx2, avx512, avx512bf16

        /// The OpenBLAS core that stands for the family when we choose it.
        public var coreName: String {
            switch self {
            case .sse3: "Prescott"
            case .avx: "Sandybridge"
            case .avx2: "Haswell"
            case .avx512: "SkylakeX"
            case .avx512bf16: "Cooperlake"
            }
        }

        public static func < (a: Family, b: Family) -> Bool { a.rawValue < b.rawValue }
    }

    /// The family of an OpenBLAS core name (as `openblas_get_corename` or `OPENBLAS_CORETYPE`
    /// spell it, any case); nil for names this rule does not know, which it never overrides.
    public static func family(ofCore name: String) -> Family? {
        switch name.lowercased() {
        case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "opteron", "opteron_sse3",
             "barcelona", "bobcat", "katmai", "coppermine", "northwood", "banias", "athlon":
            .sse3
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator":
            .avx
        case "haswell", "zen":
            .avx2
        case "skylakex":
            .avx512
        case "cooperlake", "sapphirerapids":
            .avx512bf16
        default:
            nil
        }
    }

    /// The best family the CPU's features (as /proc/cpuinfo names them) allow; nil when the
    /// flags are unknown (then nothing is overridden).
    public static func bestFamily(cpuFlags f: Set<String>) -> Family? {
        let avx512 = ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(f.contains)
        if avx512 && f.contains("avx512_bf16") { return .avx512bf16 }
        if avx512 { return .avx512 }
        if f.contains("avx2") && f.contains("fma") { return .avx2 }
        if f.contains("avx") { return .avx }
        if f.contains("pni") || f.contains("sse3") { return .sse3 }
        return nil
    }

    /// What the start-up step does.
    public enum Plan: Equatable, Sendable {
        /// Keep OpenBLAS's kernels; `warning` says why when they are weaker than the CPU.
        case keep(warning: String?)
        /// Try this core: self-check it in a child, then restart on it.
        case tryCore(String)
        /// This process is a check child for the core in `OPENBLAS_CORETYPE`.
        case runSelfCheck
        /// A parent already checked this core; the process runs on it if OpenBLAS loaded it.
        case checked(String)
    }

    /// Environment variable a check child is started with.
    public static let selfCheckVariable = "SSD_BLAS_SELF_CHECK"
    /// Environment variable that carries a decision to restarted processes and children:
    /// `checked:<core>` or `rejected:<core>`.
    public static let decisionVariable = "SSD_BLAS_KERNELS"

    /// The rule: from the environment, the core OpenBLAS loaded and the CPU's flags.
    public static func plan(environment: [String: String], loadedCore: String, cpuFlags: Set<String>) -> Plan {
        if environment[selfCheckVariable] != nil { return .runSelfCheck }
        let decision = environment[decisionVariable] ?? ""
        if decision.hasPrefix("checked:") { return .checked(String(decision.dropFirst("checked:".count))) }
        guard let loaded = family(ofCore: loadedCore), let best = bestFamily(cpuFlags: cpuFlags), loaded < best else {
            return .keep(warning: nil)
        }
        let why = environment["OPENBLAS_CORETYPE"].map { "OPENBLAS_CORETYPE=\($0) forces" } ?? "OpenBLAS \(BLAS.version) chose"
        if decision.hasPrefix("rejected:") {
            return .keep(warning: "\(why) \(loadedCore) kernels, weaker than this CPU's \(best.coreName); "
                + "\(best.coreName) failed the start-up sgemm self-check, so \(loadedCore) stays (slower, but correct)")
        }
        return .tryCore(best.coreName)
    }

    /// What `adoptAtStartup` did, for the log.
    public struct Outcome: Sendable, CustomStringConvertible {
        /// The core OpenBLAS runs in this process.
        public var core: String
        /// Why, when the kernels are weaker than the CPU or a check failed; nil otherwise.
        public var warning: String?
        public var description: String { "OpenBLAS kernels \(core)" + (warning.map { "; WARNING: \($0)" } ?? "") }
    }

    /// The start-up step of an executable that runs sgemm: call it first in `main`/`run()`,
    /// before any other work (the process may be restarted, or be a check child that exits).
    /// Returns the outcome to log; never returns in a check child or after a successful restart.
    public static func adoptAtStartup(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        cpuFlags: Set<String> = CPUFeatures.flags(),
        checkDeadline: TimeInterval = 60
    ) -> Outcome {
        let loaded = BLAS.coreName
        switch plan(environment: environment, loadedCore: loaded, cpuFlags: cpuFlags) {
        case .runSelfCheck:
            let expected = environment["OPENBLAS_CORETYPE"] ?? ""
            var line: String
            var passed: Bool
            if loaded.lowercased() != expected.lowercased() {
                (line, passed) = ("OpenBLAS loaded \(loaded), not \(expected)", false)
            } else {
                let report = BLASSelfCheck.run()
                (line, passed) = (report.description, report.passed)
            }
            print(line)
            fflush(stdout)
            exit(passed ? 0 : 1)
        case .checked(let core):
            if loaded.lowercased() == core.lowercased() { return Outcome(core: loaded, warning: nil) }
            return Outcome(core: loaded, warning: "\(core) passed the self-check but OpenBLAS loaded \(loaded)")
        case .keep(let warning):
            return Outcome(core: loaded, warning: warning)
        case .tryCore(let core):
            var trial = environment
            trial["OPENBLAS_CORETYPE"] = core
            trial[selfCheckVariable] = "1"
            let check = runCheckChild(environment: trial, deadline: checkDeadline)
            if check.passed {
                var adopted = environment
                adopted["OPENBLAS_CORETYPE"] = core
                adopted[decisionVariable] = "checked:\(core)"
                let failure = restart(environment: adopted)   // returns only when execve failed
                return Outcome(core: loaded, warning: "\(core) passed the self-check but the restart failed (\(failure)); running on \(loaded)")
            }
            setenv(decisionVariable, "rejected:\(core)", 1)
            return Outcome(core: loaded, warning: "OpenBLAS runs \(loaded), weaker than this CPU's \(core); \(core) "
                + "failed the start-up sgemm self-check (\(check.line)), so \(loaded) stays")
        }
    }

    /// The environment a launcher gives the processes it starts: `environment` with this
    /// process's decision (the checked core, or the rejection) so that they do not check again.
    public static func environment(for environment: [String: String]) -> [String: String] {
        var result = environment
        let own = ProcessInfo.processInfo.environment
        if let decision = own[decisionVariable] {
            result[decisionVariable] = decision
            if decision.hasPrefix("checked:") { result["OPENBLAS_CORETYPE"] = own["OPENBLAS_CORETYPE"] }
        }
        result[selfCheckVariable] = nil
        return result
    }

    /// Runs this executable as a check child; passed when it exits 0 within the deadline.
    static func runCheckChild(environment: [String: String], deadline: TimeInterval) -> (passed: Bool, line: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = Array(CommandLine.arguments.dropFirst())
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        do { try process.run() } catch { return (false, "could not start the check: \(error)") }
        if done.wait(timeout: .now() + deadline) == .timedOut {
            process.terminate()
            _ = done.wait(timeout: .now() + 5)
            return (false, "no answer within \(Int(deadline)) s")
        }
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let line = out.split(separator: "\n").last.map(String.init) ?? ""
        if process.terminationReason == .uncaughtSignal { return (false, "the check crashed (signal \(process.terminationStatus))") }
        return (process.terminationStatus == 0, line)
    }

    /// Replaces this process with the same executable and arguments in `environment`.
    /// Returns a description of the failure; on success it does not return.
    static func restart(environment: [String: String]) -> String {
        let path = "/proc/self/exe"
        let args = CommandLine.arguments
        let env = environment.map { "\($0.key)=\($0.value)" }
        fflush(stdout)
        fflush(stderr)
        func cStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] { strings.map { strdup($0) } + [nil] }
        let argv = cStrings(args), envp = cStrings(env)
        execve(path, argv, envp)
        let reason = String(cString: strerror(errno))
        (argv + envp).forEach { free($0) }
        return reason
    }
}

/// The start-up check of an sgemm implementation: a few small shapes, every transpose
/// combination, against a plain loop accumulated in Double.
///
/// Bound (per element): |c − ref| ≤ 2·k·u·Σₚ|a_ip·b_pj| + 1e-30, u = 2⁻²⁴ — twice the classical
/// worst case γ_k of a k-term Float32 dot product, so any correct kernel passes whatever its
/// summation order, and a wrong one (a dropped term, a wrong lane) fails by orders of magnitude.
public enum BLASSelfCheck {
    /// An sgemm with `Gemm.sgemm`'s meaning (the seam where tests inject a faulty kernel).
    public typealias SGEMM = (_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                              _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                              _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) -> Void

    /// One shape of the check.
    public struct Shape: Sendable, CustomStringConvertible {
        public var m, n, k: Int
        public var transA, transB: Bool
        public var beta: Float
        public var description: String { "\(m)x\(n)x\(k)\(transA ? " Aᵀ" : "")\(transB ? " Bᵀ" : "")\(beta != 0 ? " β=\(beta)" : "")" }
    }

    /// The shapes: tiny edges, odd sizes that leave remainders in every kernel dimension, and
    /// a few large enough for OpenBLAS's packed (not small-matrix) path.
    public static let shapes: [Shape] = [
        Shape(m: 1, n: 1, k: 1, transA: false, transB: false, beta: 0),
        Shape(m: 7, n: 5, k: 3, transA: false, transB: false, beta: 0),
        Shape(m: 17, n: 33, k: 65, transA: false, transB: true, beta: 1),
        Shape(m: 31, n: 130, k: 29, transA: true, transB: false, beta: 0),
        Shape(m: 64, n: 48, k: 96, transA: true, transB: true, beta: 0.5),
        Shape(m: 96, n: 200, k: 128, transA: false, transB: false, beta: 0),
        Shape(m: 130, n: 67, k: 257, transA: false, transB: true, beta: 1),
    ]

    /// The outcome: passed, and the worst element against its bound.
    public struct Report: Sendable, CustomStringConvertible {
        public var passed: Bool
        /// Largest |c − ref| / bound over all elements (≤ 1 passes).
        public var worstRatio: Double
        /// Where the worst element was.
        public var worst: String
        public var description: String {
            String(format: "sgemm self-check %@: worst error %.3g of the bound at %@", passed ? "passed" : "FAILED", worstRatio, worst)
        }
    }

    /// Runs every shape through `sgemm` (default: OpenBLAS via `Gemm.sgemm`).
    public static func run(sgemm: SGEMM = { Gemm.sgemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12) }) -> Report {
        var rng = SeededGenerator(seed: 12)
        var worst = (ratio: 0.0, at: "none")
        for shape in shapes {
            let (m, n, k) = (shape.m, shape.n, shape.k)
            let a = (0..<(m * k)).map { _ in rng.uniform(-1, 1) }, b = (0..<(k * n)).map { _ in rng.uniform(-1, 1) }
            var c = (0..<(m * n)).map { _ in rng.uniform(-1, 1) }
            let c0 = c
            let alpha: Float = 1.5
            // Row-major: op(A) is m×k stored as A (m×k, lda k) or Aᵀ (k×m, lda m).
            let lda = shape.transA ? m : k, ldb = shape.transB ? k : n
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                sgemm(shape.transA, shape.transB, m, n, k, alpha, ap.baseAddress!, lda, bp.baseAddress!, ldb, shape.beta, cp.baseAddress!, n)
            } } }
            let u = 1.0 / Double(1 << 24)
            for i in 0..<m {
                for j in 0..<n {
                    var sum = 0.0, magnitude = 0.0
                    for p in 0..<k {
                        let x = Double(shape.transA ? a[p * m + i] : a[i * k + p])
                        let y = Double(shape.transB ? b[j * k + p] : b[p * n + j])
                        sum += x * y
                        magnitude += abs(x * y)
                    }
                    let beta = Double(shape.beta), cOld = Double(c0[i * n + j])
                    let reference = Double(alpha) * sum + beta * cOld
                    let bound = 2 * Double(k + 2) * u * (Double(alpha) * magnitude + abs(beta * cOld)) + 1e-30
                    let error = abs(Double(c[i * n + j]) - reference)
                    let ratio = error.isNaN ? .infinity : error / bound
                    if ratio > worst.ratio { worst = (ratio, "\(shape) [\(i),\(j)]: \(c[i * n + j]) vs \(reference)") }
                }
            }
        }
        return Report(passed: worst.ratio <= 1, worstRatio: worst.ratio, worst: worst.at)
    }
}
