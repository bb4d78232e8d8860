import Tensor
import Testing

@Suite("BLASKernelChoice: which OpenBLAS kernels run, and the sgemm self-check that guards a switch")
struct BLASKernelChoiceTests {
    static let avx2CPU: Set<String> = ["pni", "avx", "avx2", "fma"]
    static let avx512CPU = avx2CPU.union(["avx512f", "avx512bw", "avx512vl", "avx512dq"])
    static let bf16CPU = avx512CPU.union(["avx512_bf16"])

    @Test("core names map to their kernel family; unknown names to none")
    func families() {
        #expect(BLASKernelChoice.family(ofCore: "Prescott") == .sse3)
        #expect(BLASKernelChoice.family(ofCore: "HASWELL") == .avx2)
        #expect(BLASKernelChoice.family(ofCore: "Zen") == .avx2)
        #expect(BLASKernelChoice.family(ofCore: "SkylakeX") == .avx512)
        #expect(BLASKernelChoice.family(ofCore: "Cooperlake") == .avx512bf16)
        #expect(BLASKernelChoice.family(ofCore: "Neoverse") == nil)
        // Every family's own core name maps back to it.
        for f in BLASKernelChoice.Family.allCases { #expect(BLASKernelChoice.family(ofCore: f.coreName) == f) }
    }

    @Test("the CPU's flags give the best family")
    func bestFamily() {
        #expect(BLASKernelChoice.bestFamily(cpuFlags: Self.bf16CPU) == .avx512bf16)
        #expect(BLASKernelChoice.bestFamily(cpuFlags: Self.avx512CPU) == .avx512)
        #expect(BLASKernelChoice.bestFamily(cpuFlags: Self.avx2CPU) == .avx2)
        #expect(BLASKernelChoice.bestFamily(cpuFlags: ["avx512f"]) == nil)   // no SSE3 flag either: unknown CPU
        #expect(BLASKernelChoice.bestFamily(cpuFlags: []) == nil)
    }

    @Test("the rule: try the CPU's family only when OpenBLAS's own is weaker")
    func plan() {
        typealias K = BLASKernelChoice
        // OpenBLAS older than the CPU falls back to Prescott.
        #expect(K.plan(environment: [:], loadedCore: "Prescott", cpuFlags: Self.bf16CPU) == .tryCore("Cooperlake"))
        // A weaker core forced in the environment.
        #expect(K.plan(environment: ["OPENBLAS_CORETYPE": "Haswell"], loadedCore: "Haswell", cpuFlags: Self.avx512CPU) == .tryCore("SkylakeX"))
        // Already the best, or better than we would pick, or a core the rule does not know: keep.
        #expect(K.plan(environment: [:], loadedCore: "Cooperlake", cpuFlags: Self.bf16CPU) == .keep(warning: nil))
        #expect(K.plan(environment: [:], loadedCore: "Zen", cpuFlags: Self.avx2CPU) == .keep(warning: nil))
        #expect(K.plan(environment: [:], loadedCore: "Cooperlake", cpuFlags: Self.avx512CPU) == .keep(warning: nil))
        #expect(K.plan(environment: [:], loadedCore: "SapphireRapidsPlus", cpuFlags: Self.bf16CPU) == .keep(warning: nil))
        // A check child, and a process restarted after a passed check.
        #expect(K.plan(environment: [K.selfCheckVariable: "1", "OPENBLAS_CORETYPE": "Cooperlake"], loadedCore: "Cooperlake",
                       cpuFlags: Self.bf16CPU) == .runSelfCheck)
        #expect(K.plan(environment: [K.decisionVariable: "checked:Cooperlake"], loadedCore: "Cooperlake", cpuFlags: Self.bf16CPU)
                == .checked("Cooperlake"))
        // A rejected candidate is not tried again, and the weaker kernels come with a warning.
        guard case .keep(let warning?) = K.plan(environment: [K.decisionVariable: "rejected:Cooperlake"], loadedCore: "Prescott",
                                                cpuFlags: Self.bf16CPU) else {
            Issue.record("a rejected candidate must be kept with a warning"); return
        }
        #expect(warning.contains("self-check") && warning.contains("Prescott"))
    }

    @Test("a launcher passes the decision on and never the check marker")
    func environmentForChildren() {
        let env = BLASKernelChoice.environment(for: ["PATH": "/bin", BLASKernelChoice.selfCheckVariable: "1"])
        #expect(env["PATH"] == "/bin")
        #expect(env[BLASKernelChoice.selfCheckVariable] == nil)
    }

    @Test("the self-check passes OpenBLAS's kernels as the environment gives them, and a plain loop")
    func selfCheckPasses() {
        let report = BLASSelfCheck.run()
        #expect(report.passed, "\(report)")
        // A correct kernel that sums in another order (backwards) also passes: the bound is not bitwise.
        let reversed = BLASSelfCheck.run { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            for i in 0..<m {
                for j in 0..<n {
                    var s: Float = 0
                    for p in stride(from: k - 1, through: 0, by: -1) {
                        s += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j])
                    }
                    c[i * ldc + j] = alpha * s + beta * c[i * ldc + j]
                }
            }
        }
        #expect(reversed.passed, "\(reversed)")
    }

    @Test("the self-check fails a disagreeing kernel: one wrong element, a dropped term, a NaN")
    func selfCheckRejectsFaultyKernels() {
        func faulty(_ damage: @escaping (Int, Int, Int, UnsafeMutablePointer<Float>, Int) -> Void) -> BLASSelfCheck.Report {
            BLASSelfCheck.run { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
                Gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
                damage(m, n, k, c, ldc)
            }
        }
        // A last-lane error of 1e-4 relative, only in the larger shapes (as a mis-vectorised tail would be).
        let oneElement = faulty { m, n, k, c, ldc in if m > 64 { c[(m - 1) * ldc + n - 1] *= 1 + 1e-4 } }
        #expect(!oneElement.passed, "\(oneElement)")
        #expect(oneElement.worst.contains("[129,66]") || oneElement.worst.contains("[95,199]"))
        // A kernel that skips the last term of the sum.
        let droppedTerm = BLASSelfCheck.run { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            Gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: max(1, k - 1), alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
        #expect(!droppedTerm.passed)
        let nan = faulty { _, _, _, c, _ in c[0] = .nan }
        #expect(!nan.passed && nan.worstRatio == .infinity)
    }
}
