import Foundation
import Tensor

/// The deploy (inference) graph of an SSD model as an MXNet symbol, as MXNet's
/// `example/ssd/symbol/symbol_builder.py` `get_symbol` builds it (facts file A.2, A.7):
///
/// base network (Convolution + Activation, Pooling, BatchNorm, `_plusN` elemwise_add) →
/// extra layers → per source (after `L2Normalization` × `<src>_scale` for VGG's relu4_3):
/// `<src>_loc_pred_conv` / `<src>_cls_pred_conv` → transpose(0, 2, 3, 1) → Flatten, and
/// `<src>_anchors` (`_contrib_MultiBoxPrior`, clip False) → Flatten; then
/// `multibox_loc_pred` (Concat dim 1), cls: Concat → Reshape(0, -1, C+1) → transpose(0, 2, 1)
/// `multibox_cls_pred` → `softmax(axis=1)` `cls_prob`, anchors: Concat → Reshape(0, -1, 4)
/// `multibox_anchors`, and the head `detection` (`_contrib_MultiBoxDetection`).
///
/// Unnamed operators get MXNet's automatic names in the order `get_symbol` creates them
/// (`transpose0`, `flatten0`, `concat0`, …). Parameter variables carry the model's names, so
/// the symbol binds to the `arg:`/`aux:` arrays of the model's `.params`.
extension SSDModel {
    /// The deploy symbol with MultiBoxDetection's settings.
    public func deploySymbol(detection: MultiBoxDetection) -> (symbol: MXNetSymbol, head: MXNetSymbol.Entry) {
        var s = MXNetSymbol()
        var counters: [String: Int] = [:]
        func auto(_ op: String) -> String {
            defer { counters[op, default: 0] += 1 }
            return "\(op)\(counters[op, default: 0])"
        }
        let specs = parameters.specs
        func param(_ index: Int, attrs: [String: String] = [:]) -> MXNetSymbol.Entry {
            s.variable(specs[index].name, attrs: attrs)
        }
        func aux(_ index: Int) -> MXNetSymbol.Entry {
            var e = s.variable(specs[index].name)
            e.version = 1
            return e
        }
        func relu(_ input: MXNetSymbol.Entry, after layer: String) -> MXNetSymbol.Entry {
            s.op("Activation", Self.reluName(after: layer), [input], ["act_type": "relu"])
        }

        let data = s.variable("data")
        var outputs: [MXNetSymbol.Entry] = []
        for node in nodes {
            func input(_ k: Int) -> MXNetSymbol.Entry { node.inputs[k] == TrunkNode.image ? data : outputs[node.inputs[k]] }
            var out: MXNetSymbol.Entry
            switch node.op {
            case let .conv(g, weight, bias, hasReLU):
                var attrs = Self.convolutionAttributes(g)
                var inputs = [input(0), param(weight)]
                if let bias { inputs.append(param(bias)) } else { attrs["no_bias"] = MXNetSymbol.bool(true) }
                out = s.op("Convolution", node.name, inputs, attrs)
                if hasReLU { out = relu(out, after: node.name) }
            case let .pool(g):
                var attrs = ["pool_type": "max", "kernel": MXNetSymbol.tuple([g.kernel, g.kernel]),
                             "stride": MXNetSymbol.tuple([g.stride, g.stride])]
                if g.pad != 0 { attrs["pad"] = MXNetSymbol.tuple([g.pad, g.pad]) }
                if g.convention == .full { attrs["pooling_convention"] = "full" }
                out = s.op("Pooling", node.name, [input(0)], attrs)
            case let .batchNorm(g, gamma, beta, mean, variance, hasReLU):
                out = s.op("BatchNorm", node.name, [input(0), param(gamma), param(beta), aux(mean), aux(variance)],
                           ["eps": MXNetSymbol.number(g.eps), "fix_gamma": MXNetSymbol.bool(g.fixGamma),
                            "momentum": MXNetSymbol.number(g.momentum)])
                if hasReLU { out = relu(out, after: node.name) }
            case .add:
                out = s.op("elemwise_add", node.name, [input(0), input(1)])
            }
            outputs.append(out)
        }

        let classes = config.numClasses + 1
        var locParts: [MXNetSymbol.Entry] = [], clsParts: [MXNetSymbol.Entry] = [], anchorParts: [MXNetSymbol.Entry] = []
        for (k, h) in heads.enumerated() {
            let source = config.sourceNames[k]
            var feature = outputs[h.node]
            if let scale = h.normalizeScale {
                let norm = s.op("L2Normalization", "\(source)_norm", [feature], ["mode": "channel"])
                let scaleVariable = param(scale, attrs: [
                    "__shape__": MXNetSymbol.tuple(specs[scale].shape), "__wd_mult__": MXNetSymbol.number(specs[scale].wdMult),
                    "__init__": "[\"constant\", {\"value\": \(MXNetSymbol.number(config.normalizationScale ?? 1))}]",
                ])
                feature = s.op("broadcast_mul", auto("broadcast_mul"), [scaleVariable, norm])
            }
            let biasAttrs = ["__init__": "[\"constant\", {\"value\": 0.0}]", "__lr_mult__": MXNetSymbol.number(specs[h.loc.bias].lrMult)]
            for (kind, params, g) in h.convolutions(classes: config.numClasses, batch: 1) {
                let conv = s.op("Convolution", "\(source)_\(kind)_pred_conv",
                                [feature, param(params.weight), param(params.bias, attrs: biasAttrs)], Self.convolutionAttributes(g))
                let nhwc = s.op("transpose", auto("transpose"), [conv], ["axes": MXNetSymbol.tuple([0, 2, 3, 1])])
                let flat = s.op("Flatten", auto("flatten"), [nhwc])
                if kind == .loc { locParts.append(flat) } else { clsParts.append(flat) }
            }
            let step = config.steps.map { ($0[k], $0[k]) } ?? (-1, -1)
            let anchors = s.op("_contrib_MultiBoxPrior", "\(source)_anchors", [feature], [
                "sizes": MXNetSymbol.tuple(config.sizes[k]), "ratios": MXNetSymbol.tuple(config.ratios[k]),
                "clip": MXNetSymbol.bool(false), "steps": MXNetSymbol.tuple([step.0, step.1]),
            ])
            anchorParts.append(s.op("Flatten", auto("flatten"), [anchors]))
        }
        let loc = s.op("Concat", "multibox_loc_pred", locParts, ["num_args": "\(locParts.count)", "dim": "1"])
        let clsConcat = s.op("Concat", auto("concat"), clsParts, ["num_args": "\(clsParts.count)", "dim": "1"])
        let clsReshaped = s.op("Reshape", auto("reshape"), [clsConcat], ["shape": MXNetSymbol.tuple([0, -1, classes])])
        let cls = s.op("transpose", "multibox_cls_pred", [clsReshaped], ["axes": MXNetSymbol.tuple([0, 2, 1])])
        let anchorConcat = s.op("Concat", auto("concat"), anchorParts, ["num_args": "\(anchorParts.count)", "dim": "1"])
        let anchors = s.op("Reshape", "multibox_anchors", [anchorConcat], ["shape": MXNetSymbol.tuple([0, -1, 4])])
        let probabilities = s.op("softmax", "cls_prob", [cls], ["axis": "1"])
        let head = s.op("_contrib_MultiBoxDetection", "detection", [probabilities, loc, anchors], [
            "nms_threshold": MXNetSymbol.number(detection.nmsThreshold), "force_suppress": MXNetSymbol.bool(detection.forceSuppress),
            "variances": MXNetSymbol.tuple([Float(0.1), 0.1, 0.2, 0.2]), "nms_topk": "\(detection.topK)",
            "threshold": MXNetSymbol.number(detection.threshold), "clip": MXNetSymbol.bool(detection.clip),
        ])
        return (s, head)
    }

    static func convolutionAttributes(_ g: Conv2D.Geometry) -> [String: String] {
        var attrs = ["kernel": MXNetSymbol.tuple([g.kernelHeight, g.kernelWidth]), "stride": MXNetSymbol.tuple([g.strideHeight, g.strideWidth]),
                     "pad": MXNetSymbol.tuple([g.padHeight, g.padWidth]), "num_filter": "\(g.outChannels)"]
        if g.dilationHeight != 1 || g.dilationWidth != 1 { attrs["dilate"] = MXNetSymbol.tuple([g.dilationHeight, g.dilationWidth]) }
        return attrs
    }

    /// MXNet's name of the ReLU after a layer: `conv4_3` → `relu4_3`, `fc7` → `relu7`,
    /// `multi_feat_2_conv_3x3_conv` → `multi_feat_2_conv_3x3_relu`, `bn0` → `relu0`,
    /// `stage1_unit1_bn2` → `stage1_unit1_relu2`.
    static func reluName(after layer: String) -> String {
        if layer.hasSuffix("_conv") { return String(layer.dropLast(4)) + "relu" }
        if layer.hasPrefix("conv") { return "relu" + layer.dropFirst(4) }
        if layer.hasPrefix("fc") { return "relu" + layer.dropFirst(2) }
        if let r = layer.range(of: "bn", options: .backwards) { return layer.replacingCharacters(in: r, with: "relu") }
        return layer + "_relu"
    }
}
