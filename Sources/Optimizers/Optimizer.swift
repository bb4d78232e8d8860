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
    /// `threads` split the elements into contiguous ranges; every element's arithmetic is the
    /// same whatever the split, so any thread count gives the same bits.
    public func update(
        weights: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>,
        state: inout OptimizerState, multipliers: ParameterMultipliers = .one, globalUpdate: Int? = nil,
        threads: Int = 1
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
        guard let weight = weights.baseAddress, let grad = gradient.baseAddress else { return }
        // Adam's bias correction folded into its learning rate.
        let t = Float(state.updateCount)
        let lrT = c.kind == .adam ? lr * (1 - pow(c.beta2, t)).squareRoot() / (1 - pow(c.beta1, t)) : lr
        // The slot arrays, uniquely referenced while they are updated in place.
        var first = state.slots.first ?? [], second = state.slots.count > 1 ? state.slots[1] : []
        state.slots = []
        defer { state.slots = Array([first, second].prefix(c.stateSlots)) }
        first.withUnsafeMutableBufferPointer { firstSlot in second.withUnsafeMutableBufferPointer { secondSlot in
            let s0 = firstSlot.baseAddress, s1 = secondSlot.baseAddress
            Self.forEachChunk(weights.count, threads: threads) { range in
                switch c.kind {
                case .sgd where c.momentum == 0:
                    // weight = (1 − lr·wd)·weight − lr·clip(rescale·grad)
                    for i in range { weight[i] = (1 - lr * wd) * weight[i] - lr * clipped(c.rescaleGrad * grad[i]) }
                case .sgd:
                    // mom = momentum·mom − lr·wd·weight − lr·clip(rescale·grad); weight += mom
                    // Vectorised, bit-identical to that scalar rule (SGDMomentumKernel.swift).
                    let k = Self.sgdMomentumCoefficients(c, lr: lr, wd: wd)
                    let o = range.lowerBound
                    SGDMomentumKernel.update(weights: weight + o, gradient: grad + o, momentum: s0! + o, output: weight + o, count: range.count, k)
                case .adam:
                    // g = clip(rescale·grad + wd·weight); m, v moments; bias correction in lrT.
                    let m = s0!, v = s1!
                    for i in range {
                        let g = clipped(c.rescaleGrad * grad[i] + wd * weight[i])
                        m[i] = c.beta1 * m[i] + (1 - c.beta1) * g
                        v[i] = c.beta2 * v[i] + (1 - c.beta2) * g * g
                        weight[i] -= lrT * m[i] / (v[i].squareRoot() + c.adamEpsilon)
                    }
                case .rmsprop:
                    // g = clip(rescale·grad + wd·weight); n = (1−γ)·g² + γ·n; weight −= lr·g / sqrt(n + ε)
                    let acc = s0!
                    for i in range {
                        let g = clipped(c.rescaleGrad * grad[i] + wd * weight[i])
                        acc[i] = (1 - c.rmspropDecay) * g * g + c.rmspropDecay * acc[i]
                        weight[i] -= lr * g / (acc[i] + c.rmspropEpsilon).squareRoot()
                    }
                case .adadelta:
                    // MXNet's AdaDelta ignores the learning rate: Δ = sqrt(accΔ + ε)/sqrt(accG + ε)·g;
                    // weight −= Δ + wd·weight.
                    let accG = s0!, accDelta = s1!
                    for i in range {
                        let g = clipped(c.rescaleGrad * grad[i])
                        accG[i] = c.rho * accG[i] + (1 - c.rho) * g * g
                        let delta = (accDelta[i] + c.adadeltaEpsilon).squareRoot() / (accG[i] + c.adadeltaEpsilon).squareRoot() * g
                        accDelta[i] = c.rho * accDelta[i] + (1 - c.rho) * delta * delta
                        weight[i] -= delta + wd * weight[i]
                    }
                }
            }
        } }
    }

    /// The scalars `update` gives `SGDMomentumKernel` for update number `update` of an array
    /// with `multipliers` (nil unless the rule is SGD with momentum): a caller that runs the
    /// kernel chunk by chunk, fused with a pass of its own (the parameter server copying the new
    /// weights into its reply), gets the same bits as `update`.
    public func sgdMomentumCoefficients(atUpdate update: Int, multipliers: ParameterMultipliers = .one) -> SGDMomentumKernel.Coefficients? {
        let c = config
        guard c.kind == .sgd, c.momentum != 0 else { return nil }
        let lr = c.schedule.learningRate(base: c.learningRate, atUpdate: update) * multipliers.lrMult
        return Self.sgdMomentumCoefficients(c, lr: lr, wd: c.weightDecay * multipliers.wdMult)
    }

    private static func sgdMomentumCoefficients(_ c: OptimizerConfig, lr: Float, wd: Float) -> SGDMomentumKernel.Coefficients {
        SGDMomentumKernel.Coefficients(momentum: c.momentum, lrWd: lr * wd, lr: lr, rescale: c.rescaleGrad, clip: c.clipGradient ?? -1)
    }

    /// Runs `body` over `0..<count` in at most `threads` contiguous ranges (inline below 32 768
    /// elements per range, where starting a thread costs more than it saves).
    static func forEachChunk(_ count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        let chunks = min(max(1, threads), max(1, count / (1 << 15)))
        if chunks <= 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { k in body((count * k / chunks)..<(count * (k + 1) / chunks)) }
    }
}

import Foundation
