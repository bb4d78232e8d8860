/// The state an optimizer keeps for one parameter array: its slots (momentum, moments, …)
/// and how many updates the array has had (Adam's bias correction and the schedule need it).
public struct OptimizerState: Codable, Equatable, Sendable {
    /// `stateSlots` arrays, each as long as the parameter.
    public var slots: [[Float]]
    /// Updates applied to this array so far.
    public var updateCount: Int

    /// Zero state for a parameter of `count` elements.
    public init(slots: Int, count: Int) {
        self.slots = Array(repeating: [Float](repeating: 0, count: count), count: slots)
        self.updateCount = 0
    }
}

/// Errors from `Optimizer.update` when the arrays do not belong together.
public enum OptimizerError: Error, CustomStringConvertible, Equatable {
    case sizeMismatch(weights: Int, gradient: Int, state: [Int])

    public var description: String {
        switch self {
        case let .sizeMismatch(w, g, s):
            return "optimizer: weights (\(w)), gradient (\(g)) and state slots (\(s)) must have the same length; "
                + "the state was created for another array"
        }
    }
}

/// Applies MXNet's update rules to flat Float buffers; used by the single-machine trainer and
/// by the parameter server alike.
public struct Optimizer: Sendable {
    /// The configuration every update uses.
    public var config: OptimizerConfig

    /// An optimizer for `config`.
    public init(_ config: OptimizerConfig) { self.config = config }

    /// Fresh state for a parameter of `count` elements.
    public func makeState(count: Int) -> OptimizerState {
        OptimizerState(slots: config.stateSlots, count: count)
    }

    /// Updates `weights` in place from `gradient` (raw, before `rescaleGrad`), advancing
    /// `state.updateCount`. `globalUpdate` is the update number the learning-rate schedule
    /// reads (MXNet uses the largest per-array count); nil uses this array's own count.
    public func update(
        weights: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>,
        state: inout OptimizerState, multipliers: ParameterMultipliers = .one, globalUpdate: Int? = nil
    ) throws(OptimizerError) {
        guard weights.count == gradient.count, state.slots.allSatisfy({ $0.count == weights.count }),
              state.slots.count == config.stateSlots else {
            throw .sizeMismatch(weights: weights.count, gradient: gradient.count, state: state.slots.map(\.count))
        }
        state.updateCount += 1
        let c = config
        let lr = c.schedule.learningRate(base: c.learningRate, atUpdate: globalUpdate ?? state.updateCount) * multipliers.lrMult
        let wd = c.weightDecay * multipliers.wdMult
        let clip = c.clipGradient ?? -1
        @inline(__always) func clipped(_ g: Float) -> Float { clip >= 0 ? min(max(g, -clip), clip) : g }
        let n = weights.count
        switch c.kind {
        case .sgd where c.momentum == 0:
            // weight = (1 − lr·wd)·weight − lr·clip(rescale·grad)
            for i in 0..<n { weights[i] = (1 - lr * wd) * weights[i] - lr * clipped(c.rescaleGrad * gradient[i]) }
        case .sgd:
            // mom = momentum·mom − lr·wd·weight − lr·clip(rescale·grad); weight += mom
            // Vectorised, bit-identical to the scalar rule (SGDMomentumKernel.swift).
            guard n > 0, let w = weights.baseAddress, let g = gradient.baseAddress else { break }
            let k = SGDMomentumKernel.Coefficients(momentum: c.momentum, lrWd: lr * wd, lr: lr, rescale: c.rescaleGrad, clip: clip)
            state.slots[0].withUnsafeMutableBufferPointer { mom in
                SGDMomentumKernel.update(weights: w, gradient: g, momentum: mom.baseAddress!, output: w, count: n, k)
            }
        case .adam:
            // g = clip(rescale·grad + wd·weight); m, v moments; bias correction folded into lr.
            let t = Float(state.updateCount)
            let lrT = lr * (1 - pow(c.beta2, t)).squareRoot() / (1 - pow(c.beta1, t))
            var m = state.slots[0], v = state.slots[1]
            state.slots = []  // m and v uniquely referenced: updated in place, no copy
            for i in 0..<n {
                let g = clipped(c.rescaleGrad * gradient[i] + wd * weights[i])
                m[i] = c.beta1 * m[i] + (1 - c.beta1) * g
                v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g
                weights[i] -= lrT * m[i] / (v[i].squareRoot() + c.adamEpsilon)
            }
            state.slots = [m, v]
        case .rmsprop:
            // g = clip(rescale·grad + wd·weight); n = (1−γ)·g² + γ·n; weight −= lr·g / sqrt(n + ε)
            state.slots[0].withUnsafeMutableBufferPointer { acc in
                for i in 0..<n {
                    let g = clipped(c.rescaleGrad * gradient[i] + wd * weights[i])
                    acc[i] = (1 - c.rmspropDecay) * g * g + c.rmspropDecay * acc[i]
                    weights[i] -= lr * g / (acc[i] + c.rmspropEpsilon).squareRoot()
                }
            }
        case .adadelta:
            // MXNet's AdaDelta ignores the learning rate: Δ = sqrt(accΔ + ε)/sqrt(accG + ε)·g;
            // weight −= Δ + wd·weight.
            var accG = state.slots[0], accDelta = state.slots[1]
            state.slots = []
            for i in 0..<n {
                let g = clipped(c.rescaleGrad * gradient[i])
                accG[i] = c.rho * accG[i] + (1 - c.rho) * g * g
                let delta = (accDelta[i] + c.adadeltaEpsilon).squareRoot() / (accG[i] + c.adadeltaEpsilon).squareRoot() * g
                accDelta[i] = c.rho * accDelta[i] + (1 - c.rho) * delta * delta
                weights[i] -= delta + wd * weights[i]
            }
            state.slots = [accG, accDelta]
        }
    }
}

import Foundation
