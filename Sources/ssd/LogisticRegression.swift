/// A tiny model with a known gradient, for proving the parameter server's semantics:
/// logistic regression on a fixed synthetic data set.
struct LogisticRegression {
    let dimension: Int
    let samples: Int
    /// Features, samples × dimension, and labels in {0, 1}.
    var features: [Float]
    var labels: [Float]

    /// A data set fully determined by `seed` (labels from a fixed hidden linear rule + noise).
    init(samples: Int, dimension: Int, seed: UInt64) {
        self.samples = samples
        self.dimension = dimension
        var state = seed &+ 0x2545_F491_4F6C_DD1D
        func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24) * 2 - 1
        }
        let hidden = (0..<dimension).map { _ in next() }
        let x = (0..<(samples * dimension)).map { _ in next() }
        var y = [Float](repeating: 0, count: samples)
        for i in 0..<samples {
            var z: Float = 0
            for j in 0..<dimension { z += hidden[j] * x[i * dimension + j] }
            y[i] = z + 0.3 * next() > 0 ? 1 : 0
        }
        features = x
        labels = y
    }

    /// Sample indices of worker `rank` of `workers` at global step `step` with per-worker batch
    /// `batch`: the union over ranks is exactly the single-machine batch of size workers × batch.
    func indices(step: Int, rank: Int, workers: Int, batch: Int) -> [Int] {
        (0..<batch).map { (step * workers * batch + rank * batch + $0) % samples }
    }

    /// Gradient SUMS over `batch` (not means): the server or optimizer rescales.
    func gradient(weights: [Float], bias: Float, batch: [Int]) -> (weights: [Float], bias: Float, loss: Double) {
        var gw = [Float](repeating: 0, count: dimension), gb: Float = 0, loss = 0.0
        for i in batch {
            var z = bias
            for j in 0..<dimension { z += weights[j] * features[i * dimension + j] }
            let p = 1 / (1 + (-z).exp())
            let e = p - labels[i]
            for j in 0..<dimension { gw[j] += e * features[i * dimension + j] }
            gb += e
            loss -= Double(labels[i] == 1 ? log(max(p, 1e-7)) : log(max(1 - p, 1e-7)))
        }
        return (gw, gb, loss / Double(batch.count))
    }
}

import Foundation

extension Float {
    func exp() -> Float { Foundation.exp(self) }
}
