@testable import Detection
import Foundation
import Tensor
import TestSupport
import Testing

/// `count` values uniform in [−1, 1), seeded.
private func headValues(_ count: Int, seed: UInt64) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in rng.uniform(-1, 1) }
}

@Suite("Heads: box and class filters as one convolution")
struct StackedHeadTests {
    /// Head `k`'s two convolutions run apart (the plain Conv2D kernel), flattened as the heads do.
    static func separate(_ model: SSDModel, _ h: SSDModel.Head, source: [Float], gradLoc: [Float], gradCls: [Float], batch: Int)
        throws -> (loc: [Float], cls: [Float], gradInput: [Float], gradients: [Int: [Float]]) {
        let p = model.parameters.values
        var outputs: [[Float]] = [], gradInput = [Float](repeating: 0, count: source.count), gradients: [Int: [Float]] = [:]
        for (kind, params, g) in h.convolutions(classes: model.config.numClasses, batch: batch) {
            var y = [Float](repeating: 0, count: batch * g.outChannels * h.size * h.size), flat = y
            var dy = y, dw = [Float](repeating: 0, count: p.view(params.weight).count), db = [Float](repeating: 0, count: g.outChannels)
            try source.withUnsafeBufferPointer { x in
                try y.withUnsafeMutableBufferPointer { yp in
                    try Conv2D.forward(g, input: x, weight: p.view(params.weight), bias: p.view(params.bias), output: yp)
                }
                try y.withUnsafeBufferPointer { yp in try flat.withUnsafeMutableBufferPointer { fp in
                    try NHWCFlatten.forward(batch: batch, channels: g.outChannels, height: h.size, width: h.size, input: yp, output: fp)
                } }
                try (kind == .loc ? gradLoc : gradCls).withUnsafeBufferPointer { f in try dy.withUnsafeMutableBufferPointer { d in
                    try NHWCFlatten.backward(batch: batch, channels: g.outChannels, height: h.size, width: h.size, gradOutput: f, gradInput: d)
                } }
                try dy.withUnsafeBufferPointer { d in try gradInput.withUnsafeMutableBufferPointer { dx in
                    try dw.withUnsafeMutableBufferPointer { dwp in try db.withUnsafeMutableBufferPointer { dbp in
                        try Conv2D.backward(g, input: x, weight: p.view(params.weight), gradOutput: d, gradInput: dx, gradWeight: dwp, gradBias: dbp)
                    } }
                } }
            }
            outputs.append(flat)
            gradients[params.weight] = dw
            gradients[params.bias] = db
        }
        return (outputs[0], outputs[1], gradInput, gradients)
    }

    @Test("predictions and gradients equal the two convolutions run apart, for every head", arguments: [3, 20])
    func equalsSeparateConvolutions(classes: Int) throws {
        let model = try SSDModel(config: .tiny(numClasses: classes))
        model.threading = Threading(threads: 2)
        let batch = 2
        for (k, h) in model.heads.enumerated() {
            let source = headValues(batch * h.channels * h.size * h.size, seed: UInt64(10 + k))
            let plane = h.size * h.size
            let gradLoc = headValues(batch * plane * h.anchors * 4, seed: UInt64(20 + k))
            let gradCls = headValues(batch * plane * h.anchors * (classes + 1), seed: UInt64(30 + k))
            let expected = try Self.separate(model, h, source: source, gradLoc: gradLoc, gradCls: gradCls, batch: batch)

            let (loc, cls) = try source.withUnsafeBufferPointer { try model.headForward(h, source: $0, batch: batch) }
            #expect(closeness(loc, expected.loc, rtol: 1e-5, atol: 1e-5).passed, "head \(k) loc")
            #expect(closeness(cls, expected.cls, rtol: 1e-5, atol: 1e-5).passed, "head \(k) cls")
            model.parameters.zeroGradients()
            var gradInput = [Float](repeating: 1, count: source.count)   // accumulated into
            try gradInput.withUnsafeMutableBufferPointer { dx in try source.withUnsafeBufferPointer { x in
                try model.headBackward(h, source: x, gradLoc: gradLoc, gradCls: gradCls, batch: batch, gradInput: dx)
            } }
            #expect(closeness(gradInput, expected.gradInput.map { $0 + 1 }, rtol: 1e-5, atol: 1e-5).passed, "head \(k) gradInput")
            for (index, gradient) in expected.gradients {
                let c = closeness(Array(model.parameters.gradients.view(index)), gradient, rtol: 1e-5, atol: 1e-5)
                #expect(c.passed, "head \(k) \(model.parameters.specs[index].name): \(c)")
            }
        }
    }

    @Test("frozen head parameters get no gradient; the others still do")
    func frozenParametersStayZero() throws {
        let model = try SSDModel(config: .tiny(numClasses: 2))
        try model.parameters.freeze(matching: ".*_loc_pred_conv_weight|.*_cls_pred_conv_bias")
        let h = model.heads[1], batch = 1, plane = h.size * h.size
        let source = headValues(batch * h.channels * plane, seed: 41)
        var gradInput = [Float](repeating: 0, count: source.count)
        model.parameters.zeroGradients()
        try gradInput.withUnsafeMutableBufferPointer { dx in try source.withUnsafeBufferPointer { x in
            try model.headBackward(h, source: x, gradLoc: headValues(batch * plane * h.anchors * 4, seed: 42),
                                   gradCls: headValues(batch * plane * h.anchors * 3, seed: 43), batch: batch, gradInput: dx)
        } }
        let g = model.parameters.gradients
        #expect(g.view(h.loc.weight).allSatisfy { $0 == 0 } && g.view(h.cls.bias).allSatisfy { $0 == 0 })
        #expect(g.view(h.cls.weight).contains { $0 != 0 } && g.view(h.loc.bias).contains { $0 != 0 })
        #expect(gradInput.contains { $0 != 0 })
    }
}
