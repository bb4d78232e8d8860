/// A dense Float32 tensor: a shape (NCHW for images) and contiguous row-major storage.
///
/// There is no autograd graph: kernels take and fill buffers explicitly, with forward and
/// backward functions side by side (see `Kernels/`).
public struct Tensor: Equatable, Sendable {
    /// Extent of each axis, outermost first (N, C, H, W for feature maps).
    public var shape: [Int]
    /// The elements in row-major order; `storage.count == shape.product`.
    public var storage: [Float]

    /// A tensor of zeros with the given shape.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.storage = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// A tensor with the given shape filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.shape = shape
        self.storage = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// Wraps existing storage; throws when the element count does not match the shape.
    public init(shape: [Int], storage: [Float]) throws(TensorError) {
        let need = shape.reduce(1, *)
        guard need == storage.count else {
            throw .shapeMismatch(kernel: "Tensor", argument: "storage", expected: shape, actual: [storage.count])
        }
        self.shape = shape
        self.storage = storage
    }

    /// Number of elements.
    public var count: Int { storage.count }

    /// Reads the element at a multi-index (for tests and small code paths, not hot loops).
    public subscript(index: Int...) -> Float {
        get { storage[offset(index)] }
        set { storage[offset(index)] = newValue }
    }

    private func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index rank \(index.count) != tensor rank \(shape.count)")
        var o = 0
        for (i, n) in zip(index, shape) {
            precondition(i >= 0 && i < n, "index \(index) out of bounds for shape \(shape)")
            o = o * n + i
        }
        return o
    }
}

extension Tensor {
    /// The same storage seen as N × (everything else), like MXNet's Flatten. No copy of meaning:
    /// storage is already contiguous, so flatten only changes the shape.
    public func flattened() -> Tensor {
        var t = self
        let n = shape.first ?? 1
        t.shape = [n, n == 0 ? 0 : count / n]
        return t
    }
}
