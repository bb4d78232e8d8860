import Tensor

/// A source's two prediction convolutions run as one: the box-offset filters (4 per anchor) and
/// the class filters ((C+1) per anchor) stacked, box first, into one convolution of
/// A·(4 + C + 1) outputs. The source is then unfolded (im2col) or Winograd-transformed once
/// instead of twice, and the box filters — 16–24 outputs, too few for Winograd's 64 on their
/// own — ride along with the class filters' algorithm. Each output is the same sum of products
/// as the separate convolution's (computed by the stacked convolution's algorithm), so the
/// predictions and gradients are the separate convolutions', up to Float32 rounding.
extension SSDModel {
    /// The stacked convolution of head `h` for `batch` images.
    func stackedHeadGeometry(_ h: Head, batch: Int) -> Conv2D.Geometry {
        Conv2D.Geometry(batch: batch, inChannels: h.channels, height: h.size, width: h.size,
                        outChannels: h.anchors * (4 + config.numClasses + 1), kernel: 3, pad: 1)
    }

    /// Head `h`'s box-offset and class predictions for `source` (B × C × S × S), each
    /// NHWC-flattened: B × S·S·A·4 and B × S·S·A·(C+1).
    func headForward(_ h: Head, source: UnsafeBufferPointer<Float>, batch: Int) throws -> (loc: [Float], cls: [Float]) {
        let g = stackedHeadGeometry(h, batch: batch), boxChannels = h.anchors * 4, plane = h.size * h.size
        let (w, b) = stackedHeadParameters(h)
        var y = [Float](overwrittenCount: batch * g.outChannels * plane)
        try withBuffers([w, b]) { v in
            try y.withUnsafeMutableBufferPointer { yp in
                try Conv2D.forward(g, input: source, weight: v[0], bias: v[1], output: yp, workspace: workspace, threading: threading)
            }
        }
        func flattened(_ channels: Range<Int>) throws -> [Float] {
            var flat = [Float](overwrittenCount: batch * channels.count * plane)
            try y.withUnsafeBufferPointer { yp in try flat.withUnsafeMutableBufferPointer { fp in
                try NHWCFlatten.forward(batch: batch, channels: channels, of: g.outChannels, height: h.size, width: h.size, input: yp, output: fp)
            } }
            return flat
        }
        return (try flattened(0..<boxChannels), try flattened(boxChannels..<g.outChannels))
    }

    /// Gradients of `headForward` from the gradients of its two flattened outputs: ACCUMULATES
    /// into `gradInput` (the source's gradient) and into the four parameters' gradients in
    /// `parameters.gradients` (frozen ones get none).
    func headBackward(_ h: Head, source: UnsafeBufferPointer<Float>, gradLoc: [Float], gradCls: [Float], batch: Int,
                      gradInput: UnsafeMutableBufferPointer<Float>) throws {
        let g = stackedHeadGeometry(h, batch: batch), boxChannels = h.anchors * 4
        var dy = [Float](repeating: 0, count: batch * g.outChannels * h.size * h.size)
        try withBuffers([gradLoc, gradCls]) { f in
            try dy.withUnsafeMutableBufferPointer { d in
                try NHWCFlatten.backward(batch: batch, channels: 0..<boxChannels, of: g.outChannels, height: h.size, width: h.size,
                                         gradOutput: f[0], gradInput: d)
                try NHWCFlatten.backward(batch: batch, channels: boxChannels..<g.outChannels, of: g.outChannels, height: h.size,
                                         width: h.size, gradOutput: f[1], gradInput: d)
            }
        }
        let frozen = parameters.frozen
        let weightsTrain = !frozen.contains(h.loc.weight) || !frozen.contains(h.cls.weight)
        let biasesTrain = !frozen.contains(h.loc.bias) || !frozen.contains(h.cls.bias)
        // The stacked gradients start at zero and are then added into each parameter's own.
        var gradWeight = [Float](repeating: 0, count: weightsTrain ? g.outChannels * h.channels * 9 : 0)
        var gradBias = [Float](repeating: 0, count: biasesTrain ? g.outChannels : 0)
        let (w, _) = stackedHeadParameters(h)
        try withBuffers([w, dy]) { v in
            try gradWeight.withUnsafeMutableBufferPointer { gw in try gradBias.withUnsafeMutableBufferPointer { gb in
                try Conv2D.backward(g, input: source, weight: v[0], gradOutput: v[1], gradInput: gradInput,
                                    gradWeight: weightsTrain ? gw : nil, gradBias: biasesTrain ? gb : nil,
                                    workspace: workspace, threading: threading)
            } }
        }
        let gradients = parameters.gradients
        func add(_ stacked: [Float], from offset: Int, into index: Int) {
            guard !frozen.contains(index) else { return }
            let own = gradients.mutableView(index)
            for i in own.indices { own[i] += stacked[offset + i] }
        }
        if weightsTrain {
            add(gradWeight, from: 0, into: h.loc.weight)
            add(gradWeight, from: boxChannels * h.channels * 9, into: h.cls.weight)
        }
        if biasesTrain {
            add(gradBias, from: 0, into: h.loc.bias)
            add(gradBias, from: boxChannels, into: h.cls.bias)
        }
    }

    /// Head `h`'s filters and biases stacked, box offsets' first (a copy: the parameters are
    /// separate arrays of the store, MXNet's).
    private func stackedHeadParameters(_ h: Head) -> (weight: [Float], bias: [Float]) {
        let p = parameters.values
        return (Array(p.view(h.loc.weight)) + Array(p.view(h.cls.weight)), Array(p.view(h.loc.bias)) + Array(p.view(h.cls.bias)))
    }
}
