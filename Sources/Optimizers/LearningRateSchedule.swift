/// MXNet's `MultiFactorScheduler`: the learning rate is multiplied by `factor` once the
/// update count passes each step, i.e. at update `u` the rate is
/// `base · factor^(number of steps s with u > s)`.
///
/// Steps are in optimizer updates. SageMaker's `lr_scheduler_step` is in epochs: convert with
/// `init(epochs:iterationsPerEpoch:factor:)` (epoch e → update e × iterations per epoch).
public struct LearningRateSchedule: Codable, Equatable, Sendable {
    /// Update counts after which the rate drops, strictly increasing.
    public var steps: [Int]
    /// Multiplier applied at each step, in (0, 1].
    public var factor: Float

    /// A schedule with the given steps (in updates) and factor.
    public init(steps: [Int], factor: Float) {
        self.steps = steps
        self.factor = factor
    }

    /// The steps of `lr_scheduler_step` (epochs) converted to updates.
    public init(epochs: [Int], iterationsPerEpoch: Int, factor: Float) {
        self.init(steps: epochs.map { $0 * max(1, iterationsPerEpoch) }, factor: factor)
    }

    /// No schedule: the rate never changes.
    public static let constant = LearningRateSchedule(steps: [], factor: 1)

    /// The learning rate in force for update number `update` (counted from 1).
    public func learningRate(base: Float, atUpdate update: Int) -> Float {
        var lr = base
        for step in steps where update > step { lr *= factor }
        return lr
    }
}
