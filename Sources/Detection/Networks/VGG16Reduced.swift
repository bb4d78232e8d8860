/// MXNet's VGG16-reduced base (facts file A.1): 13 3×3 convolutions with ReLU, pool3 in
/// `full` (ceil) convention, pool5 3×3 stride 1 pad 1, atrous fc6 (3×3, dilation 6) and fc7
/// (1×1). Each convolution node is conv + ReLU, so node `conv4_3` outputs `relu4_3`.
extension TrunkBuilder {
    /// Builds the base; returns the nodes whose outputs SSD taps (`relu4_3`, `relu7`).
    mutating func vgg16Reduced(widths w: [Int]) -> [Int] {
        precondition(w.count == 15, "VGG16-reduced needs 15 widths (conv1_1 … conv5_3, fc6, fc7)")
        var k = 0
        func next() -> Int { defer { k += 1 }; return w[k] }
        for (block, convs) in [(1, 2), (2, 2), (3, 3)] {
            for i in 1...convs { conv("conv\(block)_\(i)", from: last, filters: next(), kernel: 3, pad: 1) }
            pool("pool\(block)", from: last, full: block == 3)
        }
        for i in 1...3 { conv("conv4_\(i)", from: last, filters: next(), kernel: 3, pad: 1) }
        let relu4_3 = last
        pool("pool4", from: last)
        for i in 1...3 { conv("conv5_\(i)", from: last, filters: next(), kernel: 3, pad: 1) }
        pool("pool5", from: last, kernel: 3, stride: 1, pad: 1)
        conv("fc6", from: last, filters: next(), kernel: 3, pad: 6, dilation: 6)
        conv("fc7", from: last, filters: next(), kernel: 1, pad: 0)
        return [relu4_3, last]
    }
}
