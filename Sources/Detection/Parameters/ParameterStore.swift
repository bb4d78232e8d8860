import Foundation
import Tensor

/// How a parameter is initialised (MXNet's SSD: Xavier for weights, zeros for biases,
/// constant 20 for `relu4_3_scale`).
public enum ParameterInit: Equatable, Sendable {
    /// Uniform in ±sqrt(3 / ((fan_in + fan_out) / 2)) (MXNet Xavier: uniform, avg, magnitude 3).
    case xavier
    case zeros
    case ones
    case constant(Float)
}

/// One named parameter array: its MXNet name, shape and optimizer multipliers.
public struct ParameterSpec: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var initializer: ParameterInit
    /// MXNet `lr_mult` (SSD head biases: 2).
    public var lrMult: Float
    /// MXNet `wd_mult`: weights 1, biases 0 (MXNet's default for names not ending in
    /// `_weight`/`_gamma`), `relu4_3_scale` 0.1 (its `__wd_mult__`).
    public var wdMult: Float
    /// BatchNorm moving statistics (`aux:` in checkpoints), never trained.
    public var isAuxiliary: Bool

    public init(name: String, shape: [Int], initializer: ParameterInit, lrMult: Float = 1, wdMult: Float? = nil,
                isAuxiliary: Bool = false) {
        self.name = name; self.shape = shape; self.initializer = initializer; self.lrMult = lrMult
        self.wdMult = wdMult ?? (name.hasSuffix("_weight") || name.hasSuffix("_gamma") ? 1 : 0)
        self.isAuxiliary = isAuxiliary
    }

    /// Number of values.
    public var count: Int { shape.reduce(1, *) }
}

/// One flat Float allocation owned by a `ParameterStore` (values or gradients), freed with it,
/// with a typed view per parameter. The views point into memory the store owns for its whole
/// life, so writing through `mutableView` — by the optimizer, or by the parameter-server
/// client when the new weights arrive after backward — is writing into owned, mutable memory;
/// nothing is borrowed from a read-only access. Element access (`buffer[j]`, slices) is there
/// for tests and small edits.
public final class ParameterBuffer: RandomAccessCollection, MutableCollection, Equatable {
    /// The whole allocation.
    public let storage: UnsafeMutableBufferPointer<Float>
    private let ranges: [Range<Int>]

    init(ranges: [Range<Int>], count: Int) {
        self.ranges = ranges
        storage = .allocate(capacity: count)
        storage.initialize(repeating: 0)
    }

    deinit { storage.deallocate() }

    /// Parameter `i`'s values, read-only.
    public func view(_ i: Int) -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(rebasing: storage[ranges[i]]) }

    /// Parameter `i`'s values, writable; valid as long as the store lives.
    public func mutableView(_ i: Int) -> UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(rebasing: storage[ranges[i]]) }

    /// Sets every value to zero.
    public func zero() { storage.update(repeating: 0) }

    /// Whether every value is finite (no NaN, no ±∞).
    public var allFinite: Bool { storage.allSatisfy(\.isFinite) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.count }
    public subscript(position: Int) -> Float {
        get { storage[position] }
        set { storage[position] = newValue }
    }

    public static func == (a: ParameterBuffer, b: ParameterBuffer) -> Bool { a.storage.elementsEqual(b.storage) }
}

/// Every parameter of a model in one flat Float allocation (and one for gradients), with named
/// views: the optimizer, checkpoints and the parameter server all work on index ranges.
public final class ParameterStore {
    public let specs: [ParameterSpec]
    /// Start of each parameter in `values` / `gradients`.
    public let offsets: [Int]
    /// The parameters' values.
    public let values: ParameterBuffer
    /// The gradients backward accumulates, allocated (zeroed) on first use: a process that only
    /// runs forward passes (`ssd predict`, `ssd serve`, evaluation) never holds them. The first
    /// use is a training step's, on its own thread, before anything else reads them.
    public var gradients: ParameterBuffer {
        if let allocatedGradients { return allocatedGradients }
        let buffer = ParameterBuffer(ranges: ranges, count: count)
        allocatedGradients = buffer
        return buffer
    }
    /// The gradients if anything has used them yet.
    public private(set) var allocatedGradients: ParameterBuffer?
    private let ranges: [Range<Int>]
    /// Parameters frozen by `freeze_layer_pattern`: no update, no gradient traffic.
    public private(set) var frozen: Set<Int> = []
    private let index: [String: Int]

    /// A store for `specs`, initialised from `seed`.
    public init(specs: [ParameterSpec], seed: UInt64 = 1) {
        self.specs = specs
        var offsets: [Int] = [], total = 0
        for s in specs { offsets.append(total); total += s.count }
        self.offsets = offsets
        ranges = specs.indices.map { offsets[$0]..<(offsets[$0] + specs[$0].count) }
        values = ParameterBuffer(ranges: ranges, count: total)
        index = Dictionary(uniqueKeysWithValues: specs.enumerated().map { ($1.name, $0) })
        var rng = SeededGenerator(seed: seed)
        for (i, s) in specs.enumerated() {
            let v = values.mutableView(i)
            switch s.initializer {
            case .zeros: break
            case .ones: v.update(repeating: 1)
            case .constant(let c): v.update(repeating: c)
            case .xavier:
                let receptive = s.shape.dropFirst(2).reduce(1, *)
                let fanIn = Float((s.shape.count > 1 ? s.shape[1] : 1) * receptive), fanOut = Float(s.shape[0] * receptive)
                let bound = (3 / ((fanIn + fanOut) / 2)).squareRoot()
                for j in v.indices { v[j] = rng.uniform(-bound, bound) }
            }
        }
    }

    /// Total number of values.
    public var count: Int { values.count }

    /// Index of a parameter by MXNet name.
    public func index(of name: String) -> Int? { index[name] }

    /// Range of parameter `i` in the flat buffers.
    public func range(_ i: Int) -> Range<Int> { offsets[i]..<(offsets[i] + specs[i].count) }

    /// Marks every parameter whose name matches `pattern` (Python `re.match` semantics:
    /// anchored at the start) as frozen; returns the frozen names. An invalid pattern throws.
    @discardableResult
    public func freeze(matching pattern: String) throws -> [String] {
        let regex: NSRegularExpression
        do { regex = try NSRegularExpression(pattern: pattern) } catch {
            throw ModelError.invalidFreezePattern(pattern: pattern, reason: "\(error.localizedDescription)")
        }
        frozen = []
        for (i, s) in specs.enumerated() {
            let ns = s.name as NSString
            if regex.firstMatch(in: s.name, options: [.anchored], range: NSRange(location: 0, length: ns.length)) != nil {
                frozen.insert(i)
            }
        }
        return frozen.sorted().map { specs[$0].name }
    }

    /// Sets every gradient to zero.
    public func zeroGradients() { gradients.zero() }

    /// Parameters that train: neither frozen nor auxiliary (BatchNorm moving statistics).
    public var trainable: [Int] { specs.indices.filter { !frozen.contains($0) && !specs[$0].isAuxiliary } }

    /// The parameters as MXNet checkpoint arrays (`arg:`/`aux:` names).
    public func exportMXNet() -> [MXNetParams.Array] {
        specs.enumerated().map { i, s in
            MXNetParams.Array(name: (s.isAuxiliary ? "aux:" : "arg:") + s.name, shape: s.shape, values: Array(values.view(i)))
        }
    }

    /// Loads arrays by name (with or without `arg:`/`aux:`); returns the names loaded. A shape
    /// mismatch is an error naming the parameter; names not in the store are skipped.
    @discardableResult
    public func load(_ arrays: [MXNetParams.Array], path: String) throws -> [String] {
        var loaded: [String] = []
        for a in arrays {
            let name = a.name.hasPrefix("arg:") || a.name.hasPrefix("aux:") ? String(a.name.dropFirst(4)) : a.name
            guard let i = index[name] else { continue }
            guard a.shape.reduce(1, *) == specs[i].count else {
                throw ModelError.shapeMismatch(path: path, name: name, expected: specs[i].shape, found: a.shape)
            }
            _ = values.mutableView(i).update(fromContentsOf: a.values)
            loaded.append(name)
        }
        return loaded
    }
}

/// Errors of the model and its parameters, each saying what to do.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case invalidFreezePattern(pattern: String, reason: String)
    case shapeMismatch(path: String, name: String, expected: [Int], found: [Int])
    case unsupportedImageShape(Int, reason: String)
    /// `use_pretrained_model=1` and no weights file (`expected` says where one was looked for).
    case pretrainedWeightsMissing(expected: String)
    /// A `.params` file none of whose arrays has a name of this network.
    case noMatchingArrays(path: String, found: [String], expected: [String])
    /// A model directory without any `model_algo_1-NNNN.params`.
    case checkpointMissing(directory: String)
    /// A model directory without the model description written beside every checkpoint.
    case modelDescriptionMissing(path: String)
    /// The loss of a training step is NaN or infinite: training diverged.
    case nonFiniteLoss(crossEntropy: Double, smoothL1: Double)
    case unknownBaseNetwork(String)

    public var description: String {
        switch self {
        case let .invalidFreezePattern(p, r): return "freeze_layer_pattern=\(p) is not a valid regular expression: \(r)"
        case let .shapeMismatch(path, n, e, f):
            return "\(path): \(n) has shape \(f), the network needs \(e); the file is for another base_network, "
                + "image_shape or num_classes"
        case let .unsupportedImageShape(s, r): return "image_shape=\(s) is not supported: \(r)"
        case let .unknownBaseNetwork(n): return "base_network=\(n) is not a known base network; use 'vgg-16' or 'resnet-50'"
        case let .pretrainedWeightsMissing(e):
            return "use_pretrained_model=1 but no pretrained weights were found at \(e); pass --pretrained-model FILE.params "
                + "(an MXNet .params of the base network) or set use_pretrained_model=0 to train from scratch"
        case let .noMatchingArrays(path, found, expected):
            return "\(path): none of its \(found.count) arrays (\(found.prefix(3).joined(separator: ", "))\(found.count > 3 ? ", …" : "")) "
                + "is a parameter of this network (\(expected.prefix(3).joined(separator: ", ")), …); pass the MXNet .params "
                + "of the same base_network"
        case let .checkpointMissing(dir):
            return "\(dir) holds no checkpoint (\(Checkpoint.prefix)-NNNN.params); point --resume / --model-dir at the model "
                + "directory of an earlier run, or train without --resume"
        case let .modelDescriptionMissing(path):
            return "\(path) is missing or unreadable (the model description written with every checkpoint); "
                + "point --model-dir at a directory the trainer wrote"
        case let .nonFiniteLoss(ce, l1):
            return "the training loss is not finite (cross_entropy \(ce), smooth_l1 \(l1)): training diverged; "
                + "lower learning_rate (or resume from the last checkpoint with a lower one)"
        }
    }
}
