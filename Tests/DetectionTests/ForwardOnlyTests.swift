@testable import Detection
import Foundation
import Tensor
import TestSupport
import Testing

/// The forward-only path (`detect`, `deployForward`: what `ssd predict`, `ssd serve` and
/// evaluation run) keeps nothing for backward and gives exactly what the training forward gives.
@Suite("forward-only inference path")
struct ForwardOnlyTests {
    @Test("inference (max pooling without places) gives the training forward's outputs bit for bit and never allocates gradients",
          arguments: ["vgg-16", "resnet-50"], [1, 2])
    func inferenceEqualsTrainingForward(network: String, threads: Int) throws {
        let model = try SSDModel(config: network == "vgg-16" ? .tiny(numClasses: 2, imageShape: 75) : .tinyResNet(numClasses: 2))
        let size = model.config.imageShape
        model.threading = Threading(threads: threads, gemmsOnOwnThreads: threads > 1)
        let (images, _) = toyBatch(batch: 2, size: size, seed: 4)
        let inference = try model.forward(images: images, batch: 2)
        let detections = try model.detect(images: images, batch: 2)
        #expect(model.parameters.allocatedGradients == nil, "an inference process holds no gradients")
        let training = try model.forward(images: images, batch: 2, training: true)
        #expect(inference.loc.map(\.bitPattern) == training.loc.map(\.bitPattern))
        #expect(inference.cls.map(\.bitPattern) == training.cls.map(\.bitPattern))
        #expect(try model.detect(images: images, batch: 2) == detections, "the same detections again (no buffer is read before written)")
    }

    @Test("the detection sort's 64-bit keys order as the stable descending comparison, ties and ±0 included")
    func descendingStableOrder() {
        var rng = SeededGenerator(seed: 8)
        let levels: [Float] = [0, -0.0, 0.01, 0.5, 0.5, 1, 0.25, 1e-30, 0.75]
        for count in [0, 1, 7, 500] {
            let scores = (0..<count).map { _ in levels[Int(rng.uniform(0, Float(levels.count) - 0.001))] }
            let expected = Array(scores.indices).sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
            #expect(MultiBoxDetection.descendingStableOrder(scores: scores) == expected, "\(count) scores")
        }
    }
}
