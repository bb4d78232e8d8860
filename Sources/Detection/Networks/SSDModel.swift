import Foundation
import Tensor

/// The SSD network: a base (VGG16-reduced or ResNet, with MXNet's layer names), extra feature
/// layers and per-source class/box heads, over one `ParameterStore`. The base and the extra
/// layers are a graph of `TrunkNode`s in topological order; a training forward keeps what
/// backward reads of the nodes' outputs in a `ForwardState` (`ActivationPlan`) and backward
/// walks the nodes in reverse, freeing each as it is consumed and accumulating each
/// parameter's gradient into the store.
///
/// Layout of the outputs (as MXNet's symbol): box offsets `B × A·4` and class logits
/// `B × A × (C+1)`, anchors ordered by source, row, column, anchor-in-cell.
public final class SSDModel {
    /// One source feature map and its heads.
    struct Head {
        /// Which of the two prediction convolutions of a head.
        enum Output { case loc, cls }
        var node: Int                  // trunk node whose output feeds the heads
        var normalizeScale: Int?       // relu4_3_scale parameter index (VGG only)
        var channels: Int, size: Int, anchors: Int
        var loc: (weight: Int, bias: Int), cls: (weight: Int, bias: Int)

        /// The head's two 3×3 convolutions, box offsets first, for `batch` images. (With 3 classes
        /// both have 4 outputs per anchor, so they are told apart by `kind`, never by size.)
        func convolutions(classes: Int, batch: Int) -> [(kind: Output, params: (weight: Int, bias: Int), geometry: Conv2D.Geometry)] {
            [(Output.loc, loc, anchors * 4), (Output.cls, cls, anchors * (classes + 1))].map { kind, params, out in
                (kind, params, Conv2D.Geometry(batch: batch, inChannels: channels, height: size, width: size, outChannels: out, kernel: 3, pad: 1))
            }
        }
    }

    public let config: SSDConfig
    public let parameters: ParameterStore
    /// A × 4 anchors (normalized corners), all sources.
    public let anchors: [Float]
    public var anchorCount: Int { anchors.count / 4 }
    let nodes: [TrunkNode]
    let heads: [Head]
    /// Which outputs forward keeps and when each is freed.
    let plan: ActivationPlan
    /// Where the activation-sized buffers of forward and backward live (`ActivationArena`).
    let arena = ActivationArena()
    /// Whether forward and backward plan their activation-sized buffers in one long-lived block
    /// (`ActivationArena`, the default) or allocate each from the heap: the same results bit for bit.
    public var usesActivationArena: Bool {
        get { arena.enabled }
        set { arena.enabled = newValue }
    }
    /// Scratch memory of the convolutions and their algorithm choice (Winograd from 64 channels).
    public let workspace = Conv2D.Workspace()
    /// When set, every layer's forward and backward wall time is added to it.
    public var profile: LayerProfile?
    /// When set, every activation-sized buffer of forward and backward is recorded in it.
    public var memory: MemoryLedger?

    /// What the BatchNorm layers normalise with during training (inference always uses the
    /// moving statistics).
    public enum BatchNormStatistics: Sendable {
        /// The moving (e.g. pretrained) statistics, never updated: frozen BatchNorm.
        case frozen
        /// Each batch's own statistics, updating the moving averages (momentum 0.9), as MXNet
        /// trains BatchNorm; for networks without meaningful moving statistics (from scratch).
        case batch
    }
    public var batchNormStatistics = BatchNormStatistics.frozen
    /// Threads for the kernels' own loops.
    public var threading = Threading(threads: ProcessInfo.processInfo.activeProcessorCount)

    /// Builds the network for `config`; parameters initialised as MXNet's SSD does (seeded).
    public init(config: SSDConfig, seed: UInt64 = 1) throws {
        self.config = config
        let featureSizes = try config.featureSizes()
        var b = TrunkBuilder(imageShape: config.imageShape)
        var sources: [Int]
        switch config.base {
        case .vgg16Reduced: sources = b.vgg16Reduced(widths: config.baseWidths)
        case .resnet: sources = b.resnet(filters: config.baseWidths, units: config.resnetUnits)
        }
        // Extra layers (facts A.2): 1×1 conv + ReLU, then 3×3 conv + ReLU, from the previous source.
        for (k, e) in config.extras.enumerated() {
            b.conv("multi_feat_\(k + 2)_conv_1x1_conv", from: sources.last!, filters: e.bottleneck, kernel: 1, pad: 0)
            sources.append(b.conv("multi_feat_\(k + 2)_conv_3x3_conv", from: b.last, filters: e.filters, kernel: 3, stride: e.stride, pad: e.pad))
        }
        // The first source's L2 normalization scale (VGG), then the heads (biases: lr_mult 2, init 0).
        let scaleIndex = config.normalizationScale.map { scale in
            b.parameter(ParameterSpec(name: "\(config.sourceNames[0])_scale", shape: [1, b.shape(of: sources[0]).channels, 1, 1],
                                      initializer: .constant(scale), wdMult: 0.1))
        }
        var heads: [Head] = []
        var anchors: [Float] = []
        for (k, node) in sources.enumerated() {
            let name = config.sourceNames[k], (ch, size) = b.shape(of: node), a = config.anchorsPerCell[k]
            precondition(size == featureSizes[k], "feature size bookkeeping for \(name): \(size) vs \(featureSizes[k])")
            let locW = b.parameter(ParameterSpec(name: "\(name)_loc_pred_conv_weight", shape: [a * 4, ch, 3, 3], initializer: .xavier))
            let locB = b.parameter(ParameterSpec(name: "\(name)_loc_pred_conv_bias", shape: [a * 4], initializer: .zeros, lrMult: 2))
            let clsW = b.parameter(ParameterSpec(name: "\(name)_cls_pred_conv_weight", shape: [a * (config.numClasses + 1), ch, 3, 3],
                                                 initializer: .xavier))
            let clsB = b.parameter(ParameterSpec(name: "\(name)_cls_pred_conv_bias", shape: [a * (config.numClasses + 1)],
                                                 initializer: .zeros, lrMult: 2))
            heads.append(Head(node: node, normalizeScale: k == 0 ? scaleIndex : nil, channels: ch, size: size, anchors: a,
                              loc: (locW, locB), cls: (clsW, clsB)))
            let step = config.steps.map { ($0[k], $0[k]) }
            anchors += AnchorGenerator(sizes: config.sizes[k], ratios: config.ratios[k], steps: step).anchors(height: size, width: size)
        }
        self.nodes = b.nodes
        self.heads = heads
        self.plan = ActivationPlan(nodes: b.nodes, sources: heads.map(\.node))
        self.anchors = anchors
        self.parameters = ParameterStore(specs: b.specs, seed: seed)
    }

    /// Multiply-adds of one image's forward pass through every convolution (trunk and heads).
    public var forwardMultiplyAdds: Int {
        var total = 0
        for n in nodes { if case let .conv(g, _, _, _) = n.op { total += g.multiplyAdds } }
        for h in heads {
            total += h.size * h.size * h.channels * 9 * h.anchors * (4 + config.numClasses + 1)
        }
        return total
    }

    /// The predictions, and what a training forward keeps for backward (which consumes it).
    public struct ForwardState {
        var batch: Int
        /// BatchNorm used batch statistics (training with `.batch`), so backward must too.
        var batchStatistics = false
        /// A training forward: what backward reads is kept (an inference forward keeps nothing).
        var keptForBackward: Bool
        var input: [Float]
        /// A training pass's activation buffers (outputs, normalized source, gradients in
        /// backward); nil after an inference forward, which frees them all.
        var buffers: ActivationArena.Lease?
        /// Node outputs (after the node's ReLU, if any) that backward reads, in `buffers`; empty
        /// for the others.
        var outputs: [UnsafeMutableBufferPointer<Float>]
        /// The ReLU masks kept instead of outputs (`ActivationPlan.keepsMaskOnly`).
        var reluMasks: [Int: ReLU.Mask]
        var pools: [Int: MaxPool2D.Saved]
        var norms: [Int: BatchNorm.Saved]
        var normalized: UnsafeMutableBufferPointer<Float>   // first source after L2 normalization × scale (VGG)
        var l2: L2Normalization.Saved?
        /// The network's predictions.
        public var output: MultiBoxOutput
        /// B × A·4 box offsets (`output.loc`).
        public var loc: [Float] { output.loc }
        /// B × A × (C+1) class logits (`output.cls`).
        public var cls: [Float] { output.cls }
    }

    /// Runs the network on `batch` images (B × 3 × S × S, mean-subtracted). `training` keeps
    /// what `backward` needs (an inference forward frees each output once its readers have run
    /// and records no max-pool places: `MaxPool2D.forwardOnly`, the same outputs bit for bit)
    /// and, with `batchNormStatistics == .batch`, normalises with each batch's statistics and
    /// updates the moving averages (the only parameters forward ever writes).
    public func forward(images: [Float], batch: Int, training: Bool = false) throws -> ForwardState {
        let s = config.imageShape
        precondition(images.count == batch * 3 * s * s, "images hold \(images.count) values, expected \(batch)×3×\(s)×\(s)")
        memory?.freeAll()
        let buffers = arena.lease(ActivationArena.Key(batch: batch, training: training))
        let empty = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
        var state = ForwardState(batch: batch, keptForBackward: training, input: images, buffers: buffers, outputs: [], reluMasks: [:],
                                 pools: [:], norms: [:], normalized: empty, l2: nil, output: MultiBoxOutput(loc: [], cls: []))
        state.batchStatistics = training && batchNormStatistics == .batch
        let p = parameters.values
        try images.withUnsafeBufferPointer { image in for (i, node) in nodes.enumerated() {
            let x = node.inputs.map { $0 == TrunkNode.image ? image : UnsafeBufferPointer(state.outputs[$0]) }
            let y = buffers.allocate(batch * node.channels * node.size * node.size)
            memory?.allocate("\(node.name) output", bytes: y.count * 4, during: "forward \(node.name)")
            try timed(node.name, .forward) {
                switch node.op {
                case let .conv(g1, w, b, relu):
                    var g = g1; g.batch = batch
                    try Conv2D.forward(g, input: x[0], weight: p.view(w), bias: b.map { p.view($0) }, output: y,
                                       activation: relu ? .relu : .identity, workspace: workspace, threading: threading)
                case let .pool(g1):
                    var g = g1; g.batch = batch
                    if training {
                        let saved = try MaxPool2D.forward(g, input: x[0], output: y, threading: threading)
                        state.pools[i] = saved
                        memory?.allocate("\(node.name) argmax", bytes: saved.byteCount, during: "forward \(node.name)")
                    } else {
                        try MaxPool2D.forwardOnly(g, input: x[0], output: y, threading: threading)
                    }
                case let .batchNorm(g1, gamma, beta, mean, variance, relu):
                    var g = g1; g.batch = batch; g.useGlobalStats = !state.batchStatistics
                    let saved = try BatchNorm.forward(g, input: x[0], gamma: p.view(gamma), beta: p.view(beta),
                                                      movingMean: p.mutableView(mean), movingVar: p.mutableView(variance), output: y,
                                                      updateMovingStatistics: state.batchStatistics, threading: threading)
                    if training { state.norms[i] = saved }
                    if relu { try ReLU.forward(input: UnsafeBufferPointer(y), output: y, threading: threading) }
                case .add:
                    try ElementwiseAdd.forward(x[0], x[1], output: y, threading: threading)
                }
                if training && plan.keepsMaskOnly[i] {
                    let mask = ReLU.Mask(output: UnsafeBufferPointer(y), threading: threading)
                    state.reluMasks[i] = mask
                    memory?.allocate("\(node.name) ReLU mask", bytes: mask.byteCount, during: "forward \(node.name)")
                }
            }
            state.outputs.append(y)
            // Inputs whose last reader this was, and that backward does not read, are freed now.
            for k in Set(node.inputs) where k != TrunkNode.image && plan.lastReader[k] == i && !(training && plan.readByBackward[k]) {
                buffers.free(state.outputs[k])
                state.outputs[k] = empty
                memory?.free("\(nodes[k].name) output")
            }
        } }
        // The first source → L2 normalization × scale for its heads (VGG's relu4_3).
        let h0 = heads[0]
        if let scale = h0.normalizeScale {
            let lg = L2Normalization.Geometry(batch: batch, channels: h0.channels, height: h0.size, width: h0.size)
            state.normalized = buffers.allocate(state.outputs[h0.node].count)
            memory?.allocate("\(config.sourceNames[0]) L2-normalized", bytes: state.normalized.count * 4, during: "forward L2 normalization")
            let (x, y) = (UnsafeBufferPointer(state.outputs[h0.node]), state.normalized)
            let saved = try timed("\(config.sourceNames[0])_norm", .forward) {
                try L2Normalization.forward(lg, input: x, scale: p.view(scale), output: y, threading: threading)
            }
            if training { state.l2 = saved }
        }
        // Heads: conv (box and class filters as one, SSDModel+Heads.swift) → NHWC flatten →
        // concatenate over sources.
        var locParts: [[Float]] = [], clsParts: [[Float]] = []
        for (k, h) in heads.enumerated() {
            let source = UnsafeBufferPointer(h.normalizeScale != nil ? state.normalized : state.outputs[h.node])
            let (loc, cls) = try timed("\(config.sourceNames[k])_pred_conv", .forward) { try headForward(h, source: source, batch: batch) }
            locParts.append(loc)
            clsParts.append(cls)
        }
        state.output = MultiBoxOutput(loc: try concat(locParts, batch: batch), cls: try concat(clsParts, batch: batch))
        if !training {
            // The heads were the sources' last readers.
            for k in state.outputs.indices { buffers.free(state.outputs[k]) }
            buffers.free(state.normalized)
            state.outputs = []
            state.normalized = empty
            state.buffers = nil
            memory?.freeAll()
        }
        return state
    }

    /// Accumulates every parameter's gradient (into `parameters.gradients`) from the gradients
    /// of the two outputs. Frozen and auxiliary parameters get none (their gradients stay as
    /// they were). `gradientReady` is called during backward with the index of every trainable
    /// parameter as soon as its gradient is final — heads first, then the trunk from its last
    /// layer — so a caller can send the gradient (`parameters.gradients.view(i)`) and later
    /// write the new weights (`parameters.values.mutableView(i)`) while backward goes on:
    /// backward reads neither again.
    ///
    /// `state` must come from a training forward; backward frees what it holds as it goes (pass
    /// it with `consume`, so that no copy keeps it alive).
    public typealias GradientReady = (_ index: Int) throws -> Void

    public func backward(_ state: consuming ForwardState, gradLoc: [Float], gradCls: [Float],
                         gradientReady: GradientReady? = nil) throws {
        precondition(state.keptForBackward, "backward needs the state of a training forward (forward(images:batch:training: true))")
        let batch = state.batch
        let p = parameters.values, gp = parameters.gradients, frozen = parameters.frozen
        // The state's buffers are ours to free and reuse unless a copy of the state still reads
        // them: then they stay as they are, and the gradients get their own.
        let shared = !isKnownUniquelyReferenced(&state.buffers!), buffers = state.buffers!
        defer { withExtendedLifetime(buffers) {} }
        let empty = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
        func release(_ b: UnsafeMutableBufferPointer<Float>) { if !shared { buffers.free(b) } }
        // Gradient of each node's output, allocated when first needed and freed once consumed.
        let normalizedNode = nodes.count  // the gradient of the L2-normalized first source
        let grads = GradientBuffers(counts: nodes.map { batch * $0.channels * $0.size * $0.size } + [state.normalized.count],
                                    names: nodes.map(\.name) + ["\(config.sourceNames[0]) L2-normalized"], memory: memory,
                                    lease: buffers, ownMemory: shared, threading: threading)
        defer { grads.releaseAll() }
        func gradient(_ i: Int) -> UnsafeMutableBufferPointer<Float>? { frozen.contains(i) ? nil : gp.mutableView(i) }
        func ready(_ indices: [Int]) throws {
            guard let gradientReady else { return }
            for i in indices where !frozen.contains(i) { try gradientReady(i) }
        }
        // Split the concatenated output gradients back per source.
        let locCounts = heads.map { batch * $0.size * $0.size * $0.anchors * 4 }
        let clsCounts = heads.map { batch * $0.size * $0.size * $0.anchors * (config.numClasses + 1) }
        let locSplit = try split(gradLoc, counts: locCounts, batch: batch), clsSplit = try split(gradCls, counts: clsCounts, batch: batch)
        for (k, h) in heads.enumerated().reversed() {
            let normalized = h.normalizeScale != nil
            let source = UnsafeBufferPointer(normalized ? state.normalized : state.outputs[h.node])
            try timed("\(config.sourceNames[k])_pred_conv", .backward) {
                try headBackward(h, source: source, gradLoc: locSplit[k], gradCls: clsSplit[k], batch: batch,
                                 gradInput: grads.buffer(normalized ? normalizedNode : h.node))
            }
            try ready([h.loc.weight, h.loc.bias, h.cls.weight, h.cls.bias])
        }
        // Through the L2 normalization into the first source (VGG's relu4_3).
        let h0 = heads[0]
        if let scale = h0.normalizeScale {
            let lg = L2Normalization.Geometry(batch: batch, channels: h0.channels, height: h0.size, width: h0.size)
            try L2Normalization.backward(lg, saved: state.l2!, input: UnsafeBufferPointer(state.outputs[h0.node]), scale: p.view(scale),
                                         gradOutput: UnsafeBufferPointer(grads.buffer(normalizedNode)),
                                         gradInput: grads.buffer(h0.node), gradScale: gradient(scale), threading: threading)
            grads.release(normalizedNode)
            try ready([scale])
        }
        release(state.normalized)
        state.normalized = empty
        state.l2 = nil
        memory?.free("\(config.sourceNames[0]) L2-normalized")
        // The trunk, last node first; a node's gradient is complete once every later node is done,
        // and its output is read for the last time by its own ReLU.
        for i in nodes.indices.reversed() {
            let node = nodes[i]
            func releaseOutput() {
                release(state.outputs[i])
                state.outputs[i] = empty
                state.reluMasks[i] = nil
                memory?.free("\(node.name) output")
                memory?.free("\(node.name) ReLU mask")
            }
            guard let dyAll = grads.existing(i) else { releaseOutput(); continue }   // nothing downstream uses this node
            let dy = UnsafeBufferPointer(dyAll)
            func gradInput(_ k: Int) -> UnsafeMutableBufferPointer<Float>? {
                node.inputs[k] == TrunkNode.image ? nil : grads.buffer(node.inputs[k])
            }
            /// The same for a kernel that can overwrite a fresh buffer (`GradientBuffers.forWriting`).
            func gradInputForWriting(_ k: Int) -> (buffer: UnsafeMutableBufferPointer<Float>, fresh: Bool)? {
                node.inputs[k] == TrunkNode.image ? nil : grads.forWriting(node.inputs[k])
            }
            try state.input.withUnsafeBufferPointer { image in
            let x = node.inputs.map { $0 == TrunkNode.image ? image : UnsafeBufferPointer(state.outputs[$0]) }
            try timed(node.name, .backward) {
                if node.hasReLU {
                    if let mask = state.reluMasks[i] {
                        try ReLU.backwardInPlace(mask: mask, gradient: dyAll, threading: threading)
                    } else {
                        try ReLU.backwardInPlace(output: UnsafeBufferPointer(state.outputs[i]), gradient: dyAll, threading: threading)
                    }
                }
                releaseOutput()
                switch node.op {
                case let .conv(g1, w, b, _):
                    var g = g1; g.batch = batch
                    let dx = gradInputForWriting(0)
                    try Conv2D.backward(g, input: x[0], weight: p.view(w), gradOutput: dy, gradInput: dx?.buffer,
                                        overwritingGradInput: dx?.fresh ?? false,
                                        gradWeight: gradient(w), gradBias: b.flatMap { gradient($0) },
                                        workspace: workspace, threading: threading)
                case let .pool(g1):
                    var g = g1; g.batch = batch
                    if let dx = gradInputForWriting(0) {
                        try MaxPool2D.backward(g, saved: state.pools[i]!, gradOutput: dy, gradInput: dx.buffer, overwriting: dx.fresh,
                                               threading: threading)
                    }
                    state.pools[i] = nil
                    memory?.free("\(node.name) argmax")
                case let .batchNorm(g1, gamma, beta, _, _, _):
                    var g = g1; g.batch = batch; g.useGlobalStats = !state.batchStatistics
                    try BatchNorm.backward(g, saved: state.norms[i]!, input: x[0], gamma: p.view(gamma), gradOutput: dy,
                                           gradInput: gradInput(0), gradGamma: gradient(gamma), gradBeta: gradient(beta),
                                           threading: threading)
                    state.norms[i] = nil
                case .add:
                    try ElementwiseAdd.backward(gradOutput: dy, gradA: gradInput(0), gradB: nil, threading: threading)
                    try ElementwiseAdd.backward(gradOutput: dy, gradA: gradInput(1), gradB: nil, threading: threading)
                }
            }
            }
            switch node.op {
            case let .conv(_, w, b, _): try ready([w] + (b.map { [$0] } ?? []))
            case let .batchNorm(_, gamma, beta, _, _, _): try ready([gamma, beta])
            case .pool, .add: break
            }
            grads.release(i)
        }
    }

    // MARK: - Helpers

    /// Runs `body`, adding its wall time to `profile` when one is attached.
    func timed<R>(_ layer: String, _ phase: LayerProfile.Phase, _ body: () throws -> R) rethrows -> R {
        if let profile { try profile.measure(layer, phase, body) } else { try body() }
    }

    private func concat(_ parts: [[Float]], batch: Int) throws -> [Float] {
        var out = [Float](overwrittenCount: parts.reduce(0) { $0 + $1.count })
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

/// The network's two outputs (MXNet's symbol layout, anchors ordered by source, row, column,
/// anchor-in-cell).
public struct MultiBoxOutput: Sendable {
    /// B × A·4 box offsets.
    public var loc: [Float]
    /// B × A × (C+1) class logits.
    public var cls: [Float]

    public init(loc: [Float], cls: [Float]) { self.loc = loc; self.cls = cls }
}

/// Gradient buffers, one per graph node, allocated on first use (zeroed, or left to a first
/// writer that overwrites: `forWriting`) and freed
/// as soon as backward has consumed them (so a deep network never holds them all at once).
final class GradientBuffers {
    private var buffers: [UnsafeMutableBufferPointer<Float>?]
    private let counts: [Int]
    private let names: [String]
    private let memory: MemoryLedger?
    private let lease: ActivationArena.Lease
    private let ownMemory: Bool
    private let threading: Threading

    /// `names`: the nodes', for `memory`. The buffers come from `lease` (`ownMemory`: never in
    /// its arena block). `threading` zeroes the buffers (contiguous shares).
    init(counts: [Int], names: [String], memory: MemoryLedger?, lease: ActivationArena.Lease, ownMemory: Bool,
         threading: Threading = .serial) {
        self.counts = counts
        self.names = names
        self.memory = memory
        self.lease = lease
        self.ownMemory = ownMemory
        self.threading = threading
        buffers = Array(repeating: nil, count: counts.count)
    }

    /// Node `i`'s gradient buffer, allocated (zeroed) when first asked for.
    func buffer(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
        let (b, fresh) = forWriting(i)
        if fresh { threading.zero(b) }
        return b
    }

    /// Node `i`'s gradient buffer for a writer that can overwrite: `fresh` when it was just
    /// allocated (contents undefined: the writer must store every element — the first writer
    /// in a chain saves the zeroing pass and its own read of the zeros), else accumulate into it.
    func forWriting(_ i: Int) -> (buffer: UnsafeMutableBufferPointer<Float>, fresh: Bool) {
        if let b = buffers[i] { return (b, false) }
        let b = lease.allocate(counts[i], own: ownMemory)
        buffers[i] = b
        memory?.allocate("\(names[i]) gradient", bytes: counts[i] * 4, during: "backward into \(names[i])")
        return (b, true)
    }

    /// Node `i`'s gradient if anything has written one.
    func existing(_ i: Int) -> UnsafeMutableBufferPointer<Float>? { buffers[i] }

    func release(_ i: Int) {
        guard let b = buffers[i] else { return }
        lease.free(b)
        buffers[i] = nil
        memory?.free("\(names[i]) gradient")
    }

    func releaseAll() { for i in buffers.indices { release(i) } }
}

/// Calls `body` with buffer views of every array (kept alive for the call).
func withBuffers<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
    func go(_ i: Int, _ acc: [UnsafeBufferPointer<Float>]) throws -> R {
        if i == arrays.count { return try body(acc) }
        return try arrays[i].withUnsafeBufferPointer { try go(i + 1, acc + [$0]) }
    }
    return try go(0, [])
}
