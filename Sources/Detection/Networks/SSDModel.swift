import Foundation
import Tensor

/// The SSD network: VGG16-reduced trunk (with MXNet's layer names), extra feature layers and
/// per-source class/box heads, over one `ParameterStore`. Forward keeps what backward needs in
/// a `ForwardState`; backward accumulates every parameter's gradient into the store.
///
/// Layout of the outputs (as MXNet's symbol): box offsets `B × A·4` and class logits
/// `B × A × (C+1)`, anchors ordered by source, row, column, anchor-in-cell.
public final class SSDModel {
    /// One layer of the trunk.
    struct Node {
        enum Op {
            /// Convolution (+ ReLU): parameter indices of weight and bias.
            case conv(Conv2D.Geometry, weight: Int, bias: Int)
            case pool(MaxPool2D.Geometry)
        }
        var name: String
        var op: Op
        /// Output channels and spatial size for batch 1.
        var channels: Int, size: Int
    }

    /// One source feature map and its heads.
    struct Head {
        var node: Int                  // trunk node whose output feeds the heads
        var normalizeScale: Int?       // relu4_3_scale parameter index
        var channels: Int, size: Int, anchors: Int
        var loc: (weight: Int, bias: Int), cls: (weight: Int, bias: Int)
    }

    public let config: SSDConfig
    public let parameters: ParameterStore
    /// A × 4 anchors (normalized corners), all sources.
    public let anchors: [Float]
    public var anchorCount: Int { anchors.count / 4 }
    var nodes: [Node] = []
    var heads: [Head] = []
    let workspace = Conv2D.Workspace()
    /// Threads for the kernels' own loops.
    public var threading = Threading(threads: ProcessInfo.processInfo.activeProcessorCount)

    /// Builds the network for `config`; parameters initialised as MXNet's SSD does (seeded).
    public init(config: SSDConfig, seed: UInt64 = 1) throws {
        self.config = config
        let featureSizes = try config.featureSizes()
        var specs: [ParameterSpec] = []
        var nodes: [Node] = []
        var c = 3, s = config.imageShape
        func conv(_ name: String, _ out: Int, kernel: Int, stride: Int = 1, pad: Int, dilation: Int = 1) {
            let g = Conv2D.Geometry(batch: 1, inChannels: c, height: s, width: s, outChannels: out, kernel: kernel,
                                    stride: stride, pad: pad, dilation: dilation)
            specs.append(ParameterSpec(name: "\(name)_weight", shape: g.weightShape, initializer: .xavier))
            specs.append(ParameterSpec(name: "\(name)_bias", shape: [out], initializer: .zeros))
            nodes.append(Node(name: name, op: .conv(g, weight: specs.count - 2, bias: specs.count - 1), channels: out, size: g.outHeight))
            c = out; s = g.outHeight
        }
        func pool(_ name: String, kernel: Int = 2, stride: Int = 2, pad: Int = 0, full: Bool = false) {
            let g = MaxPool2D.Geometry(batch: 1, channels: c, height: s, width: s, kernel: kernel, stride: stride, pad: pad,
                                       convention: full ? .full : .valid)
            nodes.append(Node(name: name, op: .pool(g), channels: c, size: g.outHeight))
            s = g.outHeight
        }
        let w = config.baseWidths
        conv("conv1_1", w[0], kernel: 3, pad: 1); conv("conv1_2", w[1], kernel: 3, pad: 1); pool("pool1")
        conv("conv2_1", w[2], kernel: 3, pad: 1); conv("conv2_2", w[3], kernel: 3, pad: 1); pool("pool2")
        conv("conv3_1", w[4], kernel: 3, pad: 1); conv("conv3_2", w[5], kernel: 3, pad: 1); conv("conv3_3", w[6], kernel: 3, pad: 1)
        pool("pool3", full: true)
        conv("conv4_1", w[7], kernel: 3, pad: 1); conv("conv4_2", w[8], kernel: 3, pad: 1); conv("conv4_3", w[9], kernel: 3, pad: 1)
        var sourceNodes = [nodes.count - 1]
        pool("pool4")
        conv("conv5_1", w[10], kernel: 3, pad: 1); conv("conv5_2", w[11], kernel: 3, pad: 1); conv("conv5_3", w[12], kernel: 3, pad: 1)
        pool("pool5", kernel: 3, stride: 1, pad: 1)
        conv("fc6", w[13], kernel: 3, pad: 6, dilation: 6); conv("fc7", w[14], kernel: 1, pad: 0)
        sourceNodes.append(nodes.count - 1)
        for (k, e) in config.extras.enumerated() {
            conv("multi_feat_\(k + 2)_conv_1x1_conv", e.bottleneck, kernel: 1, pad: 0)
            conv("multi_feat_\(k + 2)_conv_3x3_conv", e.filters, kernel: 3, stride: e.stride, pad: e.pad)
            sourceNodes.append(nodes.count - 1)
        }
        // relu4_3's L2 normalization scale, then the heads (biases: lr_mult 2, init 0).
        specs.append(ParameterSpec(name: "relu4_3_scale", shape: [1, nodes[sourceNodes[0]].channels, 1, 1],
                                   initializer: .constant(config.normalizationScale), wdMult: 0.1))
        let scaleIndex = specs.count - 1
        var heads: [Head] = []
        var anchors: [Float] = []
        for (k, node) in sourceNodes.enumerated() {
            let name = config.sourceNames[k], ch = nodes[node].channels, a = config.anchorsPerCell[k]
            precondition(nodes[node].size == featureSizes[k], "feature size bookkeeping for \(name)")
            specs.append(ParameterSpec(name: "\(name)_loc_pred_conv_weight", shape: [a * 4, ch, 3, 3], initializer: .xavier))
            specs.append(ParameterSpec(name: "\(name)_loc_pred_conv_bias", shape: [a * 4], initializer: .zeros, lrMult: 2))
            specs.append(ParameterSpec(name: "\(name)_cls_pred_conv_weight", shape: [a * (config.numClasses + 1), ch, 3, 3], initializer: .xavier))
            specs.append(ParameterSpec(name: "\(name)_cls_pred_conv_bias", shape: [a * (config.numClasses + 1)], initializer: .zeros, lrMult: 2))
            let n = specs.count
            heads.append(Head(node: node, normalizeScale: k == 0 ? scaleIndex : nil, channels: ch, size: nodes[node].size, anchors: a,
                              loc: (n - 4, n - 3), cls: (n - 2, n - 1)))
            let step = config.steps.map { ($0[k], $0[k]) }
            anchors += AnchorGenerator(sizes: config.sizes[k], ratios: config.ratios[k], steps: step).anchors(height: nodes[node].size, width: nodes[node].size)
        }
        self.nodes = nodes
        self.heads = heads
        self.anchors = anchors
        self.parameters = ParameterStore(specs: specs, seed: seed)
    }

    /// Multiply-adds of one image's forward pass through every convolution (trunk and heads).
    public var forwardMultiplyAdds: Int {
        var total = 0
        for n in nodes { if case let .conv(g, _, _) = n.op { total += g.multiplyAdds } }
        for h in heads {
            total += h.size * h.size * h.channels * 9 * h.anchors * (4 + config.numClasses + 1)
        }
        return total
    }

    /// What forward keeps for backward.
    public struct ForwardState {
        var batch: Int
        var input: [Float]
        var outputs: [[Float]]            // trunk node outputs (post-ReLU for convs)
        var pools: [Int: MaxPool2D.Saved]
        var normalized: [Float]           // relu4_3 after L2 normalization × scale
        var l2: L2Normalization.Saved?
        /// B × A·4 box offsets.
        public var loc: [Float]
        /// B × A × (C+1) class logits.
        public var cls: [Float]
    }

    /// Runs the network on `batch` images (B × 3 × S × S, mean-subtracted).
    public func forward(images: [Float], batch: Int) throws -> ForwardState {
        let s = config.imageShape
        precondition(images.count == batch * 3 * s * s, "images hold \(images.count) values, expected \(batch)×3×\(s)×\(s)")
        var state = ForwardState(batch: batch, input: images, outputs: [], pools: [:], normalized: [], l2: nil, loc: [], cls: [])
        try parameters.values.withUnsafeBufferPointer { p in
            for (i, node) in nodes.enumerated() {
                let input = i == 0 ? images : state.outputs[i - 1]
                var out = [Float](repeating: 0, count: batch * node.channels * node.size * node.size)
                switch node.op {
                case let .conv(g1, w, b):
                    var g = g1; g.batch = batch
                    try input.withUnsafeBufferPointer { x in try out.withUnsafeMutableBufferPointer { y in
                        try Conv2D.forward(g, input: x, weight: view(p, w), bias: view(p, b), output: y, workspace: workspace, threading: threading)
                        try ReLU.forward(input: UnsafeBufferPointer(y), output: y)
                    } }
                case let .pool(g1):
                    var g = g1; g.batch = batch
                    state.pools[i] = try input.withUnsafeBufferPointer { x in try out.withUnsafeMutableBufferPointer { y in
                        try MaxPool2D.forward(g, input: x, output: y, threading: threading)
                    } }
                }
                state.outputs.append(out)
            }
            // relu4_3 → L2 normalization × scale for its heads.
            let h0 = heads[0]
            let lg = L2Normalization.Geometry(batch: batch, channels: h0.channels, height: h0.size, width: h0.size)
            state.normalized = [Float](repeating: 0, count: state.outputs[h0.node].count)
            state.l2 = try state.outputs[h0.node].withUnsafeBufferPointer { x in try state.normalized.withUnsafeMutableBufferPointer { y in
                try L2Normalization.forward(lg, input: x, scale: view(p, h0.normalizeScale!), output: y)
            } }
            // Heads: conv → NHWC flatten → concatenate over sources.
            var locParts: [[Float]] = [], clsParts: [[Float]] = []
            for (k, h) in heads.enumerated() {
                let source = k == 0 ? state.normalized : state.outputs[h.node]
                for (params, out) in [(h.loc, h.anchors * 4), (h.cls, h.anchors * (config.numClasses + 1))] {
                    let g = Conv2D.Geometry(batch: batch, inChannels: h.channels, height: h.size, width: h.size, outChannels: out, kernel: 3, pad: 1)
                    var y = [Float](repeating: 0, count: batch * out * h.size * h.size), flat = y
                    try source.withUnsafeBufferPointer { x in try y.withUnsafeMutableBufferPointer { yp in
                        try Conv2D.forward(g, input: x, weight: view(p, params.weight), bias: view(p, params.bias), output: yp, workspace: workspace, threading: threading)
                    } }
                    try y.withUnsafeBufferPointer { yp in try flat.withUnsafeMutableBufferPointer { fp in
                        try NHWCFlatten.forward(batch: batch, channels: out, height: h.size, width: h.size, input: yp, output: fp)
                    } }
                    if out == h.anchors * 4 { locParts.append(flat) } else { clsParts.append(flat) }
                }
            }
            state.loc = try concat(locParts, batch: batch)
            state.cls = try concat(clsParts, batch: batch)
        }
        return state
    }

    /// Accumulates every parameter's gradient (into `parameters.gradients`) from the gradients
    /// of the two outputs. Frozen parameters get none (their gradients stay as they were).
    public func backward(_ state: ForwardState, gradLoc: [Float], gradCls: [Float]) throws {
        let batch = state.batch
        var grads = state.outputs.map { [Float](repeating: 0, count: $0.count) }
        var gradNormalized = [Float](repeating: 0, count: state.normalized.count)
        let frozen = parameters.frozen
        // Split the concatenated output gradients back per source.
        let locCounts = heads.map { batch * $0.size * $0.size * $0.anchors * 4 }
        let clsCounts = heads.map { batch * $0.size * $0.size * $0.anchors * (config.numClasses + 1) }
        let locSplit = try split(gradLoc, counts: locCounts, batch: batch), clsSplit = try split(gradCls, counts: clsCounts, batch: batch)
        try parameters.values.withUnsafeBufferPointer { p in
            try parameters.gradients.withUnsafeMutableBufferPointer { gp in
                for (k, h) in heads.enumerated().reversed() {
                    let source = k == 0 ? state.normalized : state.outputs[h.node]
                    for (params, out, flatGrad) in [(h.loc, h.anchors * 4, locSplit[k]), (h.cls, h.anchors * (config.numClasses + 1), clsSplit[k])] {
                        let g = Conv2D.Geometry(batch: batch, inChannels: h.channels, height: h.size, width: h.size, outChannels: out, kernel: 3, pad: 1)
                        var dy = [Float](repeating: 0, count: batch * out * h.size * h.size)
                        try flatGrad.withUnsafeBufferPointer { f in try dy.withUnsafeMutableBufferPointer { d in
                            try NHWCFlatten.backward(batch: batch, channels: out, height: h.size, width: h.size, gradOutput: f, gradInput: d)
                        } }
                        try source.withUnsafeBufferPointer { x in try dy.withUnsafeBufferPointer { d in
                            if k == 0 {
                                try gradNormalized.withUnsafeMutableBufferPointer { dx in
                                    try Conv2D.backward(g, input: x, weight: view(p, params.weight), gradOutput: d, gradInput: dx,
                                                        gradWeight: frozen.contains(params.weight) ? nil : mview(gp, params.weight),
                                                        gradBias: frozen.contains(params.bias) ? nil : mview(gp, params.bias), workspace: workspace, threading: threading)
                                }
                            } else {
                                try grads[h.node].withUnsafeMutableBufferPointer { dx in
                                    try Conv2D.backward(g, input: x, weight: view(p, params.weight), gradOutput: d, gradInput: dx,
                                                        gradWeight: frozen.contains(params.weight) ? nil : mview(gp, params.weight),
                                                        gradBias: frozen.contains(params.bias) ? nil : mview(gp, params.bias), workspace: workspace, threading: threading)
                                }
                            }
                        } }
                    }
                }
                // Through the L2 normalization into relu4_3.
                let h0 = heads[0]
                let lg = L2Normalization.Geometry(batch: batch, channels: h0.channels, height: h0.size, width: h0.size)
                let scale = h0.normalizeScale!
                try state.outputs[h0.node].withUnsafeBufferPointer { x in try gradNormalized.withUnsafeBufferPointer { d in
                    try grads[h0.node].withUnsafeMutableBufferPointer { dx in
                        try L2Normalization.backward(lg, saved: state.l2!, input: x, scale: view(p, scale), gradOutput: d, gradInput: dx,
                                                     gradScale: frozen.contains(scale) ? nil : mview(gp, scale))
                    }
                } }
                // The trunk, last layer first.
                for i in nodes.indices.reversed() {
                    let input = i == 0 ? state.input : state.outputs[i - 1]
                    switch nodes[i].op {
                    case let .conv(g1, w, b):
                        var g = g1; g.batch = batch
                        var dy = [Float](repeating: 0, count: grads[i].count)
                        try state.outputs[i].withUnsafeBufferPointer { y in try grads[i].withUnsafeBufferPointer { d in try dy.withUnsafeMutableBufferPointer { o in
                            try ReLU.backward(output: y, gradOutput: d, gradInput: o)
                        } } }
                        try input.withUnsafeBufferPointer { x in try dy.withUnsafeBufferPointer { d in
                            let gw = frozen.contains(w) ? nil : mview(gp, w), gb = frozen.contains(b) ? nil : mview(gp, b)
                            if i == 0 {
                                try Conv2D.backward(g, input: x, weight: view(p, w), gradOutput: d, gradInput: nil, gradWeight: gw, gradBias: gb,
                                                    workspace: workspace, threading: threading)
                            } else {
                                try grads[i - 1].withUnsafeMutableBufferPointer { dx in
                                    try Conv2D.backward(g, input: x, weight: view(p, w), gradOutput: d, gradInput: dx, gradWeight: gw, gradBias: gb,
                                                        workspace: workspace, threading: threading)
                                }
                            }
                        } }
                    case let .pool(g1):
                        var g = g1; g.batch = batch
                        try grads[i].withUnsafeBufferPointer { d in try grads[i - 1].withUnsafeMutableBufferPointer { dx in
                            try MaxPool2D.backward(g, saved: state.pools[i]!, gradOutput: d, gradInput: dx, threading: threading)
                        } }
                    }
                    grads[i] = []  // free as we go
                }
            }
        }
    }

    // MARK: - Helpers

    private func view(_ p: UnsafeBufferPointer<Float>, _ i: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(rebasing: p[parameters.range(i)])
    }

    private func mview(_ p: UnsafeMutableBufferPointer<Float>, _ i: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: p[parameters.range(i)])
    }

    private func concat(_ parts: [[Float]], batch: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: parts.reduce(0) { $0 + $1.count })
        try withBuffers(parts) { views in try out.withUnsafeMutableBufferPointer { try Concat.forward(parts: views, outer: batch, inner: 1, output: $0) } }
        return out
    }

    private func split(_ whole: [Float], counts: [Int], batch: Int) throws -> [[Float]] {
        var parts = counts.map { [Float](repeating: 0, count: $0) }
        try whole.withUnsafeBufferPointer { w in
            for i in parts.indices {
                // One part at a time: Concat.backward adds each part's slice of the gradient.
                var views: [UnsafeMutableBufferPointer<Float>?] = Array(repeating: nil, count: parts.count)
                try parts[i].withUnsafeMutableBufferPointer { v in
                    views[i] = v
                    try Concat.backward(gradOutput: w, outer: batch, inner: 1, gradParts: views, partCounts: counts)
                }
            }
        }
        return parts
    }
}

/// Calls `body` with buffer views of every array (kept alive for the call).
func withBuffers<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
    func go(_ i: Int, _ acc: [UnsafeBufferPointer<Float>]) throws -> R {
        if i == arrays.count { return try body(acc) }
        return try arrays[i].withUnsafeBufferPointer { try go(i + 1, acc + [$0]) }
    }
    return try go(0, [])
}
