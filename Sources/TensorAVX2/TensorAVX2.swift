// Tensor's SIMD kernels code-generated for AVX2 + FMA (haswell: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE): this target is compiled with
// `-target-cpu haswell` (Package.swift) and holds nothing but the table (see SIMDKernels.swift).
// Run it only where the CPU has those features: `TensorSIMD.SIMDPath` checks them.
import Tensor

public enum TensorAVX2 {
    /// The kernels compiled here.
    public static let kernels = SIMDKernels.compiled(name: "AVX2")
}
