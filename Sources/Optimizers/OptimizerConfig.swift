/// Which update rule to run, with MXNet's names (the `optimizer` hyperparameter).
public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
    case sgd, adam, rmsprop, adadelta
}

/// Everything an optimizer needs besides the arrays: what a worker sends to the parameter
/// servers so they build the same optimizer (MXNet's `kv.set_optimizer`).
///
/// Defaults are MXNet 1.9.1's `mx.optimizer` defaults.
public struct OptimizerConfig: Codable, Equatable, Sendable {
    public var kind: OptimizerKind
    /// Base learning rate (before the schedule and per-key `lrMult`).
    public var learningRate: Float
    /// SGD momentum (0 = plain SGD).
    public var momentum: Float = 0
    /// Weight decay (L2) coefficient, scaled per key by `wdMult`.
    public var weightDecay: Float = 0
    /// Gradients are multiplied by this before anything else (MXNet `rescale_grad`).
    public var rescaleGrad: Float = 1
    /// Clip the rescaled gradient to [−c, c]; nil = no clipping (MXNet `clip_gradient`).
    public var clipGradient: Float?
    /// Adam β1, β2 and ε.
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var adamEpsilon: Float = 1e-8
    /// RMSProp decay (MXNet `gamma1`) and ε.
    public var rmspropDecay: Float = 0.9
    public var rmspropEpsilon: Float = 1e-8
    /// AdaDelta decay (MXNet `rho`) and ε.
    public var rho: Float = 0.9
    public var adadeltaEpsilon: Float = 1e-5
    /// Learning-rate steps in update counts.
    public var schedule: LearningRateSchedule = .constant

    /// A configuration with MXNet's defaults for everything not given.
    public init(kind: OptimizerKind, learningRate: Float, momentum: Float = 0, weightDecay: Float = 0,
                rescaleGrad: Float = 1, clipGradient: Float? = nil, schedule: LearningRateSchedule = .constant) {
        self.kind = kind; self.learningRate = learningRate; self.momentum = momentum
        self.weightDecay = weightDecay; self.rescaleGrad = rescaleGrad; self.clipGradient = clipGradient
        self.schedule = schedule
    }

    /// Number of state slots per parameter element the rule keeps.
    public var stateSlots: Int {
        switch kind {
        case .sgd: return momentum == 0 ? 0 : 1
        case .adam, .adadelta: return 2
        case .rmsprop: return 1
        }
    }
}

/// Per-parameter multipliers (MXNet `lr_mult`, `wd_mult`): SSD's head biases use lr_mult 2,
/// `relu4_3_scale` wd_mult 0.1.
public struct ParameterMultipliers: Codable, Equatable, Sendable {
    public var lrMult: Float
    public var wdMult: Float

    /// Multipliers (1, 1) unless given.
    public init(lrMult: Float = 1, wdMult: Float = 1) { self.lrMult = lrMult; self.wdMult = wdMult }

    /// No scaling.
    public static let one = ParameterMultipliers()
}
