import Detection
import Foundation
import Tensor
import TestSupport
import Testing

/// A few images with one or two boxes each, as B × M × 5 label rows (−1 padded).
func toyBatch(batch: Int, size: Int, maxObjects: Int = 3, seed: UInt64 = 3) -> (images: [Float], labels: [Float]) {
    var rng = SeededGenerator(seed: seed)
    var images = [Float](repeating: 0, count: batch * 3 * size * size)
    var labels = [Float](repeating: -1, count: batch * maxObjects * 5)
    for n in 0..<batch {
        for i in 0..<(3 * size * size) { images[n * 3 * size * size + i] = rng.uniform(-20, 20) }
        for m in 0..<(1 + n % 2) {
            let x0 = rng.uniform(0.05, 0.5), y0 = rng.uniform(0.05, 0.5), w = rng.uniform(0.2, 0.45), h = rng.uniform(0.2, 0.45)
            let cls = Float((n + m) % 2)
            let row = [cls, x0, y0, min(1, x0 + w), min(1, y0 + h)]
            labels.replaceSubrange(((n * maxObjects + m) * 5)..<((n * maxObjects + m) * 5 + 5), with: row)
            // Paint the box so the classes are visible.
            for c in 0..<3 {
                for y in Int(y0 * Float(size))..<Int(min(1, y0 + h) * Float(size)) {
                    for x in Int(x0 * Float(size))..<Int(min(1, x0 + w) * Float(size)) {
                        images[((n * 3 + c) * size + y) * size + x] = cls == 0 ? (c == 0 ? 120 : -100) : (c == 2 ? 120 : -100)
                    }
                }
            }
        }
    }
    return (images, labels)
}

@Suite("SSD model")
struct SSDModelTests {
    @Test("SSD300 and SSD512 (VGG16-reduced): feature maps, anchors and parameters as MXNet's symbol")
    func standardShapes() throws {
        let c300 = try SSDConfig.vgg16Reduced(imageShape: 300, numClasses: 20)
        #expect(try c300.featureSizes() == [38, 19, 10, 5, 3, 1])
        #expect(try c300.anchorCount() == 8732)
        let c512 = try SSDConfig.vgg16Reduced(imageShape: 512, numClasses: 20)
        #expect(try c512.featureSizes() == [64, 32, 16, 8, 4, 2, 2])
        #expect(try c512.anchorCount() == 24576)
        #expect(throws: ModelError.self) { _ = try SSDConfig.vgg16Reduced(imageShape: 299, numClasses: 20) }
        let model = try SSDModel(config: c300)
        let p = model.parameters
        #expect(p.specs.count == 71)
        #expect(p.count == 26_285_486)
        #expect(model.anchorCount == 8732)
        #expect(p.specs.first?.name == "conv1_1_weight" && p.specs.first?.shape == [64, 3, 3, 3])
        #expect(p.specs[p.index(of: "fc6_weight")!].shape == [1024, 512, 3, 3])
        #expect(p.specs[p.index(of: "relu4_3_scale")!].shape == [1, 512, 1, 1])
        #expect(p.specs[p.index(of: "multi_feat_2_conv_1x1_conv_weight")!].shape == [256, 1024, 1, 1])
        #expect(p.specs[p.index(of: "relu4_3_cls_pred_conv_weight")!].shape == [84, 512, 3, 3])
        #expect(p.specs[p.index(of: "multi_feat_5_conv_3x3_relu_loc_pred_conv_bias")!].shape == [16])
        #expect(p.specs[p.index(of: "relu7_loc_pred_conv_bias")!].lrMult == 2)
        #expect(p.specs[p.index(of: "relu4_3_scale")!].wdMult == 0.1 && p.specs[p.index(of: "conv1_1_bias")!].wdMult == 0)
        #expect(p.values[p.range(p.index(of: "relu4_3_scale")!)].allSatisfy { $0 == 20 })
        #expect(try SSDModel(config: c512).parameters.specs.count == 79)
    }

    @Test("freeze_layer_pattern: ^(conv1_|conv2_).* freezes conv1_* and conv2_*; an invalid regex is an error")
    func freezing() throws {
        let model = try SSDModel(config: .tiny(numClasses: 2))
        let frozen = try model.parameters.freeze(matching: "^(conv1_|conv2_).*")
        #expect(frozen == ["conv1_1_weight", "conv1_1_bias", "conv1_2_weight", "conv1_2_bias",
                           "conv2_1_weight", "conv2_1_bias", "conv2_2_weight", "conv2_2_bias"])
        let (images, labels) = toyBatch(batch: 2, size: 64)
        _ = try model.trainingStep(images: images, labels: labels, batch: 2)
        let g = model.parameters
        #expect(g.gradients[g.range(g.index(of: "conv1_1_weight")!)].allSatisfy { $0 == 0 })
        #expect(g.gradients[g.range(g.index(of: "conv3_1_weight")!)].contains { $0 != 0 })
        #expect(throws: ModelError.self) { try model.parameters.freeze(matching: "(conv1_") }
    }

    @Test("with 3 classes (4 class scores per anchor, as many as box offsets) loc and cls stay apart", arguments: ["vgg-16", "resnet-50"])
    func threeClasses(network: String) throws {
        let model = try SSDModel(config: network == "vgg-16" ? .tiny(numClasses: 3) : .tinyResNet(numClasses: 3))
        let (images, labels) = toyBatch(batch: 2, size: 64)
        let state = try model.forward(images: images, batch: 2)
        #expect(state.loc.count == 2 * model.anchorCount * 4 && state.cls.count == 2 * model.anchorCount * 4)
        #expect(state.loc != state.cls)
        let r = try model.trainingStep(images: images, labels: labels, batch: 2)
        #expect(r.crossEntropy.isFinite && r.smoothL1.isFinite)
    }

    @Test("backward reports every trainable parameter once, with its final gradient; frozen ones never", arguments: ["vgg-16", "resnet-50"])
    func gradientReady(network: String) throws {
        let model = try SSDModel(config: network == "vgg-16" ? .tiny(numClasses: 2) : .tinyResNet(numClasses: 2))
        try model.parameters.freeze(matching: "^conv1_|^bn_data")
        let (images, labels) = toyBatch(batch: 2, size: 64)
        var reported: [Int] = [], atReport: [Int: [Float]] = [:]
        _ = try model.trainingStep(images: images, labels: labels, batch: 2, gradientReady: { i in
            reported.append(i)
            atReport[i] = Array(model.parameters.gradients.view(i))
        })
        let p = model.parameters
        #expect(reported.count == Set(reported).count, "a parameter reported twice")
        #expect(Set(reported) == Set(p.trainable))
        #expect(!p.trainable.isEmpty && p.trainable.allSatisfy { !p.frozen.contains($0) && !p.specs[$0].isAuxiliary })
        for i in reported { #expect(atReport[i]! == Array(p.gradients.view(i)), "\(p.specs[i].name) changed after it was reported") }
        // Heads first: the last parameter reported belongs to the first layer that trains.
        #expect(p.specs[reported.last!].name.hasPrefix(network == "vgg-16" ? "conv2_1" : "conv0"))
    }

    @Test("a full forward and backward of a small SSD matches finite differences")
    func gradientCheck() throws {
        let failures = try finiteDifferenceFailures(config: .tiny(numClasses: 2), names: [
            "conv1_1_weight", "conv3_2_bias", "conv4_3_weight", "relu4_3_scale", "fc6_weight", "fc7_bias",
            "multi_feat_2_conv_1x1_conv_weight", "multi_feat_3_conv_3x3_conv_weight", "relu4_3_cls_pred_conv_weight",
            "relu7_loc_pred_conv_bias", "multi_feat_3_conv_3x3_relu_cls_pred_conv_bias"])
        // Steps of 1e-4 (relative) keep most Float32 forward passes clear of ReLU and max-pool kinks; a
        // conv1_1 weight moves every pixel of both images, so one of the 33 coordinates may still cross one.
        #expect(failures.count <= 1, "\(failures)")
    }

    @Test("the small SSD overfits a few images: loss falls and every object is found")
    func overfits() throws {
        let model = try SSDModel(config: .tiny(numClasses: 2), seed: 11)
        let (images, labels) = toyBatch(batch: 4, size: 64, seed: 5)
        let optimizer = SimpleMomentum(learningRate: 0.003, momentum: 0.9, count: model.parameters.count)
        var first = 0.0, last = 0.0
        for step in 0..<250 {
            let r = try model.trainingStep(images: images, labels: labels, batch: 4)
            let loss = r.crossEntropy + r.smoothL1
            if step == 0 { first = loss }
            last = loss
            optimizer.update(model.parameters)
        }
        #expect(last < first * 0.3, "loss \(first) → \(last)")
        let detections = try model.detect(images: images, batch: 4)
        var found = 0, total = 0
        for n in 0..<4 {
            let dets = MultiBoxDetection.detections(detections, image: n, anchors: model.anchorCount)
            for m in 0..<3 {
                let row = Array(labels[((n * 3 + m) * 5)..<((n * 3 + m) * 5 + 5)])
                if row[0] < 0 { continue }
                total += 1
                let gt = Array(row[1...])
                if dets.contains(where: { $0.classId == Int(row[0]) && $0.score > 0.3 && BoxCoder.iou($0.box, gt) > 0.5 }) { found += 1 }
            }
        }
        #expect(total == 6)
        #expect(found == total, "found \(found) of \(total)")
        let mAP = toyMeanAveragePrecision(detections, labels: labels, batch: 4, anchors: model.anchorCount)
        #expect(mAP >= 0.9, "mAP \(mAP)")
    }
}

/// VOC mAP of `detections` (B × A × 6) against `toyBatch` labels (3 rows of 5 per image).
func toyMeanAveragePrecision(_ detections: [Float], labels: [Float], batch: Int, anchors: Int) -> Double {
    var metric = VOCMeanAveragePrecision(classes: 2)
    for n in 0..<batch {
        let gts = (0..<3).compactMap { m -> VOCMeanAveragePrecision.GroundTruth? in
            let row = Array(labels[((n * 3 + m) * 5)..<((n * 3 + m) * 5 + 5)])
            return row[0] < 0 ? nil : .init(classId: Int(row[0]), box: Array(row[1...]))
        }
        metric.update(detections: MultiBoxDetection.detections(detections, image: n, anchors: anchors), groundTruth: gts)
    }
    return metric.meanAveragePrecision()
}

/// Central finite differences of the MultiBox loss (targets and normalizers held fixed: mining
/// is not differentiable) against backward's gradients, at three coordinates of each named
/// parameter; returns the coordinates that disagree.
func finiteDifferenceFailures(config: SSDConfig, names: [String], seed: UInt64 = 7, step: Float = 1e-4,
                              batchNormStatistics: SSDModel.BatchNormStatistics = .frozen) throws -> [String] {
    let model = try SSDModel(config: config, seed: seed)
    model.threading = .serial
    model.batchNormStatistics = batchNormStatistics
    // BatchNorm betas and moving means start at 0: a channel whose input is exactly 0 (a dead
    // receptive field) would then sit exactly on its ReLU's kink. Move them off it.
    var rng = SeededGenerator(seed: seed)
    for (i, spec) in model.parameters.specs.enumerated() where spec.name.hasSuffix("_beta") || spec.name.hasSuffix("_moving_mean") {
        for j in model.parameters.range(i) { model.parameters.values[j] = rng.uniform(-0.1, 0.1) }
    }
    let size = config.imageShape, classes = config.numClasses
    let (images, labels) = toyBatch(batch: 2, size: size)
    let state = try model.forward(images: images, batch: 2, training: true)
    let targets = model.targets(for: state, labels: labels, batch: 2)
    let first = try MultiBoxLoss.compute(loc: state.loc, clsNHWC: state.cls, targets: targets, batch: 2, anchors: model.anchorCount, classes: classes)
    #expect(first.validCount > 0 && first.boxNonZero > 0)
    let counts = MultiBoxLoss.counts(loc: state.loc, targets: targets)
    #expect(counts.valid == first.validCount && counts.boxNonZero == first.boxNonZero)
    let norms = (cls: Float(first.validCount), box: Float(first.boxNonZero))
    func loss() throws -> Double {
        // (With batch statistics this also moves the moving averages, which the loss does not read.)
        let s = try model.forward(images: images, batch: 2, training: true)
        let r = try MultiBoxLoss.compute(loc: s.loc, clsNHWC: s.cls, targets: targets, batch: 2, anchors: model.anchorCount,
                                         classes: classes, normalizers: norms)
        return r.classLossSum / Double(norms.cls) + r.boxLossSum / Double(norms.box)
    }
    model.parameters.zeroGradients()
    try model.backward(state, gradLoc: first.gradLoc, gradCls: first.gradCls)
    let p = model.parameters
    var checked = 0, failures: [String] = []
    for name in names {
        let r = p.range(try #require(p.index(of: name), "\(name)"))
        for j in stride(from: r.lowerBound, to: r.upperBound, by: max(1, r.count / 3)).prefix(3) {
            let saved = p.values[j], analytic = Double(p.gradients[j])
            func numeric(_ eps: Float) throws -> Double {
                p.values[j] = saved + eps; let plus = try loss()
                p.values[j] = saved - eps; let minus = try loss()
                p.values[j] = saved
                return (plus - minus) / Double(2 * eps)
            }
            func agrees(_ numeric: Double) -> Bool { abs(numeric - analytic) <= 2e-3 + 5e-2 * abs(numeric) }
            // A gradient bug disagrees at every step size; a ReLU or max-pool kink crossed by one
            // step moves that estimate alone (which kinks a step crosses depends on the CPU's
            // BLAS kernels), so a coordinate that disagrees at `step` is tried at ¼, ½ and 2×.
            let base = step * max(1, abs(saved))
            var estimates: [Double] = [], passed = false
            for f: Float in [1, 0.25, 0.5, 2] where !passed {
                let estimate = try numeric(base * f)
                estimates.append(estimate)
                passed = agrees(estimate)
            }
            checked += 1
            if !passed {
                failures.append("\(name)[\(j - r.lowerBound)]: analytic \(analytic) numeric \(estimates) (steps ×1, ×¼, ×½, ×2)")
            }
        }
    }
    #expect(checked >= 3 * names.count - 2)
    return failures
}

/// SGD with momentum over the whole flat store (the Optimizers target does this for training;
/// the Detection tests stay independent of it).
final class SimpleMomentum {
    let lr: Float, momentum: Float
    var velocity: [Float]
    init(learningRate: Float, momentum: Float, count: Int) { lr = learningRate; self.momentum = momentum; velocity = .init(repeating: 0, count: count) }
    func update(_ p: ParameterStore) {
        for (i, s) in p.specs.enumerated() {
            for j in p.range(i) {
                velocity[j] = momentum * velocity[j] - lr * s.lrMult * p.gradients[j]
                p.values[j] += velocity[j]
            }
        }
    }
}

struct ReferenceParams: Decodable {
    struct Config: Decodable { var anchors: Int; var params: [[Entry]]; var aux: [[Entry]]? }
    enum Entry: Decodable {
        case name(String), shape([Int])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .name(s) } else { self = .shape(try c.decode([Int].self)) }
        }
    }
}

@Suite("SSD parameters vs MXNet's symbol")
struct ReferenceShapeTests {
    @Test("every parameter name and shape equals MXNet's infer_shape (scripts/fixtures/make_ssd_params.py)",
          arguments: [("vgg-16", 300), ("vgg-16", 512), ("resnet-50", 300), ("resnet-50", 512)])
    func matchesMXNet(network: String, imageShape: Int) throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent("ssd_params.json")
        let all = try JSONDecoder().decode([String: ReferenceParams.Config].self, from: Data(contentsOf: url))
        let reference = try #require(all["\(network == "vgg-16" ? "vgg16_reduced" : "resnet50")_\(imageShape)"])
        func table(_ entries: [[ReferenceParams.Entry]]) -> [String: [Int]] {
            var t: [String: [Int]] = [:]
            for pair in entries { if case .name(let n) = pair[0], case .shape(let s) = pair[1] { t[n] = s } }
            return t
        }
        let model = try SSDModel(config: try .forBaseNetwork(network, imageShape: imageShape, numClasses: 20))
        let specs = model.parameters.specs
        let arguments = Dictionary(uniqueKeysWithValues: specs.filter { !$0.isAuxiliary }.map { ($0.name, $0.shape) })
        let auxiliary = Dictionary(uniqueKeysWithValues: specs.filter(\.isAuxiliary).map { ($0.name, $0.shape) })
        #expect(arguments == table(reference.params))
        #expect(auxiliary == table(reference.aux ?? []))
        #expect(model.anchorCount == reference.anchors)
    }
}
