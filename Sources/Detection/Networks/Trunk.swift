import Tensor

/// One layer of a network's graph. Nodes are stored in topological order: every input index
/// is smaller than the node's own, and `TrunkNode.image` (−1) names the input images.
struct TrunkNode {
    enum Op {
        /// Convolution (+ ReLU when `relu`), weight and optional bias parameter indices.
        case conv(Conv2D.Geometry, weight: Int, bias: Int?, relu: Bool)
        case pool(MaxPool2D.Geometry)
        /// Batch normalization with frozen (global) statistics (+ ReLU when `relu`).
        case batchNorm(BatchNorm.Geometry, gamma: Int, beta: Int, mean: Int, variance: Int, relu: Bool)
        /// Elementwise sum of the two inputs (ResNet's `_plusN`).
        case add
    }
    static let image = -1
    var name: String
    var op: Op
    var inputs: [Int]
    /// Output channels and spatial size (square maps) for batch 1.
    var channels: Int, size: Int
}

/// Builds a graph of `TrunkNode`s and the `ParameterSpec`s they use, with MXNet's names
/// (`<layer>_weight`, `<layer>_bias`, `<layer>_gamma`, `<layer>_beta`, `<layer>_moving_mean`,
/// `<layer>_moving_var`).
struct TrunkBuilder {
    private(set) var specs: [ParameterSpec] = []
    private(set) var nodes: [TrunkNode] = []
    let imageShape: Int

    init(imageShape: Int) { self.imageShape = imageShape }

    /// Channels and size of a node's output (the image for `TrunkNode.image`).
    func shape(of node: Int) -> (channels: Int, size: Int) {
        node == TrunkNode.image ? (3, imageShape) : (nodes[node].channels, nodes[node].size)
    }

    /// The most recent node (or the image when there is none yet).
    var last: Int { nodes.isEmpty ? TrunkNode.image : nodes.count - 1 }

    private mutating func addSpec(_ spec: ParameterSpec) -> Int {
        specs.append(spec)
        return specs.count - 1
    }

    private mutating func append(_ node: TrunkNode) -> Int {
        nodes.append(node)
        return nodes.count - 1
    }

    @discardableResult
    mutating func conv(_ name: String, from input: Int, filters: Int, kernel: Int, stride: Int = 1, pad: Int,
                       dilation: Int = 1, bias: Bool = true, relu: Bool = true) -> Int {
        let (c, s) = shape(of: input)
        let g = Conv2D.Geometry(batch: 1, inChannels: c, height: s, width: s, outChannels: filters, kernel: kernel,
                                stride: stride, pad: pad, dilation: dilation)
        let w = addSpec(ParameterSpec(name: "\(name)_weight", shape: g.weightShape, initializer: .xavier))
        let b = bias ? addSpec(ParameterSpec(name: "\(name)_bias", shape: [filters], initializer: .zeros)) : nil
        return append(TrunkNode(name: name, op: .conv(g, weight: w, bias: b, relu: relu), inputs: [input], channels: filters, size: g.outHeight))
    }

    @discardableResult
    mutating func pool(_ name: String, from input: Int, kernel: Int = 2, stride: Int = 2, pad: Int = 0, full: Bool = false) -> Int {
        let (c, s) = shape(of: input)
        let g = MaxPool2D.Geometry(batch: 1, channels: c, height: s, width: s, kernel: kernel, stride: stride, pad: pad,
                                   convention: full ? .full : .valid)
        return append(TrunkNode(name: name, op: .pool(g), inputs: [input], channels: c, size: g.outHeight))
    }

    /// Frozen batch normalization (MXNet's defaults for a fresh layer: gamma 1, beta 0, moving
    /// mean 0, moving variance 1; the moving statistics are `aux:` arrays, never trained).
    @discardableResult
    mutating func batchNorm(_ name: String, from input: Int, eps: Float, fixGamma: Bool = false, relu: Bool) -> Int {
        let (c, s) = shape(of: input)
        let g = BatchNorm.Geometry(batch: 1, channels: c, height: s, width: s, eps: eps, fixGamma: fixGamma, useGlobalStats: true)
        let gamma = addSpec(ParameterSpec(name: "\(name)_gamma", shape: [c], initializer: .ones))
        let beta = addSpec(ParameterSpec(name: "\(name)_beta", shape: [c], initializer: .zeros))
        let mean = addSpec(ParameterSpec(name: "\(name)_moving_mean", shape: [c], initializer: .zeros, isAuxiliary: true))
        let variance = addSpec(ParameterSpec(name: "\(name)_moving_var", shape: [c], initializer: .ones, isAuxiliary: true))
        return append(TrunkNode(name: name, op: .batchNorm(g, gamma: gamma, beta: beta, mean: mean, variance: variance, relu: relu),
                                inputs: [input], channels: c, size: s))
    }

    @discardableResult
    mutating func add(_ name: String, _ a: Int, _ b: Int) -> Int {
        let (ca, sa) = shape(of: a), (cb, sb) = shape(of: b)
        precondition(ca == cb && sa == sb, "\(name): cannot add \(ca)×\(sa)² and \(cb)×\(sb)²")
        return append(TrunkNode(name: name, op: .add, inputs: [a, b], channels: ca, size: sa))
    }

    /// Adds a parameter that no node owns (e.g. `relu4_3_scale`, the heads); returns its index.
    mutating func parameter(_ spec: ParameterSpec) -> Int { addSpec(spec) }
}
