import Detection
import Foundation
import TestSupport
import Testing

@Suite("SSD with a ResNet base")
struct ResNetTests {
    @Test("ResNet-50 SSD at 300 and 512: taps _plus12/_plus15, feature maps, anchors, frozen BatchNorm statistics")
    func standardShapes() throws {
        let c300 = try SSDConfig.resnet50(imageShape: 300, numClasses: 20)
        #expect(try c300.featureSizes() == [19, 10, 5, 3, 2, 1])
        #expect(try c300.anchorCount() == 2268)
        #expect(c300.sourceNames == ["_plus12", "_plus15", "multi_feat_2_conv_3x3_relu", "multi_feat_3_conv_3x3_relu",
                                     "multi_feat_4_conv_3x3_relu", "multi_feat_5_conv_3x3_relu"])
        let c512 = try SSDConfig.resnet50(imageShape: 512, numClasses: 20)
        #expect(try c512.featureSizes() == [32, 16, 8, 4, 2, 1])
        #expect(try c512.anchorCount() == 6132)
        #expect(throws: ModelError.self) { _ = try SSDConfig.resnet50(imageShape: 299, numClasses: 20) }
        #expect(throws: ModelError.self) { _ = try SSDConfig.forBaseNetwork("resnet-18", imageShape: 300, numClasses: 20) }
        let p = try SSDModel(config: c300).parameters
        #expect(p.specs.filter { !$0.isAuxiliary }.count == 193 && p.specs.filter(\.isAuxiliary).count == 100)
        #expect(p.specs[p.index(of: "conv0_weight")!].shape == [64, 3, 7, 7] && p.index(of: "conv0_bias") == nil)
        #expect(p.specs[p.index(of: "stage3_unit1_sc_weight")!].shape == [1024, 512, 1, 1])
        #expect(p.specs[p.index(of: "_plus12_cls_pred_conv_weight")!].shape == [84, 1024, 3, 3])
        #expect(p.specs[p.index(of: "_plus15_loc_pred_conv_weight")!].shape == [24, 2048, 3, 3])
        #expect(p.specs[p.index(of: "bn0_moving_var")!].isAuxiliary && p.specs[p.index(of: "bn0_gamma")!].wdMult == 1
                && p.specs[p.index(of: "bn0_beta")!].wdMult == 0)
        #expect(p.index(of: "relu4_3_scale") == nil)
    }

    @Test("a model description round-trips through JSON; a VGG description without `base` still decodes")
    func configCoding() throws {
        let c = try SSDConfig.resnet50(imageShape: 512, numClasses: 3)
        #expect(try JSONDecoder().decode(SSDConfig.self, from: JSONEncoder().encode(c)) == c)
        var legacy = try JSONSerialization.jsonObject(with: JSONEncoder().encode(SSDConfig.tiny(numClasses: 2))) as! [String: Any]
        legacy["base"] = nil; legacy["resnetUnits"] = nil
        #expect(try JSONDecoder().decode(SSDConfig.self, from: JSONSerialization.data(withJSONObject: legacy)) == .tiny(numClasses: 2))
    }

    @Test("a full forward and backward of a small ResNet SSD matches finite differences")
    func gradientCheck() throws {
        let failures = try finiteDifferenceFailures(config: .tinyResNet(numClasses: 2), names: [
            "bn_data_beta", "conv0_weight", "bn0_gamma", "bn0_beta", "stage1_unit1_conv2_weight", "stage1_unit1_sc_weight",
            "stage2_unit1_bn1_gamma", "stage3_unit1_conv3_weight", "stage4_unit1_bn3_beta", "stage4_unit1_conv1_weight",
            "_plus2_cls_pred_conv_weight", "_plus3_loc_pred_conv_bias", "multi_feat_2_conv_1x1_conv_weight"], step: 1e-3)
        // A beta or gamma moves a whole channel of both images, so steps of 1e-3 (relative) keep
        // Float32 rounding of the loss (about 40 here) small; one of the 39 coordinates may cross a kink.
        #expect(failures.count <= 1, "\(failures)")
    }

    @Test("the small ResNet SSD overfits a few images: loss falls and mAP reaches 0.9")
    func overfits() throws {
        let model = try SSDModel(config: .tinyResNet(numClasses: 2), seed: 11)
        // bn_data normalizes the input with its moving statistics: give it the toy images' scale.
        let p = model.parameters
        for j in p.range(p.index(of: "bn_data_moving_var")!) { p.values[j] = 100 * 100 }
        let (images, labels) = toyBatch(batch: 4, size: 64, seed: 5)
        let optimizer = SimpleMomentum(learningRate: 0.01, momentum: 0.9, count: p.count)
        var first = 0.0, last = 0.0
        for step in 0..<250 {
            let r = try model.trainingStep(images: images, labels: labels, batch: 4)
            if step == 0 { first = r.crossEntropy + r.smoothL1 }
            last = r.crossEntropy + r.smoothL1
            optimizer.update(p)
        }
        #expect(last < first * 0.3, "loss \(first) → \(last)")
        let detections = try model.detect(images: images, batch: 4)
        let mAP = toyMeanAveragePrecision(detections, labels: labels, batch: 4, anchors: model.anchorCount)
        #expect(mAP >= 0.9, "mAP \(mAP)")
    }

    @Test("with batch statistics (training from scratch) a small ResNet SSD matches finite differences too")
    func gradientCheckBatchStatistics() throws {
        let failures = try finiteDifferenceFailures(config: .tinyResNet(numClasses: 2), names: [
            "bn_data_beta", "conv0_weight", "bn0_gamma", "stage1_unit1_conv2_weight", "stage2_unit1_bn1_gamma",
            "stage3_unit1_conv3_weight", "stage4_unit1_bn3_beta", "_plus3_cls_pred_conv_weight"], step: 1e-3, batchNormStatistics: .batch)
        #expect(failures.count <= 1, "\(failures)")
    }

    @Test("batch statistics: a training forward normalises with the batch and moves the moving averages; inference uses them")
    func batchStatistics() throws {
        let model = try SSDModel(config: .tinyResNet(numClasses: 2), seed: 3)
        model.batchNormStatistics = .batch
        let p = model.parameters, mean = p.range(p.index(of: "bn0_moving_mean")!), variance = p.range(p.index(of: "bn0_moving_var")!)
        let before = Array(p.values[mean]), varianceBefore = Array(p.values[variance])
        let (images, _) = toyBatch(batch: 2, size: 64)
        let inference = try model.forward(images: images, batch: 2)
        #expect(Array(p.values[mean]) == before, "an inference forward never writes the moving statistics")
        let training = try model.forward(images: images, batch: 2, training: true)
        #expect(Array(p.values[mean]) != before && Array(p.values[variance]) != varianceBefore)
        #expect(training.cls != inference.cls)
        // Frozen: a training forward equals the inference one and leaves the statistics alone.
        model.batchNormStatistics = .frozen
        let moved = Array(p.values[mean])
        let frozen = try model.forward(images: images, batch: 2, training: true), again = try model.forward(images: images, batch: 2)
        #expect(Array(p.values[mean]) == moved && frozen.cls == again.cls)
    }

    @Test("bn_data's gamma is fixed (fix_gamma) and moving statistics are never trained")
    func fixedAndAuxiliary() throws {
        let model = try SSDModel(config: .tinyResNet(numClasses: 2), seed: 3)
        let (images, labels) = toyBatch(batch: 2, size: 64)
        _ = try model.trainingStep(images: images, labels: labels, batch: 2)
        let p = model.parameters
        for name in ["bn_data_gamma", "bn0_moving_mean", "bn0_moving_var", "stage2_unit1_bn2_moving_var"] {
            #expect(p.gradients[p.range(p.index(of: name)!)].allSatisfy { $0 == 0 }, "\(name)")
        }
        #expect(p.gradients[p.range(p.index(of: "bn_data_beta")!)].contains { $0 != 0 })
        let frozen = try p.freeze(matching: "^(conv0|bn0|stage1_).*")
        #expect(frozen.contains("stage1_unit1_sc_weight") && frozen.contains("bn0_gamma") && !frozen.contains("stage2_unit1_conv1_weight"))
    }
}

@Suite("SSD forward vs MXNet")
struct ForwardFixtureTests {
    @Test("small VGG and ResNet SSDs with fixed weights give MXNet's loc and cls outputs (scripts/fixtures/make_ssd_forward.py)",
          arguments: ["vgg", "resnet"])
    func matchesMXNet(network: String) throws {
        let model = try SSDModel(config: network == "vgg" ? .tiny(numClasses: 2) : .tinyResNet(numClasses: 2), seed: 99)
        let loaded = try model.loadPretrained(
            path: try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent("ssd_forward_\(network).params").path)
        #expect(loaded.count == model.parameters.specs.count, "every parameter comes from the fixture")
        let fixture = try detectionFixture("ssd_forward_\(network).bin")
        let images = try fixture.values("images")
        let state = try model.forward(images: images, batch: 2)
        let loc = try fixture.values("loc"), cls = try fixture.values("cls")
        #expect(state.loc.count == loc.count && state.cls.count == cls.count)
        let scale = max(loc.map(abs).max() ?? 1, cls.map(abs).max() ?? 1)
        let worst = max(zip(state.loc, loc).map { abs($0 - $1) }.max() ?? 0, zip(state.cls, cls).map { abs($0 - $1) }.max() ?? 0)
        #expect(worst <= 1e-4 * scale, "largest difference \(worst) against outputs up to \(scale)")
    }
}
