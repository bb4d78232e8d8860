// The SIMD kernels compiled once per instruction set.
//
// The package compiles for baseline x86-64 (SSE2), so the kernels' SIMD8/SIMD16<Float> code
// runs as pairs and quads of 128-bit operations even on AVX2 and AVX-512 CPUs. Their bodies are
// written once, here in Tensor, as `@inlinable @inline(__always)` functions; `compiled(name:)`
// builds a table of entry points to them, and because it is inlined too, the table and every
// body behind it are code-generated in the module that calls it. The targets `TensorAVX2` and
// `TensorAVX512` do nothing else than call it, compiled with `-target-cpu haswell` / `skylake-avx512`;
// `TensorSIMD` picks one at start-up from the CPU's features (`SIMDPath.adoptAtStartup`) and sets
// `SIMDKernels.standard`, which every new `Conv2D.Workspace` takes (`workspace.simd`).
// The same operations run in the same order on every instruction set (Swift does not contract a
// multiply and an add into an FMA), so all tables give bit-identical results; tests check it.
// Kernels reach their table through the workspace, so a test can run two side by side.

/// Entry points of the SIMD kernels, as compiled for one instruction set.
public struct SIMDKernels: @unchecked Sendable {
    /// The instruction set the table was compiled for ("generic", "AVX2", "AVX-512").
    public let name: String

    @usableFromInline
    typealias WinogradConvolve = (
        _ algorithm: Winograd.Algorithm, _ batch: Int, _ input: UnsafePointer<Float>, _ channels: Int, _ height: Int, _ width: Int,
        _ transformedWeights: UnsafePointer<Float>, _ outChannels: Int, _ bias: UnsafePointer<Float>?,
        _ output: UnsafeMutablePointer<Float>, _ accumulate: Bool, _ workspace: Conv2D.Workspace, _ threading: Threading
    ) -> Void
    @usableFromInline
    typealias WinogradWeightGradient = (
        _ batch: Int, _ input: UnsafePointer<Float>, _ channels: Int, _ height: Int, _ width: Int, _ gradOutput: UnsafePointer<Float>,
        _ outChannels: Int, _ gradWeight: UnsafeMutablePointer<Float>, _ workspace: Conv2D.Workspace, _ threading: Threading
    ) -> Void
    @usableFromInline
    typealias WinogradTransformWeights = (
        _ weight: UnsafePointer<Float>, _ outChannels: Int, _ inChannels: Int, _ flipped: Bool, _ into: UnsafeMutablePointer<Float>,
        _ threading: Threading
    ) -> Void

    @usableFromInline let convolve: WinogradConvolve
    @usableFromInline let weightGradient2x2: WinogradWeightGradient
    @usableFromInline let weightGradient4x4: WinogradWeightGradient
    @usableFromInline let transformWeights2x2: WinogradTransformWeights
    @usableFromInline let transformWeights4x4: WinogradTransformWeights

    @usableFromInline
    init(name: String, convolve: @escaping WinogradConvolve, weightGradient2x2: @escaping WinogradWeightGradient,
         weightGradient4x4: @escaping WinogradWeightGradient, transformWeights2x2: @escaping WinogradTransformWeights,
         transformWeights4x4: @escaping WinogradTransformWeights) {
        self.name = name
        self.convolve = convolve
        self.weightGradient2x2 = weightGradient2x2
        self.weightGradient4x4 = weightGradient4x4
        self.transformWeights2x2 = transformWeights2x2
        self.transformWeights4x4 = transformWeights4x4
    }

    /// The kernels compiled in the calling module, with its instruction set: the ISA targets'
    /// one call. (Elsewhere, use `generic` or `standard`.)
    @inlinable @inline(__always)
    public static func compiled(name: String) -> SIMDKernels {
        SIMDKernels(
            name: name,
            convolve: { algorithm, batch, x, c, h, w, u, k, bias, y, accumulate, workspace, threading in
                Winograd.convolve(algorithm, batch: batch, input: x, channels: c, height: h, width: w, transformedWeights: u,
                                  outChannels: k, bias: bias, output: y, accumulate: accumulate, workspace: workspace,
                                  threading: threading)
            },
            weightGradient2x2: { batch, x, c, h, w, dy, k, dw, workspace, threading in
                Winograd.weightGradient(batch: batch, input: x, channels: c, height: h, width: w, gradOutput: dy, outChannels: k,
                                        gradWeight: dw, workspace: workspace, threading: threading)
            },
            weightGradient4x4: { batch, x, c, h, w, dy, k, dw, workspace, threading in
                Winograd4x4.weightGradient(batch: batch, input: x, channels: c, height: h, width: w, gradOutput: dy, outChannels: k,
                                           gradWeight: dw, workspace: workspace, threading: threading)
            },
            transformWeights2x2: { weight, k, c, _, u, threading in
                Winograd.transformWeights(weight, outChannels: k, inChannels: c, into: u, threading: threading)
            },
            transformWeights4x4: { weight, k, c, flipped, u, threading in
                Winograd4x4.transformWeights(weight, outChannels: k, inChannels: c, flipped: flipped, into: u, threading: threading)
            })
    }

    /// The kernels as the package compiles them (baseline x86-64 on Intel/AMD): always available.
    public static let generic = compiled(name: "generic")

    /// The table new workspaces take: `generic` until a start-up step (`SIMDPath.adoptAtStartup` in
    /// `TensorSIMD`) sets a better one. Set it only before any work starts.
    nonisolated(unsafe) public static var standard = generic

    // MARK: Calls with the kernels' own labels (the call sites read as before)

    @inline(__always)
    func winogradConvolve(
        _ algorithm: Winograd.Algorithm, batch: Int, input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        transformedWeights u: UnsafePointer<Float>, outChannels k: Int, bias: UnsafePointer<Float>?,
        output y: UnsafeMutablePointer<Float>, accumulate: Bool, workspace: Conv2D.Workspace, threading: Threading
    ) {
        convolve(algorithm, batch, x, c, h, w, u, k, bias, y, accumulate, workspace, threading)
    }

    @inline(__always)
    func winograd2x2WeightGradient(
        batch: Int, input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        gradOutput dy: UnsafePointer<Float>, outChannels k: Int, gradWeight dw: UnsafeMutablePointer<Float>,
        workspace: Conv2D.Workspace, threading: Threading
    ) {
        weightGradient2x2(batch, x, c, h, w, dy, k, dw, workspace, threading)
    }

    @inline(__always)
    func winograd4x4WeightGradient(
        batch: Int, input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        gradOutput dy: UnsafePointer<Float>, outChannels k: Int, gradWeight dw: UnsafeMutablePointer<Float>,
        workspace: Conv2D.Workspace, threading: Threading
    ) {
        weightGradient4x4(batch, x, c, h, w, dy, k, dw, workspace, threading)
    }

    @inline(__always)
    func winograd2x2TransformWeights(_ weight: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int,
                                     into u: UnsafeMutablePointer<Float>, threading: Threading) {
        transformWeights2x2(weight, k, c, false, u, threading)
    }

    @inline(__always)
    func winograd4x4TransformWeights(_ weight: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int, flipped: Bool,
                                     into u: UnsafeMutablePointer<Float>, threading: Threading) {
        transformWeights4x4(weight, k, c, flipped, u, threading)
    }
}
