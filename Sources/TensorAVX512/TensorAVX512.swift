// Tensor's SIMD kernels code-generated for AVX-512 (skylake-avx512: AVX-512 F, BW, CD, DQ, VL): this target is
// compiled with `-target-cpu skylake-avx512` (Package.swift) and holds nothing but the table (see
// SIMDKernels.swift). Run it only where the CPU has those features: `TensorSIMD.SIMDPath` checks them.
import Tensor

public enum TensorAVX512 {
    /// The kernels compiled here.
    public static let kernels = SIMDKernels.compiled(name: "AVX-512")
}
