@testable import Detection
import Foundation
import Tensor
import Testing

@Suite("Activation buffers planned in one block")
struct ActivationArenaTests {
    /// Loss (folded to 32 bits), predictions and every gradient of one training step, as bit patterns.
    private func step(_ model: SSDModel, _ images: [Float], _ labels: [Float]) throws -> [UInt32] {
        let loss = try model.trainingStep(images: images, labels: labels, batch: 2)
        let out = try model.forward(images: images, batch: 2)
        let values: [Float] = out.loc + out.cls + Array(model.parameters.gradients)
        return [loss.crossEntropy, loss.smoothL1].map { UInt32(truncatingIfNeeded: $0.bitPattern) ^ UInt32($0.bitPattern >> 32) }
            + values.map(\.bitPattern)
    }

    @Test("steps served from the planned block give the same loss, predictions and gradients bit for bit as buffers from the heap; from the second step of each kind every buffer is where the plan put it",
          arguments: ["vgg-16", "resnet-50"])
    func sameBitsAsTheHeap(network: String) throws {
        let config: SSDConfig = network == "vgg-16" ? .tiny(numClasses: 2) : .tinyResNet(numClasses: 2)
        let (images, labels) = toyBatch(batch: 2, size: 64)
        let (planned, heap) = (try SSDModel(config: config), try SSDModel(config: config))
        for model in [planned, heap] { model.threading = Threading(threads: 2, gemmsOnOwnThreads: true) }
        heap.usesActivationArena = false
        let reference = try step(heap, images, labels)
        #expect(reference.contains { $0 != 0 })
        for k in 0..<3 {
            let bits = try step(planned, images, labels)
            #expect(bits == reference, "step \(k + 1)")
            if k > 0 { #expect(planned.arena.unplannedInLastPass == 0, "step \(k + 1): the inference pass") }
            _ = try planned.trainingStep(images: images, labels: labels, batch: 2)
            if k > 0 { #expect(planned.arena.unplannedInLastPass == 0, "step \(k + 1): the training step") }
        }
        #expect(planned.arena.plans.count == 2 && planned.arena.capacity > 0)
    }

    @Test("two training states alive at once: the second gets its own memory, both backwards give the block's gradients")
    func twoStatesAtOnce() throws {
        let model = try SSDModel(config: .tiny(numClasses: 2))
        let (images, labels) = toyBatch(batch: 2, size: 64)
        func gradients(of state: consuming SSDModel.ForwardState) throws -> [Float] {
            let targets = model.targets(for: state, labels: labels, batch: 2)
            let loss = try MultiBoxLoss.compute(loc: state.loc, clsNHWC: state.cls, targets: targets, batch: 2,
                                                anchors: model.anchorCount, classes: model.config.numClasses)
            model.parameters.zeroGradients()
            try model.backward(consume state, gradLoc: loss.gradLoc, gradCls: loss.gradCls)
            return Array(model.parameters.gradients)
        }
        _ = try model.trainingStep(images: images, labels: labels, batch: 2)   // plans the block
        let alone = try gradients(of: try model.forward(images: images, batch: 2, training: true))
        #expect(model.arena.unplannedInLastPass == 0)
        let first = try model.forward(images: images, batch: 2, training: true)
        let second = try model.forward(images: images, batch: 2, training: true)
        #expect(try gradients(of: second).map(\.bitPattern) == alone.map(\.bitPattern))
        #expect(try gradients(of: first).map(\.bitPattern) == alone.map(\.bitPattern))
        #expect(model.arena.unplannedInLastPass == 0)
    }

    @Test("the plan never lets two buffers live at the same time share memory, and a chain of buffers takes no more than its two largest neighbours")
    func planSeparatesLiveBuffers() {
        var rng = SeededGenerator(seed: 5)
        var record: [ActivationArena.Lifetime] = []
        for t in 0..<60 {
            let count = Int(rng.uniform(1, 5000)), life = Int(rng.uniform(1, 20))
            record.append(.init(count: count, start: 2 * t, end: t % 7 == 0 ? Int.max : 2 * t + 2 * life + 1))
        }
        let plan = ActivationArena.plan(record)
        for i in record.indices { for j in record.indices where i < j {
            let (a, b) = (record[i], record[j])
            guard a.start < b.end && b.start < a.end else { continue }
            let (ai, bi) = (plan.offsets[i], plan.offsets[j])
            #expect(ai + a.count <= bi || bi + b.count <= ai, "buffers \(i) and \(j) overlap")
        } }
        #expect(plan.offsets.allSatisfy { $0 % ActivationArena.alignment == 0 })
        #expect(plan.extent >= record.indices.map { t in
            record.filter { $0.start <= record[t].start && record[t].start < $0.end }.map { ActivationArena.rounded($0.count) }.reduce(0, +)
        }.max()!)
        // Each buffer lives while the next is made: the block holds the largest adjacent pair.
        let sizes = [3, 9, 2, 7, 7, 1].map { $0 * ActivationArena.alignment }
        let chain = sizes.enumerated().map { ActivationArena.Lifetime(count: $1, start: 2 * $0, end: 2 * $0 + 3) }
        #expect(ActivationArena.plan(chain).extent == zip(sizes, sizes.dropFirst()).map(+).max()!)
    }
}
