import Detection
import Foundation
import TestSupport
import Testing

@Suite("MultiBoxMetric (MXNet SSD example's train:cross_entropy / train:smooth_l1)")
struct MultiBoxMetricTests {
    func relative(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(b), 1e-30) }

    @Test("by hand: −log(p + 1e-8) over non-ignored anchors, smooth L1 over the same count; an underflowed p gives −log(1e-8)")
    func byHand() {
        // N=1, K=2, P=3: anchor 0 label 1 (p=0.5), anchor 1 ignored, anchor 2 label 0 (p=0, underflowed).
        let m = MultiBoxMetric(probabilities: [0.5, 0.3, 0, 0.5, 0.7, 1], labels: [1, -1, 0], batch: 1, classes: 2, positions: 3, smoothL1Sum: 3)
        #expect(m.validCount == 2)
        #expect(relative(m.crossEntropy, (Double(-logf(0.5 + 1e-8)) + Double(-logf(1e-8))) / 2) < 1e-12)
        #expect(m.smoothL1 == 1.5)
        #expect(MultiBoxMetric().crossEntropy.isNaN, "no anchor yet: NaN, as MXNet's get()")
    }

    @Test("equals MXNet's MultiBoxMetric to 1e-6 relative on probabilities below 1e-30, over one and two batches")
    func matchesMXNet() throws {
        let f = try detectionFixture("multibox_metric.bin")
        var metric = MultiBoxMetric()
        for b in 0..<2 {
            let prob = try f.values("direct/batch\(b)/probabilities"), labels = try f.values("direct/batch\(b)/labels")
            #expect(prob.contains { $0 > 0 && $0 < 1e-30 } && prob.contains(0))
            let loc = try f.values("direct/batch\(b)/locLoss")
            metric.merge(MultiBoxMetric(probabilities: prob, labels: labels, batch: 2, classes: 4, positions: 40,
                                        smoothL1Sum: loc.reduce(0) { $0 + Double($1) }))
            let expected = try f.values("direct/after\(b)")
            #expect(metric.validCount == Int(expected[2]))
            #expect(relative(metric.crossEntropy, Double(expected[0])) < 1e-6, "batch \(b): \(metric.crossEntropy) vs \(expected[0])")
            #expect(relative(metric.smoothL1, Double(expected[1])) < 1e-6, "batch \(b): \(metric.smoothL1) vs \(expected[1])")
        }
    }

    @Test("the training step's logged cross-entropy on MXNet's weights and batch, where a target probability underflows, equals MultiBoxMetric's to 1e-6")
    func trainingStepMatchesMXNet() throws {
        let model = try SSDModel(config: .tiny(numClasses: 2), seed: 99)
        let fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        _ = try model.loadPretrained(path: fixtures.appendingPathComponent("ssd_forward_vgg.params").path)
        let f = try detectionFixture("multibox_metric.bin")
        let factor = try f.values("network/factor")[0]
        let store = model.parameters
        for (i, spec) in store.specs.enumerated() where spec.name.contains("_cls_pred_conv_") {
            for k in store.range(i) { store.values[k] *= factor }
        }
        let images = try detectionFixture("ssd_forward_vgg.bin").values("images")
        let result = try model.trainingStep(images: images, labels: try f.values("network/labels"), batch: 2)
        let expected = try f.values("network/expected")
        let state = try model.forward(images: images, batch: 2, training: true)
        let targets = model.targets(for: state, labels: try f.values("network/labels"), batch: 2)
        #expect(targets.clsTarget == (try f.values("network/clsTarget")), "MultiBoxTarget's class targets")
        #expect(result.metric.validCount == Int(expected[2]))
        #expect(relative(result.crossEntropy, Double(expected[0])) < 1e-6, "\(result.crossEntropy) vs MXNet \(expected[0])")
        #expect(relative(result.metric.crossEntropy, Double(expected[0])) < 1e-6)
        #expect(relative(result.smoothL1, Double(expected[1])) < 1e-5, "\(result.smoothL1) vs MXNet \(expected[1])")
        // The gradient loss clamps at FLT_MIN instead: its mean is far higher here, which is why the log uses the metric.
        #expect(result.classLossSum / Double(result.validCount) > result.crossEntropy * 1.5)
    }
}
