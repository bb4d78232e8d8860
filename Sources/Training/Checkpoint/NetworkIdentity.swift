import Detection

/// What must be equal for weights of one run to continue in another: the base network, the
/// number of classes, the input size — and, beyond those, the layer configuration (widths,
/// extra layers, anchors). Named in the hyperparameters' spelling so that a mismatch message
/// says which hyperparameter to change.
public struct NetworkIdentity: Codable, Equatable, Sendable {
    /// `base_network`: `vgg-16` or `resnet-50`.
    public var baseNetwork: String
    public var numClasses: Int
    public var imageShape: Int
    /// The whole configuration, for the differences the three names do not show.
    public var config: SSDConfig

    /// The identity of a network built from `config`.
    public init(_ config: SSDConfig) {
        baseNetwork = config.base == .resnet ? "resnet-50" : "vgg-16"
        numClasses = config.numClasses
        imageShape = config.imageShape
        self.config = config
    }

    /// One value that differs: the hyperparameter's name, the other side's value and this run's.
    public struct Difference: Equatable, Sendable, CustomStringConvertible {
        public var name: String
        public var found: String
        public var expected: String
        public var description: String { "\(name)=\(found) there, \(name)=\(expected) in this run" }
    }

    /// How `found` (an earlier run's network) differs from this one (empty: the same network).
    public func differences(from found: NetworkIdentity) -> [Difference] {
        var result: [Difference] = []
        if found.baseNetwork != baseNetwork { result.append(Difference(name: "base_network", found: found.baseNetwork, expected: baseNetwork)) }
        if found.numClasses != numClasses { result.append(Difference(name: "num_classes", found: "\(found.numClasses)", expected: "\(numClasses)")) }
        if found.imageShape != imageShape { result.append(Difference(name: "image_shape", found: "\(found.imageShape)", expected: "\(imageShape)")) }
        if result.isEmpty, found.config != config {
            result.append(Difference(name: "network configuration", found: Self.summary(found.config), expected: Self.summary(config)))
        }
        return result
    }

    /// The layer widths and extra layers, short enough for a message.
    static func summary(_ c: SSDConfig) -> String {
        "(widths \(c.baseWidths), units \(c.resnetUnits), \(c.extras.count) extra layers, \(c.sizes.count) sources)"
    }
}
