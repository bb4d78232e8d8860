// Which compilation of Tensor's SIMD kernels a process runs: the rule, and the start-up step.
//
// `TensorAVX2` and `TensorAVX512` hold the same kernels as Tensor, code-generated for haswell
// (AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE) and skylake-avx512 (plus AVX-512 F, BW, CD, DQ, VL). The best
// one the CPU runs is chosen from its feature flags as the kernel reports them (`CPUFeatures`, the
// list BLASKernelChoice reads too; Linux lists AVX and AVX-512 only where the OS saves their
// registers), once, at start-up, before any workspace is made. `SSD_SIMD=generic` (or `avx2`)
// forces a weaker path, for comparison and as a way out; a path the CPU lacks is refused with a
// warning. Every path gives bit-identical results (same operations in the same order, no FMA
// contraction), so the choice changes speed only.
import Foundation
import Tensor
import TensorAVX2
import TensorAVX512

/// A compilation of Tensor's SIMD kernels.
public enum SIMDPath: String, CaseIterable, Comparable, Sendable {
    case generic, avx2, avx512

    /// Environment variable that forces a path: `generic`, `avx2` or `avx512`.
    public static let environmentVariable = "SSD_SIMD"

    /// The kernel table of this path.
    public var kernels: SIMDKernels {
        switch self {
        case .generic: SIMDKernels.generic
        case .avx2: TensorAVX2.kernels
        case .avx512: TensorAVX512.kernels
        }
    }

    /// The best path the CPU's features (as /proc/cpuinfo names them) allow; `generic` on other
    /// architectures and where the flags are unknown.
    public static func best(cpuFlags f: Set<String>) -> SIMDPath {
        #if arch(x86_64)
        let avx2 = ["sse4_2", "popcnt", "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"].allSatisfy(f.contains)
        let avx512 = avx2 && ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"].allSatisfy(f.contains)
        return avx512 ? .avx512 : avx2 ? .avx2 : .generic
        #else
        return .generic
        #endif
    }

    /// The rule: the best path the CPU allows, or the one `SSD_SIMD` asks for when the CPU has it
    /// (with a warning when it is unknown or beyond the CPU).
    public static func choose(environment: [String: String], cpuFlags: Set<String>) -> (path: SIMDPath, warning: String?) {
        let best = best(cpuFlags: cpuFlags)
        guard let asked = environment[environmentVariable], !asked.isEmpty else { return (best, nil) }
        guard let path = SIMDPath(rawValue: asked.lowercased()) else {
            return (best, "\(environmentVariable)=\(asked) is not one of \(allCases.map(\.rawValue).joined(separator: ", ")); "
                + "running the \(best.rawValue) kernels")
        }
        guard path <= best else {
            return (best, "\(environmentVariable)=\(asked) needs CPU features this CPU lacks; running the \(best.rawValue) kernels")
        }
        return (path, nil)
    }

    /// The start-up step of an executable: chooses the path and makes it `SIMDKernels.standard`,
    /// the table every workspace made afterwards runs. Call it first, before any work starts.
    @discardableResult
    public static func adoptAtStartup(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        cpuFlags: Set<String> = CPUFeatures.flags()
    ) -> (path: SIMDPath, warning: String?) {
        let choice = choose(environment: environment, cpuFlags: cpuFlags)
        SIMDKernels.standard = choice.path.kernels
        return choice
    }

    public static func < (a: SIMDPath, b: SIMDPath) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
