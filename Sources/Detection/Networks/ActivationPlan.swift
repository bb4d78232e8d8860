/// Which node outputs a forward pass keeps, and for how long: each output is freed as soon as
/// its last reader in forward has run, unless backward reads it; a training forward keeps only
/// what backward reads (each layer's input where the layer's backward needs it; a ReLU's output
/// as a one-bit mask where nothing else needs it, as before a max pooling, whose backward needs
/// only its argmax), and backward frees each output once the node's own backward is done.
struct ActivationPlan {
    /// The last node that reads each node's output in forward; `nodes.count` for the heads'
    /// sources (the heads run after the trunk).
    var lastReader: [Int]
    /// Whether backward reads the node's output as a layer's input: a convolution's (weight
    /// gradient), a batch norm's, the heads' and the L2 normalization's.
    var readByBackward: [Bool]
    /// Whether a training forward keeps only the ReLU mask of the node's output.
    var keepsMaskOnly: [Bool]

    init(nodes: [TrunkNode], sources: [Int]) {
        lastReader = Array(repeating: -1, count: nodes.count)
        readByBackward = Array(repeating: false, count: nodes.count)
        for (j, node) in nodes.enumerated() {
            let readsInput: Bool
            switch node.op {
            case .conv, .batchNorm: readsInput = true
            case .pool, .add: readsInput = false
            }
            for k in node.inputs where k != TrunkNode.image {
                lastReader[k] = j
                if readsInput { readByBackward[k] = true }
            }
        }
        for k in sources {
            lastReader[k] = nodes.count
            readByBackward[k] = true
        }
        keepsMaskOnly = zip(nodes, readByBackward).map { node, read in node.hasReLU && !read }
    }
}

extension TrunkNode {
    /// Whether the node ends in a ReLU.
    var hasReLU: Bool {
        switch op {
        case let .conv(_, _, _, relu), let .batchNorm(_, _, _, _, _, relu): return relu
        case .pool, .add: return false
        }
    }
}
