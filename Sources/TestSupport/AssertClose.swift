/// Elementwise closeness of two float arrays, reported with the worst element.
public struct Closeness: CustomStringConvertible {
    public var maxAbsError: Double
    public var maxRelError: Double
    public var worstIndex: Int
    public var actual: Float
    public var expected: Float
    /// Whether every element satisfied |a − e| ≤ atol + rtol·|e| and the sizes matched.
    public var passed: Bool

    public var description: String {
        "max abs \(maxAbsError), max rel \(maxRelError); worst [\(worstIndex)]: actual \(actual) vs expected \(expected)"
    }
}

/// Compares `actual` with `expected` (same count) with |a − e| ≤ atol + rtol·|e| per element.
public func closeness(_ actual: [Float], _ expected: [Float], rtol: Double = 1e-4, atol: Double = 1e-6) -> Closeness {
    guard actual.count == expected.count else {
        return Closeness(maxAbsError: .infinity, maxRelError: .infinity, worstIndex: -1, actual: .nan, expected: .nan, passed: false)
    }
    var c = Closeness(maxAbsError: 0, maxRelError: 0, worstIndex: -1, actual: 0, expected: 0, passed: true)
    var worst = -Double.infinity
    for i in actual.indices {
        let a = Double(actual[i]), e = Double(expected[i])
        let err = abs(a - e)
        if !err.isFinite || err.isNaN { c.passed = false }
        c.maxAbsError = max(c.maxAbsError, err)
        c.maxRelError = max(c.maxRelError, err / max(abs(e), 1e-12))
        let excess = err - (atol + rtol * abs(e))
        if excess > worst || excess.isNaN {
            worst = excess.isNaN ? .infinity : excess
            c.worstIndex = i; c.actual = actual[i]; c.expected = expected[i]
        }
        if excess > 0 || excess.isNaN { c.passed = false }
    }
    return c
}
