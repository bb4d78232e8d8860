import Detection
import Foundation
import Tensor
import Testing

@Suite("Activation memory of forward and backward")
struct ActivationMemoryTests {
    @Test("a training forward keeps only what backward reads (a one-bit mask before each max pooling); backward frees it all",
          arguments: ["vgg-16", "resnet-50"])
    func trainingKeepsWhatBackwardReads(network: String) throws {
        let model = try SSDModel(config: network == "vgg-16" ? .tiny(numClasses: 2) : .tinyResNet(numClasses: 2))
        let (images, labels) = toyBatch(batch: 2, size: 64)
        let ledger = MemoryLedger()
        model.memory = ledger
        let state = try model.forward(images: images, batch: 2, training: true)
        let kept = Set(ledger.liveBuffers.map(\.name))
        if network == "vgg-16" {
            // conv1_1 is conv1_2's input; conv1_2 feeds only pool1, so its ReLU mask is enough.
            #expect(kept.isSuperset(of: ["conv1_1 output", "conv1_2 ReLU mask", "pool1 output", "pool1 argmax", "relu4_3 L2-normalized"]))
            #expect(!kept.contains("conv1_2 output") && !kept.contains("conv1_1 ReLU mask"))
        } else {
            // conv3 and the shortcut feed only the sum; bn0 + relu0 only pool0.
            #expect(kept.isSuperset(of: ["stage1_unit1_bn1 output", "bn0 ReLU mask", "_plus0 output"]))
            #expect(!kept.contains("stage1_unit1_conv3 output") && !kept.contains("stage1_unit1_sc output") && !kept.contains("bn0 output"))
        }
        let targets = model.targets(for: state, labels: labels, batch: 2)
        let loss = try MultiBoxLoss.compute(loc: state.loc, clsNHWC: state.cls, targets: targets, batch: 2,
                                            anchors: model.anchorCount, classes: model.config.numClasses)
        model.parameters.zeroGradients()
        try model.backward(consume state, gradLoc: loss.gradLoc, gradCls: loss.gradCls)
        #expect(ledger.liveBytes == 0, "left live after backward: \(ledger.liveBuffers.map(\.name))")
        _ = try model.trainingStep(images: images, labels: labels, batch: 2)
        #expect(ledger.liveBytes == 0)
    }

    @Test("backward on a copy of the state gives the same gradients again: what backward frees is its own")
    func copiesStayIntact() throws {
        let model = try SSDModel(config: .tiny(numClasses: 2))
        let (images, labels) = toyBatch(batch: 2, size: 64)
        let state = try model.forward(images: images, batch: 2, training: true)
        let targets = model.targets(for: state, labels: labels, batch: 2)
        let loss = try MultiBoxLoss.compute(loc: state.loc, clsNHWC: state.cls, targets: targets, batch: 2,
                                            anchors: model.anchorCount, classes: model.config.numClasses)
        let copy = state
        model.parameters.zeroGradients()
        try model.backward(state, gradLoc: loss.gradLoc, gradCls: loss.gradCls)
        let first = Array(model.parameters.gradients)
        model.parameters.zeroGradients()
        try model.backward(copy, gradLoc: loss.gradLoc, gradCls: loss.gradCls)
        #expect(Array(model.parameters.gradients) == first)
        #expect(first.contains { $0 != 0 })
    }

    @Test("an inference forward frees each output once its readers have run and keeps none", arguments: ["vgg-16", "resnet-50"])
    func inferenceKeepsNothing(network: String) throws {
        let model = try SSDModel(config: network == "vgg-16" ? .tiny(numClasses: 2) : .tinyResNet(numClasses: 2))
        let (images, _) = toyBatch(batch: 2, size: 64)
        let ledger = MemoryLedger()
        model.memory = ledger
        let inference = try model.forward(images: images, batch: 2)
        #expect(ledger.liveBytes == 0)
        let inferencePeak = ledger.peakBytes
        let training = try model.forward(images: images, batch: 2, training: true)
        #expect(inferencePeak < ledger.liveBytes, "inference peak \(inferencePeak) vs training forward \(ledger.liveBytes)")
        #expect(inference.loc == training.loc && inference.cls == training.cls)
    }
}
