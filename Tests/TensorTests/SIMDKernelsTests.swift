import Foundation
import Tensor
import TensorSIMD
import TestSupport
import Testing

@Suite("SIMD kernels: one source, compiled per instruction set, the same bits on each")
struct SIMDKernelsTests {
    /// The best path this machine's CPU runs.
    static let best = SIMDPath.best(cpuFlags: CPUFeatures.flags())

    /// A workspace whose 3×3 layers all take Winograd (F(4×4) where `f4x4` and the map suits it),
    /// running `path`'s kernels; images on separate threads from 2 threads when `byImages`.
    func workspace(_ path: SIMDPath, f4x4: Bool, byImages: Bool = false) -> Conv2D.Workspace {
        let ws = Conv2D.Workspace(winogradMinimumChannels: 1, winogradWeightGradientMinimumChannels: 1,
                                  winograd4x4MinimumChannels: f4x4 ? 1 : nil, winograd4x4WeightGradientMinimumChannels: f4x4 ? 1 : nil)
        ws.simd = path.kernels
        ws.winogradImagesInParallelMinimumThreads = byImages ? 2 : nil
        return ws
    }

    /// Forward, input, weight and bias gradients of a 3×3 pad-1 layer with `path`'s kernels and
    /// with the generic ones, compared bit for bit.
    func compare(_ path: SIMDPath, f4x4: Bool, batch: Int, c: Int, k: Int, h: Int, w: Int, threading: Threading,
                 byImages: Bool = false) throws {
        let g = Conv2D.Geometry(batch: batch, inChannels: c, height: h, width: w, outChannels: k, kernel: 3, pad: 1)
        var rng = SeededGenerator(seed: UInt64(h * 131 + w * 7 + c))
        let x = (0..<(batch * c * h * w)).map { _ in rng.uniform(-1, 1) }
        let weights = (0..<(k * c * 9)).map { _ in rng.uniform(-0.5, 0.5) }
        let b = (0..<k).map { _ in rng.uniform(-0.2, 0.2) }
        let dy = (0..<(batch * k * h * w)).map { _ in rng.uniform(-1, 1) }
        let dxStart = (0..<x.count).map { _ in rng.uniform(-1, 1) }
        let simd = try WinogradTests().run(g, x, weights, b, dy, dxStart, workspace: workspace(path, f4x4: f4x4, byImages: byImages),
                                           threading: threading)
        let generic = try WinogradTests().run(g, x, weights, b, dy, dxStart, workspace: workspace(.generic, f4x4: f4x4, byImages: byImages),
                                              threading: threading)
        let label = "\(path) F(\(f4x4 ? 4 : 2)×\(f4x4 ? 4 : 2)) \(batch)×\(c)→\(k) \(h)×\(w), \(threading.threads) thread(s)"
        for (name, a, e) in [("forward", simd.y, generic.y), ("input gradient", simd.dx, generic.dx),
                             ("weight gradient", simd.dw, generic.dw), ("bias gradient", simd.db, generic.db)] {
            let differing = zip(a, e).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "\(label), \(name): \(differing) of \(a.count) values differ from the generic kernels'")
        }
    }

    @Test("AVX2 and AVX-512 Winograd (F(2×2) and F(4×4): forward, input and weight gradients, edge tiles, 1 and 2 threads, images on threads) give the generic kernels' bits",
          .enabled(if: best >= .avx2, "the CPU has no AVX2 (+FMA, BMI2, F16C, MOVBE): only the generic kernels run here"),
          arguments: [SIMDPath.avx2, .avx512])
    func bitIdentical(path: SIMDPath) throws {
        guard path <= Self.best else { return }   // AVX-512 on an AVX2-only CPU: nothing to run (the AVX2 case ran)
        for f4x4 in [false, true] {
            // 38×40: eight-tile rows plus cut edge tiles; 7×9: every tile an edge one; 2 images share the chunk.
            try compare(path, f4x4: f4x4, batch: 2, c: 5, k: 7, h: 38, w: 40, threading: .serial)
            try compare(path, f4x4: f4x4, batch: 1, c: 9, k: 11, h: 7, w: 9, threading: .serial)
            try compare(path, f4x4: f4x4, batch: 2, c: 16, k: 8, h: 38, w: 40, threading: Threading(threads: 2, gemmsOnOwnThreads: true))
            try compare(path, f4x4: f4x4, batch: 3, c: 6, k: 5, h: 20, w: 38, threading: Threading(threads: 2, gemmsOnOwnThreads: true),
                        byImages: true)
        }
    }

    @Test("the AVX-512 case runs where the CPU has AVX-512",
          .enabled(if: best == .avx512, "the CPU has no AVX-512 F/BW/CD/DQ/VL"))
    func avx512Runs() throws {
        #expect(SIMDPath.avx512.kernels.name == "AVX-512")
        try compare(.avx512, f4x4: true, batch: 1, c: 8, k: 8, h: 40, w: 44, threading: .serial)
    }

    @Test("the rule: the best path the CPU's flags allow; SSD_SIMD forces a weaker one, and an unknown or unsupported one warns")
    func rule() {
        let avx2: Set<String> = ["sse4_2", "popcnt", "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"]
        let avx512 = avx2.union(["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"])
        #if arch(x86_64)
        #expect(SIMDPath.best(cpuFlags: avx512) == .avx512)
        #expect(SIMDPath.best(cpuFlags: avx2) == .avx2)
        #expect(SIMDPath.best(cpuFlags: avx2.subtracting(["fma"])) == .generic)
        #expect(SIMDPath.best(cpuFlags: avx512.subtracting(["avx512vl"])) == .avx2, "AVX-512 F without VL (Knights Landing)")
        #else
        #expect(SIMDPath.best(cpuFlags: avx512) == .generic, "no x86-64 kernels on this architecture")
        #endif
        #expect(SIMDPath.best(cpuFlags: []) == .generic)

        let best = SIMDPath.best(cpuFlags: avx512)
        #expect(SIMDPath.choose(environment: [:], cpuFlags: avx512) == (best, nil))
        #expect(SIMDPath.choose(environment: ["SSD_SIMD": "generic"], cpuFlags: avx512) == (.generic, nil))
        #expect(SIMDPath.choose(environment: ["SSD_SIMD": "GENERIC"], cpuFlags: avx2) == (.generic, nil))
        let unknown = SIMDPath.choose(environment: ["SSD_SIMD": "sse9"], cpuFlags: avx512)
        #expect(unknown.path == best && unknown.warning?.contains("SSD_SIMD=sse9 is not one of generic, avx2, avx512") == true)
        let beyond = SIMDPath.choose(environment: ["SSD_SIMD": "avx512"], cpuFlags: [])
        #expect(beyond.path == .generic && beyond.warning?.contains("needs CPU features this CPU lacks") == true)
        #if arch(x86_64)
        #expect(SIMDPath.choose(environment: ["SSD_SIMD": "avx2"], cpuFlags: avx512) == (.avx2, nil))
        #endif
    }

    @Test("every path's table says which instruction set it was compiled for")
    func names() {
        #expect(SIMDPath.allCases.map(\.kernels.name) == ["generic", "AVX2", "AVX-512"])
        #expect(SIMDKernels.generic.name == "generic")
    }
}
