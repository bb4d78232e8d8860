/// Errors raised by the tensor kernels when their arguments do not fit together.
///
/// Every case names the kernel and both shapes, so a caller can tell which layer was
/// wired wrongly without a debugger.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// A buffer's element count does not match what the kernel's geometry requires.
    case shapeMismatch(kernel: String, argument: String, expected: [Int], actual: [Int])
    /// The geometry itself is impossible (for example a kernel larger than the padded input).
    case invalidGeometry(kernel: String, reason: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(kernel, argument, expected, actual):
            return "\(kernel): \(argument) has shape \(actual) but the geometry needs \(expected); "
                + "check the layer's configuration against its input"
        case let .invalidGeometry(kernel, reason):
            return "\(kernel): invalid geometry: \(reason)"
        }
    }
}

extension TensorError {
    /// Throws `shapeMismatch` when `count` differs from the product of `expected`.
    @inlinable
    static func check(
        _ kernel: String, _ argument: String, count: Int, expected: [Int]
    ) throws(TensorError) {
        let need = expected.reduce(1, *)
        if count != need {
            throw .shapeMismatch(kernel: kernel, argument: argument, expected: expected, actual: [count])
        }
    }
}
