// Concatenation along one axis of row-major tensors, seen as [outer, part_i, inner]:
// channel concat of NCHW maps (outer N, inner H·W) and the SSD heads' concat of flattened
// per-scale predictions (outer N, inner 1).

/// Joins tensors along one axis; backward splits the gradient back.
public enum Concat {
    /// Writes the parts side by side: for every outer index, part 0's `sizes[0]·inner`
    /// values, then part 1's, … Each part's count must be outer·sizes[i]·inner.
    public static func forward(
        parts: [UnsafeBufferPointer<Float>], outer: Int, inner: Int, output: UnsafeMutableBufferPointer<Float>
    ) throws(TensorError) {
        let sizes = try axisSizes(parts.map(\.count), outer: outer, inner: inner, output: output.count, kernel: "Concat")
        let total = sizes.reduce(0, +)
        var offset = 0
        for (part, size) in zip(parts, sizes) {
            let run = size * inner
            for o in 0..<outer {
                (output.baseAddress! + o * total * inner + offset).update(from: part.baseAddress! + o * run, count: run)
            }
            offset += run
        }
    }

    /// Adds each part's slice of `gradOutput` into its gradient (nil = not needed). Accumulates.
    public static func backward(
        gradOutput: UnsafeBufferPointer<Float>, outer: Int, inner: Int,
        gradParts: [UnsafeMutableBufferPointer<Float>?], partCounts: [Int]
    ) throws(TensorError) {
        let sizes = try axisSizes(partCounts, outer: outer, inner: inner, output: gradOutput.count, kernel: "Concat.backward")
        let total = sizes.reduce(0, +)
        var offset = 0
        for (i, size) in sizes.enumerated() {
            let run = size * inner
            if let grad = gradParts[i] {
                guard grad.count == partCounts[i] else {
                    throw .shapeMismatch(kernel: "Concat.backward", argument: "gradParts[\(i)]", expected: [partCounts[i]], actual: [grad.count])
                }
                for o in 0..<outer {
                    let src = gradOutput.baseAddress! + o * total * inner + offset, dst = grad.baseAddress! + o * run
                    for j in 0..<run { dst[j] += src[j] }
                }
            }
            offset += run
        }
    }

    private static func axisSizes(_ counts: [Int], outer: Int, inner: Int, output: Int, kernel: String) throws(TensorError) -> [Int] {
        guard outer > 0, inner > 0 else { throw .invalidGeometry(kernel: kernel, reason: "outer \(outer) and inner \(inner) must be positive") }
        var sizes: [Int] = []
        for (i, c) in counts.enumerated() {
            guard c % (outer * inner) == 0 else {
                throw .shapeMismatch(kernel: kernel, argument: "part \(i)", expected: [outer, -1, inner], actual: [c])
            }
            sizes.append(c / (outer * inner))
        }
        let total = sizes.reduce(0, +)
        guard output == outer * total * inner else {
            throw .shapeMismatch(kernel: kernel, argument: "output", expected: [outer, total, inner], actual: [output])
        }
        return sizes
    }
}
