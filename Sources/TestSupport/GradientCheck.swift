import Tensor

/// Finite-difference gradient checking shared by every kernel test.
///
/// The scalar checked is `L = Σ output ⊙ r` for a fixed random `r`, so every output element
/// matters; its analytic gradient is what backward returns when given `gradOutput = r`.
/// Numerical gradients are central differences accumulated in Double.
public enum GradientCheck {
    /// Outcome of one check, with the worst coordinate (llm.c `check_tensor` style).
    public struct Report: CustomStringConvertible {
        public var checked: Int
        public var maxAbsError: Double
        public var maxRelError: Double
        public var worstIndex: Int
        public var worstAnalytic: Double
        public var worstNumeric: Double
        /// Whether every checked coordinate satisfied |a − n| ≤ atol + rtol·|n|.
        public var passed: Bool

        public var description: String {
            "checked \(checked) coords: max abs \(maxAbsError), max rel \(maxRelError); worst index \(worstIndex): "
                + "analytic \(worstAnalytic) vs numeric \(worstNumeric)"
        }
    }

    /// `Σ output ⊙ weights` in Double.
    public static func weightedSum(_ output: [Float], _ weights: [Float]) -> Double {
        precondition(output.count == weights.count)
        var s: Double = 0
        for i in output.indices { s += Double(output[i]) * Double(weights[i]) }
        return s
    }

    /// Compares `analytic` with central differences of `loss` around `point`.
    /// - Parameters:
    ///   - point: where the derivative is taken; perturbed one coordinate at a time and restored.
    ///   - eps: step size (choose per kernel: large enough for Float32 forward passes).
    ///   - maxCoordinates: at most this many coordinates, spread evenly (ggml `grad_nmax`).
    ///   - atol/rtol: per-coordinate tolerance |a − n| ≤ atol + rtol·|n|.
    public static func check(
        point: inout [Float], analytic: [Float], eps: Float, maxCoordinates: Int = 64,
        atol: Double = 1e-3, rtol: Double = 1e-2, loss: ([Float]) throws -> Double
    ) rethrows -> Report {
        precondition(point.count == analytic.count, "analytic gradient has \(analytic.count) values for \(point.count) inputs")
        let n = point.count
        let stride = max(1, n / max(1, maxCoordinates))
        var report = Report(checked: 0, maxAbsError: 0, maxRelError: 0, worstIndex: -1, worstAnalytic: 0, worstNumeric: 0, passed: true)
        var worstExcess = -Double.infinity
        var i = 0
        while i < n {
            let saved = point[i]
            point[i] = saved + eps
            let plus = try loss(point)
            point[i] = saved - eps
            let minus = try loss(point)
            point[i] = saved
            let numeric = (plus - minus) / (2 * Double(eps))
            let a = Double(analytic[i])
            let absErr = abs(a - numeric)
            let relErr = absErr / max(abs(numeric), abs(a), 1e-6)
            report.maxAbsError = max(report.maxAbsError, absErr)
            report.maxRelError = max(report.maxRelError, relErr)
            let excess = absErr - (atol + rtol * abs(numeric))
            if excess > worstExcess {
                worstExcess = excess
                report.worstIndex = i; report.worstAnalytic = a; report.worstNumeric = numeric
            }
            if excess > 0 { report.passed = false }
            report.checked += 1
            i += stride
        }
        return report
    }
}
