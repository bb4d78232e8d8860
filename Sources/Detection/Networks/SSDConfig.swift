/// Every SSD constant in one place (MXNet `example/ssd/symbol/symbol_factory.py` at 1.9.1,
/// facts file A.1–A.3): the base network (VGG16-reduced or ResNet), the extra feature layers,
/// and per source the anchor sizes, ratios and steps.
public struct SSDConfig: Equatable, Sendable, Codable {
    /// The base network.
    public enum Base: String, Equatable, Sendable, Codable {
        /// VGG16-reduced (atrous fc6/fc7); SSD taps relu4_3 (L2-normalized) and relu7.
        case vgg16Reduced = "vgg16_reduced"
        /// Pre-activation bottleneck ResNet; SSD taps the sums ending stages 3 and 4.
        case resnet
    }

    /// One extra feature layer: 1×1 conv to max(128, filters/2), then 3×3 conv (stride, pad).
    public struct Extra: Equatable, Sendable, Codable {
        public var filters: Int
        public var stride: Int
        public var pad: Int
        /// Channels of the 1×1 conv (MXNet: max(min_filter 128, filters / 2)).
        public var bottleneck: Int
    }

    public var base: Base = .vgg16Reduced
    public var imageShape: Int
    public var numClasses: Int
    /// VGG16-reduced: output channels of conv1_1 … conv5_3 (13 convs), fc6, fc7.
    /// ResNet: filters of conv0 and of stages 1–4 (ResNet-50: 64, 256, 512, 1024, 2048).
    public var baseWidths: [Int]
    /// ResNet: units per stage (ResNet-50: 3, 4, 6, 3). Empty for VGG.
    public var resnetUnits: [Int] = []
    public var extras: [Extra]
    /// Per source (relu4_3, relu7, then each extra): anchor sizes and ratios.
    public var sizes: [[Float]]
    public var ratios: [[Float]]
    /// Per source normalized step, or nil for MXNet's auto (1 / feature size).
    public var steps: [Float]?
    /// Initial scale of the first source's L2 normalization (VGG's relu4_3: 20); nil for none
    /// (ResNet configurations use `normalizations = -1`).
    public var normalizationScale: Float? = 20

    public init(base: Base = .vgg16Reduced, imageShape: Int, numClasses: Int, baseWidths: [Int], resnetUnits: [Int] = [],
                extras: [Extra], sizes: [[Float]], ratios: [[Float]], steps: [Float]?, normalizationScale: Float? = 20) {
        self.base = base; self.imageShape = imageShape; self.numClasses = numClasses; self.baseWidths = baseWidths
        self.resnetUnits = resnetUnits; self.extras = extras; self.sizes = sizes; self.ratios = ratios; self.steps = steps
        self.normalizationScale = normalizationScale
    }

    private enum CodingKeys: String, CodingKey {
        case base, imageShape, numClasses, baseWidths, resnetUnits, extras, sizes, ratios, steps, normalizationScale
    }

    /// Decodes a model description; files written before ResNet support (no `base`) are VGG.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        base = try c.decodeIfPresent(Base.self, forKey: .base) ?? .vgg16Reduced
        imageShape = try c.decode(Int.self, forKey: .imageShape)
        numClasses = try c.decode(Int.self, forKey: .numClasses)
        baseWidths = try c.decode([Int].self, forKey: .baseWidths)
        resnetUnits = try c.decodeIfPresent([Int].self, forKey: .resnetUnits) ?? []
        extras = try c.decode([Extra].self, forKey: .extras)
        sizes = try c.decode([[Float]].self, forKey: .sizes)
        ratios = try c.decode([[Float]].self, forKey: .ratios)
        steps = try c.decodeIfPresent([Float].self, forKey: .steps)
        normalizationScale = try c.decodeIfPresent(Float.self, forKey: .normalizationScale)
    }

    /// Six sources with SSD300's sizes and ratios (VGG 300, every ResNet configuration).
    static let sixSourceSizes: [[Float]] = [[0.1, 0.141], [0.2, 0.272], [0.37, 0.447], [0.54, 0.619], [0.71, 0.79], [0.88, 0.961]]
    static let sixSourceRatios: [[Float]] = [[1, 2, 0.5], [1, 2, 0.5, 3, 1.0 / 3], [1, 2, 0.5, 3, 1.0 / 3], [1, 2, 0.5, 3, 1.0 / 3], [1, 2, 0.5], [1, 2, 0.5]]

    /// VGG16-reduced SSD for `imageShape` ≥ 300: the 300 configuration below 448, the 512 one
    /// from 448; steps only for exactly 300 and 512 (MXNet passes none otherwise).
    public static func vgg16Reduced(imageShape: Int, numClasses: Int) throws -> SSDConfig {
        guard imageShape >= 300 else { throw ModelError.unsupportedImageShape(imageShape, reason: "must be >= 300") }
        let widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
        func extra(_ f: Int, _ s: Int, _ p: Int) -> Extra { Extra(filters: f, stride: s, pad: p, bottleneck: max(128, f / 2)) }
        var config: SSDConfig
        if imageShape < 448 {
            config = SSDConfig(
                imageShape: imageShape, numClasses: numClasses, baseWidths: widths,
                extras: [extra(512, 2, 1), extra(256, 2, 1), extra(256, 1, 0), extra(256, 1, 0)],
                sizes: sixSourceSizes, ratios: sixSourceRatios,
                steps: imageShape == 300 ? [8, 16, 32, 64, 100, 300].map { $0 / 300 } : nil)
        } else {
            config = SSDConfig(
                imageShape: imageShape, numClasses: numClasses, baseWidths: widths,
                extras: [extra(512, 2, 1), extra(256, 2, 1), extra(256, 2, 1), extra(256, 2, 1), extra(256, 1, 1)],
                sizes: [[0.07, 0.1025], [0.15, 0.2121], [0.3, 0.3674], [0.45, 0.5196], [0.6, 0.6708], [0.75, 0.8216], [0.9, 0.9721]],
                ratios: [[1, 2, 0.5]] + Array(repeating: [1, 2, 0.5, 3, 1.0 / 3], count: 4) + [[1, 2, 0.5], [1, 2, 0.5]],
                steps: imageShape == 512 ? [8, 16, 32, 64, 128, 256, 512].map { $0 / 512 } : nil)
        }
        _ = try config.featureSizes()
        return config
    }

    /// SSD with the ResNet-50 base (MXNet's `resnet50` configuration, used for every
    /// `image_shape` ≥ 300): taps `_plus12` (stride 16) and `_plus15` (stride 32), then four
    /// extra layers (512, 256, 256, 128 filters, stride 2, pad 1); no L2 normalization; anchor
    /// steps automatic (1 / feature size). 2268 anchors at 300, 6132 at 512.
    public static func resnet50(imageShape: Int, numClasses: Int) throws -> SSDConfig {
        guard imageShape >= 300 else { throw ModelError.unsupportedImageShape(imageShape, reason: "must be >= 300") }
        func extra(_ f: Int) -> Extra { Extra(filters: f, stride: 2, pad: 1, bottleneck: max(128, f / 2)) }
        let config = SSDConfig(base: .resnet, imageShape: imageShape, numClasses: numClasses, baseWidths: [64, 256, 512, 1024, 2048],
                               resnetUnits: [3, 4, 6, 3], extras: [extra(512), extra(256), extra(256), extra(128)],
                               sizes: sixSourceSizes, ratios: sixSourceRatios, steps: nil, normalizationScale: nil)
        _ = try config.featureSizes()
        return config
    }

    /// The SSD for SageMaker's `base_network` value ('vgg-16' or 'resnet-50').
    public static func forBaseNetwork(_ name: String, imageShape: Int, numClasses: Int) throws -> SSDConfig {
        switch name {
        case "vgg-16": return try vgg16Reduced(imageShape: imageShape, numClasses: numClasses)
        case "resnet-50": return try resnet50(imageShape: imageShape, numClasses: numClasses)
        default: throw ModelError.unknownBaseNetwork(name)
        }
    }

    /// A small ResNet SSD for tests: one unit per stage, narrow channels, a 64×64 input, one
    /// extra layer (three sources: 4×4, 2×2, 1×1); the same code path as ResNet-50.
    public static func tinyResNet(numClasses: Int, imageShape: Int = 64) -> SSDConfig {
        SSDConfig(base: .resnet, imageShape: imageShape, numClasses: numClasses, baseWidths: [4, 8, 8, 12, 16], resnetUnits: [1, 1, 1, 1],
                  extras: [Extra(filters: 8, stride: 2, pad: 1, bottleneck: 6)],
                  sizes: [[0.2, 0.3], [0.45, 0.6], [0.75, 0.9]], ratios: [[1, 2, 0.5], [1, 2, 0.5], [1, 2]], steps: nil,
                  normalizationScale: nil)
    }

    /// A small network with the same structure and code path, for tests: narrow channels, a
    /// 64×64 input, two extra layers (four sources: 8×8, 4×4, 2×2, 1×1).
    public static func tiny(numClasses: Int, imageShape: Int = 64) -> SSDConfig {
        SSDConfig(imageShape: imageShape, numClasses: numClasses,
                  baseWidths: [4, 4, 6, 6, 8, 8, 8, 8, 8, 8, 8, 8, 8, 12, 12],
                  extras: [Extra(filters: 8, stride: 2, pad: 1, bottleneck: 6), Extra(filters: 8, stride: 2, pad: 1, bottleneck: 6)],
                  sizes: [[0.15, 0.25], [0.35, 0.45], [0.55, 0.65], [0.75, 0.9]],
                  ratios: [[1, 2, 0.5], [1, 2, 0.5], [1, 2, 0.5], [1, 2]], steps: nil)
    }

    /// Number of sources (feature maps with heads).
    public var sourceCount: Int { 2 + extras.count }

    /// Spatial size of every source: the base's two taps, then each extra. Throws when a layer
    /// would have no output (image too small for this configuration).
    public func featureSizes() throws -> [Int] {
        func conv(_ s: Int, _ k: Int, _ stride: Int, _ pad: Int, _ dilation: Int = 1) -> Int { (s + 2 * pad - dilation * (k - 1) - 1) / stride + 1 }
        func pool(_ s: Int, full: Bool) -> Int { full ? (s - 2 + 1) / 2 + 1 : (s - 2) / 2 + 1 }
        var s = imageShape
        var sizes: [Int] = []
        switch base {
        case .vgg16Reduced:
            s = pool(s, full: false); s = pool(s, full: false); s = pool(s, full: true)  // pool1, pool2, pool3 (ceil)
            sizes.append(s)                                    // relu4_3
            s = pool(s, full: false)                           // pool4
            s = conv(s, 3, 1, 1)                               // pool5 3x3 s1 p1 keeps the size
            s = conv(s, 3, 1, 6, 6)                            // fc6, dilation 6
            sizes.append(s)                                    // relu7
        case .resnet:
            s = conv(s, 7, 2, 3)                               // conv0
            s = conv(s, 3, 2, 1)                               // 3x3/2 max pool, pad 1 (valid convention)
            s = conv(s, 3, 2, 1); s = conv(s, 3, 2, 1)         // stages 2 and 3 (stage 1 keeps the size)
            sizes.append(s)                                    // last sum of stage 3
            s = conv(s, 3, 2, 1)
            sizes.append(s)                                    // last sum of stage 4
        }
        guard sizes.allSatisfy({ $0 >= 1 }) else {
            throw ModelError.unsupportedImageShape(imageShape, reason: "the base network runs out of feature map")
        }
        for e in extras {
            s = conv(s, 3, e.stride, e.pad)
            guard s >= 1 else {
                throw ModelError.unsupportedImageShape(imageShape, reason: "the extra layers run out of feature map")
            }
            sizes.append(s)
        }
        return sizes
    }

    /// Anchors per cell of each source.
    public var anchorsPerCell: [Int] { zip(sizes, ratios).map { $0.count + $1.count - 1 } }

    /// Total anchors (8732 for SSD300, 24576 for SSD512).
    public func anchorCount() throws -> Int {
        zip(try featureSizes(), anchorsPerCell).reduce(0) { $0 + $1.0 * $1.0 * $1.1 }
    }

    /// Source names as MXNet names the heads' parameters: the base's taps (`relu4_3`, `relu7`;
    /// for ResNet the auto-named sums, e.g. `_plus12`, `_plus15`), then the extra layers.
    public var sourceNames: [String] {
        let taps: [String]
        switch base {
        case .vgg16Reduced: taps = ["relu4_3", "relu7"]
        case .resnet:
            let third = resnetUnits.prefix(3).reduce(0, +), all = resnetUnits.reduce(0, +)
            taps = ["_plus\(third - 1)", "_plus\(all - 1)"]
        }
        return taps + extras.indices.map { "multi_feat_\($0 + 2)_conv_3x3_relu" }
    }
}
