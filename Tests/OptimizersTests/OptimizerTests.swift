import Foundation
import Optimizers
import TestSupport
import Testing

func optimizerFixture() throws -> Fixture {
    guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
        throw Fixture.LoadError.unreadable(path: "Fixtures/optimizers.bin (resource folder missing)")
    }
    return try Fixture(contentsOf: dir.appendingPathComponent("optimizers.bin"))
}

/// Rebuilds the configuration a fixture case was run with.
func config(fromParams p: [Float]) -> (OptimizerConfig, ParameterMultipliers) {
    let kind = [OptimizerKind.sgd, .adam, .rmsprop, .adadelta][Int(p[0])]
    let steps = [Int(p[9]), Int(p[10])].filter { $0 > 0 }
    let config = OptimizerConfig(kind: kind, learningRate: p[1], momentum: p[2], weightDecay: p[3], rescaleGrad: p[4],
                                 clipGradient: p[5] < 0 ? nil : p[5],
                                 schedule: steps.isEmpty ? .constant : LearningRateSchedule(steps: steps, factor: p[8]))
    return (config, ParameterMultipliers(lrMult: p[6], wdMult: p[7]))
}

@Suite("Optimizers")
struct OptimizerTests {
    @Test("every optimizer follows mxnet.optimizer step by step")
    func matchesMXNet() throws {
        let f = try optimizerFixture()
        let cases = f.arrays.keys.filter { $0.hasSuffix("/params") }.map { String($0.dropLast(7)) }.sorted()
        #expect(cases.count == 9)
        for name in cases {
            let (cfg, mults) = config(fromParams: try f.values("\(name)/params"))
            let optimizer = Optimizer(cfg)
            var weights = try f.values("\(name)/initial")
            let grads = try f.array("\(name)/gradients"), after = try f.array("\(name)/weights")
            let n = weights.count
            var state = optimizer.makeState(count: n)
            for step in 0..<grads.shape[0] {
                let g = Array(grads.values[(step * n)..<((step + 1) * n)])
                try weights.withUnsafeMutableBufferPointer { w in try g.withUnsafeBufferPointer { gp in
                    try optimizer.update(weights: w, gradient: gp, state: &state, multipliers: mults)
                } }
                let expected = Array(after.values[(step * n)..<((step + 1) * n)])
                let c = closeness(weights, expected, rtol: 1e-5, atol: 1e-6)
                #expect(c.passed, "\(name) step \(step + 1): \(c)")
            }
            #expect(state.updateCount == grads.shape[0])
        }
    }

    @Test("MultiFactorScheduler: the rate drops once the update count passes each step")
    func schedule() {
        let s = LearningRateSchedule(steps: [2, 4], factor: 0.5)
        #expect((1...6).map { s.learningRate(base: 1, atUpdate: $0) } == [1, 1, 0.5, 0.5, 0.25, 0.25])
        // lr_scheduler_step "2,4" in epochs with 10 iterations per epoch → updates 20 and 40.
        let epochs = LearningRateSchedule(epochs: [2, 4], iterationsPerEpoch: 10, factor: 0.5)
        #expect(epochs.steps == [20, 40])
        #expect(epochs.learningRate(base: 0.1, atUpdate: 20) == 0.1)
        #expect(epochs.learningRate(base: 0.1, atUpdate: 21) == 0.05)
        #expect(LearningRateSchedule.constant.learningRate(base: 0.3, atUpdate: 1000) == 0.3)
    }

    @Test("state of another array's size is rejected")
    func rejectsMismatchedState() {
        let optimizer = Optimizer(OptimizerConfig(kind: .sgd, learningRate: 0.1, momentum: 0.9))
        var state = optimizer.makeState(count: 3)
        var w: [Float] = [1, 2]
        let g: [Float] = [0, 0]
        #expect(throws: OptimizerError.self) {
            try w.withUnsafeMutableBufferPointer { wp in try g.withUnsafeBufferPointer { gp in
                try optimizer.update(weights: wp, gradient: gp, state: &state)
            } }
        }
    }

    @Test("plain SGD step by hand: w − lr·(rescale·g) − lr·wd·w")
    func sgdByHand() throws {
        let optimizer = Optimizer(OptimizerConfig(kind: .sgd, learningRate: 0.5, weightDecay: 0.1, rescaleGrad: 0.5))
        var state = optimizer.makeState(count: 1)
        var w: [Float] = [2]
        let g: [Float] = [4]
        try w.withUnsafeMutableBufferPointer { wp in try g.withUnsafeBufferPointer { gp in
            try optimizer.update(weights: wp, gradient: gp, state: &state)
        } }
        #expect(abs(w[0] - (2 - 0.5 * 2 - 0.5 * 0.1 * 2)) < 1e-6)
    }

    @Test("an update split over 3 threads gives the same bits as one thread, every rule", arguments: [
        OptimizerConfig(kind: .sgd, learningRate: 0.1, weightDecay: 0.01, clipGradient: 0.5),
        OptimizerConfig(kind: .sgd, learningRate: 0.1, momentum: 0.9, weightDecay: 0.01),
        OptimizerConfig(kind: .adam, learningRate: 0.01, weightDecay: 0.01),
        OptimizerConfig(kind: .rmsprop, learningRate: 0.01),
        OptimizerConfig(kind: .adadelta, learningRate: 1, weightDecay: 0.001),
    ])
    func threadedUpdate(_ config: OptimizerConfig) throws {
        let optimizer = Optimizer(config), count = 3 * (1 << 15) + 11
        let start = (0..<count).map { Float(($0 * 7919) % 1000) / 500 - 1 }, gradient = start.map { $0 * 0.3 + 0.01 }
        func run(threads: Int) throws -> ([Float], OptimizerState) {
            var w = start, state = optimizer.makeState(count: count)
            for _ in 0..<2 {
                try w.withUnsafeMutableBufferPointer { wp in try gradient.withUnsafeBufferPointer { gp in
                    try optimizer.update(weights: wp, gradient: gp, state: &state, threads: threads)
                } }
            }
            return (w, state)
        }
        let (serialWeights, serialState) = try run(threads: 1), (threadedWeights, threadedState) = try run(threads: 3)
        #expect(serialWeights == threadedWeights && serialState == threadedState)
        #expect(serialWeights != start && serialState.updateCount == 2 && serialState.slots.count == config.stateSlots)
    }

    @Test("configuration round-trips through JSON (what a worker sends the servers)")
    func codable() throws {
        var c = OptimizerConfig(kind: .adam, learningRate: 0.01, clipGradient: 2, schedule: .init(steps: [5], factor: 0.1))
        c.beta1 = 0.8
        let data = try JSONEncoder().encode(c)
        #expect(try JSONDecoder().decode(OptimizerConfig.self, from: data) == c)
    }
}
