/// The error-feedback residuals a worker keeps, one float32 array per key (MXNet's
/// `residual_[key]`): what compression has not yet sent of the key's gradients. Created zero on
/// a key's first compressed push; a key's slices use their ranges of the one array, so the
/// residual does not depend on how many servers the key is cut over.
public final class ResidualStore {
    private var residuals: [Int: [Float]] = [:]

    /// An empty store.
    public init() {}

    /// The residual of `key` (nil before its first compressed push).
    public func residual(of key: Int) -> [Float]? { residuals[key] }

    /// Calls `body` with the residual of `range` in `key`'s array of `count` values (zero the
    /// first time).
    func withResidual<R>(key: Int, count: Int, range: Range<Int>, _ body: (UnsafeMutableBufferPointer<Float>) throws -> R) rethrows -> R {
        if residuals[key]?.count != count { residuals[key] = [Float](repeating: 0, count: count) }
        return try residuals[key, default: []].withUnsafeMutableBufferPointer { all in
            try body(UnsafeMutableBufferPointer(rebasing: all[range]))
        }
    }

    /// Bytes held (4 per value of every key pushed so far).
    public var byteCount: Int { residuals.values.reduce(0) { $0 + $1.count * 4 } }
}
